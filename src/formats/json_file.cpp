#include "formats/json_file.h"

#include <set>
#include <vector>

#include "util/error.h"
#include "util/mapped_file.h"

namespace bitnet {

nlohmann::json ParseStrictJson(const char* begin, const char* end, const std::string& where) {
  // One set of seen keys per open object, innermost last.
  std::vector<std::set<std::string>> open;
  std::string duplicate;
  bool has_duplicate = false;
  auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) {
      open.emplace_back();
    } else if (event == E::object_end) {
      if (!open.empty()) open.pop_back();
    } else if (event == E::key && !open.empty() && parsed.is_string()) {
      if (!open.back().insert(parsed.get<std::string>()).second && !has_duplicate) {
        has_duplicate = true;
        duplicate = parsed.get<std::string>();
      }
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(begin, end, callback);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": not valid JSON: " + e.what());
  }
  if (has_duplicate) throw Error(where + ": key '" + Printable(duplicate) + "' appears twice in one object");
  return j;
}

nlohmann::json ReadStrictJsonFile(const std::string& path) {
  const std::string text = ReadRegularFile(path);
  return ParseStrictJson(text.data(), text.data() + text.size(), path);
}

}  // namespace bitnet
