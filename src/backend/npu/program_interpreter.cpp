#include "backend/npu/program_interpreter.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "backend/npu/npu_host_kernels.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace bitnet {
namespace {

using nlohmann::json;

constexpr size_t kAlign = 64;  // core buffers are at least this aligned on both generations
constexpr int64_t kMaxLoopCount = int64_t{1} << 24;
constexpr uint8_t kPoison = 0xA5;  // what a core buffer holds before the kernel writes it

// ---- the recorded configuration, parsed once ---------------------------------

struct Expr {
  enum class Kind { kConst, kRtp, kFifo, kLocal } kind = Kind::kConst;
  int64_t value = 0;  // kConst
  int buffer = -1;    // kRtp, kLocal (a core-local buffer passed to a kernel)
  int64_t index = 0;  // kRtp
  int fifo = -1;      // kFifo
};

struct BodyOp {
  enum class Kind { kWait, kAcquire, kRelease, kCall, kLoop } kind = Kind::kWait;
  int fifo = -1;
  bool prod = false;
  int64_t n = 1;       // acquire/release count, or barrier value
  int barrier = -1;
  int kernel = -1;     // index into the worker's kernels
  std::vector<Expr> args;
  Expr count;
  std::vector<BodyOp> body;
};

struct KernelDecl {
  std::string name;
  std::vector<int64_t> bytes;  // per argument
  std::vector<bool> scalar;
};

enum class Producer { kShim, kCore, kLinkChild, kJoinParent };

struct Fifo {
  std::string name;
  int64_t bytes = 0, elem_bytes = 1, depth = 0;
  Producer producer = Producer::kShim;
  std::string link;        // "split" / "forward" / "join" for a child
  int parent = -1;
  int64_t offset_bytes = 0;  // of a child in its parent's object
  std::vector<int> children;  // of a join parent
  std::vector<int> link_children;  // split/forward children
  int worker_consumers = 0;
  std::vector<int> consumer_workers;  // in the order the workers were declared
  bool shim_consumer = false;  // drained to DDR
};

struct RtpBuffer {
  std::string name;
  int64_t elems = 0, elem_bytes = 4;
  std::vector<int64_t> initial;
  bool rtp = false;
  int worker = -1;
};

struct Barrier {
  std::string name;
  int64_t initial = 0;
  int worker = -1;
};

struct WorkerDecl {
  std::string tile;
  std::vector<KernelDecl> kernels;
  std::vector<int> inputs, outputs, buffers, barriers;
  std::vector<BodyOp> body;
};

class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t bytes, uint8_t fill)
      : data_(static_cast<uint8_t*>(::operator new(bytes ? bytes : 1, std::align_val_t{kAlign}))) {
    std::memset(data_, fill, bytes);
  }
  ~AlignedBuffer() { ::operator delete(data_, std::align_val_t{kAlign}); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  uint8_t* data() { return data_; }

 private:
  uint8_t* data_;
};

// The objects one fifo carried in a dispatch, in order.
struct Objects {
  std::vector<std::shared_ptr<AlignedBuffer>> owned;
  std::vector<uint8_t*> at;
  uint8_t* Add(size_t bytes, uint8_t fill) {
    owned.push_back(std::make_shared<AlignedBuffer>(bytes, fill));
    at.push_back(owned.back()->data());
    return at.back();
  }
};

const json& Field(const json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) throw Error(where + ": missing field '" + key + "'");
  return j.at(key);
}
int64_t Int(const json& j, const char* key, const std::string& where) {
  const json& v = Field(j, key, where);
  if (!v.is_number_integer()) throw Error(where + ": field '" + key + "' is not an integer");
  return v.get<int64_t>();
}
std::string Str(const json& j, const char* key, const std::string& where) {
  const json& v = Field(j, key, where);
  if (!v.is_string()) throw Error(where + ": field '" + key + "' is not a string");
  return v.get<std::string>();
}
const json& Array(const json& j, const char* key, const std::string& where) {
  const json& v = Field(j, key, where);
  if (!v.is_array()) throw Error(where + ": field '" + key + "' is not an array");
  return v;
}
bool Bool(const json& j, const char* key, const std::string& where) {
  const json& v = Field(j, key, where);
  if (!v.is_boolean()) throw Error(where + ": field '" + key + "' is not a boolean");
  return v.get<bool>();
}
std::string Name(const json& v, const std::string& where) {
  if (!v.is_string()) throw Error(where + ": " + v.dump() + " is not a name");
  return v.get<std::string>();
}

std::string TileName(const json& t) {
  if (!t.is_array() || t.size() != 2 || !t[0].is_number_integer() || !t[1].is_number_integer()) return "?";
  // Appended piecewise: GCC 12 reports a false -Wrestrict on "(" + std::string.
  std::string name = "(";
  name += std::to_string(t[0].get<int>());
  name += ",";
  name += std::to_string(t[1].get<int>());
  name += ")";
  return name;
}

class Program final : public NpuProgram {
 public:
  explicit Program(const json& recorded) {
    device_ = Str(recorded, "device", "npu recording");
    aie2p_ = Str(recorded, "aie", "npu recording") == "aie2p";
    const json& config = Field(recorded, "config", "npu recording");
    ParseFifos(Array(config, "fifos", "npu recording config"));
    ParseBuffers(config);
    for (const json& w : Array(config, "workers", "npu recording config")) ParseWorker(w);
    // Cores may feed cores directly or through a join; what the scheduler
    // does not model is refused rather than run wrongly.
    for (const Fifo& f : fifos_) {
      const bool from_core = f.producer == Producer::kCore || f.producer == Producer::kJoinParent;
      if (from_core && f.worker_consumers > 0 && f.shim_consumer)
        throw Error("npu recording: fifo '" + f.name + "' goes to cores and to a shim at once, which the interpreter does not run");
      if (f.producer == Producer::kLinkChild && fifos_[static_cast<size_t>(f.parent)].producer != Producer::kShim &&
          fifos_[static_cast<size_t>(f.parent)].producer != Producer::kLinkChild)
        throw Error("npu recording: fifo '" + f.name + "' is a " + f.link + " of the core-produced '" +
                    fifos_[static_cast<size_t>(f.parent)].name + "', which the interpreter does not run");
    }
  }

