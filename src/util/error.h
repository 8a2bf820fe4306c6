// One error type for every layer: a message that names the file and the field.
#pragma once
#include <stdexcept>
#include <string>

namespace bitnet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error("<where>: <what>") when cond is false.
inline void Check(bool cond, const std::string& where, const std::string& what) {
  if (!cond) throw Error(where + ": " + what);
}

}  // namespace bitnet
