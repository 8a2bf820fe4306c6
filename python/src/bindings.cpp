// bitnet_npu._core: the public C++ API (include/bitnet/bitnet.h) for Python.
// The seed-compatible layer (ModelArgs, Transformer, make_cache, generate.py)
// is pure Python on top of this, in python/bitnet_npu/.
//
// Every call that runs the engine releases the GIL. Logits come back as NumPy
// arrays that own the engine's buffer (no copy).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "app/server/stop_matcher.h"
#include "bitnet/bitnet.h"
#include "util/error.h"

namespace py = pybind11;
using bitnet::Error;

namespace {

// The CLI prints "error: <message>"; Python gets the same message. Bad
// arguments (a flag or an input named first, e.g. "--device: ...",
// "token ids: ...", "context: ...") are ValueError, everything else
// (unreadable files, bad formats, device failures) RuntimeError.
[[noreturn]] void Rethrow(const std::exception& e) {
  const std::string m = e.what();
  static const char* kArgumentErrors[] = {"context:", "token ids:", "forward:", "prompt:", "messages:", "stop:"};
  bool value_error = !m.empty() && m[0] == '-';
  for (const char* p : kArgumentErrors) value_error = value_error || m.rfind(p, 0) == 0;
  if (value_error) throw py::value_error(m);
  throw std::runtime_error(m);  // pybind11: RuntimeError
}

template <typename F>
auto Guard(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const py::error_already_set&) {
    throw;
  } catch (const py::builtin_exception&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    Rethrow(e);
  }
}

// A vector's storage handed to NumPy: the array owns it, nothing is copied.
py::array_t<float> ToArray(std::vector<float>&& v, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<float>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<float>*>(p); });
  return py::array_t<float>(shape, owned->data(), free_when_done);
}

