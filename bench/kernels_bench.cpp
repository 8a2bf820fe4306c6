// Kernel micro-benchmarks: decode (mat_vec) bandwidth per BitNet shape and
// for the output matrix, against a plain streaming-read probe of this
// machine's memory bandwidth; prefill (mat_mul) GMAC/s.
//
//   kernels_bench [--benchmark_filter=REGEX]      BITNET_ISA=avx2 forces a variant
//
// Decode matrices are replicated until one pass covers more than the
// last-level cache, so every iteration reads from DRAM as a real decode step
// (521 MB of ternary weights) does.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include "kernels/dense.h"
#include "kernels/output_int8.h"
#include "kernels/w2a8.h"
#include "util/thread_pool.h"

namespace bitnet {
namespace {

constexpr int64_t kSpanBytes = int64_t{1} << 30;  // well above any LLC we expect

ThreadPool& Pool(int threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& p = pools[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return *p;
}

// Cheap deterministic filler (xorshift64): random enough for kernels whose
// speed does not depend on the values.
void FillRandom(uint8_t* p, size_t n, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    std::memcpy(p + i, &s, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<uint8_t>(i);
}

// ---- memory bandwidth probe ----

uint64_t ReadChunk(const uint8_t* p, int64_t bytes) {
#if defined(__x86_64__)
  __m128i a = _mm_setzero_si128(), b = a, c = a, d = a;
  for (int64_t i = 0; i + 64 <= bytes; i += 64) {
    a = _mm_xor_si128(a, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i)));
    b = _mm_xor_si128(b, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i + 16)));
    c = _mm_xor_si128(c, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i + 32)));
    d = _mm_xor_si128(d, _mm_load_si128(reinterpret_cast<const __m128i*>(p + i + 48)));
  }
  const __m128i x = _mm_xor_si128(_mm_xor_si128(a, b), _mm_xor_si128(c, d));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(x)) ^ static_cast<uint64_t>(_mm_extract_epi16(x, 7));
#else
  uint64_t acc = 0;
  for (int64_t i = 0; i + 8 <= bytes; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    acc ^= v;
  }
  return acc;
#endif
}

struct ProbeBuffer {
  std::unique_ptr<uint8_t[], void (*)(void*)> data{nullptr, std::free};
  ProbeBuffer() {
    data.reset(static_cast<uint8_t*>(std::aligned_alloc(64, kSpanBytes)));
    FillRandom(data.get(), kSpanBytes, 1);
  }
};

ProbeBuffer& Probe() {
  static ProbeBuffer buffer;
  return buffer;
}

// One streaming pass over the probe buffer split across `threads`; seconds.
double ReadPass(int threads, uint64_t* sink) {
  const uint8_t* p = Probe().data.get();
  std::vector<uint64_t> partial(static_cast<size_t>(threads) * 8, 0);  // a cache line per thread
  const int64_t chunk = kSpanBytes / threads;
  const auto t0 = std::chrono::steady_clock::now();
  Pool(threads).RunOnAll([&](int t) { partial[static_cast<size_t>(t) * 8] = ReadChunk(p + t * chunk, chunk); });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (uint64_t v : partial) *sink ^= v;
  return s;
}

// Best of several passes: the machine's attainable read bandwidth (GB/s).
double MeasuredBandwidth(int threads) {
  static std::map<int, double> cache;
  auto it = cache.find(threads);
  if (it != cache.end()) return it->second;
  uint64_t sink = 0;
  double best = 1e30;
  for (int i = 0; i < 5; ++i) best = std::min(best, ReadPass(threads, &sink));
  benchmark::DoNotOptimize(sink);
  return cache[threads] = static_cast<double>(kSpanBytes) / best / 1e9;
}

void BM_MemoryRead(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  uint64_t sink = 0;
  for (auto _ : state) {
    const double s = ReadPass(threads, &sink);
    state.SetIterationTime(s);
  }
  benchmark::DoNotOptimize(sink);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(kSpanBytes) * 1e-9 * state.iterations(),
                                              benchmark::Counter::kIsRate);
  state.counters["best_GB/s"] = MeasuredBandwidth(threads);
}
BENCHMARK(BM_MemoryRead)->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);

