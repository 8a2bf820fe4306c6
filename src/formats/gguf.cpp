#include "formats/gguf.h"

#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>
#include <unordered_set>

#include "formats/ggml_types.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace bitnet::gguf {

static_assert(std::endian::native == std::endian::little, "GGUF is read and written in host byte order");

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
constexpr uint64_t kDefaultAlignment = 32;
constexpr char kAlignmentKey[] = "general.alignment";
// Fewest bytes one metadata pair / tensor info can occupy: used to reject absurd
// counts before looping over them.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;          // key length, value type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // name length, n_dims, type, offset

bool IsUnsigned(ValueType t) {
  return t == ValueType::kUint8 || t == ValueType::kUint16 || t == ValueType::kUint32 || t == ValueType::kUint64;
}
bool IsSigned(ValueType t) {
  return t == ValueType::kInt8 || t == ValueType::kInt16 || t == ValueType::kInt32 || t == ValueType::kInt64;
}
bool IsFloat(ValueType t) { return t == ValueType::kFloat32 || t == ValueType::kFloat64; }

// Bytes of one fixed-size value; 0 for string/array/unknown.
uint64_t FixedSize(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    default: return 0;
  }
}

bool KnownValueType(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

std::string DimsString(const std::vector<uint64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// Smallest multiple of alignment (a power of two) >= x; false on overflow.
bool AlignUp(uint64_t x, uint64_t alignment, uint64_t* out) {
  const uint64_t mask = alignment - 1;
  if (x > std::numeric_limits<uint64_t>::max() - mask) return false;
  *out = (x + mask) & ~mask;
  return true;
}

bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// A bounds-checked little-endian cursor over untrusted bytes.
class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  void Need(uint64_t n, const std::string& what) const {
    if (n > remaining())
      throw Error(path_ + ": truncated: " + what + " at offset " + std::to_string(pos_) + " needs " +
                  std::to_string(n) + " bytes, only " + std::to_string(remaining()) + " remain");
  }

  template <typename T>
  T Read(const std::string& what) {
    static_assert(std::is_trivially_copyable_v<T>);
    Need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string ReadString(const std::string& what) {
    const uint64_t len = Read<uint64_t>(what + " length");
    Need(len, what + " (" + std::to_string(len) + " bytes)");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

// Reads one scalar of type t (not string/array) widened into the Value variant.
Value::Data ReadScalar(Cursor& c, ValueType t, const std::string& what) {
  switch (t) {
    case ValueType::kUint8: return static_cast<uint64_t>(c.Read<uint8_t>(what));
    case ValueType::kInt8: return static_cast<int64_t>(c.Read<int8_t>(what));
    case ValueType::kUint16: return static_cast<uint64_t>(c.Read<uint16_t>(what));
    case ValueType::kInt16: return static_cast<int64_t>(c.Read<int16_t>(what));
    case ValueType::kUint32: return static_cast<uint64_t>(c.Read<uint32_t>(what));
    case ValueType::kInt32: return static_cast<int64_t>(c.Read<int32_t>(what));
    case ValueType::kUint64: return c.Read<uint64_t>(what);
    case ValueType::kInt64: return c.Read<int64_t>(what);
    case ValueType::kFloat32: return static_cast<double>(c.Read<float>(what));
    case ValueType::kFloat64: return c.Read<double>(what);
    default: break;
  }
  throw Error("internal: ReadScalar on a non-scalar type");
}

template <typename Elem>
std::vector<Elem> ReadScalarArray(Cursor& c, ValueType t, uint64_t count, const std::string& what) {
  std::vector<Elem> out;
  out.reserve(static_cast<size_t>(count));  // count already checked against the bytes left
  for (uint64_t i = 0; i < count; ++i) out.push_back(std::get<Elem>(ReadScalar(c, t, what)));
  return out;
}

}  // namespace

const char* ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "unknown";
}

std::string Value::TypeName() const {
  if (type == ValueType::kArray) return std::string("array[") + ValueTypeName(array_type) + "]";
  return ValueTypeName(type);
}

uint64_t TensorInfo::n_elements() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;  // the reader rejects dims whose product overflows
  return n;
}

// ---------------------------------------------------------------- reading

File::~File() = default;

std::unique_ptr<File> File::Open(const std::string& path) {
  std::unique_ptr<File> f(new File());
  f->path_ = path;
  f->mapped_ = std::make_unique<MappedFile>(path);
  f->base_ = f->mapped_->data();
  f->size_ = f->mapped_->size();
  f->Parse();
  return f;
}

std::unique_ptr<File> File::FromBytes(std::vector<uint8_t> bytes, const std::string& name) {
  std::unique_ptr<File> f(new File());
  f->path_ = name;
  f->owned_ = std::move(bytes);
  f->base_ = f->owned_.data();
  f->size_ = f->owned_.size();
  f->Parse();
  return f;
}

void File::Parse() {
  Cursor c(base_, size_, path_);
  c.Need(4, "magic");
  if (std::memcmp(base_, kMagic, 4) != 0) throw Error(path_ + ": bad magic: not a GGUF file");
  c.Read<uint32_t>("magic");
  version_ = c.Read<uint32_t>("version");
  if (version_ == 1) throw Error(path_ + ": GGUF version 1 is not supported (only 2 and 3)");
  if (version_ == (2u << 24) || version_ == (3u << 24))
    throw Error(path_ + ": big-endian GGUF files are not supported");
  if (version_ != 2 && version_ != 3)
    throw Error(path_ + ": unsupported GGUF version " + std::to_string(version_) + " (only 2 and 3)");

  const uint64_t n_tensors = c.Read<uint64_t>("tensor count");
  const uint64_t n_kv = c.Read<uint64_t>("metadata count");
  if (n_kv > c.remaining() / kMinKvBytes)
    throw Error(path_ + ": metadata count " + std::to_string(n_kv) + " is more than the file can hold");
  if (n_tensors > c.remaining() / kMinTensorInfoBytes)
    throw Error(path_ + ": tensor count " + std::to_string(n_tensors) + " is more than the file can hold");

  std::unordered_set<std::string> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.ReadString("metadata key #" + std::to_string(i));
    const std::string where = "metadata '" + Printable(key) + "'";
    if (!keys.insert(key).second) throw Error(path_ + ": " + where + ": duplicate key");
    const uint32_t raw_type = c.Read<uint32_t>(where + " type");
    if (!KnownValueType(raw_type))
      throw Error(path_ + ": " + where + ": unknown value type " + std::to_string(raw_type));
    Value v;
    v.type = static_cast<ValueType>(raw_type);
    if (v.type == ValueType::kString) {
      v.data = c.ReadString(where);
    } else if (v.type == ValueType::kBool) {
      const uint8_t b = c.Read<uint8_t>(where);
      if (b > 1) throw Error(path_ + ": " + where + ": bool byte is " + std::to_string(b) + ", not 0 or 1");
      v.data = b == 1;
    } else if (v.type != ValueType::kArray) {
      v.data = ReadScalar(c, v.type, where);
    } else {
      const uint32_t raw_elem = c.Read<uint32_t>(where + " array type");
      if (!KnownValueType(raw_elem))
        throw Error(path_ + ": " + where + ": unknown array element type " + std::to_string(raw_elem));
      v.array_type = static_cast<ValueType>(raw_elem);
      if (v.array_type == ValueType::kArray) throw Error(path_ + ": " + where + ": nested arrays are not supported");
      const uint64_t count = c.Read<uint64_t>(where + " array length");
      const uint64_t min_elem = v.array_type == ValueType::kString ? 8 : FixedSize(v.array_type);
      if (count > c.remaining() / min_elem)
        throw Error(path_ + ": " + where + ": array length " + std::to_string(count) + " overruns the file (" +
                    std::to_string(c.remaining()) + " bytes remain)");
      const std::string elem_what = where + " array element";
      if (v.array_type == ValueType::kString) {
        std::vector<std::string> a;
        a.reserve(static_cast<size_t>(count));
        for (uint64_t k = 0; k < count; ++k) a.push_back(c.ReadString(elem_what));
        v.data = std::move(a);
      } else if (v.array_type == ValueType::kBool) {
        std::vector<bool> a;
        a.reserve(static_cast<size_t>(count));
        for (uint64_t k = 0; k < count; ++k) {
          const uint8_t b = c.Read<uint8_t>(elem_what);
          if (b > 1) throw Error(path_ + ": " + where + ": bool element " + std::to_string(k) + " is " + std::to_string(b));
          a.push_back(b == 1);
        }
        v.data = std::move(a);
      } else if (IsUnsigned(v.array_type)) {
        v.data = ReadScalarArray<uint64_t>(c, v.array_type, count, elem_what);
      } else if (IsSigned(v.array_type)) {
        v.data = ReadScalarArray<int64_t>(c, v.array_type, count, elem_what);
      } else {
        v.data = ReadScalarArray<double>(c, v.array_type, count, elem_what);
      }
    }
    metadata_.emplace_back(std::move(key), std::move(v));
  }
  // The index holds views into metadata_, so it is built once the vector stops growing.
  for (size_t i = 0; i < metadata_.size(); ++i) metadata_index_.emplace(metadata_[i].first, i);

  if (Has(kAlignmentKey)) {
    const Value& a = *Find(kAlignmentKey);
    if (!IsUnsigned(a.type) && !IsSigned(a.type)) TypeError(kAlignmentKey, "an integer", a);
    const uint64_t value = GetUint(kAlignmentKey);
    if (!IsPowerOfTwo(value))
      throw Error(path_ + ": metadata '" + kAlignmentKey + "': " + std::to_string(value) + " is not a power of two");
    alignment_ = value;
  }

  std::unordered_set<std::string> names;
  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    t.name = c.ReadString("tensor #" + std::to_string(i) + " name");
    const std::string where = path_ + ": tensor '" + Printable(t.name) + "'";
    if (!names.insert(t.name).second) throw Error(where + ": duplicate tensor name");
    const uint32_t n_dims = c.Read<uint32_t>("tensor '" + Printable(t.name) + "' n_dims");
    if (n_dims > kMaxDims)
      throw Error(where + ": " + std::to_string(n_dims) + " dimensions, at most " + std::to_string(kMaxDims));
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = c.Read<uint64_t>("tensor '" + Printable(t.name) + "' dims");
      if (__builtin_mul_overflow(n, dim, &n) || n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw Error(where + ": dims overflow: the element count does not fit in int64");
      t.dims.push_back(dim);
    }
    t.type = c.Read<uint32_t>("tensor '" + Printable(t.name) + "' type");
    t.offset = c.Read<uint64_t>("tensor '" + Printable(t.name) + "' offset");
    tensors_.push_back(std::move(t));
  }

  if (!AlignUp(c.pos(), alignment_, &data_offset_)) throw Error(path_ + ": data section offset overflows");
  const uint64_t data_size = size_ > data_offset_ ? size_ - data_offset_ : 0;
  for (TensorInfo& t : tensors_) {
    const std::string where = path_ + ": tensor '" + Printable(t.name) + "'";
    if (t.offset % alignment_ != 0)
      throw Error(where + ": data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                  std::to_string(alignment_));
    if (t.offset > data_size)
      throw Error(where + ": data offset " + std::to_string(t.offset) + " is beyond the end of the file (data section holds " +
                  std::to_string(data_size) + " bytes)");
    if (!GgmlTypeKnown(t.type)) continue;  // the loader decides what to do with it
    try {
      t.size_bytes = GgmlTensorBytes(t.type, t.dims);
    } catch (const Error& e) {
      throw Error(where + ": dims " + DimsString(t.dims) + ": " + e.what());
    }
    if (t.size_bytes > data_size - t.offset)
      throw Error(where + ": data [" + std::to_string(t.offset) + ", +" + std::to_string(t.size_bytes) +
                  ") extends beyond the end of the file (data section holds " + std::to_string(data_size) +
                  " bytes; truncated?)");
    t.data = base_ + data_offset_ + t.offset;
  }
  for (size_t i = 0; i < tensors_.size(); ++i) tensor_index_.emplace(tensors_[i].name, i);
}

