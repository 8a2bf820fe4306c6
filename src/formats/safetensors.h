// A small safetensors reader over a memory map: 8 bytes of little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}}, raw data.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/mapped_file.h"

namespace bitnet {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;           // "BF16", "F32", "U8", ...
  std::vector<int64_t> shape;  // outermost first, as in PyTorch
  const uint8_t* data = nullptr;
  size_t size_bytes = 0;
  std::string file;  // the file it lives in, for error messages

  int64_t numel() const;
};

// Bytes per element of a safetensors dtype, or 0 if unknown.
int SafetensorsDtypeSize(const std::string& dtype);

class SafetensorsFile {
 public:
  // Parses and validates the header: no duplicate keys, every offset in
  // bounds and aligned for its dtype, sizes matching shape x dtype, and the
  // tensors covering the data section exactly (no overlaps, gaps or trailing
  // bytes). Throws Error naming the file and the tensor.
  explicit SafetensorsFile(const std::string& path);

  const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  std::map<std::string, SafetensorsTensor> tensors_;
};

// A model's weights: model.safetensors, or the shards that
// model.safetensors.index.json names.
class SafetensorsModel {
 public:
  explicit SafetensorsModel(const std::string& dir);

  // Null if absent.
  const SafetensorsTensor* Find(const std::string& name) const;
  // Throws Error naming the directory and tensor if absent.
  const SafetensorsTensor& Get(const std::string& name) const;
  std::vector<std::string> Names() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsTensor*> index_;
};

}  // namespace bitnet

namespace bitnet {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Writes a safetensors file atomically (temporary file, then rename); tensors
// are stored widest dtype first (stable otherwise), the header padded to 8
// bytes, so that every tensor is aligned for its dtype.
void WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors);

}  // namespace bitnet
