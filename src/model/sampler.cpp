// Sampling chain, in llama.cpp's order: repetition penalty, top-k,
// temperature, softmax, top-p, min-p, then a draw from a seeded generator.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <unordered_set>

#include "bitnet/bitnet.h"
#include "util/error.h"

namespace bitnet {

void SamplingParams::Validate() const {
  Check(temperature >= 0, "--temp", "must be >= 0");
  Check(top_k >= 0, "--top-k", "must be >= 0");
  Check(top_p > 0 && top_p <= 1, "--top-p", "must be in (0, 1]");
  Check(min_p >= 0 && min_p <= 1, "--min-p", "must be in [0, 1]");
  Check(repeat_penalty > 0, "--repeat-penalty", "must be > 0");
}

struct Sampler::Impl {
  SamplingParams params;
  std::mt19937_64 rng;
  std::vector<std::pair<float, int32_t>> candidates;
};

Sampler::Sampler(const SamplingParams& params) : impl_(std::make_unique<Impl>()) {
  impl_->params = params;
  impl_->rng.seed(params.seed);
}

Sampler::~Sampler() = default;

int32_t Sampler::Sample(std::span<const float> logits, std::span<const int32_t> history) {
  const SamplingParams& p = impl_->params;
  auto& cand = impl_->candidates;
  cand.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) cand[i] = {logits[i], static_cast<int32_t>(i)};

  if (p.repeat_penalty != 1.0f && p.repeat_last_n != 0) {
    const size_t n = p.repeat_last_n < 0 ? history.size() : std::min(history.size(), static_cast<size_t>(p.repeat_last_n));
    std::unordered_set<int32_t> seen(history.end() - static_cast<std::ptrdiff_t>(n), history.end());
    for (int32_t id : seen) {
      if (id < 0 || static_cast<size_t>(id) >= cand.size()) continue;
      float& l = cand[id].first;
      l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
    }
  }

  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  if (p.temperature <= 0.0f) return std::min_element(cand.begin(), cand.end(), by_logit)->second;

  size_t keep = cand.size();
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < keep) keep = static_cast<size_t>(p.top_k);
  std::partial_sort(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(keep), cand.end(), by_logit);
  cand.resize(keep);

  const float max_logit = cand[0].first;
  double total = 0.0;
  for (auto& c : cand) {
    c.first = std::exp((c.first - max_logit) / p.temperature);
    total += c.first;
  }
  for (auto& c : cand) c.first = static_cast<float>(c.first / total);

  if (p.top_p < 1.0f) {
    double cum = 0.0;
    size_t n = 0;
    while (n < cand.size()) {
      cum += cand[n].first;
      ++n;
      if (cum >= p.top_p) break;
    }
    cand.resize(std::max<size_t>(n, 1));
  }
  if (p.min_p > 0.0f) {
    const float floor = cand[0].first * p.min_p;
    size_t n = 1;
    while (n < cand.size() && cand[n].first >= floor) ++n;
    cand.resize(n);
  }

  double mass = 0.0;
  for (const auto& c : cand) mass += c.first;
  // A uniform draw from the seeded generator, mapped onto the kept mass.
  const double u = std::uniform_real_distribution<double>(0.0, mass)(impl_->rng);
  double cum = 0.0;
  for (const auto& c : cand) {
    cum += c.first;
    if (u < cum) return c.second;
  }
  return cand.back().second;
}

}  // namespace bitnet
