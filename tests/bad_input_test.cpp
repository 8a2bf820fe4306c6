// Bad files and arguments get one clear error naming the file and the field.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "test_util.h"
#include "util/error.h"
#include "util/mapped_file.h"

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


// ---------------------------------------------------------------- crafted safetensors

// A safetensors file from a header (padded with spaces to 8 bytes, as the
// format's writers do) and the raw data section.
std::string Safetensors(std::string header, const std::string& data) {
  while (header.size() % 8 != 0) header.push_back(' ');
  const uint64_t len = header.size();
  return std::string(reinterpret_cast<const char*>(&len), 8) + header + data;
}

std::string SafetensorsError(const std::string& bytes) {
  TempDir dir;
  const std::string path = dir / "x.safetensors";
  WriteFile(path, bytes);
  try {
    SafetensorsFile file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string F32Tensor(const std::string& name, int n, int begin) {
  return "\"" + name + R"(": {"dtype": "F32", "shape": [)" + std::to_string(n) + R"(], "data_offsets": [)" +
         std::to_string(begin) + ", " + std::to_string(begin + 4 * n) + "]}";
}

TEST(BadInputTest, SafetensorsDataSectionIsExactlyTheTensors) {
  const std::string a = F32Tensor("a", 1, 0);
  // The control: tensors end to end over the whole data section load.
  EXPECT_EQ(SafetensorsError(Safetensors("{" + a + ", " + F32Tensor("b", 1, 4) + "}", std::string(8, '\0'))), "");
  Expect(SafetensorsError(Safetensors("{" + a + "}", std::string(8, '\0'))),
         {"x.safetensors", "[4, 8)", "trailing"});
  Expect(SafetensorsError(Safetensors("{" + a + ", " + F32Tensor("b", 1, 8) + "}", std::string(12, '\0'))),
         {"x.safetensors", "[4, 8)", "gap", "'b'"});
  Expect(SafetensorsError(Safetensors("{" + F32Tensor("a", 2, 0) + ", " + F32Tensor("b", 1, 4) + "}",
                                      std::string(8, '\0'))),
         {"x.safetensors", "tensor 'b'", "overlap"});
}

TEST(BadInputTest, SafetensorsMisalignedTensor) {
  // One U8 byte first puts the F32 at an odd file offset: typed loads from the
  // map would be misaligned (NaN logits and UBSan reports before).
  const std::string header = R"({"c": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, )"
                             R"("d": {"dtype": "F32", "shape": [1], "data_offsets": [1, 5]}})";
  Expect(SafetensorsError(Safetensors(header, std::string(5, '\0'))), {"x.safetensors", "tensor 'd'", "misaligned"});
  // Wider first, as the writer stores them, is fine.
  const std::string ok = R"({"d": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, )"
                         R"("c": {"dtype": "U8", "shape": [1], "data_offsets": [4, 5]}})";
  EXPECT_EQ(SafetensorsError(Safetensors(ok, std::string(5, '\0'))), "");
}

TEST(BadInputTest, SafetensorsWriterAlignsMixedDtypes) {
  TempDir dir;
  const std::string path = dir / "w.safetensors";
  // U8 of odd size first: the writer must reorder so the F32 stays aligned.
  WriteSafetensors(path, {{"u", "U8", {3}, {1, 2, 3}}, {"f", "F32", {1}, {0, 0, 128, 63}}});
  SafetensorsFile file(path);
  ASSERT_EQ(file.tensors().size(), 2u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(file.tensors().at("f").data) % 4, 0u);
  EXPECT_EQ(file.tensors().at("u").data[2], 3);
}

TEST(BadInputTest, SafetensorsDuplicateKey) {
  const std::string header = "{" + F32Tensor("a", 1, 0) + ", " + F32Tensor("a", 1, 4) + "}";
  Expect(SafetensorsError(Safetensors(header, std::string(8, '\0'))), {"x.safetensors", "'a'", "twice"});
  // Inside a tensor's object too.
  const std::string inner = R"({"a": {"dtype": "F32", "dtype": "BF16", "shape": [1], "data_offsets": [0, 4]}})";
  Expect(SafetensorsError(Safetensors(inner, std::string(4, '\0'))), {"x.safetensors", "'dtype'", "twice"});
}

TEST(BadInputTest, TrailingBytesInModelSafetensors) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  const std::string st = path + "/model.safetensors";
  WriteFile(st, ReadFile(st) + std::string(16, 'x'));
  Expect(LoadError(path), {"model.safetensors", "trailing"});
}

TEST(BadInputTest, NamesInErrorsAreEscapedAndCut) {
  EXPECT_EQ(Printable(std::string("a\nb\x1b[2J\x7f", 8)), "a\\x0ab\\x1b[2J\\x7f");
  EXPECT_EQ(Printable(std::string(70, 'n')), std::string(64, 'n') + "...");
  // A cut never splits a UTF-8 sequence ("\xc3\xa9" is one character).
  EXPECT_EQ(Printable(std::string(63, 'n') + "\xc3\xa9zzz"), std::string(63, 'n') + "...");
  EXPECT_EQ(Printable("\xc3\xa9"), "\xc3\xa9");
  EXPECT_EQ(Printable(std::string(300, 'n'), 256), std::string(256, 'n') + "...");
  EXPECT_EQ(Printable(std::string("\x1b]0;x\x07", 6), 256), "\\x1b]0;x\\x07");

  const std::string evil = "evil\x1b]0;owned\x07" + std::string(100, 'x');
  const std::string header = "{\"" + std::string("evil\\u001b]0;owned\\u0007") + std::string(100, 'x') +
                             R"(": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}})";
  const std::string msg = SafetensorsError(Safetensors(header, std::string(4, '\0')));
  Expect(msg, {"x.safetensors", "evil\\x1b]0;owned\\x07", "...", "Q9"});
  EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
  EXPECT_EQ(msg.find(std::string(60, 'x')), std::string::npos) << "not cut: " << msg;
}