  std::string device() const override { return device_; }

  void Run(const NpuRuntimeSequence& seq, std::span<const NpuDdrArg> args, ThreadPool* /*pool*/) const override {
    Check(seq.arg_bytes.size() == args.size(), "npu dispatch", "runtime sequence takes " +
          std::to_string(seq.arg_bytes.size()) + " buffers, got " + std::to_string(args.size()));
    for (size_t i = 0; i < args.size(); ++i)
      Check(args[i].bytes == static_cast<size_t>(seq.arg_bytes[i]), "npu dispatch",
            "buffer " + std::to_string(i) + " has " + std::to_string(args[i].bytes) + " bytes, the sequence needs " +
                std::to_string(seq.arg_bytes[i]));
    State st(*this);
    Execute(seq, args, &st);
    CheckAllConsumed(st);
  }

 private:
  int FifoIndex(const std::string& name, const std::string& where) const {
    auto it = fifo_index_.find(name);
    if (it == fifo_index_.end()) throw Error(where + ": no fifo named '" + name + "'");
    return it->second;
  }

  void ParseFifos(const json& fifos) {
    for (const json& j : fifos) {
      Fifo f;
      f.name = Str(j, "name", "npu recording fifo");
      const std::string where = "npu recording fifo '" + f.name + "'";
      f.bytes = Int(j, "bytes", where);
      f.elem_bytes = Int(j, "elem_bytes", where);
      f.depth = Int(j, "depth", where);
      if (f.bytes <= 0 || f.elem_bytes <= 0 || f.depth <= 0) throw Error(where + ": bytes, elem_bytes, depth must be positive");
      if (fifo_index_.count(f.name)) throw Error(where + ": name used twice");
      fifo_index_[f.name] = static_cast<int>(fifos_.size());
      fifos_.push_back(f);
    }
    for (size_t i = 0; i < fifos.size(); ++i) {
      const json& j = fifos[i];
      Fifo& f = fifos_[i];
      const std::string where = "npu recording fifo '" + f.name + "'";
      const json& prod = Field(j, "producer", where);
      if (prod.is_null()) throw Error(where + ": has no producer");
      const std::string via = Str(prod, "via", where + " producer");
      if (via == "shim") f.producer = Producer::kShim;
      else if (via == "core") f.producer = Producer::kCore;
      else if (via == "join") f.producer = Producer::kJoinParent;
      else if (via == "split" || via == "forward") f.producer = Producer::kLinkChild;
      else throw Error(where + ": unknown producer '" + via + "'");
      const json& link = Field(j, "link", where);
      if (!link.is_null()) {
        f.link = Str(link, "kind", where + " link");
        f.parent = FifoIndex(Str(link, "parent", where + " link"), where + " link");
        const Fifo& parent = fifos_[static_cast<size_t>(f.parent)];
        f.offset_bytes = Int(link, "offset", where + " link") * parent.elem_bytes;
        if (f.offset_bytes < 0 || f.offset_bytes + f.bytes > parent.bytes)
          throw Error(where + ": link offset places the object outside its parent's");
        if (f.link == "join") fifos_[static_cast<size_t>(f.parent)].children.push_back(static_cast<int>(i));
        else fifos_[static_cast<size_t>(f.parent)].link_children.push_back(static_cast<int>(i));
      }
      if ((f.producer == Producer::kLinkChild) != (f.parent >= 0 && f.link != "join"))
        throw Error(where + ": producer and link disagree");
      const json& consumers = Array(j, "consumers", where);
      if (consumers.empty()) throw Error(where + ": has no consumer");
      for (const json& c : consumers) f.shim_consumer = f.shim_consumer || Str(c, "via", where + " consumer") == "shim";
    }
    for (Fifo& f : fifos_) {
      if (f.producer != Producer::kJoinParent) continue;
      int64_t covered = 0;
      for (int c : f.children) covered += fifos_[static_cast<size_t>(c)].bytes;
      if (f.children.empty() || covered != f.bytes)
        throw Error("npu recording fifo '" + f.name + "': joined children do not cover the object exactly");
    }
  }

  void ParseBuffers(const json& config) {
    for (const json& j : Array(config, "buffers", "npu recording config")) {
      RtpBuffer b;
      b.name = Str(j, "name", "npu recording buffer");
      const std::string where = "npu recording buffer '" + b.name + "'";
      b.elems = Int(j, "elems", where);
      b.elem_bytes = Int(j, "elem_bytes", where);
      if (b.elems <= 0 || b.elem_bytes <= 0) throw Error(where + ": elems and elem_bytes must be positive");
      b.rtp = Bool(j, "rtp", where);
      const json& init = Field(j, "initial_value", where);
      b.initial.assign(static_cast<size_t>(b.elems), 0);
      if (!init.is_null()) {
        if (!init.is_array() || static_cast<int64_t>(init.size()) != b.elems)
          throw Error(where + ": initial_value does not have 'elems' entries");
        for (size_t k = 0; k < init.size(); ++k) {
          if (!init[k].is_number_integer()) throw Error(where + ": initial_value holds a non-integer");
          b.initial[k] = init[k].get<int64_t>();
        }
      }
      buffer_index_[b.name] = static_cast<int>(buffers_.size());
      buffers_.push_back(std::move(b));
    }
    for (const json& j : Array(config, "barriers", "npu recording config")) {
      Barrier b;
      b.name = Str(j, "name", "npu recording barrier");
      b.initial = Int(j, "initial_value", "npu recording barrier '" + b.name + "'");
      barrier_index_[b.name] = static_cast<int>(barriers_.size());
      barriers_.push_back(std::move(b));
    }
  }

