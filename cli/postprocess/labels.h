// Class names for the results: one per line, in class order.
#ifndef SERDAB_CLI_POSTPROCESS_LABELS_H_
#define SERDAB_CLI_POSTPROCESS_LABELS_H_

#include <string>
#include <vector>

#include "enclave/common/status.h"

namespace serdab::postprocess {

// The lines of the file at `path`, each without its line end (a trailing
// '\r' too, for files written on Windows); none when `path` is empty.
// NotFound naming the path when it cannot be read.
Result<std::vector<std::string>> ReadLabels(const std::string& path);

}  // namespace serdab::postprocess

#endif  // SERDAB_CLI_POSTPROCESS_LABELS_H_
