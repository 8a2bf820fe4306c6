#include "backend/npu/xrt_runtime.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "util/error.h"

#if BITNET_HAVE_XRT
#include <cstring>
#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_hw_context.h>
#include <xrt/xrt_kernel.h>
#if BITNET_XRT_RUNLIST
#include <xrt/experimental/xrt_kernel.h>
#endif
#endif

namespace bitnet {

std::string NpuXclbinPath(const std::string& dir, NpuGeneration g) {
  return dir + "/" + NpuGenerationName(g) + "/bitlinear.xclbin";
}

std::string NpuInstrPath(const std::string& dir, const NpuTilingPlan& plan) {
  return dir + "/" + NpuGenerationName(plan.generation) + "/insts/bitlinear_" + plan.ShapeName() + "_t" +
         std::to_string(plan.tokens) + ".bin";
}

NpuGeneration NpuGenerationFromDeviceName(const std::string& name) {
  // AIE2P first: "NPU Strix Halo" also contains the generic "NPU".
  for (const char* key : {"RyzenAI-npu4", "RyzenAI-npu5", "RyzenAI-npu6", "NPU Strix", "NPU Krackan"})
    if (name.find(key) != std::string::npos) return NpuGeneration::kNpu2;
  for (const char* key : {"RyzenAI-npu1", "NPU Phoenix"})
    if (name.find(key) != std::string::npos) return NpuGeneration::kNpu1;
  throw Error("unknown NPU device '" + name +
              "' (expected RyzenAI-npu1 for npu1 or RyzenAI-npu4/5/6 for npu2; see `xrt-smi examine`)");
}

void CheckNpuArtifacts(const std::string& dir, NpuGeneration g) {
  const std::string path = NpuXclbinPath(dir, g);
  if (!std::filesystem::exists(path))
    throw Error("no NPU xclbin at " + path + " (build it with `make -C npu compile-all NPU=" + NpuGenerationName(g) +
                "`)");
}

#if BITNET_HAVE_XRT

bool XrtBuiltIn() { return true; }

namespace {

// Instruction streams are little-endian u32 words (aiecc --npu-insts-name, binary form).
std::vector<uint32_t> ReadInstructions(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  Check(in.good(), path, "cannot open the instruction stream");
  const auto bytes = static_cast<size_t>(in.tellg());
  Check(bytes > 0 && bytes % 4 == 0, path, "instruction stream size is not a positive multiple of 4 bytes");
  std::vector<uint32_t> words(bytes / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(words.data()), static_cast<std::streamsize>(bytes));
  Check(in.good(), path, "short read");
  return words;
}

// Every XRT call can throw std::exception subclasses; none may escape as such.
template <typename Fn>
auto Xrt(const std::string& what, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("XRT: " + what + ": " + e.what());
  }
}

class XrtExecutor final : public NpuExecutor {
 public:
  explicit XrtExecutor(const std::string& dir) : dir_(dir) {
    std::string device_name;
    Xrt("open device 0", [&] {
      device_ = xrt::device(0u);
      device_name = device_.get_info<xrt::info::device::name>();
    });
    generation_ = NpuGenerationFromDeviceName(device_name);
    CheckNpuArtifacts(dir, generation_);
    const std::string xclbin_path = NpuXclbinPath(dir, generation_);
    Xrt("load " + xclbin_path, [&] {
      xclbin_ = xrt::xclbin(xclbin_path);
      device_.register_xclbin(xclbin_);
      context_ = xrt::hw_context(device_, xclbin_.get_uuid());
      bool found = false;
      for (const auto& k : xclbin_.get_kernels()) found = found || k.get_name() == kNpuKernelName;
      Check(found, xclbin_path, std::string("has no kernel '") + kNpuKernelName + "' (rebuild with make -C npu compile-all)");
      // One kernel object for every shape: the array configuration is loaded once.
      kernel_ = xrt::kernel(context_, kNpuKernelName);
    });
  }

  std::string Name() const override {
    return std::string("npu (") + NpuGenerationName(generation_) + ", xrt)";
  }
  NpuGeneration generation() const override { return generation_; }

  bool CanRun(const NpuTilingPlan& plan, std::string* why) const override {
    if (!std::filesystem::exists(NpuInstrPath(dir_, plan))) {
      *why = "missing " + NpuInstrPath(dir_, plan) + " (make -C npu insts SHAPE=" + plan.ShapeName() +
             " TOKENS=" + std::to_string(plan.tokens) + ")";
      return false;
    }
    return true;
  }

  int AddMatrix(const NpuTilingPlan& plan, std::vector<uint8_t> weights) override {
    Matrix m;
    Xrt("weights for " + plan.ShapeName(), [&] {
      m.weights = xrt::bo(device_, weights.size(), XRT_BO_FLAGS_HOST_ONLY, kernel_.group_id(3));
      std::memcpy(m.weights.map<uint8_t*>(), weights.data(), weights.size());
      m.weights.sync(XCL_BO_SYNC_BO_TO_DEVICE);  // once, at load
    });
    matrices_.push_back(std::move(m));
    return static_cast<int>(matrices_.size()) - 1;
  }

