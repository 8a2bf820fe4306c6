#include "backend/npu/emulator.h"

#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>

#include "util/error.h"
#include "util/thread_pool.h"
#include "w2a8_tile.h"

namespace bitnet {
namespace {

static_assert(bitnet_npu::kTileRows == NpuTilingPlan::kTileRows, "kernel and plan disagree on tile rows");
static_assert(bitnet_npu::kKChunk == NpuTilingPlan::kKChunk, "kernel and plan disagree on the K chunk");

// Core-local buffers are 32-byte aligned on the device (vector loads need it);
// the emulator's are too, so the shim's alignment check means something.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t bytes)
      : size_(bytes), data_(static_cast<uint8_t*>(::operator new(bytes ? bytes : 1, std::align_val_t{64}))) {
    std::memset(data_, 0, size_);
  }
  ~AlignedBuffer() { ::operator delete(data_, std::align_val_t{64}); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  uint8_t* data() { return data_; }
  size_t size() const { return size_; }

 private:
  size_t size_;
  uint8_t* data_;
};

int64_t TapBytes(const NpuTap& tap) { return tap.sizes[0] * tap.sizes[1] * tap.sizes[2] * tap.sizes[3]; }

// Calls fn(ddr_offset, stream_offset) for each innermost run of the tap.
template <typename Fn>
void WalkTap(const NpuTap& tap, size_t buffer_bytes, const char* what, Fn fn) {
  int64_t stream = 0;
  for (int64_t i0 = 0; i0 < tap.sizes[0]; ++i0)
    for (int64_t i1 = 0; i1 < tap.sizes[1]; ++i1)
      for (int64_t i2 = 0; i2 < tap.sizes[2]; ++i2) {
        const int64_t at = tap.offset + i0 * tap.strides[0] + i1 * tap.strides[1] + i2 * tap.strides[2];
        if (at < 0 || at + tap.sizes[3] > static_cast<int64_t>(buffer_bytes))
          throw Error(std::string("npu emulator: ") + what + " tap reaches outside its buffer");
        fn(at, stream);
        stream += tap.sizes[3];
      }
}

template <int kTokens>
void RunColumn(const NpuTilingPlan& plan, int64_t column, const uint8_t* weights, size_t weight_bytes,
               const int8_t* x, int32_t* y) {
  // The core's alignment rule for this generation (thread-local: columns run on pool threads).
  aie::shim_detail::g_aie2p = plan.generation == NpuGeneration::kNpu2;
  const NpuTap w_tap = plan.WeightTap(column), x_tap = plan.XTap(), y_tap = plan.YTap(column);
  const int64_t tb = NpuTilingPlan::tile_bytes();
  const int64_t cpc = plan.cores_per_column;
  const int64_t x_obj = kTokens * NpuTilingPlan::kKChunk;
  const int64_t y_obj = kTokens * NpuTilingPlan::kTileRows;  // int32 elements per core object

  // What the fifos must carry for the cores' loop counts; a mismatch would hang the device.
  const int64_t steps = plan.tiles_per_core * plan.k_chunks;
  if (TapBytes(w_tap) != steps * cpc * tb || TapBytes(x_tap) != steps * x_obj ||
      TapBytes(y_tap) != plan.tiles_per_core * cpc * y_obj * 4)
    throw Error("npu emulator: plan " + plan.ShapeName() + ": DMA transfer sizes differ from the cores' loop counts");

  AlignedBuffer w_stream(static_cast<size_t>(TapBytes(w_tap)));
  WalkTap(w_tap, weight_bytes, "weight", [&](int64_t at, int64_t s) {
    std::memcpy(w_stream.data() + s, weights + at, static_cast<size_t>(w_tap.sizes[3]));
  });
  AlignedBuffer x_stream(static_cast<size_t>(TapBytes(x_tap)));
  WalkTap(x_tap, static_cast<size_t>(plan.x_bytes()), "activation", [&](int64_t at, int64_t s) {
    std::memcpy(x_stream.data() + s, reinterpret_cast<const uint8_t*>(x) + at, static_cast<size_t>(x_tap.sizes[3]));
  });
  AlignedBuffer y_stream(static_cast<size_t>(TapBytes(y_tap)));
  AlignedBuffer c_local(static_cast<size_t>(y_obj * 4));
  auto* c = reinterpret_cast<int32_t*>(c_local.data());

  // The cores of a column advance in lockstep on the shared objects; running
  // them one after the other per tile gives the same result.
  for (int64_t t = 0; t < plan.tiles_per_core; ++t)
    for (int64_t p = 0; p < cpc; ++p) {
      bitnet_npu::ZeroTile<kTokens>(c);
      for (int64_t kc = 0; kc < plan.k_chunks; ++kc) {
        const int64_t step = t * plan.k_chunks + kc;
        const uint8_t* w_obj = w_stream.data() + (step * cpc + p) * tb;  // split at offset p * tile
        const auto* x_o = reinterpret_cast<const int8_t*>(x_stream.data()) + step * x_obj;  // broadcast
        bitnet_npu::W2A8TileMac<kTokens>(w_obj, x_o, c);
      }
      std::memcpy(y_stream.data() + (t * cpc + p) * y_obj * 4, c, static_cast<size_t>(y_obj * 4));  // join
    }

  WalkTap(y_tap, static_cast<size_t>(plan.y_bytes()), "output", [&](int64_t at, int64_t s) {
    std::memcpy(reinterpret_cast<uint8_t*>(y) + at, y_stream.data() + s, static_cast<size_t>(y_tap.sizes[3]));
  });
}

void RunColumnAnyTokens(const NpuTilingPlan& plan, int64_t column, const uint8_t* weights, size_t weight_bytes,
                        const int8_t* x, int32_t* y) {
  switch (plan.tokens) {
    case 1: return RunColumn<1>(plan, column, weights, weight_bytes, x, y);
    case 2: return RunColumn<2>(plan, column, weights, weight_bytes, x, y);
    case 3: return RunColumn<3>(plan, column, weights, weight_bytes, x, y);
    case 4: return RunColumn<4>(plan, column, weights, weight_bytes, x, y);
    default: throw Error("npu emulator: unsupported tokens per dispatch " + std::to_string(plan.tokens));
  }
}

class NpuEmulator final : public NpuExecutor {
 public:
  NpuEmulator(NpuGeneration generation, ThreadPool* pool) : generation_(generation), pool_(pool) {}

