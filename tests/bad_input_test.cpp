// Bad files and arguments get one clear error naming the file and the field.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/safetensors.h"
#include "test_util.h"

namespace bitnet::testing {
namespace {

std::string LoadError(const std::string& path, Options o = CpuOptions()) {
  try {
    Model::Load(path, o);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void Expect(const std::string& msg, std::initializer_list<const char*> parts) {
  EXPECT_FALSE(msg.empty()) << "expected an error";
  for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(BadInputTest, MissingModel) { Expect(LoadError("/nonexistent/model"), {"/nonexistent/model", "no such file"}); }

TEST(BadInputTest, TruncatedSafetensorsAtEveryRegion) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  const std::string st = path + "/model.safetensors";
  const std::string bytes = ReadFile(st);
  for (size_t cut : {size_t{0}, size_t{5}, size_t{9}, size_t{200}, bytes.size() / 2, bytes.size() - 1}) {
    WriteFile(st, bytes.substr(0, cut));
    Expect(LoadError(path), {"model.safetensors"});
  }
}

TEST(BadInputTest, CorruptSafetensorsHeader) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  const std::string st = path + "/model.safetensors";
  std::string bytes = ReadFile(st);
  bytes[8] = '#';  // the header's opening brace
  WriteFile(st, bytes);
  Expect(LoadError(path), {"model.safetensors", "JSON"});
  WriteFile(st, std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}");
  Expect(LoadError(path), {"model.safetensors", "header length"});
}

TEST(BadInputTest, WrongShapeAndDtype) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  const std::string st = path + "/model.safetensors";
  SafetensorsFile file(st);
  std::vector<SafetensorsEntry> entries;
  for (const auto& [name, t] : file.tensors()) {
    SafetensorsEntry e{name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.size_bytes)};
    if (name == "model.layers.1.self_attn.k_proj.weight") e.shape = {e.shape[1], e.shape[0]};
    entries.push_back(std::move(e));
  }
  WriteSafetensors(path + "/alt.safetensors", entries);
  std::filesystem::rename(path + "/alt.safetensors", st);
  Expect(LoadError(path), {"model.safetensors", "model.layers.1.self_attn.k_proj.weight", "shape"});

  for (auto& e : entries)
    if (e.name == "model.norm.weight") {
      e.dtype = "I16";
    } else if (e.name == "model.layers.1.self_attn.k_proj.weight") {
      e.shape = {e.shape[1], e.shape[0]};
    }
  WriteSafetensors(st, entries);
  Expect(LoadError(path), {"model.norm.weight", "I16"});
}

TEST(BadInputTest, BadConfig) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  WriteFile(path + "/config.json", "{ not json");
  Expect(LoadError(path), {"config.json", "JSON"});
  WriteFile(path + "/config.json", R"({"model_type": "llama", "hidden_size": 128})");
  Expect(LoadError(path), {"config.json", "model_type", "llama"});
  WriteFile(path + "/config.json", R"({"model_type": "bitnet", "hidden_size": 128})");
  Expect(LoadError(path), {"config.json", "num_hidden_layers"});
  std::filesystem::remove(path + "/config.json");
  Expect(LoadError(path), {"config.json"});
}

TEST(BadInputTest, MissingTensor) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  SafetensorsFile file(path + "/model.safetensors");
  std::vector<SafetensorsEntry> entries;
  for (const auto& [name, t] : file.tensors())
    if (name != "model.layers.0.mlp.down_proj.weight")
      entries.push_back({name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.size_bytes)});
  WriteSafetensors(path + "/model.safetensors", entries);
  Expect(LoadError(path), {"missing tensor", "model.layers.0.mlp.down_proj.weight"});
}

TEST(BadInputTest, TruncatedAndCorruptGguf) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  const std::string gguf = dir / "m.gguf";
  ConvertModel(path, gguf);
  const std::string bytes = ReadFile(gguf);
  // (The writer pads the file's end to the alignment, so the last cut lands
  // inside the final tensors' data rather than in that padding.)
  for (size_t cut : {size_t{3}, size_t{30}, size_t{4000}, bytes.size() / 2, bytes.size() - 64}) {
    WriteFile(gguf, bytes.substr(0, cut));
    Expect(LoadError(gguf), {"m.gguf"});
  }
  std::string bad_magic = bytes;
  bad_magic[0] = 'X';
  WriteFile(gguf, bad_magic);
  Expect(LoadError(gguf), {"m.gguf"});
}

TEST(BadInputTest, ConvertLeavesNoPartialOutput) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  const std::string st = path + "/model.safetensors";
  const std::string bytes = ReadFile(st);
  WriteFile(st, bytes.substr(0, bytes.size() - 100));
  const std::string out = dir / "out.gguf";
  EXPECT_THROW(ConvertModel(path, out), std::exception);
  EXPECT_FALSE(std::filesystem::exists(out));
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename().string().find("out.gguf"), std::string::npos) << entry.path();
}

TEST(BadInputTest, UnknownOptionsValues) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  Options o = CpuOptions();
  o.device = "gpu";
  Expect(LoadError(path, o), {"--device", "gpu"});
  o = CpuOptions();
  o.output_type = "q4";
  Expect(LoadError(path, o), {"--output-type", "q4"});
}

}  // namespace
}  // namespace bitnet::testing
