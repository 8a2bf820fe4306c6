#include "backend/npu/npu_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "backend/npu/npu_layer.h"
#include "backend/npu/npu_layout.h"
#include "util/error.h"

namespace bitnet {
namespace {

struct NpuMatrix {
  TernaryMatrixView view;
  bool on_npu = false;
  int cpu_handle = -1;  // when !on_npu
  int npu_id = -1;
  NpuTilingPlan decode;                  // tokens = 1
  std::optional<NpuTilingPlan> prefill;  // tokens = kNpuMaxTokensPerDispatch, when the executor can run it
};

class NpuBackend final : public Backend {
 public:
  NpuBackend(std::unique_ptr<NpuExecutor> executor, ThreadPool* pool, NpuRouting routing)
      : executor_(std::move(executor)), cpu_(MakeCpuBackend(pool)), routing_(routing) {}

  std::string Name() const override {
    std::string name = executor_->Name();
    if (!failure_.empty()) return name + " [failed, on the CPU: " + failure_ + "]";
    if (!routing_.decode || !routing_.prefill)
      name += std::string(" [decode on ") + (routing_.decode ? "npu" : "cpu") + ", prefill on " +
              (routing_.prefill ? "npu" : "cpu") + "]";
    return name;
  }

  bool Supports(const TernaryMatrixView& w) const override {
    std::string why;
    return PlanFor(w, 1, &why).has_value();
  }

  int Upload(const TernaryMatrixView& w) override {
    NpuMatrix m;
    m.view = w;
    std::string why;
    if (auto plan = PlanFor(w, 1, &why)) {
      m.on_npu = true;
      m.decode = *plan;
      m.prefill = PlanFor(w, kNpuMaxTokensPerDispatch, &why);
      m.npu_id = executor_->AddMatrix(m.decode, PackForNpu(w, m.decode));
    } else {
      m.cpu_handle = cpu_->Upload(w);
      fallbacks_.push_back(std::to_string(w.rows) + "x" + std::to_string(w.cols) + ": " + why);
    }
    matrices_.push_back(m);
    return static_cast<int>(matrices_.size()) - 1;
  }

  void MatMul(int handle, const int8_t* x, const int32_t* x_sums, int n, int32_t* y) override {
    const NpuMatrix& m = matrices_.at(static_cast<size_t>(handle));
    // One product at a time: the device buffers, the lazily uploaded CPU copies and failure_ are
    // shared by every caller (the model runs forward passes from several threads).
    std::lock_guard<std::mutex> lock(device_mu_);
    const bool npu_class = n == 1 ? routing_.decode : routing_.prefill;
    if (!m.on_npu || !failure_.empty() || !npu_class) return CpuMatMul(handle, x, x_sums, n, y);
    try {
      NpuMatMul(m, x, n, y);
    } catch (const Error& e) {
      failure_ = e.what();
      std::fprintf(stderr, "bitnet: NPU dispatch failed (%s); running on the CPU from now on\n", failure_.c_str());
      CpuMatMul(handle, x, x_sums, n, y);
    }
  }

  bool NormMatMul(int handle, const float* x, const float* g, int64_t width, float eps, int8_t* xq, float* scale,
                  int32_t* sum, int32_t* y) override {
    const NpuMatrix& m = matrices_.at(static_cast<size_t>(handle));
    std::lock_guard<std::mutex> lock(device_mu_);
    std::string why;
    if (!m.on_npu || !failure_.empty() || !routing_.decode || TernaryPaddedCols(width) != m.view.cols_padded ||
        !executor_->CanRunNormMatMul(m.decode) || !NpuLayerFits(m.decode, width, &why))
      return false;
    try {
      vin_ddr_.resize(static_cast<size_t>(NpuVectorInputBytes(m.decode) / 4));
      PackNormInputForNpu(x, g, width, m.decode, vin_ddr_.data());
      y_ddr_.resize(static_cast<size_t>(m.decode.y_bytes() / 4));
      records_ddr_.resize(static_cast<size_t>(NpuHostRecordBytes(m.decode)));
      executor_->RunNormMatMul(m.npu_id, m.decode, vin_ddr_.data(), width, eps, y_ddr_.data(), records_ddr_.data());
      const NpuNormResult r = ParseNpuHostRecords(records_ddr_.data(), m.decode, width);
      std::memcpy(xq, r.xq.data(), static_cast<size_t>(m.view.cols_padded));
      *scale = r.scale;
      *sum = r.sum;
      std::memcpy(y, y_ddr_.data(), static_cast<size_t>(m.view.rows) * sizeof(int32_t));
      return true;
    } catch (const Error& e) {
      failure_ = e.what();
      std::fprintf(stderr, "bitnet: NPU dispatch failed (%s); running on the CPU from now on\n", failure_.c_str());
      return false;  // the caller takes the host path
    }
  }

