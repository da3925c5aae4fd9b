// The `serdab` subcommands. Each takes the full argv (argv[1] is the command
// name), prints results on stdout and one-line errors on stderr, and returns
// the process exit code: 0 success, 1 failure, 2 bad usage.
#ifndef SERDAB_CLI_COMMANDS_H_
#define SERDAB_CLI_COMMANDS_H_

#include <optional>
#include <string>

#include "enclave/common/status.h"

namespace CLI {
class App;
class Validator;
}  // namespace CLI

namespace serdab::cli {

int RunInferCommand(int argc, char** argv);
int RunLayersCommand(int argc, char** argv);
int RunZooCommand(int argc, char** argv);
int RunCaCommand(int argc, char** argv);
int RunEnclaveCommand(int argc, char** argv);
int RunProfileCommand(int argc, char** argv);
int RunPlanCommand(int argc, char** argv);
// Commands that talk to an orchestrator (cluster_commands.cc).
int RunApplyCommand(int argc, char** argv);
int RunGetCommand(int argc, char** argv);
int RunDescribeCommand(int argc, char** argv);
int RunDeleteCommand(int argc, char** argv);
int RunWatchCommand(int argc, char** argv);
// serdab stream (stream_command.cc).
int RunStreamCommand(int argc, char** argv);

// Prints "serdab <command>: <message>" on stderr and returns the exit code
// for `status` (2 for usage errors, 1 otherwise).
int ReportError(const std::string& command, const Status& status, bool usage = false);

// Parses a command's flags, argv[2..argc) (argv[1] names the command), into
// `app`, whose name is the command's. Returns std::nullopt when the command
// should run; otherwise the exit code, after printing the help of the
// (sub)command on stdout (0) or the usage error as one line on stderr (2).
std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv);

// A transform for integer flags, ahead of their CLI::Range: admits decimal
// integers only and drops leading zeros, since CLI11 alone reads "010" as
// octal 8, "0x10" as hex, and takes an int64 overflow as the largest value.
CLI::Validator DecimalInteger();

// A file a plan names (model.path, postprocess.labels_file): as written when
// absolute or when there is no plan file, else beside the plan file.
std::string BesidePlanFile(const std::string& path, const std::string& plan_file);

}  // namespace serdab::cli

#endif  // SERDAB_CLI_COMMANDS_H_