std::vector<int32_t> ToIds(const py::handle& tokens) {
  // Accepts any sequence of ints or a 1-D integer array.
  std::vector<int32_t> ids;
  if (py::isinstance<py::str>(tokens) || py::isinstance<py::bytes>(tokens))
    throw py::type_error("tokens: expected token ids, not text (model.tokenize(text) gives the ids)");
  if (py::isinstance<py::array>(tokens)) {
    py::array a = py::reinterpret_borrow<py::array>(tokens);
    if (a.ndim() != 1) throw py::value_error("tokens: expected a 1-D sequence of token ids");
    if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
      throw py::value_error("tokens: expected integer token ids, got dtype " + std::string(py::str(a.dtype())));
    auto as64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
    const int64_t* p = as64.data();
    for (py::ssize_t i = 0; i < as64.size(); ++i) ids.push_back(static_cast<int32_t>(p[i]));
    for (py::ssize_t i = 0; i < as64.size(); ++i)
      if (p[i] != ids[i]) throw py::value_error("token ids: id " + std::to_string(p[i]) + " is out of range");
    return ids;
  }
  for (py::handle h : tokens) {
    const long long v = h.cast<long long>();
    if (v < INT32_MIN || v > INT32_MAX) throw py::value_error("token ids: id " + std::to_string(v) + " is out of range");
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

// A KV cache and the model that made it (a cache only fits its own model).
struct PyCache {
  std::shared_ptr<bitnet::Model> model;
  std::unique_ptr<bitnet::KvCache> cache;
};

// A cache plus the tokens whose keys/values it holds: Generator's prefix
// reuse, so a chat turn costs only its new tokens (as in `bitnet chat`).
struct Session {
  std::shared_ptr<bitnet::Model> model;
  std::unique_ptr<bitnet::KvCache> cache;
  std::vector<int32_t> cached;
  uint64_t epoch = 0;  // bumped by each new stream; older streams stop
};

// Sampling flags checked as the CLI checks them (SamplingParams::Validate).
bitnet::SamplingParams SamplingFrom(const bitnet::Model& model, std::optional<float> temperature,
                                    std::optional<int> top_k, std::optional<float> top_p, float min_p,
                                    float repeat_penalty, int repeat_last_n, std::optional<int64_t> seed) {
  bitnet::SamplingParams p = model.DefaultSampling();
  p.seed = (!seed || *seed < 0) ? static_cast<uint64_t>(std::random_device{}()) : static_cast<uint64_t>(*seed);
  if (temperature) p.temperature = *temperature;
  if (top_k) p.top_k = *top_k;
  if (top_p) p.top_p = *top_p;
  p.min_p = min_p;
  p.repeat_penalty = repeat_penalty;
  p.repeat_last_n = repeat_last_n;
  p.Validate();
  return p;
}

const char* FinishName(bitnet::FinishReason r) {
  switch (r) {
    case bitnet::FinishReason::kStop: return "stop";
    case bitnet::FinishReason::kLength: return "length";
    case bitnet::FinishReason::kCancelled: return "cancelled";
    case bitnet::FinishReason::kContextFull: return "context_full";
  }
  return "?";
}

// generate() as an iterator: each step samples one token and runs it, with
// the GIL released, and yields the text that is complete so far (whole UTF-8
// characters, never the start of a stop string). The same steps and numbers
// as bitnet::Generator::Run, so a seed gives the CLI's tokens.
class Stream {
 public:
  Stream(std::shared_ptr<Session> session, std::vector<int32_t> prompt, int max_tokens, bool ignore_eos,
         const bitnet::SamplingParams& sampling, std::vector<std::string> stops)
      : s_(std::move(session)),
        prompt_(std::move(prompt)),
        max_tokens_(max_tokens),
        ignore_eos_(ignore_eos),
        sampler_(sampling),
        seed_(sampling.seed),
        text_(s_->model->has_tokenizer()),
        stops_(std::move(stops)) {
    const int ctx = s_->cache->capacity();
    bitnet::Check(!prompt_.empty(), "prompt", "is empty");
    bitnet::Check(static_cast<int>(prompt_.size()) < ctx, "prompt",
                  std::to_string(prompt_.size()) + " tokens do not fit the context of " + std::to_string(ctx) +
                      " tokens (raise -c or /clear)");
    bitnet::Check(max_tokens_ >= 0, "-n", "must be >= 0");
    if (!stops_.empty() && !text_) throw Error("stop: stop strings need a model with a tokenizer");
    if (text_) stream_ = std::make_unique<bitnet::TextStream>(*s_->model);
    epoch_ = ++s_->epoch;
    stats_.n_prompt = static_cast<int>(prompt_.size());
    if (max_tokens_ == 0) finish_ = bitnet::FinishReason::kLength, done_ = true;
  }

  // The next piece: str (or int ids for a model without a tokenizer).
  py::object Next() {
    if (!text_) {
      if (done_) throw py::stop_iteration();
      Check();
      std::optional<int32_t> id;
      {
        py::gil_scoped_release nogil;
        id = Guard([&] { return Step(); });
      }
      if (!id) throw py::stop_iteration();
      return py::int_(*id);
    }
    for (;;) {
      if (done_) {
        if (flushed_) throw py::stop_iteration();
        flushed_ = true;
        std::string rest = stop_ ? "" : stream_->Flush();
        rest = matcher_.Push(rest);
        if (!matcher_.stopped()) rest += matcher_.Flush();
        if (rest.empty()) throw py::stop_iteration();
        return Text(rest);
      }
      Check();
      std::string piece;
      {
        py::gil_scoped_release nogil;
        Guard([&] {
          const std::optional<int32_t> id = Step();
          if (!id) return 0;
          piece = matcher_.Push(stream_->Push(*id));
          if (matcher_.stopped()) {
            stop_ = true;
            done_ = true;
            finish_ = bitnet::FinishReason::kStop;
          }
          return 0;
        });
      }
      if (!piece.empty()) return Text(piece);
    }
  }

  // Stops the stream early (finish reason "cancelled").
  void Close() {
    if (!done_) finish_ = bitnet::FinishReason::kCancelled;
    done_ = true;
    flushed_ = true;
  }

  py::object finish_reason() const { return done_ ? py::object(py::str(FinishName(finish_))) : py::none(); }
  const std::vector<int32_t>& ids() const { return ids_; }
  py::dict stats() const {
    py::dict d;
    d["n_prompt"] = stats_.n_prompt;
    d["n_prompt_eval"] = stats_.n_prompt_eval;
    d["n_generated"] = stats_.n_generated;
    d["prompt_ms"] = stats_.prompt_ms;
    d["ttft_ms"] = stats_.ttft_ms;
    d["gen_ms"] = stats_.gen_ms;
    d["prompt_tokens_per_s"] = stats_.prompt_tps();
    d["gen_tokens_per_s"] = stats_.gen_tps();
    return d;
  }
  const bitnet::GenerationStats& raw_stats() const { return stats_; }
  uint64_t seed() const { return seed_; }

 private:
  using clock = std::chrono::steady_clock;
  static double MsSince(clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  }
  static py::str Text(const std::string& s) {
    // Complete UTF-8 from TextStream; replace anything invalid (random models).
    PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<py::ssize_t>(s.size()), "replace");
    if (o == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(o);
  }
  void Check() const {
    if (s_->epoch != epoch_)
      throw std::runtime_error("generate: this stream was superseded by a later generate() on the same model");
  }

  // One token: prefill on the first call, then sample and (unless this was
  // the last one) run it. Returns nothing once finished.
  std::optional<int32_t> Step() {
    if (done_) return std::nullopt;
    const int ctx = s_->cache->capacity();
    if (!started_) {
      started_ = true;
      t0_ = clock::now();
      // Reuse the longest cached prefix; always run the last prompt token.
      size_t keep = 0;
      auto& cached = s_->cached;
      while (keep < cached.size() && keep + 1 < prompt_.size() && cached[keep] == prompt_[keep]) ++keep;
      cached.resize(keep);
      std::span<const int32_t> fresh = std::span<const int32_t>(prompt_).subspan(keep);
      stats_.n_prompt_eval = static_cast<int>(fresh.size());
      logits_ = s_->model->Forward(fresh, *s_->cache, static_cast<int>(keep), 1);
      cached.insert(cached.end(), fresh.begin(), fresh.end());
      stats_.prompt_ms = MsSince(t0_);
      history_ = prompt_;
      t_gen_ = clock::now();
    }
    const int32_t id = sampler_.Sample(logits_, history_);
    const int i = static_cast<int>(ids_.size());
    if (i == 0) stats_.ttft_ms = MsSince(t0_);
    ids_.push_back(id);
    history_.push_back(id);
    stats_.n_generated = static_cast<int>(ids_.size());
    if (stats_.n_generated > 1) stats_.gen_ms = MsSince(t_gen_) - (stats_.ttft_ms - stats_.prompt_ms);
    if (!ignore_eos_ && s_->model->IsEndOfGeneration(id)) {
      finish_ = bitnet::FinishReason::kStop;
      done_ = true;
    } else if (i + 1 == max_tokens_) {
      finish_ = bitnet::FinishReason::kLength;
      done_ = true;
    } else if (static_cast<int>(s_->cached.size()) >= ctx) {
      finish_ = bitnet::FinishReason::kContextFull;
      done_ = true;
    } else {
      const int32_t one[1] = {id};
      logits_ = s_->model->Forward(one, *s_->cache, static_cast<int>(s_->cached.size()), 1);
      s_->cached.push_back(id);
    }
    return id;
  }

  std::shared_ptr<Session> s_;
  std::vector<int32_t> prompt_;
  int max_tokens_;
  bool ignore_eos_;
  bitnet::Sampler sampler_;
  uint64_t seed_;
  bool text_;
  std::unique_ptr<bitnet::TextStream> stream_;
  bitnet::server::StopMatcher matcher_{{}};
  std::vector<std::string> stops_;
  uint64_t epoch_ = 0;
  bool started_ = false, done_ = false, flushed_ = false, stop_ = false;
  bitnet::FinishReason finish_ = bitnet::FinishReason::kLength;
  std::vector<float> logits_;
  std::vector<int32_t> history_, ids_;
  bitnet::GenerationStats stats_;
  clock::time_point t0_, t_gen_;

 public:
  void InitStops() { matcher_ = bitnet::server::StopMatcher(stops_); }
};

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "bitnet-npu engine bindings (see bitnet_npu for the seed-compatible API)";
  m.def("version", [] { return std::string(bitnet::Version()); });

  py::class_<bitnet::ModelConfig>(m, "ModelConfig")
      .def_readonly("hidden", &bitnet::ModelConfig::hidden)
      .def_readonly("n_layers", &bitnet::ModelConfig::n_layers)
      .def_readonly("n_heads", &bitnet::ModelConfig::n_heads)
      .def_readonly("n_kv_heads", &bitnet::ModelConfig::n_kv_heads)
      .def_readonly("head_dim", &bitnet::ModelConfig::head_dim)
      .def_readonly("ffn", &bitnet::ModelConfig::ffn)
      .def_readonly("vocab", &bitnet::ModelConfig::vocab)
      .def_readonly("max_context", &bitnet::ModelConfig::max_context)
      .def_readonly("norm_eps", &bitnet::ModelConfig::norm_eps)
      .def_readonly("rope_theta", &bitnet::ModelConfig::rope_theta)
      .def_readonly("relu2", &bitnet::ModelConfig::relu2)
      .def_readonly("bos_id", &bitnet::ModelConfig::bos_id)
      .def_readonly("eos_id", &bitnet::ModelConfig::eos_id);

  py::class_<bitnet::SamplingParams>(m, "SamplingParams")
      .def_readonly("temperature", &bitnet::SamplingParams::temperature)
      .def_readonly("top_k", &bitnet::SamplingParams::top_k)
      .def_readonly("top_p", &bitnet::SamplingParams::top_p)
      .def_readonly("min_p", &bitnet::SamplingParams::min_p)
      .def_readonly("repeat_penalty", &bitnet::SamplingParams::repeat_penalty)
      .def_readonly("repeat_last_n", &bitnet::SamplingParams::repeat_last_n);

  py::class_<PyCache>(m, "KVCache")
      .def_property_readonly("capacity", [](const PyCache& c) { return c.cache->capacity(); })
      .def("__len__", [](const PyCache& c) { return c.cache->capacity(); })
      .def("__repr__", [](const PyCache& c) { return "<bitnet_npu.KVCache capacity=" + std::to_string(c.cache->capacity()) + ">"; });

  py::class_<Session, std::shared_ptr<Session>>(m, "Session")
      .def_property_readonly("capacity", [](const Session& s) { return s.cache->capacity(); })
      .def_property_readonly("cached_tokens", [](const Session& s) { return s.cached; })
      .def("reset", [](Session& s) {
        s.cached.clear();
        ++s.epoch;
      });

  py::class_<Stream>(m, "Stream")
      .def("__iter__", [](Stream& s) -> Stream& { return s; })
      .def("__next__", &Stream::Next)
      .def("close", &Stream::Close)
      .def_property_readonly("finish_reason", &Stream::finish_reason)
      .def_property_readonly("ids", &Stream::ids)
      .def_property_readonly("stats", &Stream::stats)
      .def_property_readonly("seed", &Stream::seed)
      .def("format_stats", [](const Stream& s) { return s.raw_stats().Format(); });

  py::class_<bitnet::Model, std::shared_ptr<bitnet::Model>>(m, "Model")
      .def_static(
          "load",
          [](const std::string& path, int threads, const std::string& device, const std::string& xclbin_dir,
             const std::string& output_type, const std::string& packed_scale, const std::string& kv_type,
             bool verbose) {
            bitnet::Options o;
            o.n_threads = threads;
            o.device = device;
            o.xclbin_dir = xclbin_dir;
            o.output_type = output_type;
            o.packed_scale = packed_scale;
            o.kv_type = kv_type;
            o.verbose = verbose;
            return Guard([&] {
              bitnet::Check(o.n_threads >= 0 && o.n_threads <= 512, "-t", "thread count must be between 0 and 512");
              std::unique_ptr<bitnet::Model> model;
              {
                py::gil_scoped_release nogil;
                model = bitnet::Model::Load(path, o);
              }
              return std::shared_ptr<bitnet::Model>(std::move(model));
            });
          },
          py::arg("path"), py::arg("threads") = 0, py::arg("device") = "auto", py::arg("xclbin_dir") = "",
          py::arg("output_type") = "auto", py::arg("packed_scale") = "auto", py::arg("kv_type") = "auto",
          py::arg("verbose") = false)
      .def_property_readonly("config", &bitnet::Model::config, py::return_value_policy::reference_internal)
      .def_property_readonly("device_line", &bitnet::Model::device_line)
      .def_property_readonly("has_tokenizer", &bitnet::Model::has_tokenizer)
      .def_property_readonly("default_sampling", &bitnet::Model::DefaultSampling,
                             py::return_value_policy::reference_internal)
      .def("describe", &bitnet::Model::Describe)
      .def("new_cache",
           [](const std::shared_ptr<bitnet::Model>& self, int length) {
             return Guard([&] { return PyCache{self, self->NewCache(length)}; });
           },
           py::arg("length"))
      .def("new_session",
           [](const std::shared_ptr<bitnet::Model>& self, int length) {
             return Guard([&] {
               auto s = std::make_shared<Session>();
               s->model = self;
               s->cache = self->NewCache(length);
               return s;
             });
           },
           py::arg("length"))
      // Logits [n_logits][vocab] of the last n_logits positions (-1: all).
      .def("forward",
           [](const std::shared_ptr<bitnet::Model>& self, py::handle tokens, PyCache& cache, int start_pos,
              int n_logits) {
             std::vector<int32_t> ids = ToIds(tokens);
             if (cache.model != self) throw py::value_error("cache: was made by another model (make_cache(model, length))");
             const int n = static_cast<int>(ids.size());
             const int want = n_logits < 0 ? n : std::min(n_logits, n);
             std::vector<float> logits;
             Guard([&] {
               py::gil_scoped_release nogil;
               logits = self->Forward(ids, *cache.cache, start_pos, want);
               return 0;
             });
             const int vocab = self->config().vocab;
             return ToArray(std::move(logits), {static_cast<py::ssize_t>(want), vocab});
           },
           py::arg("tokens"), py::arg("cache"), py::arg("start_pos"), py::arg("n_logits") = -1)
      // Several sequences in one pass (Model::ForwardBatch): items are (tokens, cache, start_pos, n_logits)
      // tuples, one cache each; returns one [n_logits][vocab] array per item, in order.
      .def("forward_batch",
           [](const std::shared_ptr<bitnet::Model>& self, const py::list& items) {
             std::vector<std::vector<int32_t>> ids;
             std::vector<PyCache*> caches;
             std::vector<int> starts, wants;
             for (const py::handle item : items) {
               const auto t = item.cast<py::tuple>();
               if (t.size() != 4) throw py::value_error("batch: each item is (tokens, cache, start_pos, n_logits)");
               ids.push_back(ToIds(t[0]));
               caches.push_back(&t[1].cast<PyCache&>());
               if (caches.back()->model != self)
                 throw py::value_error("cache: was made by another model (make_cache(model, length))");
               starts.push_back(t[2].cast<int>());
               const int n = static_cast<int>(ids.back().size());
               const int n_logits = t[3].cast<int>();
               wants.push_back(n_logits < 0 ? n : std::min(n_logits, n));
             }
             std::vector<bitnet::BatchItem> batch;
             for (size_t i = 0; i < ids.size(); ++i)
               batch.push_back(bitnet::BatchItem{ids[i], *caches[i]->cache, starts[i], wants[i]});
             std::vector<float> logits;
             Guard([&] {
               py::gil_scoped_release nogil;
               logits = self->ForwardBatch(batch);
               return 0;
             });
             const int vocab = self->config().vocab;
             py::list out;
             size_t at = 0;
             for (const int want : wants) {
               const size_t n = static_cast<size_t>(want) * static_cast<size_t>(vocab);
               std::vector<float> rows(logits.begin() + static_cast<std::ptrdiff_t>(at),
                                       logits.begin() + static_cast<std::ptrdiff_t>(at + n));
               at += n;
               out.append(ToArray(std::move(rows), {static_cast<py::ssize_t>(want), vocab}));
             }
             return out;
           },
           py::arg("items"))
      .def("tokenize",
           [](const bitnet::Model& self, const std::string& text, bool special) {
             return Guard([&] { return self.Tokenize(text, special); });
           },
           py::arg("text"), py::arg("special") = false)
      .def("detokenize",
           [](const bitnet::Model& self, py::handle ids) {
             std::vector<int32_t> v = ToIds(ids);
             const std::string s = Guard([&] { return self.Detokenize(v); });
             PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<py::ssize_t>(s.size()), "replace");
             if (o == nullptr) throw py::error_already_set();
             return py::reinterpret_steal<py::str>(o);
           },
           py::arg("ids"))
      .def("token_bytes",
           [](const bitnet::Model& self, int32_t id) { return py::bytes(Guard([&] { return self.TokenBytes(id); })); },
           py::arg("id"))
      .def("encode_chat",
           [](const bitnet::Model& self, const std::vector<std::pair<std::string, std::string>>& messages,
              bool add_generation_prompt) {
             std::vector<bitnet::ChatTurn> turns;
             for (const auto& [role, content] : messages) turns.push_back({role, content});
             return Guard([&] { return self.EncodeChat(turns, add_generation_prompt); });
           },
           py::arg("messages"), py::arg("add_generation_prompt") = true)
      .def("is_end_of_generation", &bitnet::Model::IsEndOfGeneration)
      .def("is_control_token", &bitnet::Model::IsControlToken)
      .def("sampling",
           [](const bitnet::Model& self, std::optional<float> temperature, std::optional<int> top_k,
              std::optional<float> top_p, float min_p, float repeat_penalty, int repeat_last_n,
              std::optional<int64_t> seed) {
             return Guard([&] {
               return SamplingFrom(self, temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed);
             });
           },
           py::arg("temperature") = py::none(), py::arg("top_k") = py::none(), py::arg("top_p") = py::none(),
           py::arg("min_p") = 0.0f, py::arg("repeat_penalty") = 1.0f, py::arg("repeat_last_n") = 64,
           py::arg("seed") = py::none());

  m.def(
      "stream",
      [](const std::shared_ptr<Session>& session, py::handle prompt, int max_tokens, bool ignore_eos,
         const bitnet::SamplingParams& sampling, std::vector<std::string> stop) {
        std::vector<int32_t> ids = ToIds(prompt);
        return Guard([&] {
          auto s = std::make_unique<Stream>(session, std::move(ids), max_tokens, ignore_eos, sampling, std::move(stop));
          s->InitStops();
          return s;
        });
      },
      py::arg("session"), py::arg("prompt"), py::arg("max_tokens"), py::arg("ignore_eos"), py::arg("sampling"),
      py::arg("stop"));
}
