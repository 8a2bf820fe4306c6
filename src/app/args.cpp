#include "app/args.h"

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "util/error.h"

namespace bitnet::app {
namespace {

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

Args::Args(std::string command, std::string usage, std::string description)
    : command_(std::move(command)), usage_(std::move(usage)), description_(std::move(description)) {
  Switch({"-h", "--help"}, "show this help");
}

void Args::Value(std::vector<std::string> names, std::string metavar, std::string help, std::string default_value) {
  specs_.push_back({std::move(names), std::move(metavar), std::move(help), std::move(default_value), false, {}});
}

void Args::Switch(std::vector<std::string> names, std::string help) {
  specs_.push_back({std::move(names), "", std::move(help), "", true, {}});
}

void Args::OptionalValue(std::vector<std::string> names, std::vector<std::string> choices, std::string implied,
                         std::string help) {
  specs_.push_back({std::move(names), "", std::move(help), std::move(implied), true, std::move(choices)});
}

const Args::Spec& Args::Find(const std::string& name) const {
  for (const Spec& s : specs_)
    for (const std::string& n : s.names)
      if (n == name) return s;
  throw Error("internal: flag " + name + " is not declared for '" + command_ + "'");
}

bool Args::Parse(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() > 1 && arg[0] == '-' && !(arg.size() > 1 && (std::isdigit(static_cast<unsigned char>(arg[1])) != 0))) {
      std::string value;
      bool inline_value = false;
      if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        inline_value = true;
      }
      const Spec* spec = nullptr;
      for (const Spec& s : specs_)
        for (const std::string& n : s.names)
          if (n == arg) spec = &s;
      if (spec == nullptr) throw Error(command_ + ": unknown option '" + arg + "' (see bitnet " + command_ + " --help)");
      if (spec->names.back() == "--help") {
        std::printf("%s", Help().c_str());
        return false;
      }
      if (!spec->choices.empty()) {
        auto allowed = [&](const std::string& v) {
          return std::find(spec->choices.begin(), spec->choices.end(), v) != spec->choices.end();
        };
        if (!inline_value && i + 1 < argc && allowed(argv[i + 1])) value = argv[++i];
        else if (!inline_value) value = spec->default_value;
        if (!allowed(value)) throw Error(command_ + ": option " + arg + " expects one of " + Join(spec->choices, ", ") +
                                         ", got '" + value + "'");
        values_[spec->names.back()] = value;
        continue;
      }
      if (spec->is_switch) {
        if (inline_value) throw Error(command_ + ": option " + arg + " takes no value");
        values_[spec->names.back()].assign(1, '1');  // not = "1": GCC 12 warns -Wrestrict falsely
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= argc) throw Error(command_ + ": option " + arg + " needs a value (" + spec->metavar + ")");
        value = argv[++i];
      }
      values_[spec->names.back()] = value;
    } else {
      if (static_cast<int>(positional_.size()) >= max_positional_)
        throw Error(command_ + ": unexpected argument '" + arg + "' (see bitnet " + command_ + " --help)");
      positional_.push_back(arg);
    }
  }
  return true;
}

bool Args::Has(const std::string& name) const { return values_.count(Find(name).names.back()) != 0; }

std::string Args::Str(const std::string& name) const {
  const Spec& s = Find(name);
  auto it = values_.find(s.names.back());
  return it != values_.end() ? it->second : s.default_value;
}

int64_t Args::Int64(const std::string& name) const {
  const std::string v = Str(name);
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || end == nullptr || *end != '\0' || errno != 0)
    throw Error(command_ + ": option " + name + " expects an integer, got '" + v + "'");
  return x;
}

int Args::Int(const std::string& name) const {
  const int64_t x = Int64(name);
  if (x < -2147483647 || x > 2147483647) throw Error(command_ + ": option " + name + " is out of range");
  return static_cast<int>(x);
}

float Args::Float(const std::string& name) const {
  const std::string v = Str(name);
  char* end = nullptr;
  const float x = std::strtof(v.c_str(), &end);
  if (v.empty() || end == nullptr || *end != '\0' || !std::isfinite(x))
    throw Error(command_ + ": option " + name + " expects a number, got '" + v + "'");
  return x;
}

std::string Args::Help() const {
  std::ostringstream out;
  out << "usage: bitnet " << command_ << " " << usage_ << "\n\n" << description_ << "\n\noptions:\n";
  for (const Spec& s : specs_) {
    std::string names;
    for (const std::string& n : s.names) names += (names.empty() ? "" : ", ") + n;
    if (!s.choices.empty()) names += " [" + Join(s.choices, "|") + "]";
    else if (!s.is_switch) names += " " + s.metavar;
    out << "  " << names;
    out << std::string(names.size() < 28 ? 28 - names.size() : 1, ' ') << s.help;
    if (!s.default_value.empty() && s.choices.empty()) out << " (default: " << s.default_value << ")";
    out << "\n";
  }
  return out.str();
}

std::vector<int32_t> ParseIdList(const std::string& text, const std::string& flag) {
  std::vector<int32_t> ids;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno != 0 || v < 0 || v > 2147483647)
      throw Error(flag + ": '" + item + "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) throw Error(flag + ": no token ids given");
  return ids;
}

}  // namespace bitnet::app
