// Writer -> reader round trips, and a reader that rejects every malformed file
// with an Error naming the file and the problem.
#include "formats/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "formats/ggml_types.h"
#include "util/error.h"

namespace bitnet::gguf {
namespace {

namespace fs = std::filesystem;

class GgufTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("gguf_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Builds GGUF bytes by hand, independently of the Writer.
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& U8(uint8_t v) { b.push_back(v); return *this; }
  Bytes& U32(uint32_t v) { return Raw(&v, 4); }
  Bytes& U64(uint64_t v) { return Raw(&v, 8); }
  Bytes& Str(const std::string& s) { U64(s.size()); return Raw(s.data(), s.size()); }
  Bytes& Raw(const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    b.insert(b.end(), c, c + n);
    return *this;
  }
  Bytes& Header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    Raw("GGUF", 4);
    return U32(version).U64(n_tensors).U64(n_kv);
  }
  Bytes& KvU32(const std::string& key, uint32_t v) { return Str(key).U32(4).U32(v); }
  Bytes& Tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) U64(d);
    return U32(type).U64(offset);
  }
  Bytes& PadTo(size_t alignment) {
    while (b.size() % alignment) b.push_back(0);
    return *this;
  }
};

// Opens bytes written to a file and expects an Error naming the file and `what`.
void ExpectRejected(const std::string& path, const std::vector<uint8_t>& bytes, const std::string& what) {
  WriteAll(path, bytes);
  try {
    File::Open(path);
    ADD_FAILURE() << "accepted a file that should fail with '" << what << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

Value Scalar(ValueType t, Value::Data d) {
  Value v;
  v.type = t;
  v.data = std::move(d);
  return v;
}

Value Array(ValueType elem, Value::Data d) {
  Value v;
  v.type = ValueType::kArray;
  v.array_type = elem;
  v.data = std::move(d);
  return v;
}

bool SameValue(const Value& a, const Value& b) {
  return a.type == b.type && (a.type != ValueType::kArray || a.array_type == b.array_type) && a.data == b.data;
}

std::vector<std::pair<std::string, Value>> EveryValueType() {
  using U = std::vector<uint64_t>;
  using I = std::vector<int64_t>;
  using D = std::vector<double>;
  return {
      {"t.u8", Scalar(ValueType::kUint8, uint64_t{200})},
      {"t.i8", Scalar(ValueType::kInt8, int64_t{-100})},
      {"t.u16", Scalar(ValueType::kUint16, uint64_t{60000})},
      {"t.i16", Scalar(ValueType::kInt16, int64_t{-30000})},
      {"t.u32", Scalar(ValueType::kUint32, uint64_t{4000000000u})},
      {"t.i32", Scalar(ValueType::kInt32, int64_t{-2000000000})},
      {"t.f32", Scalar(ValueType::kFloat32, 1.5)},
      {"t.bool", Scalar(ValueType::kBool, true)},
      {"t.str", Scalar(ValueType::kString, std::string("h\xc3\xa9llo, \"world\"\n"))},
      {"t.u64", Scalar(ValueType::kUint64, (uint64_t{1} << 63) + 5)},
      {"t.i64", Scalar(ValueType::kInt64, -(int64_t{1} << 62))},
      {"t.f64", Scalar(ValueType::kFloat64, 1e300)},
      {"a.u8", Array(ValueType::kUint8, U{0, 1, 255})},
      {"a.i8", Array(ValueType::kInt8, I{-128, 0, 127})},
      {"a.u16", Array(ValueType::kUint16, U{65535, 7})},
      {"a.i16", Array(ValueType::kInt16, I{-32768, 32767})},
      {"a.u32", Array(ValueType::kUint32, U{0xffffffffu})},
      {"a.i32", Array(ValueType::kInt32, I{-5, 6, -7})},
      {"a.f32", Array(ValueType::kFloat32, D{0.25, -3.5})},
      {"a.bool", Array(ValueType::kBool, std::vector<bool>{true, false, true})},
      {"a.str", Array(ValueType::kString, std::vector<std::string>{"", "a", "bc"})},
      {"a.u64", Array(ValueType::kUint64, U{std::numeric_limits<uint64_t>::max()})},
      {"a.i64", Array(ValueType::kInt64, I{std::numeric_limits<int64_t>::min()})},
      {"a.f64", Array(ValueType::kFloat64, D{-1e-300, 2.0})},
      {"a.empty", Array(ValueType::kInt32, I{})},
  };
}

TEST_F(GgufTest, RoundTripsEveryValueType) {
  Writer w;
  const auto values = EveryValueType();
  for (const auto& [k, v] : values) w.SetValue(k, v);
  w.SetString("c.string", "bitnet-25");
  w.SetUint32("c.u32", 7);
  w.SetInt32("c.i32", -7);
  w.SetUint64("c.u64", 1ull << 40);
  w.SetFloat32("c.f32", 0.1f);
  w.SetBool("c.bool", false);
  w.SetStringArray("c.strs", {"x", "yz"});
  w.SetInt32Array("c.ints", {1, -2, 3});
  w.SetFloat32Array("c.floats", {0.5f, -0.125f});
  const std::string path = Path("values.gguf");
  w.Write(path);

  auto f = File::Open(path);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_FALSE(f->Has("general.alignment"));
  ASSERT_EQ(f->metadata().size(), values.size() + 9);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, values[i].first);
    EXPECT_TRUE(SameValue(f->metadata()[i].second, values[i].second)) << values[i].first;
  }
  EXPECT_EQ(f->metadata()[values.size()].first, "c.string");  // insertion order
  EXPECT_EQ(f->GetString("c.string"), "bitnet-25");
  EXPECT_EQ(f->GetUint("c.u32"), 7u);
  EXPECT_EQ(f->GetInt("c.i32"), -7);
  EXPECT_EQ(f->GetUint("c.u64"), 1ull << 40);
  EXPECT_EQ(f->GetFloat("c.f32"), static_cast<double>(0.1f));
  EXPECT_FALSE(f->GetBool("c.bool"));
  EXPECT_EQ(f->GetStringArray("c.strs"), (std::vector<std::string>{"x", "yz"}));
  EXPECT_EQ(f->GetIntArray("c.ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f->GetFloatArray("c.floats"), (std::vector<double>{0.5, -0.125}));
  // Integer getters accept any integer type whose value fits.
  EXPECT_EQ(f->GetUint("t.u8"), 200u);
  EXPECT_EQ(f->GetInt("t.u16"), 60000);
  EXPECT_EQ(f->GetInt("t.i8"), -100);
  EXPECT_EQ(f->GetFloat("t.i32"), -2000000000.0);
  EXPECT_EQ(f->GetFloat("t.f64"), 1e300);
  EXPECT_EQ(f->GetIntArray("a.u16"), (std::vector<int64_t>{65535, 7}));
  EXPECT_EQ(f->GetFloatArray("a.i8"), (std::vector<double>{-128, 0, 127}));
  EXPECT_TRUE(f->GetIntArray("a.empty").empty());
}

TEST_F(GgufTest, TypedGettersNameTheProblem) {
  Writer w;
  for (const auto& [k, v] : EveryValueType()) w.SetValue(k, v);
  const std::string path = Path("getters.gguf");
  w.Write(path);
  auto f = File::Open(path);
  auto expect_error = [&](auto&& call, const std::string& what) {
    try {
      call();
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
    }
  };
  expect_error([&] { f->GetString("no.such.key"); }, "metadata 'no.such.key': missing");
  expect_error([&] { f->GetString("t.u32"); }, "metadata 't.u32': expected string, found uint32");
  expect_error([&] { f->GetUint("t.i8"); }, "metadata 't.i8'");            // negative
  expect_error([&] { f->GetInt("t.u64"); }, "metadata 't.u64'");           // > INT64_MAX
  expect_error([&] { f->GetUint("t.str"); }, "found string");
  expect_error([&] { f->GetFloat("t.bool"); }, "expected float, found bool");
  expect_error([&] { f->GetBool("t.u8"); }, "expected bool, found uint8");
  expect_error([&] { f->GetStringArray("a.i32"); }, "found array[int32]");
  expect_error([&] { f->GetIntArray("a.f32"); }, "found array[float32]");
  expect_error([&] { f->GetIntArray("a.u64"); }, "does not fit int64");
  expect_error([&] { f->GetFloatArray("a.str"); }, "found array[string]");
  EXPECT_EQ(f->Find("t.u8")->type, ValueType::kUint8);
  EXPECT_EQ(f->Find("nope"), nullptr);
}

TEST_F(GgufTest, SettingAKeyTwiceReplacesItInPlace) {
  Writer w;
  w.SetUint32("a", 1);
  w.SetString("b", "x");
  w.SetInt32("a", -4);
  const std::string path = Path("replace.gguf");
  w.Write(path);
  auto f = File::Open(path);
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].first, "a");
  EXPECT_EQ(f->GetInt("a"), -4);
  EXPECT_EQ(f->Find("a")->type, ValueType::kInt32);
}

