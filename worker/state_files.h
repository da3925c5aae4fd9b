// Files of a daemon's state directory: read whole, and replaced atomically
// (through a temporary file and a rename), so that a crash leaves the old
// file or the new one, never half of one.
#ifndef SERDAB_WORKER_STATE_FILES_H_
#define SERDAB_WORKER_STATE_FILES_H_

#include <filesystem>

#include "enclave/common/status.h"
#include "worker/enclave_endpoint.h"

namespace serdab::worker {

Result<Bytes> ReadFileBytes(const std::filesystem::path& path);
Status WriteFileAtomically(const std::filesystem::path& path, ByteView bytes);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_STATE_FILES_H_
