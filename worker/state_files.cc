#include "worker/state_files.h"

#include <fstream>
#include <iterator>

namespace serdab::worker {

namespace fs = std::filesystem;

Result<Bytes> ReadFileBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path.string() + ": cannot read");
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Status WriteFileAtomically(const fs::path& path, ByteView bytes) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out.write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size())) ||
        !out.flush()) {
      return Status::IoError(tmp.string() + ": cannot write");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::IoError(path.string() + ": cannot replace: " + ec.message());
  return Status::Ok();
}

}  // namespace serdab::worker
