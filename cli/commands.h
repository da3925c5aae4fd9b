// The `serdab` subcommands. Each takes the full argv (argv[1] is the command
// name), prints results on stdout and one-line errors on stderr, and returns
// the process exit code: 0 success, 1 failure, 2 bad usage.
#ifndef SERDAB_CLI_COMMANDS_H_
#define SERDAB_CLI_COMMANDS_H_

#include <string>

#include "enclave/common/status.h"

namespace serdab::cli {

int RunInferCommand(int argc, char** argv);
int RunLayersCommand(int argc, char** argv);
int RunZooCommand(int argc, char** argv);
int RunCaCommand(int argc, char** argv);
int RunEnclaveCommand(int argc, char** argv);
int RunProfileCommand(int argc, char** argv);
int RunPlanCommand(int argc, char** argv);

// Prints "serdab <command>: <message>" on stderr and returns the exit code
// for `status` (2 for usage errors, 1 otherwise).
int ReportError(const std::string& command, const Status& status, bool usage = false);

}  // namespace serdab::cli

#endif  // SERDAB_CLI_COMMANDS_H_
