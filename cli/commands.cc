#include "cli/commands.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace serdab::cli {

int ReportError(const std::string& command, const Status& status, bool usage) {
  std::string message = status.message();
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::fprintf(stderr, "serdab %s: %s\n", command.c_str(), message.c_str());
  return usage ? 2 : 1;
}

std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv) {
  try {
    // argv[1], the command's name, stands in for the program name CLI11 skips.
    app.parse(argc - 1, argv + 1);
    return std::nullopt;
  } catch (const CLI::CallForHelp&) {
    // help() descends into the subcommand that was named, if any.
    std::printf("%s", app.help("serdab").c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    // Errors name the subcommand they arose in, as in "serdab ca init: ...".
    std::string command = app.get_name();
    for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().front();
      command += " " + sub->get_name();
    }
    // CLI11 checks for missing flags and subcommands before unexpected
    // arguments, though a mistyped flag or subcommand is the likelier cause
    // of both, and lists unexpected arguments last first. So they are named
    // here, in command-line order.
    const std::vector<std::string> unexpected = app.remaining_for_passthrough(/*recurse=*/true);
    const bool name_unexpected =
        !unexpected.empty() && (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr ||
                                dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr);
    const std::string message = name_unexpected ? CLI::ExtrasError(unexpected).what() : e.what();
    return ReportError(command, Status::InvalidArgument(message), /*usage=*/true);
  }
}

CLI::Validator DecimalInteger() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        errno = 0;
        char* end = nullptr;
        const long long parsed = std::strtoll(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || errno == ERANGE) {
          return "expected a decimal integer, got '" + value + "'";
        }
        value = std::to_string(parsed);
        return "";
      },
      /*validator_desc=*/"");
}

std::string BesidePlanFile(const std::string& path, const std::string& plan_file) {
  const std::filesystem::path file(path);
  if (file.is_absolute()) return path;
  return (std::filesystem::path(plan_file).parent_path() / file).string();
}

}  // namespace serdab::cli