  std::string Name() const override { return std::string("npu-emu (") + NpuGenerationName(generation_) + " plan)"; }
  NpuGeneration generation() const override { return generation_; }
  bool CanRun(const NpuTilingPlan&, std::string*) const override { return true; }

  int AddMatrix(const NpuTilingPlan& plan, std::vector<uint8_t> weights) override {
    Check(static_cast<int64_t>(weights.size()) == plan.weight_bytes(), "npu emulator",
          "weight buffer size does not match plan " + plan.ShapeName());
    matrices_.push_back(std::move(weights));
    return static_cast<int>(matrices_.size()) - 1;
  }

  void Run(int matrix, const NpuTilingPlan& plan, const int8_t* x, int32_t* y) override {
    const std::vector<uint8_t>& w = matrices_.at(static_cast<size_t>(matrix));
    EmulateNpuDispatch(plan, w.data(), w.size(), x, y, pool_);
  }

 private:
  NpuGeneration generation_;
  ThreadPool* pool_;
  std::vector<std::vector<uint8_t>> matrices_;
};

}  // namespace

void EmulateNpuDispatch(const NpuTilingPlan& plan, const uint8_t* weights, size_t weight_bytes, const int8_t* x,
                        int32_t* y, ThreadPool* pool) {
  Check(static_cast<int64_t>(weight_bytes) == plan.weight_bytes(), "npu emulator",
        "weight buffer has " + std::to_string(weight_bytes) + " bytes, plan " + plan.ShapeName() + " needs " +
            std::to_string(plan.weight_bytes()));
  // Worker threads must not throw through the pool: keep the first error.
  std::mutex mu;
  std::exception_ptr first_error;
  auto run_columns = [&](int64_t begin, int64_t end) {
    try {
      for (int64_t c = begin; c < end; ++c) RunColumnAnyTokens(plan, c, weights, weight_bytes, x, y);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!first_error) first_error = std::current_exception();
    }
  };
  if (pool)
    pool->ParallelFor(plan.columns, 1, run_columns);
  else
    run_columns(0, plan.columns);
  if (first_error) {
    try {
      std::rethrow_exception(first_error);
    } catch (const std::logic_error& e) {  // the aie shim's misalignment report
      throw Error(std::string("npu emulator: ") + e.what());
    }
  }
}

std::unique_ptr<NpuExecutor> MakeNpuEmulator(NpuGeneration generation, ThreadPool* pool) {
  return std::make_unique<NpuEmulator>(generation, pool);
}

}  // namespace bitnet