// seconds: wall time of the timed loop, measured by the caller.
void ReportBandwidth(benchmark::State& state, double bytes_per_iteration, int threads, double seconds) {
  const double gb_per_s = bytes_per_iteration * 1e-9 * static_cast<double>(state.iterations()) / seconds;
  state.counters["GB/s"] = gb_per_s;
  state.counters["of_probe"] = gb_per_s / MeasuredBandwidth(threads);
}

// ---- W2A8 decode ----

struct Shape {
  const char* name;
  int64_t rows, cols;
};
constexpr Shape kShapes[] = {
    {"qkv_3840x2560", 3840, 2560},
    {"o_2560x2560", 2560, 2560},
    {"gate_up_13824x2560", 13824, 2560},
    {"down_2560x6912", 2560, 6912},
};

// Copies of one shape's packed weights spanning kSpanBytes. Only the most
// recently used shape is kept, to bound memory.
struct TernaryCopies {
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> bytes;
  std::vector<TernaryMatrixView> views;
};

const TernaryCopies& CopiesOf(const Shape& shape, int64_t span) {
  static TernaryCopies c;
  if (c.rows != shape.rows || c.cols != shape.cols || static_cast<int64_t>(c.bytes.size()) < span) {
    c = TernaryCopies{};
    c.rows = shape.rows;
    c.cols = shape.cols;
    const TernaryMatrixView one{shape.rows, shape.cols, TernaryPaddedCols(shape.cols), nullptr};
    const int64_t n = std::max<int64_t>(1, (span + static_cast<int64_t>(one.size_bytes()) - 1) /
                                               static_cast<int64_t>(one.size_bytes()));
    c.bytes.resize(one.size_bytes() * static_cast<size_t>(n));
    FillRandom(c.bytes.data(), c.bytes.size(), 2);
    for (uint8_t& b : c.bytes) b &= 0x55;  // codes 0 and 1 only: never the invalid code 3
    for (int64_t i = 0; i < n; ++i) {
      TernaryMatrixView v = one;
      v.codes = c.bytes.data() + i * one.size_bytes();
      c.views.push_back(v);
    }
  }
  return c;
}

std::vector<int8_t> Activations(int64_t cols_padded, int n) {
  std::vector<int8_t> x(static_cast<size_t>(cols_padded * n));
  FillRandom(reinterpret_cast<uint8_t*>(x.data()), x.size(), 3);
  return x;
}

