#include "cli/postprocess/labels.h"

#include <fstream>

namespace serdab::postprocess {

Result<std::vector<std::string>> ReadLabels(const std::string& path) {
  std::vector<std::string> labels;
  if (path.empty()) return labels;
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read the labels file " + path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(std::move(line));
  }
  if (in.bad()) return Status::NotFound("cannot read the labels file " + path);
  return labels;
}

}  // namespace serdab::postprocess