const Value* File::Find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* File::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const Value& File::Require(std::string_view key) const {
  const Value* v = Find(key);
  if (!v) throw Error(path_ + ": metadata '" + std::string(key) + "': missing");
  return *v;
}

void File::TypeError(std::string_view key, const std::string& expected, const Value& v) const {
  throw Error(path_ + ": metadata '" + std::string(key) + "': expected " + expected + ", found " + v.TypeName());
}

std::string File::GetString(std::string_view key) const {
  const Value& v = Require(key);
  if (v.type != ValueType::kString) TypeError(key, "string", v);
  return std::get<std::string>(v.data);
}

uint64_t File::GetUint(std::string_view key) const {
  const Value& v = Require(key);
  if (IsUnsigned(v.type)) return std::get<uint64_t>(v.data);
  if (IsSigned(v.type)) {
    const int64_t x = std::get<int64_t>(v.data);
    if (x < 0)
      throw Error(path_ + ": metadata '" + std::string(key) + "': expected unsigned integer, found " + v.TypeName() +
                  " " + std::to_string(x));
    return static_cast<uint64_t>(x);
  }
  TypeError(key, "unsigned integer", v);
}

int64_t File::GetInt(std::string_view key) const {
  const Value& v = Require(key);
  if (IsSigned(v.type)) return std::get<int64_t>(v.data);
  if (IsUnsigned(v.type)) {
    const uint64_t x = std::get<uint64_t>(v.data);
    if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw Error(path_ + ": metadata '" + std::string(key) + "': expected int64, found " + v.TypeName() + " " +
                  std::to_string(x) + " (too large)");
    return static_cast<int64_t>(x);
  }
  TypeError(key, "integer", v);
}

