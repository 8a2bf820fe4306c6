#include "util/progress.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>

namespace bitnet {
namespace {
std::atomic<bool> g_enabled{false};
}  // namespace

void EnableProgress(bool on) { g_enabled = on; }

bool ProgressActive() { return g_enabled.load() && isatty(STDERR_FILENO) != 0; }

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), active_(ProgressActive()) {
  Update(0);
}

Progress::~Progress() {
  if (active_ && last_percent_ >= 0) {
    // Blank the bar's width, then return: the next line overwrites nothing stale.
    std::fprintf(stderr, "\r%*s\r", static_cast<int>(label_.size()) + 40, "");
    std::fflush(stderr);
  }
}

void Progress::Update(int64_t done) {
  if (!active_) return;
  const int percent = static_cast<int>(std::clamp<int64_t>(done, 0, total_) * 100 / total_);
  if (percent == last_percent_) return;
  last_percent_ = percent;
  constexpr int kWidth = 30;
  const int filled = percent * kWidth / 100;
  std::fprintf(stderr, "\r%s [%.*s%*s] %3d%%", label_.c_str(), filled, "##############################",
               kWidth - filled, "", percent);
  std::fflush(stderr);
}

}  // namespace bitnet
