// Where the CLI finds the orchestrator and its credentials, like a
// kubeconfig. A YAML file:
//
//   # ~/.config/serdab/config.yaml
//   orchestrator: orch.example.net:7600     # host:port
//   credentials: /home/me/.config/serdab/admin
//                                           # a directory from `serdab ca issue-user`
//                                           # (user.crt, user.key, ca.crt)
//   insecure: false                         # plaintext, loopback orchestrators only
//
// The file is --config, else $SERDAB_CONFIG, else ~/.config/serdab/config.yaml
// when it exists. Flags (--orchestrator, --credentials, --insecure) override it.
// Errors name the file, line, column and field.
#ifndef SERDAB_CLI_CLI_CONFIG_H_
#define SERDAB_CLI_CLI_CONFIG_H_

#include <string>

#include "enclave/common/status.h"

namespace serdab::cli {

struct ClusterConnection {
  std::string orchestrator;
  std::string credentials;  // directory holding user.crt, user.key, ca.crt
  bool insecure = false;
};

// `flags` holds what was given on the command line (empty fields: not
// given); `config_path` is --config (empty: not given).
Result<ClusterConnection> ResolveClusterConnection(const std::string& config_path,
                                                   const ClusterConnection& flags);

}  // namespace serdab::cli

#endif  // SERDAB_CLI_CLI_CONFIG_H_