double File::GetFloat(std::string_view key) const {
  const Value& v = Require(key);
  if (IsFloat(v.type)) return std::get<double>(v.data);
  if (IsUnsigned(v.type)) return static_cast<double>(std::get<uint64_t>(v.data));
  if (IsSigned(v.type)) return static_cast<double>(std::get<int64_t>(v.data));
  TypeError(key, "float", v);
}

bool File::GetBool(std::string_view key) const {
  const Value& v = Require(key);
  if (v.type != ValueType::kBool) TypeError(key, "bool", v);
  return std::get<bool>(v.data);
}

std::vector<std::string> File::GetStringArray(std::string_view key) const {
  const Value& v = Require(key);
  if (v.type != ValueType::kArray || v.array_type != ValueType::kString) TypeError(key, "array[string]", v);
  return std::get<std::vector<std::string>>(v.data);
}

std::vector<int64_t> File::GetIntArray(std::string_view key) const {
  const Value& v = Require(key);
  if (v.type == ValueType::kArray && IsSigned(v.array_type)) return std::get<std::vector<int64_t>>(v.data);
  if (v.type == ValueType::kArray && IsUnsigned(v.array_type)) {
    const auto& a = std::get<std::vector<uint64_t>>(v.data);
    std::vector<int64_t> out;
    out.reserve(a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw Error(path_ + ": metadata '" + std::string(key) + "': element " + std::to_string(i) + " (" +
                    std::to_string(a[i]) + ") does not fit int64");
      out.push_back(static_cast<int64_t>(a[i]));
    }
    return out;
  }
  TypeError(key, "integer array", v);
}

