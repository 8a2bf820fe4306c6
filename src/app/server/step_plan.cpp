#include "app/server/step_plan.h"

#include <algorithm>

namespace bitnet::server {

std::vector<StepSlice> PlanStep(std::span<const SequenceDemand> demands, int budget) {
  std::vector<StepSlice> plan;
  int left = std::max(budget, 0);
  for (const bool decoding : {true, false}) {
    for (size_t i = 0; i < demands.size() && left > 0; ++i) {
      const SequenceDemand& d = demands[i];
      if (d.decoding != decoding || d.pending <= 0) continue;
      const int n = std::min(d.pending, left);
      plan.push_back({static_cast<int>(i), n, n == d.pending});
      left -= n;
    }
  }
  return plan;
}

}  // namespace bitnet::server