  void Run(int matrix, const NpuTilingPlan& plan, const int8_t* x, int32_t* y) override {
    Shape& shape = ShapeFor(plan);
    Matrix& m = matrices_.at(static_cast<size_t>(matrix));
    const std::string what = "run " + plan.ShapeName() + " t" + std::to_string(plan.tokens);
    Xrt(what, [&] {
      std::memcpy(shape.x.map<int8_t*>(), x, static_cast<size_t>(plan.x_bytes()));
      shape.x.sync(XCL_BO_SYNC_BO_TO_DEVICE);
      // Opcode 3: run the instruction stream (mlir-aie's host convention). The
      // stream writes the cores' runtime parameters, then programs the DMAs.
      xrt::run run = kernel_(3u, shape.instr, shape.instr_words, m.weights, shape.x, shape.y);
      const ert_cmd_state state = run.wait();
      if (state != ERT_CMD_STATE_COMPLETED)
        throw Error("XRT: " + what + " ended in state " + std::to_string(static_cast<int>(state)) +
                    " (4 = completed; a timeout usually means a DMA/loop-count mismatch)");
      shape.y.sync(XCL_BO_SYNC_BO_FROM_DEVICE);
      std::memcpy(y, shape.y.map<int32_t*>(), static_cast<size_t>(plan.y_bytes()));
    });
  }

#if BITNET_XRT_RUNLIST
  // All dispatches in one runlist: one submission and one wait instead of
  // `count` host round trips (~450 us each, docs/NPU.md). Each dispatch needs
  // its own activation and result buffers, kept per shape.
  void RunBatch(int matrix, const NpuTilingPlan& plan, int count, const int8_t* x, int32_t* y) override {
    if (count <= 1) {
      for (int i = 0; i < count; ++i) Run(matrix, plan, x, y);
      return;
    }
    Shape& shape = ShapeFor(plan);
    Matrix& m = matrices_.at(static_cast<size_t>(matrix));
    const std::string what = "runlist of " + std::to_string(count) + " x " + plan.ShapeName() + " t" +
                             std::to_string(plan.tokens);
    Xrt(what, [&] {
      while (shape.batch_x.size() < static_cast<size_t>(count)) {
        shape.batch_x.emplace_back(device_, static_cast<size_t>(plan.x_bytes()), XRT_BO_FLAGS_HOST_ONLY, kernel_.group_id(4));
        shape.batch_y.emplace_back(device_, static_cast<size_t>(plan.y_bytes()), XRT_BO_FLAGS_HOST_ONLY, kernel_.group_id(5));
      }
      xrt::runlist list(context_);
      for (int i = 0; i < count; ++i) {
        xrt::bo& xb = shape.batch_x[static_cast<size_t>(i)];
        std::memcpy(xb.map<int8_t*>(), x + i * plan.x_bytes(), static_cast<size_t>(plan.x_bytes()));
        xb.sync(XCL_BO_SYNC_BO_TO_DEVICE);
        xrt::run run(kernel_);
        run.set_arg(0, 3u);  // opcode: run the instruction stream
        run.set_arg(1, shape.instr);
        run.set_arg(2, shape.instr_words);
        run.set_arg(3, m.weights);
        run.set_arg(4, xb);
        run.set_arg(5, shape.batch_y[static_cast<size_t>(i)]);
        list.add(std::move(run));
      }
      list.execute();
      list.wait();  // throws xrt::runlist::command_error naming the failed state
      for (int i = 0; i < count; ++i) {
        xrt::bo& yb = shape.batch_y[static_cast<size_t>(i)];
        yb.sync(XCL_BO_SYNC_BO_FROM_DEVICE);
        std::memcpy(y + i * (plan.y_bytes() / 4), yb.map<int32_t*>(), static_cast<size_t>(plan.y_bytes()));
      }
    });
  }
#endif

 private:
  struct Shape {
    xrt::bo instr, x, y;
    uint32_t instr_words = 0;
    std::vector<xrt::bo> batch_x, batch_y;  // per dispatch of a runlist
  };
  struct Matrix {
    xrt::bo weights;
  };

  // Instruction stream and activation/result buffers per (shape, tokens).
  Shape& ShapeFor(const NpuTilingPlan& plan) {
    const std::string path = NpuInstrPath(dir_, plan);
    auto it = shapes_.find(path);
    if (it != shapes_.end()) return it->second;
    std::string why;
    Check(CanRun(plan, &why), "npu", why);
    const std::vector<uint32_t> words = ReadInstructions(path);
    Shape s;
    Xrt("set up " + path, [&] {
      s.instr = xrt::bo(device_, words.size() * 4, XCL_BO_FLAGS_CACHEABLE, kernel_.group_id(1));
      std::memcpy(s.instr.map<uint32_t*>(), words.data(), words.size() * 4);
      s.instr.sync(XCL_BO_SYNC_BO_TO_DEVICE);
      s.instr_words = static_cast<uint32_t>(words.size());
      s.x = xrt::bo(device_, static_cast<size_t>(plan.x_bytes()), XRT_BO_FLAGS_HOST_ONLY, kernel_.group_id(4));
      s.y = xrt::bo(device_, static_cast<size_t>(plan.y_bytes()), XRT_BO_FLAGS_HOST_ONLY, kernel_.group_id(5));
    });
    return shapes_.emplace(path, std::move(s)).first->second;
  }

  std::string dir_;
  NpuGeneration generation_ = NpuGeneration::kNpu2;
  xrt::device device_;
  xrt::xclbin xclbin_;
  xrt::hw_context context_;
  xrt::kernel kernel_;
  std::map<std::string, Shape> shapes_;
  std::vector<Matrix> matrices_;
};

}  // namespace

std::unique_ptr<NpuExecutor> OpenXrtExecutor(const std::string& xclbin_dir) {
  return std::make_unique<XrtExecutor>(xclbin_dir);
}

#else  // !BITNET_HAVE_XRT

bool XrtBuiltIn() { return false; }

std::unique_ptr<NpuExecutor> OpenXrtExecutor(const std::string&) {
  throw Error("this binary was built without XRT (needs XRT >= 2.17 headers with xrt/xrt_hw_context.h; "
              "reconfigure with -DBITNET_XRT=ON, docs/NPU.md)");
}

#endif

}  // namespace bitnet
