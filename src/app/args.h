// A small command-line parser in llama.cpp's style: short and long names,
// every flag documented, --help on every subcommand, unknown flags rejected.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace bitnet::app {

class Args {
 public:
  Args(std::string command, std::string usage, std::string description);

  // A flag with a value, e.g. Value({"-n", "--n-predict"}, "N", "tokens to generate", "128").
  void Value(std::vector<std::string> names, std::string metavar, std::string help, std::string default_value = "");
  // A switch without a value.
  void Switch(std::vector<std::string> names, std::string help);
  // A switch that may take one of `choices` as its value (llama.cpp's -fa, a
  // switch in older releases, "-fa on|off|auto" in newer ones). Str() gives
  // the value, or `implied` when the switch came alone.
  void OptionalValue(std::vector<std::string> names, std::vector<std::string> choices, std::string implied,
                     std::string help);
  // Accept positional arguments (named in usage).
  void AllowPositional(int max_count) { max_positional_ = max_count; }

  // Returns false when --help was printed. Throws Error on a bad command line.
  bool Parse(int argc, char** argv);

  bool Has(const std::string& name) const;  // given on the command line, or a switch that is on
  std::string Str(const std::string& name) const;  // value or default
  int Int(const std::string& name) const;
  int64_t Int64(const std::string& name) const;
  float Float(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  std::string Help() const;

 private:
  struct Spec {
    std::vector<std::string> names;
    std::string metavar, help, default_value;
    bool is_switch = false;
    std::vector<std::string> choices;  // OptionalValue: values it may take
  };
  const Spec& Find(const std::string& name) const;

  std::string command_, usage_, description_;
  std::vector<Spec> specs_;
  std::map<std::string, std::string> values_;  // canonical (last) name -> value
  std::vector<std::string> positional_;
  int max_positional_ = 0;
};

// Parses "1,2,3" into ints; throws Error naming `flag` on bad input.
std::vector<int32_t> ParseIdList(const std::string& text, const std::string& flag);

}  // namespace bitnet::app