// ---------------------------------------------------------------- config ranges

// Rewrites a GGUF file with one metadata value replaced (or added).
void RewriteGguf(const std::string& src, const std::string& dst, const std::string& key, const gguf::Value& v) {
  std::unique_ptr<gguf::File> f = gguf::File::Open(src);
  gguf::Writer w;
  for (const auto& [k, value] : f->metadata()) w.SetValue(k, k == key ? v : value);
  if (!f->Has(key)) w.SetValue(key, v);
  for (const gguf::TensorInfo& t : f->tensors()) w.AddTensor(t.name, t.dims, t.type, t.data, t.size_bytes);
  w.Write(dst);
}

gguf::Value F32(double x) { return {gguf::ValueType::kFloat32, gguf::ValueType::kUint8, x}; }
gguf::Value U64(uint64_t x) { return {gguf::ValueType::kUint64, gguf::ValueType::kUint8, x}; }

// `bitnet info` prints strings the file supplies; a crafted one must not
// reach the terminal raw.
TEST(BadInputTest, InfoEscapesStringsFromTheFile) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  const std::string good = dir / "m.gguf", bad = dir / "bad.gguf";
  ConvertModel(path, good);
  const std::string evil = "hf\x1b]0;owned\x07" + std::string(2000, 'x');
  RewriteGguf(good, bad, "bitnet-npu.source_format", {gguf::ValueType::kString, gguf::ValueType::kUint8, evil});
  Options o;
  o.verbose = false;
  const std::string info = Model::Load(bad, o)->Describe();
  EXPECT_EQ(info.find('\x1b'), std::string::npos) << info;
  EXPECT_EQ(info.find('\x07'), std::string::npos) << info;
  EXPECT_NE(info.find("hf\\x1b]0;owned\\x07"), std::string::npos) << info;
  EXPECT_EQ(info.find(std::string(1100, 'x')), std::string::npos) << "not cut";
}

