// Shared helpers for the end-to-end tests: temporary directories and tiny
// synthetic models made through the public API.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "bitnet/bitnet.h"

namespace bitnet::testing {

// A fresh directory under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "bitnet-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A tiny model with a small vocabulary (fast); `packed` writes the U8 form.
inline std::string MakeTinyModel(const TempDir& dir, const std::string& name, uint64_t seed = 7, bool packed = false,
                                 const std::string& linear_class = "autobitlinear", int shards = 1, int vocab = 512) {
  SynthOptions o;
  o.preset = "tiny";
  o.seed = seed;
  o.packed = packed;
  o.linear_class = linear_class;
  o.shards = shards;
  o.vocab = vocab;
  o.n_threads = 2;
  const std::string path = dir / name;
  WriteSyntheticModel(path, o);
  return path;
}

inline Options CpuOptions(int threads = 2) {
  Options o;
  o.n_threads = threads;
  o.device = "cpu";
  o.verbose = false;
  return o;
}

}  // namespace bitnet::testing
