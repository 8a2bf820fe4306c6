// The smallest use of the public API: load a model, run a prompt through the
// prefill path, then decode greedily one token at a time with a KV cache.
//
//   simple_generate MODEL [ID,ID,...]
#include <bitnet/bitnet.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL [comma-separated prompt ids]\n", argv[0]);
    return 2;
  }
  try {
    bitnet::Options options;
    options.n_threads = 2;
    options.device = "cpu";
    auto model = bitnet::Model::Load(argv[1], options);

    std::vector<int32_t> prompt = {model->config().bos_id};
    if (argc > 2) {
      prompt.clear();
      for (const char* p = argv[2]; *p != '\0';) {
        prompt.push_back(static_cast<int32_t>(std::strtol(p, const_cast<char**>(&p), 10)));
        if (*p == ',') ++p;
      }
    }

    auto cache = model->NewCache(64);
    std::vector<float> logits = model->Forward(prompt, *cache, 0);  // next-token logits
    bitnet::Sampler greedy(bitnet::SamplingParams{.temperature = 0.0f});
    int pos = static_cast<int>(prompt.size());
    for (int i = 0; i < 8; ++i) {
      const int32_t id = greedy.Sample(logits, prompt);
      std::printf("%d%s", id, i + 1 < 8 ? "," : "\n");
      prompt.push_back(id);
      const int32_t one[1] = {id};
      logits = model->Forward(one, *cache, pos++);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