  void ParseWorker(const json& j) {
    WorkerDecl w;
    w.tile = TileName(Field(j, "tile", "npu recording worker"));
    const std::string where = "npu recording worker " + w.tile;
    const int self = static_cast<int>(workers_.size());
    for (const json& n : Array(j, "inputs", where)) {
      w.inputs.push_back(FifoIndex(Name(n, where), where));
      ++fifos_[static_cast<size_t>(w.inputs.back())].worker_consumers;
      fifos_[static_cast<size_t>(w.inputs.back())].consumer_workers.push_back(self);
    }
    for (const json& n : Array(j, "outputs", where)) w.outputs.push_back(FifoIndex(Name(n, where), where));
    for (const json& n : Array(j, "buffers", where)) {
      auto it = buffer_index_.find(Name(n, where));
      if (it == buffer_index_.end()) throw Error(where + ": unknown buffer " + n.dump());
      w.buffers.push_back(it->second);
      buffers_[static_cast<size_t>(it->second)].worker = self;
    }
    for (const json& n : Array(j, "barriers", where)) {
      auto it = barrier_index_.find(Name(n, where));
      if (it == barrier_index_.end()) throw Error(where + ": unknown barrier " + n.dump());
      w.barriers.push_back(it->second);
      barriers_[static_cast<size_t>(it->second)].worker = self;
    }
    for (const json& k : Array(j, "kernels", where)) {
      KernelDecl d;
      d.name = Str(k, "name", where + " kernel");
      for (const json& a : Array(k, "args", where + " kernel " + d.name)) {
        const bool scalar = a.contains("scalar_bytes");
        d.scalar.push_back(scalar);
        d.bytes.push_back(Int(a, scalar ? "scalar_bytes" : "buffer_bytes", where + " kernel " + d.name));
      }
      w.kernels.push_back(std::move(d));
    }
    w.body = ParseBody(Array(j, "body", where), w, where);
    workers_.push_back(std::move(w));
  }

  Expr ParseExpr(const json& j, const WorkerDecl& w, const std::string& where) const {
    Expr e;
    if (j.contains("const")) {
      e.kind = Expr::Kind::kConst;
      e.value = Int(j, "const", where);
    } else if (j.contains("rtp")) {
      e.kind = Expr::Kind::kRtp;
      auto it = buffer_index_.find(Str(j, "rtp", where));
      if (it == buffer_index_.end()) throw Error(where + ": unknown buffer in " + j.dump());
      bool mine = false;
      for (int b : w.buffers) mine = mine || b == it->second;
      if (!mine) throw Error(where + ": reads buffer '" + it->first + "' that is not its own");
      e.buffer = it->second;
      e.index = Int(j, "index", where);
      if (e.index < 0 || e.index >= buffers_[static_cast<size_t>(e.buffer)].elems)
        throw Error(where + ": index " + std::to_string(e.index) + " outside buffer '" + it->first + "'");
    } else if (j.contains("fifo")) {
      e.kind = Expr::Kind::kFifo;
      e.fifo = FifoIndex(Str(j, "fifo", where), where);
    } else if (j.contains("buffer")) {
      e.kind = Expr::Kind::kLocal;
      auto it = buffer_index_.find(Str(j, "buffer", where));
      if (it == buffer_index_.end()) throw Error(where + ": unknown buffer in " + j.dump());
      bool mine = false;
      for (int b : w.buffers) mine = mine || b == it->second;
      if (!mine) throw Error(where + ": passes buffer '" + it->first + "' that is not its own");
      if (buffers_[static_cast<size_t>(it->second)].rtp)
        throw Error(where + ": passes the runtime parameter buffer '" + it->first + "' to a kernel");
      e.buffer = it->second;
    } else {
      throw Error(where + ": expression " + j.dump() + " is none of const, rtp, fifo, buffer");
    }
    return e;
  }

  std::vector<BodyOp> ParseBody(const json& ops, const WorkerDecl& w, const std::string& where) const {
    std::vector<BodyOp> out;
    for (const json& j : ops) {
      const std::string kind = Str(j, "op", where + " body");
      BodyOp op;
      if (kind == "wait_barrier") {
        op.kind = BodyOp::Kind::kWait;
        auto it = barrier_index_.find(Str(j, "barrier", where));
        if (it == barrier_index_.end()) throw Error(where + ": unknown barrier in " + j.dump());
        op.barrier = it->second;
        op.n = Int(j, "value", where);
      } else if (kind == "acquire" || kind == "release") {
        op.kind = kind == "acquire" ? BodyOp::Kind::kAcquire : BodyOp::Kind::kRelease;
        op.fifo = FifoIndex(Str(j, "fifo", where), where);
        op.prod = Str(j, "kind", where) == "prod";
        op.n = Int(j, "n", where);
        const auto& mine = op.prod ? w.outputs : w.inputs;
        bool found = false;
        for (int f : mine) found = found || f == op.fifo;
        if (!found) throw Error(where + ": " + kind + " on fifo '" + fifos_[static_cast<size_t>(op.fifo)].name +
                                "' that is not one of its " + (op.prod ? "outputs" : "inputs"));
        if (op.n < 1) throw Error(where + ": " + kind + " of " + std::to_string(op.n) + " objects");
      } else if (kind == "call") {
        op.kind = BodyOp::Kind::kCall;
        const std::string name = Str(j, "kernel", where);
        for (size_t k = 0; k < w.kernels.size(); ++k)
          if (w.kernels[k].name == name) op.kernel = static_cast<int>(k);
        if (op.kernel < 0) throw Error(where + ": calls kernel '" + name + "' it was not given");
        const KernelDecl& d = w.kernels[static_cast<size_t>(op.kernel)];
        const json& args = Array(j, "args", where);
        if (args.size() != d.bytes.size())
          throw Error(where + ": " + name + " takes " + std::to_string(d.bytes.size()) + " arguments, called with " +
                      std::to_string(args.size()));
        for (size_t a = 0; a < args.size(); ++a) {
          Expr e = ParseExpr(args[a], w, where);
          const bool is_buffer = e.kind == Expr::Kind::kFifo || e.kind == Expr::Kind::kLocal;
          if (is_buffer == d.scalar[a])
            throw Error(where + ": " + name + " argument " + std::to_string(a) + " is a " +
                        (d.scalar[a] ? "scalar" : "buffer") + " in the kernel's declaration");
          if (e.kind == Expr::Kind::kFifo && fifos_[static_cast<size_t>(e.fifo)].bytes != d.bytes[a])
            throw Error(where + ": " + name + " argument " + std::to_string(a) + " is declared " +
                        std::to_string(d.bytes[a]) + " bytes, fifo '" + fifos_[static_cast<size_t>(e.fifo)].name +
                        "' objects are " + std::to_string(fifos_[static_cast<size_t>(e.fifo)].bytes));
          if (e.kind == Expr::Kind::kLocal) {
            const RtpBuffer& b = buffers_[static_cast<size_t>(e.buffer)];
            if (b.elems * b.elem_bytes != d.bytes[a])
              throw Error(where + ": " + name + " argument " + std::to_string(a) + " is declared " +
                          std::to_string(d.bytes[a]) + " bytes, buffer '" + b.name + "' has " +
                          std::to_string(b.elems * b.elem_bytes));
          }
          op.args.push_back(e);
        }
      } else if (kind == "loop") {
        op.kind = BodyOp::Kind::kLoop;
        op.count = ParseExpr(Field(j, "count", where), w, where + " loop count");
        if (op.count.kind == Expr::Kind::kFifo) throw Error(where + ": a loop count cannot be a buffer");
        op.body = ParseBody(Array(j, "body", where), w, where);
      } else {
        throw Error(where + ": unknown body op '" + kind + "'");
      }
      out.push_back(std::move(op));
    }
    return out;
  }

