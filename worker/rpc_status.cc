#include "worker/rpc_status.h"

#include <utility>

namespace serdab::worker {
namespace {

constexpr std::pair<Status::Code, grpc::StatusCode> kCodes[] = {
    {Status::Code::kOk, grpc::StatusCode::OK},
    {Status::Code::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
    {Status::Code::kNotFound, grpc::StatusCode::NOT_FOUND},
    {Status::Code::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
    {Status::Code::kCorruption, grpc::StatusCode::DATA_LOSS},
    {Status::Code::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
    {Status::Code::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
    {Status::Code::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
    {Status::Code::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
    {Status::Code::kInternal, grpc::StatusCode::INTERNAL},
    {Status::Code::kIoError, grpc::StatusCode::UNAVAILABLE},
};

}  // namespace

grpc::Status ToGrpc(const Status& status) {
  for (const auto& [ours, theirs] : kCodes) {
    if (ours == status.code()) return grpc::Status(theirs, status.message());
  }
  return grpc::Status(grpc::StatusCode::UNKNOWN, status.message());
}

Status FromGrpc(const grpc::Status& status, const std::string& what) {
  if (status.ok()) return Status::Ok();
  for (const auto& [ours, theirs] : kCodes) {
    if (theirs == status.error_code()) return Status(ours, what + ": " + status.error_message());
  }
  return Status::IoError(what + ": " + status.error_message());
}

}  // namespace serdab::worker
