#include "cli/commands.h"

#include <algorithm>
#include <cstdio>

namespace serdab::cli {

int ReportError(const std::string& command, const Status& status, bool usage) {
  std::string message = status.message();
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::fprintf(stderr, "serdab %s: %s\n", command.c_str(), message.c_str());
  return usage ? 2 : 1;
}

}  // namespace serdab::cli
