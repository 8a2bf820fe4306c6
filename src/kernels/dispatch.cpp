#include "kernels/dispatch.h"

#include <array>
#include <cstdlib>
#include <iterator>

#include "kernels/cpu_features.h"
#include "kernels/dispatch_fill.h"
#include "util/error.h"

namespace bitnet {

// Defined by the per-ISA W2A8 translation units when they are compiled in.
const W2A8Kernels* Avx2W2A8Kernels();
const W2A8Kernels* AvxVnniW2A8Kernels();
const W2A8Kernels* Avx512VnniW2A8Kernels();
const W2A8Kernels* NeonDotW2A8Kernels();

namespace {

// In order of preference: the last runnable one is the default.
constexpr KernelIsa kAllIsas[] = {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvxVnni, KernelIsa::kAvx512Vnni,
                                  KernelIsa::kNeonDot};
constexpr int kIsaCount = static_cast<int>(std::size(kAllIsas));

#if defined(__x86_64__)
// The float kernels of the AVX2 table use FMA and F16C as well.
bool CpuHasAvx2FmaF16c() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && CpuHasF16c();
}
#endif

KernelTable ScalarTable() {
  KernelTable t;
  t.isa = KernelIsa::kScalar;
  t.w2a8 = &ScalarW2A8Kernels();
  dispatch_fill::AddScalarOps(t);
  dispatch_fill::AddScalarQuantize(t);
  dispatch_fill::AddScalarAttention(t);
  dispatch_fill::AddScalarDense(t);
  dispatch_fill::AddScalarOutputInt8(t);
  return t;
}

// Fills `storage` and returns it; null when the build or the CPU lacks the ISA.
const KernelTable* BuildTable(KernelIsa isa, KernelTable& storage) {
  if (isa == KernelIsa::kScalar) return &ScalarKernelTable();
  const W2A8Kernels* w2a8 = W2A8KernelsFor(isa);
  if (w2a8 == nullptr) return nullptr;
  KernelTable t = ScalarTable();
  t.isa = isa;
  t.w2a8 = w2a8;
  switch (isa) {
    case KernelIsa::kScalar: break;
    case KernelIsa::kAvx2:
    case KernelIsa::kAvxVnni:  // only the W2A8 product differs from AVX2
    case KernelIsa::kAvx512Vnni:
#if defined(__x86_64__)
      if (!CpuHasAvx2FmaF16c()) return nullptr;
      dispatch_fill::AddAvx2Ops(t);
      dispatch_fill::AddAvx2Quantize(t);
      dispatch_fill::AddAvx2Attention(t);
      dispatch_fill::AddAvx2Dense(t);
      dispatch_fill::AddAvx2OutputInt8(t);
      if (isa == KernelIsa::kAvx512Vnni) dispatch_fill::AddAvx512VnniOutputInt8(t);
      break;
#else
      return nullptr;
#endif
    case KernelIsa::kNeonDot:
      // Attention, the dense float matrix, the SiLU gate and RoPE stay scalar.
#if defined(__aarch64__)
      dispatch_fill::AddNeonOps(t);
      dispatch_fill::AddNeonOutputInt8(t);
#endif
      break;
  }
  storage = t;
  return &storage;
}

}  // namespace

std::vector<std::pair<std::string, KernelIsa>> KernelTable::Entries() const {
  return {
      {"w2a8_mat_vec", w2a8->isa},
      {"w2a8_mat_mul", w2a8->isa},
      {"rms_norm", rms_norm.isa},
      {"quantize_int8", quantize_int8.isa},
      {"softmax", softmax.isa},
      {"relu2_gate", relu2_gate.isa},
      {"silu_gate", silu_gate.isa},
      {"dot_f32", dot_f32.isa},
      {"apply_rope", apply_rope.isa},
      {"attention_scores", attention_scores.isa},
      {"attention_values", attention_values.isa},
      {"f32_to_f16_row", f32_to_f16_row.isa},
      {"mat_vec_dense", mat_vec_dense.isa},
      {"mat_vec_int8_rows", mat_vec_int8_rows.isa},
      {"mat_mul_int8_rows", mat_mul_int8_rows.isa},
  };
}

const KernelTable& ScalarKernelTable() {
  static const KernelTable table = ScalarTable();
  return table;
}

const KernelTable* KernelTableFor(KernelIsa isa) {
  static KernelTable storage[kIsaCount];
  static const std::array<const KernelTable*, kIsaCount> tables = [] {
    std::array<const KernelTable*, kIsaCount> built{};
    for (int i = 0; i < kIsaCount; ++i) built[i] = BuildTable(kAllIsas[i], storage[i]);
    return built;
  }();
  for (int i = 0; i < kIsaCount; ++i)
    if (kAllIsas[i] == isa) return tables[i];
  return nullptr;
}

const KernelTable& SelectKernelTable(const char* forced) {
  if (forced != nullptr && *forced != '\0') {
    const KernelTable* t = KernelTableFor(ParseIsa(forced));
    if (t == nullptr) throw Error(std::string("BITNET_ISA=") + forced + ": this CPU or build cannot run that variant");
    return *t;
  }
  return *KernelTableFor(RunnableIsas().back());
}

const KernelTable& ActiveKernels() {
  // A throw leaves the static uninitialized, so every later call reports it too.
  static const KernelTable& active = SelectKernelTable(std::getenv("BITNET_ISA"));
  return active;
}

// ---- the W2A8 view of the same choice (w2a8.h) ----

const char* IsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar: return "scalar";
    case KernelIsa::kAvx2: return "avx2";
    case KernelIsa::kAvxVnni: return "avxvnni";
    case KernelIsa::kAvx512Vnni: return "avx512vnni";
    case KernelIsa::kNeonDot: return "neon";
  }
  return "?";
}

KernelIsa ParseIsa(const std::string& name) {
  for (KernelIsa isa : kAllIsas)
    if (name == IsaName(isa)) return isa;
  throw Error("BITNET_ISA: unknown kernel variant '" + name + "' (expected scalar, avx2, avxvnni, avx512vnni or neon)");
}

const W2A8Kernels* W2A8KernelsFor(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar: return &ScalarW2A8Kernels();
    case KernelIsa::kAvx2: return Avx2W2A8Kernels();
    case KernelIsa::kAvxVnni: return AvxVnniW2A8Kernels();
    case KernelIsa::kAvx512Vnni: return Avx512VnniW2A8Kernels();
    case KernelIsa::kNeonDot: return NeonDotW2A8Kernels();
  }
  return nullptr;
}

std::vector<KernelIsa> RunnableIsas() {
  std::vector<KernelIsa> out;
  for (KernelIsa isa : kAllIsas)
    if (KernelTableFor(isa) != nullptr) out.push_back(isa);
  return out;
}

const W2A8Kernels& SelectW2A8Kernels(const char* forced) { return *SelectKernelTable(forced).w2a8; }

const W2A8Kernels& ActiveW2A8Kernels() { return *ActiveKernels().w2a8; }

}  // namespace bitnet