 private:
  void CpuMatMul(int handle, const int8_t* x, const int32_t* x_sums, int n, int32_t* y) {
    NpuMatrix& m = matrices_.at(static_cast<size_t>(handle));
    if (m.cpu_handle < 0) m.cpu_handle = cpu_->Upload(m.view);  // the view outlives the backend
    cpu_->MatMul(m.cpu_handle, x, x_sums, n, y);
  }

  void NpuMatMul(const NpuMatrix& m, const int8_t* x, int n, int32_t* y) {
    // The cores compute the activation-sum correction (u = w + 1) from the x
    // chunks they already receive, so x_sums is not sent to the device.
    int t0 = 0;
    if (n > 1 && m.prefill) {
      // Every full dispatch of a long prefill in one batch (one host round trip on XRT).
      const NpuTilingPlan& plan = *m.prefill;
      const int full = n / static_cast<int>(plan.tokens);
      if (full > 0) {
        Stage(m, plan, x, n, 0, full);
        executor_->RunBatch(m.npu_id, plan, full, x_ddr_.data(), y_ddr_.data());
        Unstage(m, plan, y, n, 0, full);
        t0 = full * static_cast<int>(plan.tokens);
      }
    }
    while (t0 < n) {
      const NpuTilingPlan& plan = (n - t0 > 1 && m.prefill) ? *m.prefill : m.decode;
      Stage(m, plan, x, n, t0, 1);
      executor_->Run(m.npu_id, plan, x_ddr_.data(), y_ddr_.data());
      Unstage(m, plan, y, n, t0, 1);
      t0 += static_cast<int>(std::min<int64_t>(plan.tokens, n - t0));
    }
  }

  // The DDR activation buffers of `count` dispatches from token t0 on (of n):
  // PackActivationsForNpu's layout, zero past the live tokens and the columns.
  void Stage(const NpuMatrix& m, const NpuTilingPlan& plan, const int8_t* x, int n, int t0, int count) {
    x_ddr_.assign(static_cast<size_t>(count * plan.x_bytes()), 0);
    y_ddr_.resize(static_cast<size_t>(count * (plan.y_bytes() / 4)));
    for (int64_t d = 0; d < count; ++d) {
      const int64_t first = t0 + d * plan.tokens;
      const int live = static_cast<int>(std::min<int64_t>(plan.tokens, n - first));
      PackActivationsForNpu(x + first * m.view.cols_padded, live, m.view.cols_padded, plan,
                            x_ddr_.data() + d * plan.x_bytes());
    }
  }

  // The live rows of those dispatches' results into y [n][rows].
  void Unstage(const NpuMatrix& m, const NpuTilingPlan& plan, int32_t* y, int n, int t0, int count) {
    for (int64_t d = 0; d < count; ++d)
      for (int64_t t = 0; t < plan.tokens && t0 + d * plan.tokens + t < n; ++t)
        std::memcpy(y + (t0 + d * plan.tokens + t) * m.view.rows,
                    y_ddr_.data() + d * (plan.y_bytes() / 4) + t * plan.rows_padded(),
                    static_cast<size_t>(m.view.rows) * sizeof(int32_t));
  }

  std::optional<NpuTilingPlan> PlanFor(const TernaryMatrixView& w, int64_t tokens, std::string* why) const {
    try {
      NpuTilingPlan plan = MakeNpuTilingPlan(w.rows, w.cols_padded, executor_->generation(), tokens);
      if (!executor_->CanRun(plan, why)) return std::nullopt;
      return plan;
    } catch (const Error& e) {
      *why = e.what();
      return std::nullopt;
    }
  }

  std::unique_ptr<NpuExecutor> executor_;
  std::unique_ptr<Backend> cpu_;
  std::vector<NpuMatrix> matrices_;
  NpuRouting routing_;
  std::string failure_;  // set by the first failed dispatch
  std::vector<std::string> fallbacks_;
  std::mutex device_mu_;  // guards x_ddr_, y_ddr_, the executor, failure_ and cpu handles
  std::vector<int8_t> x_ddr_;
  std::vector<int32_t> y_ddr_;
  std::vector<float> vin_ddr_;
  std::vector<uint8_t> records_ddr_;
};

}  // namespace

std::unique_ptr<Backend> MakeNpuBackend(std::unique_ptr<NpuExecutor> executor, ThreadPool* pool,
                                        NpuRouting routing) {
  return std::make_unique<NpuBackend>(std::move(executor), pool, routing);
}

}  // namespace bitnet