struct TestTensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type;
  std::vector<uint8_t> bytes;
};

std::vector<TestTensor> SeveralTensors() {
  std::vector<TestTensor> out;
  auto add = [&](std::string name, std::vector<uint64_t> dims, uint32_t type) {
    std::vector<uint8_t> bytes(GgmlTensorBytes(type, dims));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + out.size());
    out.push_back({std::move(name), std::move(dims), type, std::move(bytes)});
  };
  add("token_embd.weight", {4, 3}, kGgmlF32);
  add("f16", {9}, kGgmlF16);  // 18 bytes: the next offset needs padding
  add("q8", {64, 2}, kGgmlQ8_0);
  add("blk.0.attn_q.weight", {256, 2}, kGgmlTQ2_0);
  add("i2s", {128, 3}, kGgmlI2_S);
  add("t2", {130, 2}, kGgmlBitnetT2);
  add("bf16", {2, 2, 2, 2}, kGgmlBF16);
  return out;
}

void CheckTensors(const File& f, const std::vector<TestTensor>& want) {
  ASSERT_EQ(f.tensors().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const TensorInfo& t = f.tensors()[i];
    EXPECT_EQ(t.name, want[i].name);
    EXPECT_EQ(t.dims, want[i].dims);
    EXPECT_EQ(t.type, want[i].type);
    EXPECT_EQ(t.size_bytes, want[i].bytes.size());
    EXPECT_EQ(t.offset % f.alignment(), 0u) << t.name;
    EXPECT_EQ((f.data_offset() + t.offset) % f.alignment(), 0u) << t.name;
    ASSERT_NE(t.data, nullptr);
    EXPECT_EQ(std::vector<uint8_t>(t.data, t.data + t.size_bytes), want[i].bytes) << t.name;
    EXPECT_EQ(f.FindTensor(want[i].name), &t);
  }
  EXPECT_EQ(f.FindTensor("missing"), nullptr);
}

