// Counters and gauges for GET /metrics, rendered in the Prometheus text
// exposition format. Every method is safe to call from any thread.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "app/server/scheduler_stats.h"
#include "bitnet/bitnet.h"

namespace bitnet::server {

class Metrics {
 public:
  // endpoint: a route name (unknown paths are counted as "other" by the caller).
  void CountRequest(const std::string& endpoint, int status);
  void CountGeneration(const GenerationStats& stats);

  struct Gauges {
    int slots_total = 0;
    int slots_busy = 0;
    int requests_waiting = 0;
    SchedulerStats scheduling;  // the batch scheduler's steps and queue
    bool ready = false;
  };
  std::string Render(const Gauges& gauges) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0;
  uint64_t prompt_tokens_evaluated_ = 0;
  uint64_t generated_tokens_ = 0;
  uint64_t generations_ = 0;
  double prompt_seconds_ = 0.0;
  double generation_seconds_ = 0.0;
  double last_prompt_tps_ = 0.0;
  double last_generation_tps_ = 0.0;
};

}  // namespace bitnet::server
