#include "app/server/metrics.h"

#include <sstream>

namespace bitnet::server {
namespace {

void Header(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

}  // namespace

void Metrics::CountRequest(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::CountGeneration(const GenerationStats& s) {
  std::lock_guard<std::mutex> lock(mu_);
  ++generations_;
  prompt_tokens_ += static_cast<uint64_t>(s.n_prompt);
  prompt_tokens_evaluated_ += static_cast<uint64_t>(s.n_prompt_eval);
  generated_tokens_ += static_cast<uint64_t>(s.n_generated);
  prompt_seconds_ += s.prompt_ms / 1000.0;
  generation_seconds_ += s.gen_ms / 1000.0;
  last_prompt_tps_ = s.prompt_tps();
  if (s.n_generated > 1) last_generation_tps_ = s.gen_tps();
}

std::string Metrics::Render(const Gauges& g) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  out.precision(10);
  Header(out, "bitnet_requests_total", "counter", "HTTP requests answered, by endpoint and status code.");
  for (const auto& [key, count] : requests_)
    out << "bitnet_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second << "\"} " << count << '\n';
  Header(out, "bitnet_generations_total", "counter", "Completed generations.");
  out << "bitnet_generations_total " << generations_ << '\n';
  Header(out, "bitnet_prompt_tokens_total", "counter", "Prompt tokens received.");
  out << "bitnet_prompt_tokens_total " << prompt_tokens_ << '\n';
  Header(out, "bitnet_prompt_tokens_evaluated_total", "counter",
         "Prompt tokens run through the model (the rest were reused from a slot's cache).");
  out << "bitnet_prompt_tokens_evaluated_total " << prompt_tokens_evaluated_ << '\n';
  Header(out, "bitnet_generated_tokens_total", "counter", "Tokens generated.");
  out << "bitnet_generated_tokens_total " << generated_tokens_ << '\n';
  Header(out, "bitnet_prompt_seconds_total", "counter", "Time spent running prompts.");
  out << "bitnet_prompt_seconds_total " << prompt_seconds_ << '\n';
  Header(out, "bitnet_generation_seconds_total", "counter", "Time spent generating tokens after the first.");
  out << "bitnet_generation_seconds_total " << generation_seconds_ << '\n';
  Header(out, "bitnet_prompt_tokens_per_second", "gauge", "Prompt throughput of the last request.");
  out << "bitnet_prompt_tokens_per_second " << last_prompt_tps_ << '\n';
  Header(out, "bitnet_generation_tokens_per_second", "gauge", "Generation throughput of the last request.");
  out << "bitnet_generation_tokens_per_second " << last_generation_tps_ << '\n';
  Header(out, "bitnet_slots_total", "gauge", "Slots (concurrent generations).");
  out << "bitnet_slots_total " << g.slots_total << '\n';
  Header(out, "bitnet_slots_busy", "gauge", "Slots generating now.");
  out << "bitnet_slots_busy " << g.slots_busy << '\n';
  Header(out, "bitnet_requests_waiting", "gauge", "Requests queued for a free slot.");
  out << "bitnet_requests_waiting " << g.requests_waiting << '\n';
  const SchedulerStats& st = g.scheduling;
  Header(out, "bitnet_requests_prefilling", "gauge", "Requests with a slot whose prompt has not all run yet.");
  out << "bitnet_requests_prefilling " << st.prefilling << '\n';
  Header(out, "bitnet_requests_decoding", "gauge", "Requests generating tokens, one per step.");
  out << "bitnet_requests_decoding " << st.decoding << '\n';
  Header(out, "bitnet_queue_length", "gauge",
         "Requests not yet generating: waiting for a slot plus prefilling.");
  out << "bitnet_queue_length " << g.requests_waiting + st.prefilling << '\n';
  Header(out, "bitnet_steps_total", "counter", "Forward steps the batch scheduler ran.");
  out << "bitnet_steps_total " << st.steps << '\n';
  Header(out, "bitnet_step_tokens_total", "counter", "Tokens in them (over steps: mean tokens per step).");
  out << "bitnet_step_tokens_total " << st.step_tokens << '\n';
  Header(out, "bitnet_step_sequences", "histogram", "Requests in each forward step (batch size).");
  uint64_t at_most = 0;
  for (size_t b = 0; b < SchedulerStats::kSequenceBuckets.size(); ++b) {
    at_most += st.sequence_buckets[b];
    out << "bitnet_step_sequences_bucket{le=\"" << SchedulerStats::kSequenceBuckets[b] << "\"} " << at_most << '\n';
  }
  out << "bitnet_step_sequences_bucket{le=\"+Inf\"} " << st.steps << '\n';
  out << "bitnet_step_sequences_sum " << st.step_sequences << '\n';
  out << "bitnet_step_sequences_count " << st.steps << '\n';
  Header(out, "bitnet_last_step_sequences", "gauge", "Requests in the latest forward step.");
  out << "bitnet_last_step_sequences " << st.last_sequences << '\n';
  Header(out, "bitnet_last_step_tokens", "gauge", "Tokens in the latest forward step.");
  out << "bitnet_last_step_tokens " << st.last_tokens << '\n';
  Header(out, "bitnet_model_ready", "gauge", "1 once the model is loaded.");
  out << "bitnet_model_ready " << (g.ready ? 1 : 0) << '\n';
  return out.str();
}

}  // namespace bitnet::server