  // ---- execution --------------------------------------------------------------
  //
  // Everything runs concurrently, as on the array: the runtime sequence on
  // the calling thread (it issues fills and drains in order and blocks only
  // where a drain is awaited), and each worker on its own thread. Objects
  // pass through `Stream`s under one lock: a producing core blocks while
  // `depth` objects are outstanding (acquired and not yet released by every
  // consumer), a consumer blocks until the object it wants is there. Shims
  // move data as fast as the cores take it. When every participant still
  // running waits for something that is not there, nothing can make it
  // appear: that is a deadlock on the array, reported with who waits for what.

  struct Stream {
    int64_t made = 0;               // objects the producing core acquired (or the shim/link delivered)
    int64_t ready = 0;              // objects released to the consumers
    std::vector<int64_t> consumed;  // per consuming worker: objects it released
    int64_t drained_bytes = 0;      // taken by shim drains
    int64_t MinConsumed() const {
      int64_t m = INT64_MAX;
      for (int64_t c : consumed) m = std::min(m, c);
      return consumed.empty() ? ready : m;
    }
  };

  struct Sched {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Stream> streams;                       // per fifo
    std::vector<std::string> waiting;                  // per participant (workers, then the sequence)
    std::vector<const std::function<bool()>*> can_go;  // per waiting participant: whether it could go on now
    int64_t live = 0;                                  // participants not finished
    bool sequence_done = false;                        // no fill will come any more
    std::vector<bool> core_done;                       // per fifo: its producing core finished
    std::string failure;                               // first error or the deadlock report
    std::exception_ptr error;
  };

  struct State {
    explicit State(const Program& p) : objects(p.fifos_.size()), barriers(p.barriers_.size()),
                                       barrier_set(p.barriers_.size(), false) {
      for (const RtpBuffer& b : p.buffers_) {
        rtps.push_back(b.initial);
        // Core-local scratch: what it held before is undefined, so it starts poisoned.
        locals.push_back(b.rtp ? nullptr : std::make_unique<AlignedBuffer>(static_cast<size_t>(b.elems * b.elem_bytes), kPoison));
      }
      for (size_t i = 0; i < p.barriers_.size(); ++i) barriers[i] = p.barriers_[i].initial;
      s.streams.resize(p.fifos_.size());
      s.core_done.assign(p.fifos_.size(), false);
      for (size_t f = 0; f < p.fifos_.size(); ++f) s.streams[f].consumed.assign(p.fifos_[f].consumer_workers.size(), 0);
      s.waiting.resize(p.workers_.size() + 1);
      s.can_go.assign(p.workers_.size() + 1, nullptr);
    }
    std::vector<Objects> objects;
    std::vector<std::vector<int64_t>> rtps;
    std::vector<std::unique_ptr<AlignedBuffer>> locals;  // per buffer; null for runtime parameters
    std::vector<int64_t> barriers;
    std::vector<bool> barrier_set;
    bool started = false;
    Sched s;
  };

  std::string ParticipantName(size_t i) const {
    return i < workers_.size() ? "core " + workers_[i].tile : std::string("the runtime sequence");
  }

  // Blocks participant `who` until `can()` (under s.mu). Throws on a
  // deadlock, on another participant's failure, or when `hopeless()` says
  // (with its reason) that what it waits for can never come.
  template <typename Can, typename Hopeless>
  void WaitFor(std::unique_lock<std::mutex>& lock, Sched& s, size_t who, const std::string& what, Can can,
               Hopeless hopeless) const {
    if (!s.failure.empty()) throw Error(s.failure);
    if (can()) return;
    const std::function<bool()> pred = can;
    s.waiting[who] = what;
    s.can_go[who] = &pred;
    while (s.failure.empty() && !pred()) {
      const std::string reason = hopeless();
      if (!reason.empty()) s.failure = reason;
      else if (Deadlocked(s)) s.failure = DeadlockReport(s);
      if (!s.failure.empty()) break;
      s.cv.wait(lock);
    }
    s.waiting[who].clear();
    s.can_go[who] = nullptr;
    if (!s.failure.empty()) {
      s.cv.notify_all();
      throw Error(s.failure);
    }
  }

