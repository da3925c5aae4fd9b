#include "cli/cli_config.h"

#include <cstdlib>
#include <filesystem>

#include "partitioner/yaml_reader.h"

namespace serdab::cli {

Result<ClusterConnection> ResolveClusterConnection(const std::string& config_path,
                                                   const ClusterConnection& flags) {
  std::string path = config_path;
  if (path.empty()) {
    if (const char* env = std::getenv("SERDAB_CONFIG"); env != nullptr && *env != '\0') {
      path = env;
    } else if (const char* home = std::getenv("HOME"); home != nullptr) {
      const std::string fallback = std::string(home) + "/.config/serdab/config.yaml";
      if (std::filesystem::exists(fallback)) path = fallback;
    }
  }
  ClusterConnection c;
  if (!path.empty()) {
    SERDAB_ASSIGN_OR_RETURN(std::string text, partitioner::ReadTextFile(path));
    SERDAB_ASSIGN_OR_RETURN(YAML::Node root, partitioner::ParseYaml(text, path));
    const partitioner::Reader reader(path);
    if (!root.IsNull()) {
      SERDAB_RETURN_IF_ERROR(
          reader.CheckMap(root, "", {"orchestrator", "credentials", "insecure", "root", "owner"}));
      SERDAB_RETURN_IF_ERROR(reader.CheckUniqueKeys(root, ""));
      SERDAB_RETURN_IF_ERROR(reader.Get(root, "orchestrator", "", false, &c.orchestrator));
      SERDAB_RETURN_IF_ERROR(reader.Get(root, "credentials", "", false, &c.credentials));
      SERDAB_RETURN_IF_ERROR(reader.Get(root, "insecure", "", false, &c.insecure));
      SERDAB_RETURN_IF_ERROR(reader.Get(root, "root", "", false, &c.root));
      SERDAB_RETURN_IF_ERROR(reader.Get(root, "owner", "", false, &c.owner_dir));
      // Relative paths are relative to the config file.
      for (std::string* p : {&c.credentials, &c.root, &c.owner_dir}) {
        if (!p->empty() && std::filesystem::path(*p).is_relative()) {
          *p = (std::filesystem::path(path).parent_path() / *p).lexically_normal();
        }
      }
    }
  }
  if (!flags.orchestrator.empty()) c.orchestrator = flags.orchestrator;
  if (!flags.credentials.empty()) c.credentials = flags.credentials;
  if (flags.insecure) c.insecure = true;
  if (!flags.root.empty()) c.root = flags.root;
  if (!flags.owner_dir.empty()) c.owner_dir = flags.owner_dir;
  if (c.root.empty() && !c.credentials.empty()) c.root = c.credentials + "/root.pub";
  if (c.owner_dir.empty()) c.owner_dir = c.credentials;
  if (c.orchestrator.empty()) {
    return Status::InvalidArgument(
        "no orchestrator: give --orchestrator HOST:PORT or set 'orchestrator' in "
        "~/.config/serdab/config.yaml (or --config, $SERDAB_CONFIG)");
  }
  if (c.insecure == !c.credentials.empty()) {
    return Status::InvalidArgument(
        c.insecure ? "give either credentials (TLS) or insecure, not both"
                   : "no credentials: give --credentials DIR (serdab ca issue-user) or "
                     "'credentials' in the config file, or --insecure for a loopback "
                     "orchestrator");
  }
  return c;
}

}  // namespace serdab::cli
