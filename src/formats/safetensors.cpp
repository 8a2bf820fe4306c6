#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "formats/json_file.h"
#include "util/error.h"

namespace bitnet {

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int SafetensorsDtypeSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "U8" || dtype == "I8" || dtype == "BOOL") return 1;
  return 0;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  const uint8_t* base = file_.data();
  const size_t size = file_.size();
  Check(size >= 8, path, "truncated: smaller than the 8-byte header length");
  uint64_t header_len;
  std::memcpy(&header_len, base, 8);
  Check(header_len <= size - 8, path, "header length " + std::to_string(header_len) + " exceeds the file size");
  Check(header_len <= (100u << 20), path, "header length " + std::to_string(header_len) + " is implausibly large");
  const nlohmann::json header = ParseStrictJson(reinterpret_cast<const char*>(base + 8),
                                                reinterpret_cast<const char*>(base + 8 + header_len), path + ": header");
  Check(header.is_object(), path, "header is not a JSON object");
  const uint8_t* data = base + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  struct Range {
    uint64_t begin, end;
    std::string name;
    bool operator<(const Range& o) const { return begin != o.begin ? begin < o.begin : end < o.end; }
  };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string where = path + ": tensor '" + Printable(it.key()) + "'";
    const nlohmann::json& t = it.value();
    Check(t.is_object() && t.contains("dtype") && t["dtype"].is_string() && t.contains("shape") &&
              t["shape"].is_array() && t.contains("data_offsets") && t["data_offsets"].is_array() &&
              t["data_offsets"].size() == 2,
          where, "needs dtype, shape and data_offsets[2]");
    SafetensorsTensor tensor;
    tensor.name = it.key();
    tensor.file = path;
    tensor.dtype = t["dtype"].get<std::string>();
    const int elem = SafetensorsDtypeSize(tensor.dtype);
    Check(elem > 0, where, "unknown dtype '" + Printable(tensor.dtype) + "'");
    uint64_t numel = 1;
    for (const auto& d : t["shape"]) {
      Check(d.is_number_unsigned(), where, "shape entries must be non-negative integers");
      const uint64_t v = d.get<uint64_t>();
      Check(v == 0 || numel <= (1ull << 40) / v, where, "shape is too large");
      numel *= v;
      tensor.shape.push_back(static_cast<int64_t>(v));
    }
    const auto& off = t["data_offsets"];
    Check(off[0].is_number_unsigned() && off[1].is_number_unsigned(), where, "data_offsets must be non-negative integers");
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    Check(begin <= end && end <= data_size, where,
          "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + ") outside the " +
              std::to_string(data_size) + "-byte data section (file truncated?)");
    Check(end - begin == numel * static_cast<uint64_t>(elem), where,
          "holds " + std::to_string(end - begin) + " bytes but shape x dtype needs " + std::to_string(numel * elem));
    // The kernels read F32/BF16/F16 straight from the map with typed loads, so
    // the data must sit at a multiple of the element size from the (page-
    // aligned) file start. Writers that follow the format pad the header to 8
    // bytes and store wider dtypes first, so a valid file always satisfies it.
    const uint64_t file_offset = 8 + header_len + begin;
    Check(file_offset % static_cast<uint64_t>(elem) == 0, where,
          "data starts at file offset " + std::to_string(file_offset) + ", not a multiple of its " +
              std::to_string(elem) + "-byte " + tensor.dtype + " elements (misaligned)");
    tensor.data = data + begin;
    tensor.size_bytes = end - begin;
    if (end > begin) ranges.push_back({begin, end, it.key()});
    tensors_.emplace(tensor.name, std::move(tensor));
  }
  // The format requires the data section to be exactly the tensors, end to end:
  // an overlap means two tensors alias, and a gap or tail hides bytes that no
  // tensor accounts for (what a truncated rewrite or an appended payload leaves).
  std::sort(ranges.begin(), ranges.end());
  uint64_t covered = 0;
  for (const Range& r : ranges) {
    Check(r.begin >= covered, path + ": tensor '" + Printable(r.name) + "'",
          "data_offsets [" + std::to_string(r.begin) + ", " + std::to_string(r.end) +
              ") overlap another tensor's data");
    Check(r.begin == covered, path,
          "data section bytes [" + std::to_string(covered) + ", " + std::to_string(r.begin) +
              ") belong to no tensor (a gap before tensor '" + Printable(r.name) + "')");
    covered = r.end;
  }
  Check(covered == data_size, path,
        "data section bytes [" + std::to_string(covered) + ", " + std::to_string(data_size) +
            ") after the last tensor belong to no tensor (trailing bytes)");
}

SafetensorsModel::SafetensorsModel(const std::string& dir) : dir_(dir) {
  namespace fs = std::filesystem;
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";
  std::vector<std::string> shard_names;
  if (fs::exists(index_path)) {
    const nlohmann::json index = ReadStrictJsonFile(index_path.string());
    Check(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(), index_path.string(),
          "missing object 'weight_map'");
    std::set<std::string> shards;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      Check(it.value().is_string(), index_path.string(), "weight_map['" + Printable(it.key()) + "'] is not a file name");
      const std::string shard = it.value().get<std::string>();
      Check(shard.find('/') == std::string::npos && shard.find("..") == std::string::npos, index_path.string(),
            "weight_map['" + Printable(it.key()) + "'] names a path outside the model directory");
      shards.insert(shard);
    }
    shard_names.assign(shards.begin(), shards.end());
  } else if (fs::exists(single)) {
    shard_names.push_back("model.safetensors");
  } else {
    throw Error(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  for (const std::string& shard : shard_names) {
    files_.push_back(std::make_unique<SafetensorsFile>((fs::path(dir) / shard).string()));
    for (const auto& [name, tensor] : files_.back()->tensors()) {
      Check(index_.count(name) == 0, dir, "tensor '" + Printable(name) + "' appears in more than one shard");
      index_[name] = &tensor;
    }
  }
}

const SafetensorsTensor* SafetensorsModel::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const SafetensorsTensor& SafetensorsModel::Get(const std::string& name) const {
  const SafetensorsTensor* t = Find(name);
  if (t == nullptr) throw Error(dir_ + ": missing tensor '" + Printable(name) + "'");
  return *t;
}

std::vector<std::string> SafetensorsModel::Names() const {
  std::vector<std::string> names;
  for (const auto& kv : index_) names.push_back(kv.first);
  return names;
}

}  // namespace bitnet

namespace bitnet {

void WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries) {
  // Widest elements first (as the reference writer does): with the header
  // padded to 8 bytes every tensor then starts aligned for its dtype, which
  // the reader requires.
  std::vector<const SafetensorsEntry*> tensors;
  for (const SafetensorsEntry& t : entries) tensors.push_back(&t);
  std::stable_sort(tensors.begin(), tensors.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return SafetensorsDtypeSize(a->dtype) > SafetensorsDtypeSize(b->dtype);
  });
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const SafetensorsEntry* tp : tensors) {
    const SafetensorsEntry& t = *tp;
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text.push_back(' ');
  AtomicFileWriter out(path);
  const uint64_t len = text.size();
  out.Write(&len, 8);
  out.Write(text.data(), text.size());
  for (const SafetensorsEntry* t : tensors) out.Write(t->bytes.data(), t->bytes.size());
  out.Commit();
}

}  // namespace bitnet