  // Every participant still running waits for something that is not there.
  static bool Deadlocked(const Sched& s) {
    int64_t stuck = 0;
    for (const std::function<bool()>* p : s.can_go)
      if (p != nullptr && !(*p)()) ++stuck;
    return s.live > 0 && stuck == s.live;
  }

  std::string DeadlockReport(const Sched& s) const {
    std::string msg = "npu dispatch: deadlock (the array would hang):";
    for (size_t i = 0; i < s.can_go.size(); ++i)
      if (s.can_go[i] != nullptr) {
        // Appended piecewise: GCC 12 reports a false -Wrestrict on " " + std::string.
        msg += ' ';
        msg += ParticipantName(i);
        msg += " waits to ";
        msg += s.waiting[i];
        msg += ';';
      }
    msg.pop_back();
    return msg;
  }

  template <typename Fn>
  static void WalkTap(const NpuTap& tap, size_t buffer_bytes, const std::string& what, Fn fn) {
    int64_t stream = 0;
    for (int64_t i0 = 0; i0 < tap.sizes[0]; ++i0)
      for (int64_t i1 = 0; i1 < tap.sizes[1]; ++i1)
        for (int64_t i2 = 0; i2 < tap.sizes[2]; ++i2) {
          const int64_t at = tap.offset + i0 * tap.strides[0] + i1 * tap.strides[1] + i2 * tap.strides[2];
          if (at < 0 || at + tap.sizes[3] > static_cast<int64_t>(buffer_bytes))
            throw Error("npu dispatch: " + what + " access pattern reaches outside its buffer");
          fn(at, stream);
          stream += tap.sizes[3];
        }
  }

  // New objects of `f` (from `first` on) reach its split/forward children.
  void Deliver(int f, size_t first, State* st) const {
    const Objects& parent = st->objects[static_cast<size_t>(f)];
    st->s.streams[static_cast<size_t>(f)].made = st->s.streams[static_cast<size_t>(f)].ready =
        static_cast<int64_t>(parent.at.size());
    for (int c : fifos_[static_cast<size_t>(f)].link_children) {
      const Fifo& child = fifos_[static_cast<size_t>(c)];
      Objects& objs = st->objects[static_cast<size_t>(c)];
      const size_t child_first = objs.at.size();
      for (size_t i = first; i < parent.at.size(); ++i) {
        if (child.link == "forward") {
          objs.owned.push_back(parent.owned[i]);
          objs.at.push_back(parent.at[i]);
        } else {
          std::memcpy(objs.Add(static_cast<size_t>(child.bytes), 0), parent.at[i] + child.offset_bytes,
                      static_cast<size_t>(child.bytes));
        }
      }
      Deliver(c, child_first, st);
    }
  }

  // Makes the objects of a join parent as its children complete them.
  void AdvanceJoin(int parent, State* st) const {
    const Fifo& fifo = fifos_[static_cast<size_t>(parent)];
    int64_t complete = INT64_MAX;
    for (int c : fifo.children) complete = std::min(complete, st->s.streams[static_cast<size_t>(c)].ready);
    Objects& objs = st->objects[static_cast<size_t>(parent)];
    for (auto i = static_cast<int64_t>(objs.at.size()); i < complete; ++i) {
      uint8_t* dst = objs.Add(static_cast<size_t>(fifo.bytes), kPoison);
      for (int c : fifo.children) {
        const Fifo& child = fifos_[static_cast<size_t>(c)];
        std::memcpy(dst + child.offset_bytes, st->objects[static_cast<size_t>(c)].at[static_cast<size_t>(i)],
                    static_cast<size_t>(child.bytes));
      }
    }
    st->s.streams[static_cast<size_t>(parent)].ready = st->s.streams[static_cast<size_t>(parent)].made =
        static_cast<int64_t>(objs.at.size());
  }

