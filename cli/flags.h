// FlagParser: the command-line flags of one `serdab` subcommand.
//
// Accepts "--name value" and "--name=value"; boolean flags take no value.
// Unknown flags, missing values, malformed numbers and missing required flags
// are errors that name the flag. --help/-h sets help_requested().
#ifndef SERDAB_CLI_FLAGS_H_
#define SERDAB_CLI_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::cli {

class FlagParser {
 public:
  FlagParser(std::string command, std::string summary);

  void AddString(const std::string& name, std::string* target, const std::string& help,
                 bool required = false);
  void AddInt(const std::string& name, int64_t* target, const std::string& help,
              int64_t min_value = INT64_MIN, int64_t max_value = INT64_MAX);
  void AddDouble(const std::string& name, double* target, const std::string& help);
  void AddBool(const std::string& name, bool* target, const std::string& help);

  // Parses argv[first..argc).
  Status Parse(int argc, char** argv, int first);
  bool help_requested() const { return help_requested_; }
  // "usage: serdab <command> [flags]" with one line per flag and its default.
  std::string Usage() const;

 private:
  enum class Kind { kString, kInt, kDouble, kBool };
  struct Flag {
    std::string name;
    Kind kind;
    void* target;
    std::string help;
    bool required = false;
    bool seen = false;
    int64_t min_value = 0;
    int64_t max_value = 0;
    std::string default_text;
  };
  Flag* Find(const std::string& name);
  Status Assign(Flag* flag, const std::string& value);

  std::string command_;
  std::string summary_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

}  // namespace serdab::cli

#endif  // SERDAB_CLI_FLAGS_H_
