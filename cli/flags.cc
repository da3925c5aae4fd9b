#include "cli/flags.h"

#include <cerrno>
#include <cstdlib>

namespace serdab::cli {

FlagParser::FlagParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void FlagParser::AddString(const std::string& name, std::string* target, const std::string& help,
                           bool required) {
  flags_.push_back(
      {name, Kind::kString, target, help, required, false, 0, 0, target->empty() ? "" : *target});
}

void FlagParser::AddInt(const std::string& name, int64_t* target, const std::string& help,
                        int64_t min_value, int64_t max_value) {
  flags_.push_back({name, Kind::kInt, target, help, false, false, min_value, max_value,
                    std::to_string(*target)});
}

void FlagParser::AddDouble(const std::string& name, double* target, const std::string& help) {
  std::string text = std::to_string(*target);
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  flags_.push_back({name, Kind::kDouble, target, help, false, false, 0, 0, text});
}

void FlagParser::AddBool(const std::string& name, bool* target, const std::string& help) {
  flags_.push_back({name, Kind::kBool, target, help, false, false, 0, 0, ""});
}

FlagParser::Flag* FlagParser::Find(const std::string& name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

Status FlagParser::Assign(Flag* flag, const std::string& value) {
  const std::string where = "--" + flag->name;
  switch (flag->kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag->target) = value;
      break;
    case Kind::kInt: {
      errno = 0;
      char* end = nullptr;
      const long long v = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno == ERANGE) {
        return Status::InvalidArgument(where + ": expected an integer, got '" + value + "'");
      }
      if (v < flag->min_value || v > flag->max_value) {
        return Status::InvalidArgument(where + ": " + value + " is out of range [" +
                                       std::to_string(flag->min_value) + ", " +
                                       std::to_string(flag->max_value) + "]");
      }
      *static_cast<int64_t*>(flag->target) = v;
      break;
    }
    case Kind::kDouble: {
      errno = 0;
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || errno == ERANGE) {
        return Status::InvalidArgument(where + ": expected a number, got '" + value + "'");
      }
      *static_cast<double*>(flag->target) = v;
      break;
    }
    case Kind::kBool:
      *static_cast<bool*>(flag->target) = true;
      break;
  }
  flag->seen = true;
  return Status::Ok();
}

Status FlagParser::Parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return Status::Ok();
    }
    if (arg.rfind("--", 0) != 0) {
      return Status::InvalidArgument("unexpected argument '" + arg + "' (flags start with --)");
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    Flag* flag = Find(name);
    if (flag == nullptr) {
      return Status::InvalidArgument("unknown flag --" + name + " (see serdab " + command_ +
                                     " --help)");
    }
    if (flag->kind == Kind::kBool) {
      if (has_value) return Status::InvalidArgument("--" + name + " takes no value");
      SERDAB_RETURN_IF_ERROR(Assign(flag, ""));
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) return Status::InvalidArgument("--" + name + " needs a value");
      value = argv[++i];
    }
    SERDAB_RETURN_IF_ERROR(Assign(flag, value));
  }
  for (const Flag& f : flags_) {
    if (f.required && !f.seen) {
      return Status::InvalidArgument("missing required flag --" + f.name + " (see serdab " +
                                     command_ + " --help)");
    }
  }
  return Status::Ok();
}

std::string FlagParser::Usage() const {
  std::string out = "usage: serdab " + command_ + " [flags]\n\n" + summary_ + "\n\nflags:\n";
  for (const Flag& f : flags_) {
    std::string left = "  --" + f.name;
    if (f.kind == Kind::kString) left += " S";
    if (f.kind == Kind::kInt) left += " N";
    if (f.kind == Kind::kDouble) left += " X";
    if (left.size() < 22) left.resize(22, ' ');
    out += left + " " + f.help;
    if (f.required) {
      out += " (required)";
    } else if (!f.default_text.empty()) {
      out += " (default " + f.default_text + ")";
    }
    out += "\n";
  }
  return out;
}

}  // namespace serdab::cli