  void RunSeqOp(const NpuSeqOp& op, std::span<const NpuDdrArg> args, State* st,
                std::vector<const NpuSeqOp*>* pending_drains) const {
    switch (op.kind) {
      case NpuSeqOp::Kind::kWriteRtp: {
        auto it = buffer_index_.find(op.target);
        Check(it != buffer_index_.end(), "npu dispatch", "runtime sequence writes unknown buffer '" + op.target + "'");
        const RtpBuffer& b = buffers_[static_cast<size_t>(it->second)];
        Check(b.rtp, "npu dispatch", "buffer '" + op.target + "' is not a runtime parameter");
        Check(b.worker >= 0, "npu dispatch", "buffer '" + op.target + "' belongs to no worker");
        Check(op.index >= 0 && op.index < b.elems, "npu dispatch", "write outside buffer '" + op.target + "'");
        std::lock_guard<std::mutex> lock(st->s.mu);
        for (int bar : workers_.at(static_cast<size_t>(b.worker)).barriers)
          Check(!st->barrier_set[static_cast<size_t>(bar)], "npu dispatch",
                "'" + op.target + "' is written after its core was released (it may read a stale count)");
        st->rtps[static_cast<size_t>(it->second)][static_cast<size_t>(op.index)] = op.value;
        return;
      }
      case NpuSeqOp::Kind::kSetBarrier: {
        auto it = barrier_index_.find(op.target);
        Check(it != barrier_index_.end(), "npu dispatch", "runtime sequence sets unknown barrier '" + op.target + "'");
        std::lock_guard<std::mutex> lock(st->s.mu);
        st->barriers[static_cast<size_t>(it->second)] = op.value;
        st->barrier_set[static_cast<size_t>(it->second)] = true;
        st->s.cv.notify_all();
        return;
      }
      case NpuSeqOp::Kind::kStart:
        Check(op.value == static_cast<int64_t>(workers_.size()), "npu dispatch",
              "runtime sequence starts " + std::to_string(op.value) + " workers, the program has " +
                  std::to_string(workers_.size()));
        Check(!st->started, "npu dispatch", "runtime sequence starts the workers twice");
        st->started = true;
        return;
      case NpuSeqOp::Kind::kFill: {
        const int f = FifoIndex(op.target, "npu dispatch fill");
        const Fifo& fifo = fifos_[static_cast<size_t>(f)];
        Check(fifo.producer == Producer::kShim, "npu dispatch", "fill of '" + fifo.name + "', which a shim does not feed");
        Check(op.tile[1] == 0, "npu dispatch", "fill of '" + fifo.name + "' from a tile that is not a shim");
        const int64_t total = op.tap.sizes[0] * op.tap.sizes[1] * op.tap.sizes[2] * op.tap.sizes[3];
        Check(total % fifo.bytes == 0, "npu dispatch",
              "fill of '" + fifo.name + "' moves " + std::to_string(total) + " bytes, not a whole number of " +
                  std::to_string(fifo.bytes) + "-byte objects (the array would hang)");
        const NpuDdrArg& src = args[static_cast<size_t>(op.arg)];
        // Read DDR as it is now (a fill may follow an awaited drain of the same buffer).
        Objects fresh;
        for (int64_t i = 0; i < total / fifo.bytes; ++i) fresh.Add(static_cast<size_t>(fifo.bytes), 0);
        WalkTap(op.tap, src.bytes, "fill of '" + fifo.name + "'", [&](int64_t at, int64_t s) {
          for (int64_t done = 0; done < op.tap.sizes[3];) {  // a run may straddle objects
            const int64_t pos = s + done, obj = pos / fifo.bytes, in = pos % fifo.bytes;
            const int64_t n = std::min(op.tap.sizes[3] - done, fifo.bytes - in);
            std::memcpy(fresh.at[static_cast<size_t>(obj)] + in, src.data + at + done, static_cast<size_t>(n));
            done += n;
          }
        });
        std::lock_guard<std::mutex> lock(st->s.mu);
        Objects& objs = st->objects[static_cast<size_t>(f)];
        const size_t first = objs.at.size();
        objs.owned.insert(objs.owned.end(), fresh.owned.begin(), fresh.owned.end());
        objs.at.insert(objs.at.end(), fresh.at.begin(), fresh.at.end());
        Deliver(f, first, st);
        st->s.cv.notify_all();
        return;
      }
      case NpuSeqOp::Kind::kDrain:
        Check(st->started, "npu dispatch", "drain before the workers were started");
        if (!op.wait) {
          pending_drains->push_back(&op);
          return;
        }
        for (const NpuSeqOp* p : *pending_drains) Drain(*p, args, st);
        pending_drains->clear();
        Drain(op, args, st);
        return;
      case NpuSeqOp::Kind::kFinishTaskGroup:
        for (const NpuSeqOp* p : *pending_drains) Drain(*p, args, st);
        pending_drains->clear();
        return;
    }
  }

  // Waits until the drain's bytes exist, then writes them to DDR.
  void Drain(const NpuSeqOp& op, std::span<const NpuDdrArg> args, State* st) const {
    const int f = FifoIndex(op.target, "npu dispatch drain");
    const Fifo& fifo = fifos_[static_cast<size_t>(f)];
    Check(op.tile[1] == 0, "npu dispatch", "drain of '" + fifo.name + "' to a tile that is not a shim");
    Check(fifo.shim_consumer, "npu dispatch", "drain of '" + fifo.name + "', which no shim consumes");
    const int64_t total = op.tap.sizes[0] * op.tap.sizes[1] * op.tap.sizes[2] * op.tap.sizes[3];
    Sched& s = st->s;
    Stream& stream = s.streams[static_cast<size_t>(f)];
    const int64_t base = stream.drained_bytes;
    std::unique_lock<std::mutex> lock(s.mu);
    WaitFor(lock, s, workers_.size(), "drain byte " + std::to_string(base + total) + " of '" + fifo.name + "'",
            [&] { return base + total <= stream.ready * fifo.bytes; },
            [&] {
              return ProducerDone(f, s) ? "npu dispatch: drain of '" + fifo.name + "' waits for " +
                                              std::to_string(base + total) + " bytes, the cores produce " +
                                              std::to_string(stream.ready * fifo.bytes) + " (the array would hang)"
                                        : std::string();
            });
    const Objects& objs = st->objects[static_cast<size_t>(f)];
    const NpuDdrArg& dst = args[static_cast<size_t>(op.arg)];
    WalkTap(op.tap, dst.bytes, "drain of '" + fifo.name + "'", [&](int64_t at, int64_t s_pos) {
      for (int64_t done = 0; done < op.tap.sizes[3];) {
        const int64_t pos = base + s_pos + done, obj = pos / fifo.bytes, in = pos % fifo.bytes;
        const int64_t n = std::min(op.tap.sizes[3] - done, fifo.bytes - in);
        std::memcpy(dst.data + at + done, objs.at[static_cast<size_t>(obj)] + in, static_cast<size_t>(n));
        done += n;
      }
    });
    stream.drained_bytes += total;
  }

  // Whether no more objects of f can be produced (its producers finished).
  bool ProducerDone(int f, const Sched& s) const {
    const Fifo& fifo = fifos_[static_cast<size_t>(f)];
    if (fifo.producer == Producer::kCore) return s.core_done[static_cast<size_t>(f)];
    if (fifo.producer == Producer::kLinkChild) return ProducerDone(fifo.parent, s);
    if (fifo.producer == Producer::kJoinParent) {
      for (int c : fifo.children)
        if (!ProducerDone(c, s)) return false;
      return true;
    }
    return s.sequence_done;
  }

  struct WorkerRun {
    size_t index = 0;
    const WorkerDecl* w = nullptr;
    std::map<int, size_t> cursor;              // input fifo -> next object
    std::map<int, std::deque<uint8_t*>> held;  // fifo -> objects held, oldest first
    bool released = false;                     // passed its barrier
  };