TEST(BadInputTest, GgufConfigOutOfRange) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  const std::string good = dir / "m.gguf", bad = dir / "bad.gguf";
  ConvertModel(path, good);
  RewriteGguf(good, bad, "bitnet-npu.rope.freq_base", F32(500000.0));
  EXPECT_EQ(LoadError(bad), "");  // the rewrite itself keeps the model loadable
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  for (double v : {0.0, -1.0, nan, inf}) {
    RewriteGguf(good, bad, "bitnet-npu.rope.freq_base", F32(v));
    Expect(LoadError(bad), {"bad.gguf", "bitnet-npu.rope.freq_base", "finite and positive"});
  }
  RewriteGguf(good, bad, "bitnet-npu.rope.freq_base", {gguf::ValueType::kFloat64, gguf::ValueType::kUint8, 1e300});
  Expect(LoadError(bad), {"bad.gguf", "bitnet-npu.rope.freq_base", "float32 range"});
  for (double v : {0.0, -1e-5, nan, inf}) {
    RewriteGguf(good, bad, "bitnet-npu.attention.layer_norm_rms_epsilon", F32(v));
    Expect(LoadError(bad), {"bad.gguf", "bitnet-npu.attention.layer_norm_rms_epsilon", "finite and positive"});
  }
  RewriteGguf(good, bad, "tokenizer.ggml.bos_token_id", U64(512));  // vocab is 512
  Expect(LoadError(bad), {"bad.gguf", "tokenizer.ggml.bos_token_id", "512", "outside the vocabulary"});
  RewriteGguf(good, bad, "tokenizer.ggml.eos_token_id", U64(uint64_t{1} << 32));
  Expect(LoadError(bad), {"bad.gguf", "tokenizer.ggml.eos_token_id", "outside the vocabulary"});
  RewriteGguf(good, bad, "bitnet-npu.sampling.top_p", F32(nan));
  Expect(LoadError(bad), {"bad.gguf", "bitnet-npu.sampling.top_p"});
}

void EditConfig(const std::string& dir, const std::string& key, const std::string& json_value) {
  std::string text = ReadFile(dir + "/config.json");
  const size_t brace = text.rfind('}');
  text = text.substr(0, brace);
  // Replace by dropping the old line: the tiny config has one key per line.
  const size_t at = text.find("\"" + key + "\"");
  if (at != std::string::npos) text.erase(at, text.find('\n', at) + 1 - at);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == ',')) text.pop_back();
  WriteFile(dir + "/config.json", text + ",\n  \"" + key + "\": " + json_value + "\n}\n");
}

TEST(BadInputTest, ConfigJsonOutOfRange) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  const std::string original = ReadFile(path + "/config.json");
  EditConfig(path, "rope_theta", "500000.0");
  EXPECT_EQ(LoadError(path), "");  // the edit itself keeps the model loadable
  const std::pair<const char*, const char*> cases[] = {
      {"rope_theta", "0"},       {"rope_theta", "-1"},        {"rope_theta", "1e300"},
      {"rms_norm_eps", "-1e-5"}, {"rms_norm_eps", "-0.0"},   {"bos_token_id", "512"},
      {"eos_token_id", "-3"},    {"eos_token_id", "99999999999"},
  };
  for (const auto& [key, value] : cases) {
    WriteFile(path + "/config.json", original);
    EditConfig(path, key, value);
    Expect(LoadError(path), {"config.json", key});
  }
  // A key given twice is ambiguous (readers disagree on which wins).
  WriteFile(path + "/config.json", original);
  EditConfig(path, "x", "1");
  std::string twice = ReadFile(path + "/config.json");
  twice.insert(twice.rfind('}'), ", \"hidden_size\": 64\n");
  WriteFile(path + "/config.json", twice);
  Expect(LoadError(path), {"config.json", "hidden_size", "twice"});
}

