// Strict JSON for model side files (config.json, safetensors headers, index):
// a duplicate key is an error, where nlohmann's parser silently keeps the
// last one and two readers of the same file could then disagree.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace bitnet {

// Parses [begin, end); throws Error "<where>: ..." on invalid JSON or a key
// repeated within one object (naming the key).
nlohmann::json ParseStrictJson(const char* begin, const char* end, const std::string& where);

// Reads path (a regular file: FIFOs and directories are refused without
// blocking) and parses it with ParseStrictJson.
nlohmann::json ReadStrictJsonFile(const std::string& path);

}  // namespace bitnet