  // A worker's slot among a fifo's consuming workers.
  static size_t ConsumerSlot(const Fifo& fifo, size_t worker) {
    for (size_t s = 0; s < fifo.consumer_workers.size(); ++s)
      if (fifo.consumer_workers[s] == static_cast<int>(worker)) return s;
    return 0;
  }

  // Objects a producing core has outstanding, and how many it may: the
  // fifo's depth, plus the parent's for a join child (the mem tile buffers
  // those too). Objects a shim drains leave as soon as they are released.
  int64_t Outstanding(int f, const Sched& s) const {
    const Fifo& fifo = fifos_[static_cast<size_t>(f)];
    const Stream& mine = s.streams[static_cast<size_t>(f)];
    if (fifo.link == "join") {
      const Fifo& parent = fifos_[static_cast<size_t>(fifo.parent)];
      return mine.made - (parent.shim_consumer ? mine.ready : s.streams[static_cast<size_t>(fifo.parent)].MinConsumed());
    }
    return mine.made - mine.MinConsumed();
  }
  int64_t Capacity(int f) const {
    const Fifo& fifo = fifos_[static_cast<size_t>(f)];
    return fifo.link == "join" ? fifo.depth + fifos_[static_cast<size_t>(fifo.parent)].depth : fifo.depth;
  }

  int64_t Eval(const Expr& e, const WorkerRun& run, const State& st) const {
    if (e.kind == Expr::Kind::kConst) return e.value;
    if (!run.w->barriers.empty() && !run.released)
      throw Error("npu dispatch: core " + run.w->tile + " reads runtime parameter '" +
                  buffers_[static_cast<size_t>(e.buffer)].name + "' before waiting on its barrier");
    return st.rtps[static_cast<size_t>(e.buffer)][static_cast<size_t>(e.index)];
  }

  void Acquire(const BodyOp& op, WorkerRun* run, State* st) const {
    const WorkerDecl& w = *run->w;
    const Fifo& fifo = fifos_[static_cast<size_t>(op.fifo)];
    auto& held = run->held[op.fifo];
    if (static_cast<int64_t>(held.size()) + op.n > fifo.depth)
      throw Error("npu dispatch: core " + w.tile + " holds more than depth " + std::to_string(fifo.depth) +
                  " objects of '" + fifo.name + "' (the core would hang)");
    Sched& s = st->s;
    std::unique_lock<std::mutex> lock(s.mu);
    Stream& stream = s.streams[static_cast<size_t>(op.fifo)];
    if (op.prod) {
      WaitFor(lock, s, run->index, "acquire " + std::to_string(op.n) + " free object(s) of '" + fifo.name + "' (producer)",
              [&] { return Outstanding(op.fifo, s) + op.n <= Capacity(op.fifo); }, [] { return std::string(); });
      for (int64_t i = 0; i < op.n; ++i)
        held.push_back(st->objects[static_cast<size_t>(op.fifo)].Add(static_cast<size_t>(fifo.bytes), kPoison));
      stream.made += op.n;
      return;
    }
    size_t& next = run->cursor[op.fifo];
    const auto want = static_cast<int64_t>(next) + op.n;
    WaitFor(lock, s, run->index, "acquire object " + std::to_string(want) + " of '" + fifo.name + "' (consumer)",
            [&] { return want <= stream.ready; },
            [&] {
              return ProducerDone(op.fifo, s) ? "npu dispatch: core " + w.tile + " acquires object " +
                                                    std::to_string(stream.ready + 1) + " of '" + fifo.name + "' but only " +
                                                    std::to_string(stream.ready) + " arrive (the array would hang)"
                                              : std::string();
            });
    const Objects& in = st->objects[static_cast<size_t>(op.fifo)];
    for (int64_t i = 0; i < op.n; ++i) held.push_back(in.at[next++]);
  }

  void Release(const BodyOp& op, WorkerRun* run, State* st) const {
    auto& held = run->held[op.fifo];
    const Fifo& fifo = fifos_[static_cast<size_t>(op.fifo)];
    if (static_cast<int64_t>(held.size()) < op.n)
      throw Error("npu dispatch: core " + run->w->tile + " releases more objects of '" + fifo.name + "' than it holds");
    for (int64_t i = 0; i < op.n; ++i) held.pop_front();
    std::lock_guard<std::mutex> lock(st->s.mu);
    Stream& stream = st->s.streams[static_cast<size_t>(op.fifo)];
    if (op.prod) {
      stream.ready += op.n;
      if (fifo.link == "join") AdvanceJoin(fifo.parent, st);
    } else {
      stream.consumed[ConsumerSlot(fifo, run->index)] += op.n;
    }
    st->s.cv.notify_all();
  }

