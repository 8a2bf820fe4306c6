// GGUF (v2/v3) reader over a memory map, and a deterministic, atomic writer.
// Format: ggml's docs/gguf.md. The reader treats every byte as untrusted: each
// count, length, dimension, offset and size is checked against the bytes that
// remain before it is used, so a hostile file is an Error, never a crash.
#pragma once
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace bitnet {
class MappedFile;
}

namespace bitnet::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

// "uint8", ..., "float64"; "unknown(N)" otherwise.
const char* ValueTypeName(ValueType type);

// One metadata value. Scalars and array elements are widened: unsigned integers
// to uint64_t, signed to int64_t, floats to double; type/array_type keep the
// width they have in the file. Nested arrays are not supported.
struct Value {
  using Data = std::variant<uint64_t, int64_t, double, bool, std::string, std::vector<uint64_t>,
                            std::vector<int64_t>, std::vector<double>, std::vector<bool>, std::vector<std::string>>;
  ValueType type = ValueType::kUint32;
  ValueType array_type = ValueType::kUint8;  // valid when type == kArray
  Data data;

  // "uint32", "array[string]", ...
  std::string TypeName() const;
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // GGUF order: dims[0] is the innermost (contiguous) dimension
  uint32_t type = 0;           // ggml type id (may be one this build does not know)
  uint64_t offset = 0;         // relative to the data section
  uint64_t size_bytes = 0;     // from ggml_types; 0 if type unknown
  const uint8_t* data = nullptr;  // into the file; nullptr if type unknown
  uint64_t n_elements() const;
};

class File {
 public:
  // Opens and fully validates a GGUF file; throws Error naming the path and the
  // problem. Unknown tensor types are not an error (their data is nullptr).
  static std::unique_ptr<File> Open(const std::string& path);
  // The same over bytes in memory (fuzzing, tests); `name` stands in for the path.
  static std::unique_ptr<File> FromBytes(std::vector<uint8_t> bytes, const std::string& name);

  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the data section in the file

  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // Typed getters: throw Error("<path>: metadata '<key>': missing" / "expected <type>, found <type>").
  // Integer getters accept any integer type whose value fits; GetFloat accepts
  // float32/float64 and integers.
  std::string GetString(std::string_view key) const;
  uint64_t GetUint(std::string_view key) const;
  int64_t GetInt(std::string_view key) const;
  double GetFloat(std::string_view key) const;
  bool GetBool(std::string_view key) const;
  std::vector<std::string> GetStringArray(std::string_view key) const;
  std::vector<int64_t> GetIntArray(std::string_view key) const;
  std::vector<double> GetFloatArray(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // The memory map behind tensor data (null for FromBytes).
  const MappedFile* mapped() const { return mapped_.get(); }
  const TensorInfo* FindTensor(std::string_view name) const;

 private:
  File() = default;
  void Parse();
  const Value& Require(std::string_view key) const;
  [[noreturn]] void TypeError(std::string_view key, const std::string& expected, const Value& v) const;

  std::string path_;
  std::unique_ptr<MappedFile> mapped_;
  std::vector<uint8_t> owned_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::unordered_map<std::string_view, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

class Writer {
 public:
  void SetString(const std::string& key, const std::string& v);
  void SetUint32(const std::string& key, uint32_t v);
  void SetInt32(const std::string& key, int32_t v);
  void SetUint64(const std::string& key, uint64_t v);
  void SetFloat32(const std::string& key, float v);
  void SetBool(const std::string& key, bool v);
  void SetStringArray(const std::string& key, const std::vector<std::string>& v);
  void SetInt32Array(const std::string& key, const std::vector<int32_t>& v);
  void SetFloat32Array(const std::string& key, const std::vector<float>& v);
  // Any value the reader returns (every scalar and array element type). Checked
  // here: the variant must match the type and integers must fit their width.
  void SetValue(const std::string& key, const Value& v);
  // Keys are written in insertion order; setting a key twice replaces the value.

  // Lets AddTensor take a type id that ggml_types does not know, with any size
  // (the bytes are copied through unchecked).
  void AllowRawType(uint32_t type);

  // dims in GGUF order (innermost first). data must stay valid until Write. size
  // must equal GgmlTensorBytes(type, dims) unless the type was allowed as raw.
  void AddTensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, const void* data,
                 uint64_t size_bytes);

  // GGUF v3. Alignment is 32 unless "general.alignment" was set (a uint32 power
  // of two); that key is written only if it is not 32. Tensors in insertion order,
  // each data offset aligned, zero padding. Same inputs -> identical bytes.
  // Atomic: a failure never leaves a partial file at path.
  void Write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    const void* data;
    uint64_t size_bytes;
  };
  void Put(const std::string& key, Value v);

  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
  std::set<uint32_t> raw_types_;
};

}  // namespace bitnet::gguf
