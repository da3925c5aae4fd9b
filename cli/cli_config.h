// Where the CLI finds the orchestrator and its credentials, like a
// kubeconfig. A YAML file:
//
//   # ~/.config/serdab/config.yaml
//   orchestrator: orch.example.net:7600     # host:port
//   credentials: /home/me/.config/serdab/admin
//                                           # a directory from `serdab ca issue-user`
//                                           # (user.crt, user.key, ca.crt)
//   insecure: false                         # plaintext, loopback orchestrators only
//   root: /home/me/.config/serdab/admin/root.pub
//                                           # the attestation root (default: root.pub in
//                                           # the credentials directory)
//   owner: /home/me/.config/serdab/admin    # the directory of the model owner key
//                                           # owner.key (default: the credentials directory)
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
  // What `serdab apply` needs to attest the coordinator enclave and to own
  // the models it hands it; empty when neither is configured nor in the
  // credentials directory.
  std::string root;       // root.pub
  std::string owner_dir;  // holds owner.key and owner.pub
};

// `flags` holds what was given on the command line (empty fields: not
// given); `config_path` is --config (empty: not given).
Result<ClusterConnection> ResolveClusterConnection(const std::string& config_path,
                                                   const ClusterConnection& flags);

}  // namespace serdab::cli

#endif  // SERDAB_CLI_CLI_CONFIG_H_