void BM_W2A8MatVec(benchmark::State& state) {
  const Shape& shape = kShapes[state.range(0)];
  const int threads = static_cast<int>(state.range(1));
  const W2A8Kernels& k = ActiveW2A8Kernels();
  const TernaryCopies& c = CopiesOf(shape, kSpanBytes);
  const std::vector<int8_t> x = Activations(c.views[0].cols_padded, 1);
  std::vector<int32_t> y(static_cast<size_t>(shape.rows));
  ThreadPool& pool = Pool(threads);
  size_t next = 0;
  MeasuredBandwidth(threads);  // outside the timed loop
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const TernaryMatrixView& w = c.views[next];
    next = (next + 1) % c.views.size();
    pool.ParallelFor(w.rows, 16, [&](int64_t b, int64_t e) { k.mat_vec(w, b, e, x.data(), 0, y.data() + b); });
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.SetLabel(std::string(shape.name) + " " + k.name);
  ReportBandwidth(state, static_cast<double>(c.views[0].size_bytes()), threads, seconds);
}
BENCHMARK(BM_W2A8MatVec)
    ->ArgsProduct({{0, 1, 2, 3}, {1, 2}})
    ->ArgNames({"shape", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The same kernel on one copy that stays in L2: its compute ceiling, which
// tells whether a decode number below the probe is the kernel or the memory.
void BM_W2A8MatVecInCache(benchmark::State& state) {
  const Shape& shape = kShapes[1];  // o_proj: 1.6 MB of codes
  const W2A8Kernels& k = ActiveW2A8Kernels();
  const TernaryCopies& c = CopiesOf(shape, 0);
  const TernaryMatrixView& w = c.views[0];
  const std::vector<int8_t> x = Activations(w.cols_padded, 1);
  std::vector<int32_t> y(static_cast<size_t>(shape.rows));
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    k.mat_vec(w, 0, w.rows, x.data(), 0, y.data());
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.SetLabel(std::string(shape.name) + " in L2, 1 thread " + k.name);
  state.counters["GB/s"] = static_cast<double>(w.size_bytes()) * 1e-9 * static_cast<double>(state.iterations()) / seconds;
}
BENCHMARK(BM_W2A8MatVecInCache)->UseRealTime()->Unit(benchmark::kMicrosecond);

// ---- the output matrix: bf16 and int8 per row ----

struct OutputMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  std::vector<int32_t> sums;
  DenseMatrixView view;
};

const OutputMatrix& Output(DenseType type) {
  static std::map<DenseType, OutputMatrix> cache;
  auto it = cache.find(type);
  if (it != cache.end()) return it->second;
  cache.clear();  // one at a time: the bf16 one alone is 657 MB
  OutputMatrix& m = cache[type];
  const int64_t rows = 128256, cols = 2560;
  const int64_t elem = type == DenseType::kBf16 ? 2 : 1;
  m.bytes.resize(static_cast<size_t>(rows * cols * elem));
  FillRandom(m.bytes.data(), m.bytes.size(), 4);
  if (type == DenseType::kBf16) {
    // Finite values of modest size: keep sign and mantissa, fix the exponent.
    uint16_t* h = reinterpret_cast<uint16_t*>(m.bytes.data());
    for (int64_t i = 0; i < rows * cols; ++i) h[i] = static_cast<uint16_t>((h[i] & 0x807F) | 0x3C00);
  }
  m.scales.assign(static_cast<size_t>(rows), 0.01f);
  m.view = {type, rows, cols, m.bytes.data(), type == DenseType::kI8Row ? m.scales.data() : nullptr};
  if (type == DenseType::kI8Row) {
    // The model's int8 matrix never holds -128 (per-row absmax / 127).
    for (uint8_t& b : m.bytes)
      if (b == 0x80) b = 0x81;
    m.sums.resize(static_cast<size_t>(rows));
    Int8RowSums(reinterpret_cast<const int8_t*>(m.bytes.data()), rows, cols, m.sums.data());
    m.view.row_sums = m.sums.data();
  }
  return m;
}

void BM_OutputMatVec(benchmark::State& state) {
  const DenseType type = state.range(0) == 0 ? DenseType::kBf16 : DenseType::kI8Row;
  const int threads = static_cast<int>(state.range(1));
  const OutputMatrix& m = Output(type);
  std::vector<float> x(static_cast<size_t>(m.view.cols), 0.01f), y(static_cast<size_t>(m.view.rows));
  std::vector<int8_t> xq(static_cast<size_t>(m.view.cols), 1);
  ThreadPool& pool = Pool(threads);
  MeasuredBandwidth(threads);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    // As the model runs them: bf16 rows x float, int8 rows x int8 (output_int8.h).
    pool.ParallelFor(m.view.rows, 64, [&](int64_t b, int64_t e) {
      if (type == DenseType::kI8Row)
        MatVecInt8Rows(m.view, b, e, xq.data(), 0.01f, y.data() + b);
      else
        MatVecDense(m.view, b, e, x.data(), y.data() + b);
    });
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.SetLabel(std::string("output_128256x2560 ") + DenseTypeName(type) +
                 (type == DenseType::kI8Row ? std::string(" ") + MatVecInt8RowsVariant(m.view) : ""));
  ReportBandwidth(state, static_cast<double>(m.bytes.size()), threads, seconds);
}
BENCHMARK(BM_OutputMatVec)
    ->ArgsProduct({{0, 1}, {1, 2}})
    ->ArgNames({"int8", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The output matrix against the final states of a batched decode step: all
// n tokens go through each 512-row slice together, as Transformer::Logits
// runs it, so the matrix is read once per step whatever n is.
void BM_OutputMatMulInt8(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const OutputMatrix& m = Output(DenseType::kI8Row);
  std::vector<int8_t> xq(static_cast<size_t>(m.view.cols) * n, 1);
  std::vector<float> inv_a(static_cast<size_t>(n), 0.01f);
  std::vector<float> y(static_cast<size_t>(m.view.rows) * n);
  std::vector<float*> rows(static_cast<size_t>(n));
  for (int t = 0; t < n; ++t) rows[t] = y.data() + static_cast<size_t>(t) * m.view.rows;
  ThreadPool& pool = Pool(threads);
  MeasuredBandwidth(threads);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    pool.ParallelForChunks(m.view.rows, 512, [&](int64_t b, int64_t e) {
      MatMulInt8Rows(m.view, b, e, xq.data(), inv_a.data(), n, rows.data());
    });
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.SetLabel("output_128256x2560 int8, " + std::to_string(n) + " tokens");
  ReportBandwidth(state, static_cast<double>(m.bytes.size()), threads, seconds);
}
BENCHMARK(BM_OutputMatMulInt8)
    ->ArgsProduct({{1, 4, 8}, {2}})
    ->ArgNames({"tokens", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---- W2A8 prefill ----

void BM_W2A8MatMul(benchmark::State& state) {
  const Shape& shape = kShapes[state.range(0)];
  const int n = static_cast<int>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  const W2A8Kernels& k = ActiveW2A8Kernels();
  const TernaryCopies& c = CopiesOf(shape, 0);  // compute-bound: one copy
  const TernaryMatrixView& w = c.views[0];
  const std::vector<int8_t> x = Activations(w.cols_padded, n);
  const std::vector<int32_t> sums(static_cast<size_t>(n), 0);
  std::vector<int32_t> y(static_cast<size_t>(shape.rows * n));
  ThreadPool& pool = Pool(threads);
  for (auto _ : state) {
    pool.ParallelFor(w.rows, 16, [&](int64_t b, int64_t e) {
      k.mat_mul(w, b, e, x.data(), sums.data(), n, y.data(), w.rows);
    });
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(shape.name) + " " + k.name);
  const double macs = static_cast<double>(shape.rows) * static_cast<double>(shape.cols) * n;
  state.counters["GMAC/s"] = benchmark::Counter(macs * 1e-9 * static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
}
BENCHMARK(BM_W2A8MatMul)
    ->ArgsProduct({{0, 1, 2, 3}, {8, 64, 512}, {1, 2}})
    ->ArgNames({"shape", "tokens", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---- W2A8 batched decode: a few tokens, weights streamed from memory ----

// What a batched decode step asks of each BitLinear: n tokens (one per
// sequence) against weights that are not in cache. Reports both the memory
// rate (against the probe) and the MAC rate, since a small batch sits between
// the two ceilings.
void BM_W2A8MatMulStreamed(benchmark::State& state) {
  const Shape& shape = kShapes[state.range(0)];
  const int n = static_cast<int>(state.range(1));
  const int threads = static_cast<int>(state.range(2));
  const W2A8Kernels& k = ActiveW2A8Kernels();
  const TernaryCopies& c = CopiesOf(shape, kSpanBytes);
  const std::vector<int8_t> x = Activations(c.views[0].cols_padded, n);
  const std::vector<int32_t> sums(static_cast<size_t>(n), 0);
  std::vector<int32_t> y(static_cast<size_t>(shape.rows * n));
  ThreadPool& pool = Pool(threads);
  size_t next = 0;
  MeasuredBandwidth(threads);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    const TernaryMatrixView& w = c.views[next];
    next = (next + 1) % c.views.size();
    pool.ParallelFor(w.rows, 16, [&](int64_t b, int64_t e) {
      k.mat_mul(w, b, e, x.data(), sums.data(), n, y.data(), w.rows);
    });
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  state.SetLabel(std::string(shape.name) + " " + k.name);
  ReportBandwidth(state, static_cast<double>(c.views[0].size_bytes()), threads, seconds);
  const double macs = static_cast<double>(shape.rows) * static_cast<double>(shape.cols) * n;
  state.counters["GMAC/s"] = macs * 1e-9 * static_cast<double>(state.iterations()) / seconds;
}
BENCHMARK(BM_W2A8MatMulStreamed)
    ->ArgsProduct({{0, 1, 2, 3}, {2, 4, 8}, {1, 2}})
    ->ArgNames({"shape", "tokens", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace bitnet

BENCHMARK_MAIN();
