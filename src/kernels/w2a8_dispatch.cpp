#include <cstdlib>

#include "kernels/w2a8.h"
#include "util/error.h"

namespace bitnet {

// Defined by the per-ISA translation units when they are compiled in.
const W2A8Kernels* Avx2W2A8Kernels();
const W2A8Kernels* Avx512VnniW2A8Kernels();
const W2A8Kernels* NeonDotW2A8Kernels();

const char* IsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar: return "scalar";
    case KernelIsa::kAvx2: return "avx2";
    case KernelIsa::kAvx512Vnni: return "avx512vnni";
    case KernelIsa::kNeonDot: return "neon";
  }
  return "?";
}

KernelIsa ParseIsa(const std::string& name) {
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvx512Vnni, KernelIsa::kNeonDot})
    if (name == IsaName(isa)) return isa;
  throw Error("BITNET_ISA: unknown kernel variant '" + name + "' (expected scalar, avx2, avx512vnni or neon)");
}

const W2A8Kernels* W2A8KernelsFor(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar: return &ScalarW2A8Kernels();
    case KernelIsa::kAvx2: return Avx2W2A8Kernels();
    case KernelIsa::kAvx512Vnni: return Avx512VnniW2A8Kernels();
    case KernelIsa::kNeonDot: return NeonDotW2A8Kernels();
  }
  return nullptr;
}

std::vector<KernelIsa> RunnableIsas() {
  std::vector<KernelIsa> out;
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvx512Vnni, KernelIsa::kNeonDot})
    if (W2A8KernelsFor(isa) != nullptr) out.push_back(isa);
  return out;
}

const W2A8Kernels& SelectW2A8Kernels(const char* forced) {
  if (forced != nullptr && *forced != '\0') {
    const W2A8Kernels* k = W2A8KernelsFor(ParseIsa(forced));
    if (k == nullptr) throw Error(std::string("BITNET_ISA=") + forced + ": this CPU or build cannot run that variant");
    return *k;
  }
  return *W2A8KernelsFor(RunnableIsas().back());
}

const W2A8Kernels& ActiveW2A8Kernels() {
  // A throw leaves the static uninitialized, so every later call reports it too.
  static const W2A8Kernels& active = SelectW2A8Kernels(std::getenv("BITNET_ISA"));
  return active;
}

}  // namespace bitnet