std::vector<double> File::GetFloatArray(std::string_view key) const {
  const Value& v = Require(key);
  if (v.type == ValueType::kArray) {
    if (IsFloat(v.array_type)) return std::get<std::vector<double>>(v.data);
    if (IsSigned(v.array_type)) {
      const auto& a = std::get<std::vector<int64_t>>(v.data);
      return std::vector<double>(a.begin(), a.end());
    }
    if (IsUnsigned(v.array_type)) {
      const auto& a = std::get<std::vector<uint64_t>>(v.data);
      return std::vector<double>(a.begin(), a.end());
    }
  }
  TypeError(key, "float array", v);
}

// ---------------------------------------------------------------- writing

namespace {

class ByteSink {
 public:
  template <typename T>
  void Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void PutString(const std::string& s) {
    Put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

// True when x is representable in the scalar type t (an integer type).
bool FitsUnsigned(ValueType t, uint64_t x) {
  switch (t) {
    case ValueType::kUint8: return x <= 0xffu;
    case ValueType::kUint16: return x <= 0xffffu;
    case ValueType::kUint32: return x <= 0xffffffffu;
    default: return true;
  }
}
bool FitsSigned(ValueType t, int64_t x) {
  switch (t) {
    case ValueType::kInt8: return x >= -128 && x <= 127;
    case ValueType::kInt16: return x >= -32768 && x <= 32767;
    case ValueType::kInt32: return x >= std::numeric_limits<int32_t>::min() && x <= std::numeric_limits<int32_t>::max();
    default: return true;
  }
}

// Checks that a scalar of type t with this widened payload can be written.
template <typename Payload>
void CheckScalar(const std::string& where, ValueType t, const Payload& x) {
  if (IsUnsigned(t)) {
    if constexpr (std::is_same_v<Payload, uint64_t>) {
      if (!FitsUnsigned(t, x)) throw Error(where + ": " + std::to_string(x) + " does not fit " + ValueTypeName(t));
      return;
    }
  } else if (IsSigned(t)) {
    if constexpr (std::is_same_v<Payload, int64_t>) {
      if (!FitsSigned(t, x)) throw Error(where + ": " + std::to_string(x) + " does not fit " + ValueTypeName(t));
      return;
    }
  } else if (IsFloat(t)) {
    if constexpr (std::is_same_v<Payload, double>) return;
  } else if (t == ValueType::kBool) {
    if constexpr (std::is_same_v<Payload, bool>) return;
  } else if (t == ValueType::kString) {
    if constexpr (std::is_same_v<Payload, std::string>) return;
  }
  throw Error(where + ": value representation does not match type " + std::string(ValueTypeName(t)));
}

void CheckValue(const std::string& where, const Value& v) {
  if (v.type != ValueType::kArray) {
    if (!KnownValueType(static_cast<uint32_t>(v.type))) throw Error(where + ": unknown value type");
    std::visit(
        [&](const auto& x) {
          using X = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<X, uint64_t> || std::is_same_v<X, int64_t> || std::is_same_v<X, double> ||
                        std::is_same_v<X, bool> || std::is_same_v<X, std::string>) {
            CheckScalar(where, v.type, x);
          } else {
            throw Error(where + ": an array payload needs type kArray");
          }
        },
        v.data);
    return;
  }
  if (v.array_type == ValueType::kArray || !KnownValueType(static_cast<uint32_t>(v.array_type)))
    throw Error(where + ": unsupported array element type");
  std::visit(
      [&](const auto& a) {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, std::vector<uint64_t>> || std::is_same_v<A, std::vector<int64_t>> ||
                      std::is_same_v<A, std::vector<double>> || std::is_same_v<A, std::vector<bool>> ||
                      std::is_same_v<A, std::vector<std::string>>) {
          using E = typename A::value_type;
          if (a.empty()) {  // still check that the representation matches the element type
            CheckScalar(where, v.array_type, E{});
            return;
          }
          for (size_t i = 0; i < a.size(); ++i) CheckScalar(where + " element " + std::to_string(i), v.array_type, E(a[i]));
        } else {
          throw Error(where + ": type kArray needs an array payload");
        }
      },
      v.data);
}

void PutScalar(ByteSink& out, ValueType t, const Value::Data& d) {
  switch (t) {
    case ValueType::kUint8: out.Put(static_cast<uint8_t>(std::get<uint64_t>(d))); return;
    case ValueType::kUint16: out.Put(static_cast<uint16_t>(std::get<uint64_t>(d))); return;
    case ValueType::kUint32: out.Put(static_cast<uint32_t>(std::get<uint64_t>(d))); return;
    case ValueType::kUint64: out.Put(std::get<uint64_t>(d)); return;
    case ValueType::kInt8: out.Put(static_cast<int8_t>(std::get<int64_t>(d))); return;
    case ValueType::kInt16: out.Put(static_cast<int16_t>(std::get<int64_t>(d))); return;
    case ValueType::kInt32: out.Put(static_cast<int32_t>(std::get<int64_t>(d))); return;
    case ValueType::kInt64: out.Put(std::get<int64_t>(d)); return;
    case ValueType::kFloat32: out.Put(static_cast<float>(std::get<double>(d))); return;
    case ValueType::kFloat64: out.Put(std::get<double>(d)); return;
    case ValueType::kBool: out.Put(static_cast<uint8_t>(std::get<bool>(d) ? 1 : 0)); return;
    case ValueType::kString: out.PutString(std::get<std::string>(d)); return;
    case ValueType::kArray: break;
  }
  throw Error("internal: PutScalar on an array");
}

template <typename E>
void PutArray(ByteSink& out, ValueType t, const std::vector<E>& a) {
  out.Put<uint64_t>(a.size());
  for (size_t i = 0; i < a.size(); ++i) PutScalar(out, t, Value::Data(E(a[i])));
}

void PutValue(ByteSink& out, const Value& v) {
  if (v.type != ValueType::kArray) {
    PutScalar(out, v.type, v.data);
    return;
  }
  out.Put(static_cast<uint32_t>(v.array_type));
  std::visit(
      [&](const auto& a) {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, std::vector<uint64_t>> || std::is_same_v<A, std::vector<int64_t>> ||
                      std::is_same_v<A, std::vector<double>> || std::is_same_v<A, std::vector<bool>> ||
                      std::is_same_v<A, std::vector<std::string>>) {
          PutArray(out, v.array_type, a);
        }
      },
      v.data);
}