TEST_F(GgufTest, RoundTripsTensorsOfSeveralTypes) {
  const auto tensors = SeveralTensors();
  Writer w;
  w.SetString("general.architecture", "bitnet-25");
  for (const auto& t : tensors) w.AddTensor(t.name, t.dims, t.type, t.bytes.data(), t.bytes.size());
  const std::string path = Path("tensors.gguf");
  w.Write(path);
  auto f = File::Open(path);
  CheckTensors(*f, tensors);
  EXPECT_EQ(f->tensors()[0].n_elements(), 12u);
  EXPECT_EQ(f->tensors()[6].n_elements(), 16u);
}

TEST_F(GgufTest, HonoursACustomAlignment) {
  const auto tensors = SeveralTensors();
  Writer w;
  w.SetUint32("general.alignment", 64);
  for (const auto& t : tensors) w.AddTensor(t.name, t.dims, t.type, t.bytes.data(), t.bytes.size());
  const std::string path = Path("align64.gguf");
  w.Write(path);
  auto f = File::Open(path);
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->GetUint("general.alignment"), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  CheckTensors(*f, tensors);
  bool some_offset_not_64_aligned_at_32 = false;  // the layout really differs from alignment 32
  for (const auto& t : f->tensors()) some_offset_not_64_aligned_at_32 |= (t.offset % 64 == 0 && t.offset % 128 != 0);
  EXPECT_TRUE(some_offset_not_64_aligned_at_32);

  Writer w32;
  w32.SetUint32("general.alignment", 32);
  w32.Write(Path("align32.gguf"));
  EXPECT_FALSE(File::Open(Path("align32.gguf"))->Has("general.alignment"));

  Writer bad;
  bad.SetUint32("general.alignment", 48);
  EXPECT_THROW(bad.Write(Path("align48.gguf")), Error);
  EXPECT_FALSE(fs::exists(Path("align48.gguf")));  // atomic: nothing left behind
}