// ---------------------------------------------------------------- special files

TEST(BadInputTest, SideFilesThatAreFifosOrDirectories) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  for (const char* name : {"config.json", "generation_config.json", "tokenizer.json"}) {
    const std::string file = path + "/" + name;
    const std::string saved = std::filesystem::exists(file) ? ReadFile(file) : "";
    std::filesystem::remove(file);
    ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
    // Opening a FIFO for reading would wait for a writer forever.
    Expect(LoadError(path), {name, "FIFO"});
    std::filesystem::remove(file);
    std::filesystem::create_directory(file);
    Expect(LoadError(path), {name, "directory"});
    std::filesystem::remove(file);
    if (!saved.empty()) WriteFile(file, saved);
  }
  EXPECT_EQ(LoadError(path), "");
}

// Paths in dir whose name starts with prefix (temporaries left behind).
std::vector<std::string> Leftovers(const TempDir& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
  return out;
}

TEST(BadInputTest, ConvertRefusesOutputsThatAreNotRegularFiles) {
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  const std::string out_dir = dir / "outdir";
  std::filesystem::create_directory(out_dir);
  try {
    ConvertModel(path, out_dir);
    ADD_FAILURE() << "convert to a directory succeeded";
  } catch (const std::exception& e) {
    Expect(e.what(), {"outdir", "directory", "refusing"});
  }
  EXPECT_TRUE(std::filesystem::is_directory(out_dir));

  const std::string fifo = dir / "out.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const char* format : {"native", "i2_s", "tq2_0"}) {
    ConvertOptions o;
    o.format = format;
    try {
      ConvertModel(path, fifo, o);
      ADD_FAILURE() << "convert to a FIFO succeeded";
    } catch (const std::exception& e) {
      Expect(e.what(), {"out.fifo", "FIFO"});
    }
    struct stat st {};
    ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  }
  EXPECT_EQ(Leftovers(dir, "out").size(), 2u);  // outdir and out.fifo, no temporaries

  // The writers below convert refuse by themselves too.
  EXPECT_THROW(WriteSafetensors(fifo, {}), Error);
  EXPECT_THROW(WriteFileAtomically(out_dir, "x"), Error);
  EXPECT_THROW(AtomicFileWriter{fifo}, Error);
  EXPECT_EQ(Leftovers(dir, "out").size(), 2u);

  // A regular file is replaced as before.
  const std::string regular = dir / "out.gguf";
  WriteFile(regular, "old");
  ConvertModel(path, regular);
  EXPECT_GT(std::filesystem::file_size(regular), 1000u);
}

TEST(BadInputTest, ConvertRefusesCharacterDevice) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a device node";
  TempDir dir;
  const std::string path = MakeTinyModel(dir, "m");
  // A private /dev/null twin (char 1:3) in the temp dir, so a regression
  // replaces that node and not the system's.
  const std::string dev = dir / "null";
  if (::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) GTEST_SKIP() << "mknod not permitted here";
  try {
    ConvertModel(path, dev);
    ADD_FAILURE() << "convert to a character device succeeded";
  } catch (const std::exception& e) {
    Expect(e.what(), {"null", "character device"});
  }
  struct stat st {};
  ASSERT_EQ(::lstat(dev.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the device node was replaced";
  EXPECT_EQ(Leftovers(dir, "null").size(), 1u);
}

TEST(BadInputTest, SynthRefusesSideFileThatIsAFifo) {
  TempDir dir;
  const std::string out = dir / "s";
  std::filesystem::create_directory(out);
  const std::string fifo = out + "/config.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  SynthOptions o;
  o.preset = "tiny";
  o.vocab = 512;
  try {
    WriteSyntheticModel(out, o);
    ADD_FAILURE() << "synth over a FIFO succeeded";
  } catch (const std::exception& e) {
    Expect(e.what(), {"config.json", "FIFO"});
  }
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

}  // namespace
}  // namespace bitnet::testing