// Explicit alternatives: variant's converting constructor would be ambiguous
// between the widened integer types.
template <typename Wide, typename T>
Value Scalar(ValueType type, const T& x) {
  Value v;
  v.type = type;
  v.data.emplace<Wide>(static_cast<Wide>(x));
  return v;
}

template <typename T, typename Wide>
Value MakeArray(ValueType elem, const std::vector<T>& in) {
  Value v;
  v.type = ValueType::kArray;
  v.array_type = elem;
  v.data.emplace<std::vector<Wide>>(in.begin(), in.end());
  return v;
}

}  // namespace

void Writer::Put(const std::string& key, Value v) {
  for (auto& [k, old] : metadata_) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(v));
}

void Writer::SetString(const std::string& key, const std::string& v) { Put(key, Scalar<std::string>(ValueType::kString, v)); }
void Writer::SetUint32(const std::string& key, uint32_t v) { Put(key, Scalar<uint64_t>(ValueType::kUint32, v)); }
void Writer::SetInt32(const std::string& key, int32_t v) { Put(key, Scalar<int64_t>(ValueType::kInt32, v)); }
void Writer::SetUint64(const std::string& key, uint64_t v) { Put(key, Scalar<uint64_t>(ValueType::kUint64, v)); }
void Writer::SetFloat32(const std::string& key, float v) { Put(key, Scalar<double>(ValueType::kFloat32, v)); }
void Writer::SetBool(const std::string& key, bool v) { Put(key, Scalar<bool>(ValueType::kBool, v)); }
void Writer::SetStringArray(const std::string& key, const std::vector<std::string>& v) {
  Put(key, MakeArray<std::string, std::string>(ValueType::kString, v));
}
void Writer::SetInt32Array(const std::string& key, const std::vector<int32_t>& v) {
  Put(key, MakeArray<int32_t, int64_t>(ValueType::kInt32, v));
}
void Writer::SetFloat32Array(const std::string& key, const std::vector<float>& v) {
  Put(key, MakeArray<float, double>(ValueType::kFloat32, v));
}