TEST_F(GgufTest, WriteIsDeterministic) {
  const auto tensors = SeveralTensors();
  auto write = [&](const std::string& path) {
    Writer w;
    for (const auto& [k, v] : EveryValueType()) w.SetValue(k, v);
    for (const auto& t : tensors) w.AddTensor(t.name, t.dims, t.type, t.bytes.data(), t.bytes.size());
    w.Write(path);
  };
  write(Path("a.gguf"));
  write(Path("b.gguf"));
  const auto a = ReadAll(Path("a.gguf"));
  EXPECT_GT(a.size(), 0u);
  EXPECT_EQ(a, ReadAll(Path("b.gguf")));
  for (const auto& entry : fs::directory_iterator(dir_))  // no temporaries left over
    EXPECT_EQ(entry.path().extension(), ".gguf") << entry.path();
}

TEST_F(GgufTest, WriterRejectsBadInput) {
  Writer w;
  std::vector<uint8_t> bytes(64);
  EXPECT_THROW(w.AddTensor("x", {16}, kGgmlF32, bytes.data(), 60), Error);  // size mismatch
  EXPECT_THROW(w.AddTensor("x", {48}, kGgmlQ8_0, bytes.data(), 54), Error); // not whole blocks
  EXPECT_THROW(w.AddTensor("x", {4}, 777, bytes.data(), 4), Error);         // unknown, not raw
  EXPECT_THROW(w.AddTensor("x", {1, 1, 1, 1, 1}, kGgmlF32, bytes.data(), 4), Error);
  w.AddTensor("x", {16}, kGgmlF32, bytes.data(), 64);
  EXPECT_THROW(w.AddTensor("x", {16}, kGgmlF32, bytes.data(), 64), Error);  // duplicate
  EXPECT_THROW(w.SetValue("k", Scalar(ValueType::kUint8, uint64_t{256})), Error);
  EXPECT_THROW(w.SetValue("k", Scalar(ValueType::kInt16, int64_t{40000})), Error);
  EXPECT_THROW(w.SetValue("k", Scalar(ValueType::kUint32, int64_t{1})), Error);
  EXPECT_THROW(w.SetValue("k", Scalar(ValueType::kArray, uint64_t{1})), Error);
  EXPECT_THROW(w.SetValue("k", Array(ValueType::kArray, std::vector<uint64_t>{})), Error);
  EXPECT_THROW(w.SetValue("k", Array(ValueType::kInt8, std::vector<int64_t>{1, 300})), Error);
  EXPECT_THROW(w.Write(Path("no/such/dir/x.gguf")), Error);
}

TEST_F(GgufTest, UnknownTensorTypeLoadsWithoutData) {
  std::vector<uint8_t> raw(40, 0xAB), f32(64, 0x11);
  Writer w;
  w.AllowRawType(777);
  w.AddTensor("future", {10}, 777, raw.data(), raw.size());
  w.AddTensor("known", {16}, kGgmlF32, f32.data(), f32.size());
  const std::string path = Path("unknown.gguf");
  w.Write(path);
  auto f = File::Open(path);
  const TensorInfo* t = f->FindTensor("future");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, 777u);
  EXPECT_EQ(t->data, nullptr);
  EXPECT_EQ(t->size_bytes, 0u);
  EXPECT_EQ(t->n_elements(), 10u);
  const TensorInfo* k = f->FindTensor("known");
  ASSERT_NE(k, nullptr);
  ASSERT_NE(k->data, nullptr);
  EXPECT_EQ(k->offset, 64u);  // 40 bytes padded to 64
  EXPECT_EQ(std::vector<uint8_t>(k->data, k->data + 64), f32);
}

