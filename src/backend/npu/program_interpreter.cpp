#include "backend/npu/program_interpreter.h"

#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <nlohmann/json.hpp>
#include <stdexcept>
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
  enum class Kind { kConst, kRtp, kFifo } kind = Kind::kConst;
  int64_t value = 0;  // kConst
  int buffer = -1;    // kRtp
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
  int worker_consumers = 0;
  bool shim_consumer = false;  // drained to DDR
};

struct RtpBuffer {
  std::string name;
  int64_t elems = 0;
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
    for (const Fifo& f : fifos_) {
      if (f.producer == Producer::kCore && f.worker_consumers > 0)
        throw Error("npu recording: fifo '" + f.name + "' goes from core to core, which the interpreter does not run");
    }
  }

  std::string device() const override { return device_; }

  void Run(const NpuRuntimeSequence& seq, std::span<const NpuDdrArg> args, ThreadPool* pool) const override {
    Check(seq.arg_bytes.size() == args.size(), "npu dispatch", "runtime sequence takes " +
          std::to_string(seq.arg_bytes.size()) + " buffers, got " + std::to_string(args.size()));
    for (size_t i = 0; i < args.size(); ++i)
      Check(args[i].bytes == static_cast<size_t>(seq.arg_bytes[i]), "npu dispatch",
            "buffer " + std::to_string(i) + " has " + std::to_string(args[i].bytes) + " bytes, the sequence needs " +
                std::to_string(seq.arg_bytes[i]));
    State st(*this);
    std::vector<const NpuSeqOp*> drains;
    for (const NpuSeqOp& op : seq.ops) RunSeqOp(op, args, &st, &drains);
    for (size_t f = 0; f < fifos_.size(); ++f) Derive(static_cast<int>(f), &st);
    RunWorkers(&st, pool);
    for (size_t f = 0; f < fifos_.size(); ++f)
      if (fifos_[f].producer == Producer::kJoinParent) Join(static_cast<int>(f), &st);
    std::vector<int64_t> drained(fifos_.size(), 0);
    for (const NpuSeqOp* op : drains) Drain(*op, args, &st, &drained);
    for (size_t f = 0; f < fifos_.size(); ++f) {
      if (fifos_[f].shim_consumer && drained[f] != static_cast<int64_t>(st.objects[f].at.size()) * fifos_[f].bytes)
        throw Error("npu dispatch: fifo '" + fifos_[f].name + "' carried " +
                    std::to_string(st.objects[f].at.size() * static_cast<size_t>(fifos_[f].bytes)) +
                    " bytes but the drains take " + std::to_string(drained[f]) + " (the array would hang)");
    }
  }

 private:
  struct State {
    explicit State(const Program& p) : objects(p.fifos_.size()), derived(p.fifos_.size(), false),
                                       barriers(p.barriers_.size()), barrier_set(p.barriers_.size(), false) {
      for (const RtpBuffer& b : p.buffers_) rtps.push_back(b.initial);
      for (size_t i = 0; i < p.barriers_.size(); ++i) barriers[i] = p.barriers_[i].initial;
    }
    std::vector<Objects> objects;
    std::vector<bool> derived;
    std::vector<std::vector<int64_t>> rtps;
    std::vector<int64_t> barriers;
    std::vector<bool> barrier_set;
    bool started = false;
  };

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
    } else {
      throw Error(where + ": expression " + j.dump() + " is none of const, rtp, fifo");
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
          const bool is_buffer = e.kind == Expr::Kind::kFifo;
          if (is_buffer == d.scalar[a])
            throw Error(where + ": " + name + " argument " + std::to_string(a) + " is a " +
                        (d.scalar[a] ? "scalar" : "buffer") + " in the kernel's declaration");
          if (is_buffer && fifos_[static_cast<size_t>(e.fifo)].bytes != d.bytes[a])
            throw Error(where + ": " + name + " argument " + std::to_string(a) + " is declared " +
                        std::to_string(d.bytes[a]) + " bytes, fifo '" + fifos_[static_cast<size_t>(e.fifo)].name +
                        "' objects are " + std::to_string(fifos_[static_cast<size_t>(e.fifo)].bytes));
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

  void RunSeqOp(const NpuSeqOp& op, std::span<const NpuDdrArg> args, State* st,
                std::vector<const NpuSeqOp*>* drains) const {
    switch (op.kind) {
      case NpuSeqOp::Kind::kWriteRtp: {
        auto it = buffer_index_.find(op.target);
        Check(it != buffer_index_.end(), "npu dispatch", "runtime sequence writes unknown buffer '" + op.target + "'");
        const RtpBuffer& b = buffers_[static_cast<size_t>(it->second)];
        Check(b.rtp, "npu dispatch", "buffer '" + op.target + "' is not a runtime parameter");
        Check(b.worker >= 0, "npu dispatch", "buffer '" + op.target + "' belongs to no worker");
        Check(op.index >= 0 && op.index < b.elems, "npu dispatch", "write outside buffer '" + op.target + "'");
        for (int bar : workers_.at(static_cast<size_t>(b.worker)).barriers)
          Check(!st->barrier_set[static_cast<size_t>(bar)], "npu dispatch",
                "'" + op.target + "' is written after its core was released (it may read a stale count)");
        st->rtps[static_cast<size_t>(it->second)][static_cast<size_t>(op.index)] = op.value;
        return;
      }
      case NpuSeqOp::Kind::kSetBarrier: {
        auto it = barrier_index_.find(op.target);
        Check(it != barrier_index_.end(), "npu dispatch", "runtime sequence sets unknown barrier '" + op.target + "'");
        st->barriers[static_cast<size_t>(it->second)] = op.value;
        st->barrier_set[static_cast<size_t>(it->second)] = true;
        return;
      }
      case NpuSeqOp::Kind::kStart:
        Check(op.value == static_cast<int64_t>(workers_.size()), "npu dispatch",
              "runtime sequence starts " + std::to_string(op.value) + " workers, the program has " +
                  std::to_string(workers_.size()));
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
        Objects& objs = st->objects[static_cast<size_t>(f)];
        const size_t first = objs.at.size();
        for (int64_t i = 0; i < total / fifo.bytes; ++i) objs.Add(static_cast<size_t>(fifo.bytes), 0);
        WalkTap(op.tap, src.bytes, "fill of '" + fifo.name + "'", [&](int64_t at, int64_t s) {
          for (int64_t done = 0; done < op.tap.sizes[3];) {  // a run may straddle objects
            const int64_t pos = s + done, obj = pos / fifo.bytes, in = pos % fifo.bytes;
            const int64_t n = std::min(op.tap.sizes[3] - done, fifo.bytes - in);
            std::memcpy(objs.at[first + static_cast<size_t>(obj)] + in, src.data + at + done, static_cast<size_t>(n));
            done += n;
          }
        });
        return;
      }
      case NpuSeqOp::Kind::kDrain:
        Check(st->started, "npu dispatch", "drain before the workers were started");
        drains->push_back(&op);
        return;
      case NpuSeqOp::Kind::kFinishTaskGroup: return;
    }
  }

  // Objects of a split/forward child from its parent's.
  void Derive(int f, State* st) const {
    const Fifo& fifo = fifos_[static_cast<size_t>(f)];
    if (fifo.producer != Producer::kLinkChild || st->derived[static_cast<size_t>(f)]) return;
    Derive(fifo.parent, st);
    const Objects& parent = st->objects[static_cast<size_t>(fifo.parent)];
    Objects& objs = st->objects[static_cast<size_t>(f)];
    if (fifo.link == "forward") {
      objs = parent;
    } else {
      for (uint8_t* p : parent.at)
        std::memcpy(objs.Add(static_cast<size_t>(fifo.bytes), 0), p + fifo.offset_bytes, static_cast<size_t>(fifo.bytes));
    }
    st->derived[static_cast<size_t>(f)] = true;
  }

  void Join(int f, State* st) const {
    const Fifo& fifo = fifos_[static_cast<size_t>(f)];
    const size_t n = st->objects[static_cast<size_t>(fifo.children[0])].at.size();
    for (int c : fifo.children)
      Check(st->objects[static_cast<size_t>(c)].at.size() == n, "npu dispatch",
            "join '" + fifo.name + "': '" + fifos_[static_cast<size_t>(c)].name + "' produced " +
                std::to_string(st->objects[static_cast<size_t>(c)].at.size()) + " objects, '" +
                fifos_[static_cast<size_t>(fifo.children[0])].name + "' " + std::to_string(n) + " (the array would hang)");
    Objects& objs = st->objects[static_cast<size_t>(f)];
    for (size_t i = 0; i < n; ++i) {
      uint8_t* dst = objs.Add(static_cast<size_t>(fifo.bytes), kPoison);
      for (int c : fifo.children) {
        const Fifo& child = fifos_[static_cast<size_t>(c)];
        std::memcpy(dst + child.offset_bytes, st->objects[static_cast<size_t>(c)].at[i], static_cast<size_t>(child.bytes));
      }
    }
  }

  void Drain(const NpuSeqOp& op, std::span<const NpuDdrArg> args, State* st, std::vector<int64_t>* drained) const {
    const int f = FifoIndex(op.target, "npu dispatch drain");
    const Fifo& fifo = fifos_[static_cast<size_t>(f)];
    Check(op.tile[1] == 0, "npu dispatch", "drain of '" + fifo.name + "' to a tile that is not a shim");
    const Objects& objs = st->objects[static_cast<size_t>(f)];
    const int64_t total = op.tap.sizes[0] * op.tap.sizes[1] * op.tap.sizes[2] * op.tap.sizes[3];
    const int64_t base = (*drained)[static_cast<size_t>(f)];
    Check(base + total <= static_cast<int64_t>(objs.at.size()) * fifo.bytes, "npu dispatch",
          "drain of '" + fifo.name + "' waits for " + std::to_string(base + total) + " bytes, the cores produce " +
              std::to_string(objs.at.size() * static_cast<size_t>(fifo.bytes)) + " (the array would hang)");
    const NpuDdrArg& dst = args[static_cast<size_t>(op.arg)];
    WalkTap(op.tap, dst.bytes, "drain of '" + fifo.name + "'", [&](int64_t at, int64_t s) {
      for (int64_t done = 0; done < op.tap.sizes[3];) {
        const int64_t pos = base + s + done, obj = pos / fifo.bytes, in = pos % fifo.bytes;
        const int64_t n = std::min(op.tap.sizes[3] - done, fifo.bytes - in);
        std::memcpy(dst.data + at + done, objs.at[static_cast<size_t>(obj)] + in, static_cast<size_t>(n));
        done += n;
      }
    });
    (*drained)[static_cast<size_t>(f)] += total;
  }

  struct WorkerRun {
    const WorkerDecl* w = nullptr;
    std::map<int, size_t> cursor;             // input fifo -> next object
    std::map<int, std::deque<uint8_t*>> held;  // fifo -> objects held, oldest first
    std::map<int, Objects> made;               // output fifo -> objects released
    bool released = false;                     // passed its barrier
  };

  int64_t Eval(const Expr& e, const WorkerRun& run, const State& st) const {
    if (e.kind == Expr::Kind::kConst) return e.value;
    if (!run.w->barriers.empty() && !run.released)
      throw Error("npu dispatch: core " + run.w->tile + " reads runtime parameter '" +
                  buffers_[static_cast<size_t>(e.buffer)].name + "' before waiting on its barrier");
    return st.rtps[static_cast<size_t>(e.buffer)][static_cast<size_t>(e.index)];
  }

  void Exec(const std::vector<BodyOp>& body, WorkerRun* run, State* st) const {
    const WorkerDecl& w = *run->w;
    for (const BodyOp& op : body) {
      switch (op.kind) {
        case BodyOp::Kind::kWait: {
          int64_t& v = st->barriers[static_cast<size_t>(op.barrier)];
          if (v < op.n)
            throw Error("npu dispatch: core " + w.tile + " waits for barrier '" +
                        barriers_[static_cast<size_t>(op.barrier)].name + "' which the runtime sequence does not set "
                        "(the core would hang)");
          v -= op.n;
          run->released = true;
          break;
        }
        case BodyOp::Kind::kAcquire: {
          const Fifo& fifo = fifos_[static_cast<size_t>(op.fifo)];
          auto& held = run->held[op.fifo];
          if (static_cast<int64_t>(held.size()) + op.n > fifo.depth)
            throw Error("npu dispatch: core " + w.tile + " holds more than depth " + std::to_string(fifo.depth) +
                        " objects of '" + fifo.name + "' (the core would hang)");
          for (int64_t i = 0; i < op.n; ++i) {
            if (op.prod) {
              held.push_back(run->made[op.fifo].Add(static_cast<size_t>(fifo.bytes), kPoison));
              continue;
            }
            const Objects& in = st->objects[static_cast<size_t>(op.fifo)];
            size_t& next = run->cursor[op.fifo];
            if (next >= in.at.size())
              throw Error("npu dispatch: core " + w.tile + " acquires object " + std::to_string(next + 1) + " of '" +
                          fifo.name + "' but only " + std::to_string(in.at.size()) + " arrive (the array would hang)");
            held.push_back(in.at[next++]);
          }
          break;
        }
        case BodyOp::Kind::kRelease: {
          auto& held = run->held[op.fifo];
          if (static_cast<int64_t>(held.size()) < op.n)
            throw Error("npu dispatch: core " + w.tile + " releases more objects of '" +
                        fifos_[static_cast<size_t>(op.fifo)].name + "' than it holds");
          for (int64_t i = 0; i < op.n; ++i) held.pop_front();
          break;
        }
        case BodyOp::Kind::kCall: {
          const KernelDecl& k = w.kernels[static_cast<size_t>(op.kernel)];
          std::vector<uint8_t*> buffers;
          std::vector<int64_t> scalars;
          for (const Expr& e : op.args) {
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
    run.w = &workers_[index];
    Exec(run.w->body, &run, st);  // one iteration of the while_true body per dispatch
    for (const auto& [f, held] : run.held)
      if (!held.empty())
        throw Error("npu dispatch: core " + run.w->tile + " still holds objects of '" +
                    fifos_[static_cast<size_t>(f)].name + "' at the end of its body");
    for (int f : run.w->inputs) {
      const size_t got = st->objects[static_cast<size_t>(f)].at.size();
      if (run.cursor[f] != got)
        throw Error("npu dispatch: core " + run.w->tile + " consumes " + std::to_string(run.cursor[f]) + " of the " +
                    std::to_string(got) + " objects of '" + fifos_[static_cast<size_t>(f)].name +
                    "' (the array would hang)");
    }
    for (int f : run.w->outputs) st->objects[static_cast<size_t>(f)] = std::move(run.made[f]);
  }

  void RunWorkers(State* st, ThreadPool* pool) const {
    Check(st->started, "npu dispatch", "the runtime sequence never starts the workers");
    // Worker threads must not throw through the pool: keep the first error.
    std::mutex mu;
    std::exception_ptr first_error;
    auto run = [&](int64_t begin, int64_t end) {
      try {
        for (int64_t i = begin; i < end; ++i) RunWorker(static_cast<size_t>(i), st);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = std::current_exception();
      }
    };
    const auto n = static_cast<int64_t>(workers_.size());
    if (pool)
      pool->ParallelFor(n, 1, run);
    else
      run(0, n);
    if (first_error) {
      try {
        std::rethrow_exception(first_error);
      } catch (const std::logic_error& e) {  // the aie shim's misalignment report
        throw Error(std::string("npu dispatch: ") + e.what());
      }
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
