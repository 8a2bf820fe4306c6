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
  Header(out, "bitnet_batches_total", "counter", "Batched forward passes the slots ran.");
  out << "bitnet_batches_total " << g.batching.batches << '\n';
  Header(out, "bitnet_batched_sequences_total", "counter", "Slot steps in them (over batches: mean batch size).");
  out << "bitnet_batched_sequences_total " << g.batching.sequences << '\n';
  Header(out, "bitnet_batch_size", "gauge", "Sequences in the latest batched forward pass.");
  out << "bitnet_batch_size " << g.batching.last_sequences << '\n';
  Header(out, "bitnet_batch_tokens", "gauge", "Tokens in the latest batched forward pass.");
  out << "bitnet_batch_tokens " << g.batching.last_tokens << '\n';
  Header(out, "bitnet_model_ready", "gauge", "1 once the model is loaded.");
  out << "bitnet_model_ready " << (g.ready ? 1 : 0) << '\n';
  return out.str();
}

}  // namespace bitnet::server