TEST_F(GgufTest, ReadsVersion2AndFromBytes) {
  Bytes b;
  b.Header(2, 1, 1).KvU32("general.quantization_version", 2).Tensor("w", {8}, kGgmlF32, 0).PadTo(32);
  for (int i = 0; i < 8; ++i) {
    const float v = static_cast<float>(i) * 0.5f;
    b.Raw(&v, 4);
  }
  WriteAll(Path("v2.gguf"), b.b);
  auto f = File::Open(Path("v2.gguf"));
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->GetUint("general.quantization_version"), 2u);
  ASSERT_EQ(f->tensors().size(), 1u);
  float last;
  std::memcpy(&last, f->tensors()[0].data + 28, 4);
  EXPECT_EQ(last, 3.5f);
  auto m = File::FromBytes(b.b, "in-memory");
  EXPECT_EQ(m->path(), "in-memory");
  EXPECT_EQ(m->tensors()[0].size_bytes, 32u);
}

// ---------------------------------------------------------------- rejection

TEST_F(GgufTest, RejectsBadMagic) {
  Bytes b;
  b.Header(3, 0, 0);
  b.b[3] = 'X';
  ExpectRejected(Path("magic.gguf"), b.b, "bad magic");
}

TEST_F(GgufTest, RejectsVersions1And4) {
  ExpectRejected(Path("v1.gguf"), Bytes().Header(1, 0, 0).b, "version 1");
  ExpectRejected(Path("v4.gguf"), Bytes().Header(4, 0, 0).b, "version 4");
  ExpectRejected(Path("be.gguf"), Bytes().Header(3u << 24, 0, 0).b, "big-endian");
}

