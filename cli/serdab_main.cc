// serdab: the command-line client. Thin: each subcommand lives in its own file.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "cli/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"infer", serdab::cli::RunInferCommand, "run an ONNX model on one raw float32 input"},
    {"layers", serdab::cli::RunLayersCommand, "list a model's layers and the bytes at each cut"},
    {"zoo", serdab::cli::RunZooCommand, "write a torchvision-architecture ONNX model"},
    {"profile", serdab::cli::RunProfileCommand, "measure a model's layers for placement"},
    {"plan", serdab::cli::RunPlanCommand, "solve a pipelined placement over a cluster"},
    {"ca", serdab::cli::RunCaCommand, "manage the deployment root and platform certificates"},
    {"enclave", serdab::cli::RunEnclaveCommand, "measure or sign the enclave image"},
    {"apply", serdab::cli::RunApplyCommand, "apply deployment plans to an orchestrator"},
    {"get", serdab::cli::RunGetCommand, "list an orchestrator's workers or deployments"},
    {"describe", serdab::cli::RunDescribeCommand, "show a deployment in detail"},
    {"delete", serdab::cli::RunDeleteCommand, "delete a deployment"},
    {"watch", serdab::cli::RunWatchCommand, "follow an orchestrator's events"},
    {"stream", serdab::cli::RunStreamCommand, "run cameras or videos through a deployment"},
};

std::string OneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

void PrintUsage(FILE* out) {
  std::fprintf(out, "usage: serdab <command> [flags]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-8s %s\n", c.name, c.summary);
  std::fprintf(out, "\n'serdab <command> --help' describes a command's flags.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    PrintUsage(stdout);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    // Errors are Status values; an exception reaching here is a bug or an
    // exhausted heap. Either way the contract holds: one line and exit 1,
    // never an abort.
    try {
      return c.run(argc, argv);
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "serdab: error: %s: out of memory\n", c.name);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "serdab: error: %s: %s\n", c.name, OneLine(e.what()).c_str());
    } catch (...) {
      std::fprintf(stderr, "serdab: error: %s: unexpected exception\n", c.name);
    }
    return 1;
  }
  std::fprintf(stderr, "serdab: unknown command '%s' (see serdab --help)\n", name.c_str());
  return 2;
}
