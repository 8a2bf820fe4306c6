// POST /v1/chat/completions and /v1/completions: validate, tokenize, check
// the context, wait for a slot, hand the request to the batch scheduler, then
// answer whole or as Server-Sent Events as its text arrives.
#include <chrono>
#include <nlohmann/json.hpp>

#include "app/server/batch_scheduler.h"
#include "app/server/completion_request.h"
#include "app/server/http_transport.h"
#include "app/server/json_fields.h"
#include "app/server/openai_format.h"
#include "app/server/server_impl.h"

namespace bitnet::server {
namespace {

std::vector<int32_t> PromptIds(const Model& model, const CompletionRequest& r) {
  if (r.chat) return model.EncodeChat(r.messages, true);
  const int vocab = model.config().vocab;
  if (!r.prompt_ids.empty()) {
    for (int32_t id : r.prompt_ids)
      if (id >= vocab)
        throw ApiError(400, "'prompt' holds token id " + std::to_string(id) + ", outside the vocabulary [0, " +
                                std::to_string(vocab) + ")",
                       "prompt", "invalid_value");
    return r.prompt_ids;
  }
  // As llama-server: text may spell special tokens (a hand-made chat
  // template); BOS is added unless the text already starts with it.
  std::vector<int32_t> ids = model.Tokenize(r.prompt, true);
  if (ids.empty() || ids.front() != model.config().bos_id) ids.insert(ids.begin(), model.config().bos_id);
  return ids;
}

// Everything one generation needs, kept alive by the streaming callback
// (httplib calls it after the handler has returned).
struct Job {
  CompletionRequest request;
  CompletionJob completion;
  ResponseIdentity who;
  std::shared_ptr<CompletionHandle> handle;  // the scheduler runs it; this thread only waits and writes

  // However the response ends (a client gone before its stream began
  // included), the scheduler stops spending steps on it.
  ~Job() {
    if (handle) handle->Cancel();
  }

  CompletionOutcome Run(const std::function<bool(const std::string&)>& on_text) { return handle->Wait(on_text); }
  Usage UsageOf(const CompletionOutcome& out) const {
    return {static_cast<int>(completion.prompt.size()), out.stats.n_generated};
  }
};

void RespondWhole(Job& job, httplib::Response& res) {
  // Nothing is written before the end, so a client that hangs up is noticed
  // by looking at its socket with each piece of text; leaving the wait
  // cancels the request at the scheduler's next step.
  const CompletionOutcome out = job.Run([](const std::string&) { return !ClientHungUp(); });
  if (out.client_gone) {
    res.status = 499;  // nobody reads it; the transport sees the closed socket
    res.set_header("Connection", "close");
    return;
  }
  if (out.interrupted) throw ApiError(503, "the server is shutting down", "", "shutting_down");
  const Usage usage = job.UsageOf(out);
  SendJson(res, 200,
           job.request.chat ? ChatCompletionBody(job.who, out.text, out.finish_reason, usage)
                            : TextCompletionBody(job.who, out.text, out.finish_reason, usage));
}

// Writes the whole event stream into sink; false once the client is gone.
bool StreamEvents(Job& job, httplib::DataSink& sink) {
  const bool chat = job.request.chat;
  const bool usage_null = job.request.include_usage;
  auto send = [&](const std::string& json) {
    const std::string event = SseEvent(json);
    return sink.is_writable() && sink.write(event.data(), event.size());
  };
  if (chat && !send(ChatChunk(job.who, "assistant", "", std::nullopt, usage_null))) return false;
  CompletionOutcome out;
  try {
    out = job.Run([&](const std::string& delta) {
      return send(chat ? ChatChunk(job.who, std::nullopt, delta, std::nullopt, usage_null)
                       : TextChunk(job.who, delta, std::nullopt, usage_null));
    });
  } catch (const std::exception& e) {
    // Headers are gone already: report in-band, as OpenAI's streams do.
    send(ErrorBody(ApiError(500, e.what(), "", "generation_failed")));
    return true;
  }
  if (out.client_gone) return false;
  if (chat) {
    if (!send(ChatChunk(job.who, std::nullopt, std::nullopt, out.finish_reason, usage_null))) return false;
    if (job.request.include_usage && !send(ChatUsageChunk(job.who, job.UsageOf(out)))) return false;
  } else {
    if (!send(TextChunk(job.who, "", out.finish_reason, usage_null))) return false;
    if (job.request.include_usage && !send(TextUsageChunk(job.who, job.UsageOf(out)))) return false;
  }
  const std::string done = SseDone();
  return sink.write(done.data(), done.size());
}

}  // namespace

void HandleCompletion(Server::Impl& s, const httplib::Request& req, httplib::Response& res, bool chat) {
  auto job = std::make_shared<Job>();
  const nlohmann::json body = ParseJsonObject(req.body);
  const SamplingParams defaults = s.model != nullptr ? s.model->DefaultSampling() : SamplingParams{};
  job->request = chat ? ParseChatRequest(body, defaults) : ParseCompletionRequest(body, defaults);
  const CompletionRequest& r = job->request;
  try {
    job->completion.prompt = PromptIds(*s.model, r);
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    throw ApiError(400, e.what(), chat ? "messages" : "prompt", "invalid_value");
  }

  const int ctx = s.pool->context_length();
  const int n_prompt = static_cast<int>(job->completion.prompt.size());
  if (n_prompt >= ctx)
    throw ApiError(400,
                   "the prompt is " + std::to_string(n_prompt) + " tokens, but the context holds " +
                       std::to_string(ctx) + " (with room for at least one generated token)",
                   chat ? "messages" : "prompt", "context_length_exceeded");
  if (r.max_tokens && *r.max_tokens > ctx - n_prompt)
    throw ApiError(400,
                   "the context holds " + std::to_string(ctx) + " tokens, but " + std::to_string(n_prompt) +
                       " in the prompt plus max_tokens " + std::to_string(*r.max_tokens) + " exceed it",
                   "max_tokens", "context_length_exceeded");
  job->completion.params.max_tokens = r.max_tokens.value_or(ctx - n_prompt);
  job->completion.params.sampling = r.sampling;
  job->completion.stop = r.stop;

  job->who.id = NewResponseId(chat ? "chatcmpl-" : "cmpl-");
  job->who.created = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  job->who.model = s.options.model_name;

  std::unique_ptr<SlotPool::Lease> lease = s.pool->Acquire(job->completion.prompt, s.options.queue_timeout);
  if (!lease) {
    if (s.stopping) throw ApiError(503, "the server is shutting down", "", "shutting_down");
    throw ApiError(503, "every slot stayed busy for the whole queue timeout; try again later", "", "server_busy");
  }
  job->handle = s.scheduler->Submit(std::move(lease), job->completion);

  if (!r.stream) {
    RespondWhole(*job, res);
    return;
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // proxies must not hold events back
  res.set_chunked_content_provider("text/event-stream", [job](size_t, httplib::DataSink& sink) {
    const bool ok = StreamEvents(*job, sink);
    if (ok) sink.done();
    return ok;
  });
}

}  // namespace bitnet::server