TEST_F(GgufTest, RejectsEveryTruncation) {
  Writer w;
  w.SetString("general.architecture", "bitnet-25");
  w.SetStringArray("tokenizer.ggml.tokens", {"a", "bc", "def"});
  w.SetFloat32Array("f", {1.0f, 2.0f});
  w.SetBool("b", true);
  std::vector<uint8_t> q8(GgmlTensorBytes(kGgmlQ8_0, {32})), f32(64, 1);
  w.AddTensor("q8", {32}, kGgmlQ8_0, q8.data(), q8.size());
  w.AddTensor("last", {16}, kGgmlF32, f32.data(), f32.size());  // 64 bytes: the file ends with no padding
  const std::string full_path = Path("full.gguf");
  w.Write(full_path);
  const auto full = ReadAll(full_path);
  ASSERT_NO_THROW(File::Open(full_path));
  const std::string path = Path("cut.gguf");
  for (size_t cut = 0; cut < full.size(); ++cut) {
    WriteAll(path, std::vector<uint8_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut)));
    try {
      File::Open(path);
      ADD_FAILURE() << "accepted a file cut to " << cut << " of " << full.size() << " bytes";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

TEST_F(GgufTest, RejectsOverlongStringLength) {
  Bytes b;
  b.Header(3, 0, 1).U64(1ull << 40).Raw("key", 3).U64(0).U64(0);
  ExpectRejected(Path("str.gguf"), b.b, "truncated: metadata key #0");
}

TEST_F(GgufTest, RejectsOverlongArrayCountFast) {
  Bytes b;
  b.Header(3, 0, 1).Str("big").U32(9).U32(4).U64(1ull << 60).U32(1).U32(2);
  ExpectRejected(Path("array.gguf"), b.b, "array length 1152921504606846976 overruns the file");
  Bytes s;
  s.Header(3, 0, 1).Str("strs").U32(9).U32(8).U64(1ull << 60).Str("x");
  ExpectRejected(Path("strarray.gguf"), s.b, "overruns the file");
}

TEST_F(GgufTest, RejectsHugeCounts) {
  ExpectRejected(Path("kv.gguf"), Bytes().Header(3, 0, 1ull << 62).KvU32("a", 1).b, "metadata count");
  ExpectRejected(Path("nt.gguf"), Bytes().Header(3, 1ull << 62, 0).Tensor("a", {1}, 0, 0).b, "tensor count");
}

TEST_F(GgufTest, RejectsTensorOffsetBeyondTheFile) {
  Bytes b;
  b.Header(3, 1, 0).Tensor("w", {8}, kGgmlF32, 1024).PadTo(32);
  b.b.resize(b.b.size() + 32, 0);
  ExpectRejected(Path("off.gguf"), b.b, "tensor 'w': data offset 1024 is beyond the end of the file");
  Bytes c;  // offset inside, data running past the end
  c.Header(3, 1, 0).Tensor("w", {8}, kGgmlF32, 0).PadTo(32);
  c.b.resize(c.b.size() + 16, 0);
  ExpectRejected(Path("short.gguf"), c.b, "tensor 'w': data [0, +32) extends beyond the end of the file");
}

TEST_F(GgufTest, RejectsMisalignedTensorOffset) {
  Bytes b;
  b.Header(3, 1, 0).Tensor("w", {2}, kGgmlF32, 8).PadTo(32);
  b.b.resize(b.b.size() + 64, 0);
  ExpectRejected(Path("misaligned.gguf"), b.b, "tensor 'w': data offset 8 is not a multiple of the alignment 32");
}

TEST_F(GgufTest, RejectsTensorDimsOverflow) {
  Bytes b;
  b.Header(3, 1, 0).Tensor("w", {1ull << 32, 1ull << 32}, kGgmlF32, 0).PadTo(32);
  ExpectRejected(Path("dims.gguf"), b.b, "tensor 'w': dims overflow");
  Bytes c;  // fits int64 elements, but not bytes
  c.Header(3, 1, 0).Tensor("w", {1ull << 61}, kGgmlF32, 0).PadTo(32);
  ExpectRejected(Path("bytes.gguf"), c.b, "tensor 'w'");
  Bytes d;
  d.Header(3, 1, 0).Tensor("w", {1, 1, 1, 1, 1}, kGgmlF32, 0).PadTo(32);
  ExpectRejected(Path("ndims.gguf"), d.b, "5 dimensions");
}

TEST_F(GgufTest, RejectsBlockMisfitTensor) {
  Bytes b;
  b.Header(3, 1, 0).Tensor("q", {48}, kGgmlQ8_0, 0).PadTo(32);
  b.b.resize(b.b.size() + 128, 0);
  ExpectRejected(Path("block.gguf"), b.b, "tensor 'q': dims [48]");
}

TEST_F(GgufTest, RejectsDuplicates) {
  ExpectRejected(Path("dupkey.gguf"), Bytes().Header(3, 0, 2).KvU32("a", 1).KvU32("a", 2).b,
                 "metadata 'a': duplicate key");
  Bytes b;
  b.Header(3, 2, 0).Tensor("w", {8}, kGgmlF32, 0).Tensor("w", {8}, kGgmlF32, 32).PadTo(32);
  b.b.resize(b.b.size() + 64, 0);
  ExpectRejected(Path("duptensor.gguf"), b.b, "tensor 'w': duplicate tensor name");
}

TEST_F(GgufTest, RejectsMalformedValues) {
  ExpectRejected(Path("type.gguf"), Bytes().Header(3, 0, 1).Str("k").U32(13).U32(0).b, "unknown value type 13");
  ExpectRejected(Path("bool.gguf"), Bytes().Header(3, 0, 1).Str("k").U32(7).U8(2).U64(0).U32(0).b,
                 "bool byte is 2");
  ExpectRejected(Path("nested.gguf"), Bytes().Header(3, 0, 1).Str("k").U32(9).U32(9).U64(0).U32(0).b,
                 "nested arrays");
  ExpectRejected(Path("align.gguf"), Bytes().Header(3, 0, 1).KvU32("general.alignment", 48).U64(0).b,
                 "not a power of two");
  ExpectRejected(Path("align0.gguf"), Bytes().Header(3, 0, 1).KvU32("general.alignment", 0).U64(0).b,
                 "not a power of two");
}

}  // namespace
}  // namespace bitnet::gguf