  void Exec(const std::vector<BodyOp>& body, WorkerRun* run, State* st) const {
    const WorkerDecl& w = *run->w;
    for (const BodyOp& op : body) {
      switch (op.kind) {
        case BodyOp::Kind::kWait: {
          std::unique_lock<std::mutex> lock(st->s.mu);
          int64_t& v = st->barriers[static_cast<size_t>(op.barrier)];
          const std::string& name = barriers_[static_cast<size_t>(op.barrier)].name;
          WaitFor(lock, st->s, run->index, "pass barrier '" + name + "', which the runtime sequence does not set", [&] { return v >= op.n; }, [&] {
            return st->s.sequence_done ? "npu dispatch: core " + w.tile + " waits for barrier '" + name +
                                             "' which the runtime sequence does not set (the core would hang)"
                                       : std::string();
          });
          v -= op.n;
          run->released = true;
          break;
        }
        case BodyOp::Kind::kAcquire: Acquire(op, run, st); break;
        case BodyOp::Kind::kRelease: Release(op, run, st); break;
        case BodyOp::Kind::kCall: {
          const KernelDecl& k = w.kernels[static_cast<size_t>(op.kernel)];
          std::vector<uint8_t*> buffers;
          std::vector<int64_t> scalars;
          for (const Expr& e : op.args) {
            if (e.kind == Expr::Kind::kLocal) {
              buffers.push_back(st->locals[static_cast<size_t>(e.buffer)]->data());
              continue;
            }
            if (e.kind != Expr::Kind::kFifo) {
              scalars.push_back(Eval(e, *run, *st));
              continue;
            }
            auto& held = run->held[e.fifo];
            if (held.empty())
              throw Error("npu dispatch: core " + w.tile + " passes '" + fifos_[static_cast<size_t>(e.fifo)].name +
                          "' to " + k.name + " without holding an object of it");
            buffers.push_back(held.back());
          }
          if (!RunNpuHostKernel(k.name, NpuKernelArgs{buffers, scalars}, aie2p_))
            throw Error("npu dispatch: no host build of kernel '" + k.name + "' (npu_host_kernels.cpp)");
          break;
        }
        case BodyOp::Kind::kLoop: {
          const int64_t n = Eval(op.count, *run, *st);
          if (n < 0 || n > kMaxLoopCount)
            throw Error("npu dispatch: core " + w.tile + " loop count " + std::to_string(n) + " is out of range");
          for (int64_t i = 0; i < n; ++i) Exec(op.body, run, st);
          break;
        }
      }
    }
  }

  void RunWorker(size_t index, State* st) const {
    WorkerRun run;
    run.index = index;
    run.w = &workers_[index];
    Exec(run.w->body, &run, st);  // one iteration of the while_true body per dispatch
    for (const auto& [f, held] : run.held)
      if (!held.empty())
        throw Error("npu dispatch: core " + run.w->tile + " still holds objects of '" +
                    fifos_[static_cast<size_t>(f)].name + "' at the end of its body");
  }

  // Runs the sequence on this thread and the workers on theirs; returns when all are done.
  void Execute(const NpuRuntimeSequence& seq, std::span<const NpuDdrArg> args, State* st) const {
    Sched& s = st->s;
    // Before start: counts and barriers. The workers exist from `start` on.
    size_t i = 0;
    std::vector<const NpuSeqOp*> pending;
    for (; i < seq.ops.size() && seq.ops[i].kind != NpuSeqOp::Kind::kStart; ++i) RunSeqOp(seq.ops[i], args, st, &pending);
    Check(i < seq.ops.size(), "npu dispatch", "the runtime sequence never starts the workers");
    RunSeqOp(seq.ops[i++], args, st, &pending);
    s.live = static_cast<int64_t>(workers_.size()) + 1;
    auto finish = [&](size_t who, const std::exception_ptr& error) {
      std::lock_guard<std::mutex> lock(s.mu);
      if (error && !s.error) s.error = error;
      if (error && s.failure.empty()) s.failure = "npu dispatch: stopped: " + ParticipantName(who) + " failed";
      if (who < workers_.size())
        for (int f : workers_[who].outputs) s.core_done[static_cast<size_t>(f)] = true;
      else
        s.sequence_done = true;
      --s.live;
      s.cv.notify_all();
    };
    std::vector<std::thread> threads;
    threads.reserve(workers_.size());
    for (size_t w = 0; w < workers_.size(); ++w)
      threads.emplace_back([&, w] {
        std::exception_ptr error;
        try {
          RunWorker(w, st);
        } catch (...) {
          error = std::current_exception();
        }
        finish(w, error);
      });
    std::exception_ptr error;
    try {
      for (; i < seq.ops.size(); ++i) RunSeqOp(seq.ops[i], args, st, &pending);
      for (const NpuSeqOp* p : pending) Drain(*p, args, st);
    } catch (...) {
      error = std::current_exception();
    }
    finish(workers_.size(), error);
    for (std::thread& t : threads) t.join();
    if (s.error) {
      try {
        std::rethrow_exception(s.error);
      } catch (const std::logic_error& e) {  // the aie shim's misalignment report
        throw Error(std::string("npu dispatch: ") + e.what());
      }
    }
  }

  // After a dispatch: every object was consumed, by each core that reads it and by the drains.
  void CheckAllConsumed(const State& st) const {
    for (size_t f = 0; f < fifos_.size(); ++f) {
      const Fifo& fifo = fifos_[f];
      const Stream& stream = st.s.streams[f];
      const auto carried = static_cast<int64_t>(st.objects[f].at.size());
      for (size_t c = 0; c < fifo.consumer_workers.size(); ++c)
        if (stream.consumed[c] != carried)
          throw Error("npu dispatch: core " + workers_[static_cast<size_t>(fifo.consumer_workers[c])].tile +
                      " consumes " + std::to_string(stream.consumed[c]) + " of the " + std::to_string(carried) +
                      " objects of '" + fifo.name + "' (the array would hang)");
      if (fifo.shim_consumer && stream.drained_bytes != carried * fifo.bytes)
        throw Error("npu dispatch: fifo '" + fifo.name + "' carried " + std::to_string(carried * fifo.bytes) +
                    " bytes but the drains take " + std::to_string(stream.drained_bytes) + " (the array would hang)");
    }
  }

  std::string device_;
  bool aie2p_ = false;
  std::vector<Fifo> fifos_;
  std::map<std::string, int> fifo_index_, buffer_index_, barrier_index_;
  std::vector<RtpBuffer> buffers_;
  std::vector<Barrier> barriers_;
  std::vector<WorkerDecl> workers_;
};

}  // namespace

std::shared_ptr<const NpuProgram> NpuProgram::FromRecording(const nlohmann::json& recorded) {
  try {
    return std::make_shared<Program>(recorded);
  } catch (const nlohmann::json::exception& e) {  // a value of the wrong type the checks above missed
    throw Error(std::string("npu recording: malformed value: ") + e.what());
  }
}

}  // namespace bitnet