void Writer::SetValue(const std::string& key, const Value& v) {
  CheckValue("gguf writer: metadata '" + key + "'", v);
  Put(key, v);
}

void Writer::AllowRawType(uint32_t type) { raw_types_.insert(type); }

void Writer::AddTensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, const void* data,
                       uint64_t size_bytes) {
  const std::string where = "gguf writer: tensor '" + name + "'";
  for (const PendingTensor& t : tensors_)
    if (t.name == name) throw Error(where + ": added twice");
  if (dims.size() > kMaxDims) throw Error(where + ": " + std::to_string(dims.size()) + " dimensions, at most 4");
  if (data == nullptr && size_bytes > 0) throw Error(where + ": no data");
  if (!raw_types_.count(type)) {
    uint64_t want;
    try {
      want = GgmlTensorBytes(type, dims);
    } catch (const Error& e) {
      throw Error(where + ": dims " + DimsString(dims) + ": " + e.what());
    }
    if (want != size_bytes)
      throw Error(where + ": " + std::to_string(size_bytes) + " bytes given, but " + GgmlTypeName(type) + " " +
                  DimsString(dims) + " needs " + std::to_string(want));
  }
  tensors_.push_back({name, std::move(dims), type, data, size_bytes});
}

void Writer::Write(const std::string& path) const {
  uint64_t alignment = kDefaultAlignment;
  for (const auto& [key, v] : metadata_) {
    if (key != kAlignmentKey) continue;
    if (v.type != ValueType::kUint32 || !IsPowerOfTwo(std::get<uint64_t>(v.data)))
      throw Error(path + ": metadata '" + key + "' must be a uint32 power of two");
    alignment = std::get<uint64_t>(v.data);
  }

  ByteSink header;
  for (char ch : kMagic) header.Put(ch);
  header.Put<uint32_t>(3);
  header.Put<uint64_t>(tensors_.size());
  const bool skip_alignment_key = alignment == kDefaultAlignment;
  uint64_t n_kv = 0;
  for (const auto& kv : metadata_) n_kv += !(skip_alignment_key && kv.first == kAlignmentKey);
  header.Put<uint64_t>(n_kv);
  for (const auto& [key, v] : metadata_) {
    if (skip_alignment_key && key == kAlignmentKey) continue;
    header.PutString(key);
    header.Put(static_cast<uint32_t>(v.type));
    PutValue(header, v);
  }
  std::vector<uint64_t> padded_sizes;
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    header.PutString(t.name);
    header.Put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) header.Put(d);
    header.Put(t.type);
    header.Put(offset);
    uint64_t end;
    if (!AlignUp(offset + t.size_bytes, alignment, &end)) throw Error(path + ": tensor data too large");
    padded_sizes.push_back(end - offset);
    offset = end;
  }

  AtomicFileWriter out(path);
  out.Write(header.bytes().data(), header.bytes().size());
  uint64_t data_start = 0;
  if (!AlignUp(out.offset(), alignment, &data_start)) throw Error(path + ": header too large");
  out.WriteZeros(static_cast<size_t>(data_start - out.offset()));
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const PendingTensor& t = tensors_[i];
    if (t.size_bytes > 0) out.Write(t.data, static_cast<size_t>(t.size_bytes));
    out.WriteZeros(static_cast<size_t>(padded_sizes[i] - t.size_bytes));
  }
  out.Commit();
}

}  // namespace bitnet::gguf
