// Status and Result<T>: errors as values.
//
// Every fallible function in Serdab returns a Status (or a Result<T> that holds
// either a value or a non-OK Status). No exceptions cross module boundaries and
// none cross the enclave boundary. Messages are written for the user: they name
// the file, node, field or size at fault and what was expected.
#ifndef SERDAB_ENCLAVE_COMMON_STATUS_H_
#define SERDAB_ENCLAVE_COMMON_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace serdab {

class Status {
 public:
  enum class Code : int {
    kOk = 0,
    kInvalidArgument = 1,  // bad input: a file, a flag, a shape
    kNotFound = 2,         // a named thing does not exist
    kUnimplemented = 3,    // valid, but not supported by this build
    kCorruption = 4,       // data failed an integrity or format check
    kOutOfRange = 5,       // an index or size past a limit
    kFailedPrecondition = 6,
    kPermissionDenied = 7,  // a policy refused it
    kResourceExhausted = 8,
    kInternal = 9,
    kIoError = 10,
  };

  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Unimplemented(std::string m) { return {Code::kUnimplemented, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status OutOfRange(std::string m) { return {Code::kOutOfRange, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {Code::kFailedPrecondition, std::move(m)};
  }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {Code::kResourceExhausted, std::move(m)};
  }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "ok", or the message alone: the code is for programs, the message for people.
  std::string ToString() const { return ok() ? "ok" : message_; }

  // Returns a copy whose message is "prefix: message" (no-op when OK).
  Status WithContext(const std::string& prefix) const {
    return ok() ? *this : Status(code_, prefix + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a T or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok() && "Result constructed from an OK Status");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace serdab

#define SERDAB_CONCAT_INNER(a, b) a##b
#define SERDAB_CONCAT(a, b) SERDAB_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define SERDAB_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::serdab::Status serdab_status_ = (expr);        \
    if (!serdab_status_.ok()) return serdab_status_; \
  } while (0)

// `lhs = value of expr`, or returns its Status from the enclosing function.
#define SERDAB_ASSIGN_OR_RETURN(lhs, expr) \
  SERDAB_ASSIGN_OR_RETURN_IMPL(SERDAB_CONCAT(serdab_result_, __LINE__), lhs, expr)
#define SERDAB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#endif  // SERDAB_ENCLAVE_COMMON_STATUS_H_
