#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

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
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base + 8, base + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": header is not valid JSON: " + e.what());
  }
  Check(header.is_object(), path, "header is not a JSON object");
  const uint8_t* data = base + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string where = path + ": tensor '" + it.key() + "'";
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
    Check(elem > 0, where, "unknown dtype '" + tensor.dtype + "'");
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
    tensor.data = data + begin;
    tensor.size_bytes = end - begin;
    if (end > begin) ranges.emplace_back(begin, end);
    tensors_.emplace(tensor.name, std::move(tensor));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    Check(ranges[i].first >= ranges[i - 1].second, path, "tensor data ranges overlap");
}

SafetensorsModel::SafetensorsModel(const std::string& dir) : dir_(dir) {
  namespace fs = std::filesystem;
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";
  std::vector<std::string> shard_names;
  if (fs::exists(index_path)) {
    std::ifstream in(index_path);
    nlohmann::json index;
    try {
      index = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error(index_path.string() + ": not valid JSON: " + e.what());
    }
    Check(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(), index_path.string(),
          "missing object 'weight_map'");
    std::set<std::string> shards;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      Check(it.value().is_string(), index_path.string(), "weight_map['" + it.key() + "'] is not a file name");
      const std::string shard = it.value().get<std::string>();
      Check(shard.find('/') == std::string::npos && shard.find("..") == std::string::npos, index_path.string(),
            "weight_map['" + it.key() + "'] names a path outside the model directory");
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
      Check(index_.count(name) == 0, dir, "tensor '" + name + "' appears in more than one shard");
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
  if (t == nullptr) throw Error(dir_ + ": missing tensor '" + name + "'");
  return *t;
}

std::vector<std::string> SafetensorsModel::Names() const {
  std::vector<std::string> names;
  for (const auto& kv : index_) names.push_back(kv.first);
  return names;
}

}  // namespace bitnet

namespace bitnet {

void WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const SafetensorsEntry& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text.push_back(' ');
  AtomicFileWriter out(path);
  const uint64_t len = text.size();
  out.Write(&len, 8);
  out.Write(text.data(), text.size());
  for (const SafetensorsEntry& t : tensors) out.Write(t.bytes.data(), t.bytes.size());
  out.Commit();
}

}  // namespace bitnet
