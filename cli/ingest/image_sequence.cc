#include "cli/ingest/image_sequence.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

namespace serdab::ingest {
namespace {

bool IsImageName(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

}  // namespace

Result<std::vector<std::string>> ListImages(const std::string& directory) {
  std::error_code error;
  std::filesystem::directory_iterator it(directory, error);
  if (error) return Status::NotFound("image directory " + directory + ": " + error.message());
  std::vector<std::filesystem::path> found;
  for (const auto& entry : it) {
    if (entry.is_regular_file(error) && IsImageName(entry.path())) found.push_back(entry.path());
  }
  if (found.empty()) {
    return Status::NotFound("image directory " + directory + ": no .jpg, .jpeg or .png files");
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.filename() < b.filename(); });
  std::vector<std::string> paths;
  paths.reserve(found.size());
  for (const auto& p : found) paths.push_back(p.string());
  return paths;
}

ImageSequence::ImageSequence(std::vector<std::string> paths, const InputOptions& options)
    : paths_(std::move(paths)), options_(options) {}

Result<std::unique_ptr<ImageSequence>> ImageSequence::Open(const std::string& directory,
                                                           const InputOptions& options) {
  SERDAB_ASSIGN_OR_RETURN(std::vector<std::string> paths, ListImages(directory));
  return std::unique_ptr<ImageSequence>(new ImageSequence(std::move(paths), options));
}

Result<DecodedPicture> ImageSequence::Next() {
  while (next_ < paths_.size()) {
    const size_t index = next_++;
    current_.reset();
    Result<std::unique_ptr<MediaInput>> input =
        MediaInput::Open(SourceKind::kFile, paths_[index], options_);
    Status status = input.status();
    if (input.ok()) {
      current_ = std::move(input).value();
      Result<DecodedPicture> decoded = current_->Next();
      if (decoded.ok() && decoded->picture != nullptr) {
        return DecodedPicture{decoded->picture, static_cast<double>(index) / options_.image_fps};
      }
      status = decoded.ok() ? Status::Corruption(paths_[index] + ": no picture in it")
                            : decoded.status();
    }
    // Interrupted (Stop or a watchdog): end here, not skip every remaining file.
    if (options_.interrupt && options_.interrupt()) return status;
    if (options_.on_corrupt) options_.on_corrupt(status.message());
  }
  return DecodedPicture{};
}

}  // namespace serdab::ingest
