#include "worker/pipe_wire.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/slice.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace serdab::worker {
namespace {

// Protobuf wire format: a field's key is (number << 3) | wire type.
constexpr uint64_t kVarint = 0;
constexpr uint64_t kLengthDelimited = 2;
constexpr uint64_t Key(uint64_t field, uint64_t type) { return field << 3 | type; }
constexpr uint64_t kFrameKey = Key(v1::PipeRequest::kFrameFieldNumber, kLengthDelimited);
constexpr uint64_t kIdKey = Key(v1::Frame::kIdFieldNumber, kVarint);
constexpr uint64_t kStreamKey = Key(v1::Frame::kStreamFieldNumber, kVarint);
constexpr uint64_t kInSessionKey = Key(v1::Frame::kInSessionFieldNumber, kVarint);
constexpr uint64_t kTailSessionKey = Key(v1::Frame::kTailSessionFieldNumber, kVarint);
constexpr uint64_t kPayloadKey = Key(v1::Frame::kPayloadFieldNumber, kLengthDelimited);
constexpr uint64_t kLaneKey = Key(v1::Frame::kLaneFieldNumber, kVarint);
constexpr size_t kMaxVarint = 10;

// Reads a message that lies in several slices without joining them.
class SliceReader {
 public:
  explicit SliceReader(const std::vector<grpc::Slice>& slices) : slices_(slices) {
    for (const grpc::Slice& s : slices_) remaining_ += s.size();
  }

  size_t remaining() const { return remaining_; }

  bool ReadVarint(uint64_t* value) {
    *value = 0;
    for (size_t i = 0; i < kMaxVarint; ++i) {
      if (remaining_ == 0) return false;
      Skip();
      const uint8_t byte = slices_[slice_].begin()[offset_++];
      remaining_--;
      *value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  // Views of the next `n` bytes (at most remaining()).
  void Take(size_t n, std::vector<ByteView>* parts) {
    remaining_ -= n;
    while (n > 0) {
      Skip();
      const grpc::Slice& s = slices_[slice_];
      const size_t k = std::min(n, s.size() - offset_);
      parts->push_back(ByteView(s.begin() + offset_, k));
      offset_ += k;
      n -= k;
    }
  }

 private:
  // Moves past exhausted slices; only called with bytes remaining.
  void Skip() {
    while (offset_ == slices_[slice_].size()) {
      slice_++;
      offset_ = 0;
    }
  }

  const std::vector<grpc::Slice>& slices_;
  size_t slice_ = 0;
  size_t offset_ = 0;
  size_t remaining_ = 0;
};

// A frame as protobuf and WritePipeFrame encode one: a PipeRequest whose only
// field is `frame`, holding only the Frame's own fields. False for any other
// encoding (left to protobuf, which knows them all).
bool ReadPlainFrame(const std::vector<grpc::Slice>& slices, PipeFrame* frame) {
  SliceReader in(slices);
  uint64_t key = 0, size = 0, value = 0;
  if (!in.ReadVarint(&key) || key != kFrameKey || !in.ReadVarint(&size) || size != in.remaining()) {
    return false;
  }
  // As in protobuf, a field that appears again replaces the earlier value.
  while (in.remaining() > 0) {
    if (!in.ReadVarint(&key)) return false;
    switch (key) {
      case kIdKey:
        if (!in.ReadVarint(&frame->id)) return false;
        break;
      case kStreamKey:
        if (!in.ReadVarint(&frame->stream)) return false;
        break;
      case kInSessionKey:
        if (!in.ReadVarint(&frame->in_session)) return false;
        break;
      case kTailSessionKey:
        if (!in.ReadVarint(&frame->tail_session)) return false;
        break;
      case kLaneKey:
        if (!in.ReadVarint(&value) || value > UINT32_MAX) return false;
        frame->lane = static_cast<uint32_t>(value);
        break;
      case kPayloadKey:
        if (!in.ReadVarint(&size) || size > in.remaining()) return false;
        frame->payload.parts.clear();
        in.Take(size, &frame->payload.parts);
        break;
      default:
        return false;
    }
  }
  return true;
}

void PutVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Like protobuf, fields at their default value are left out.
void PutVarintField(uint64_t key, uint64_t value, std::string* out) {
  if (value == 0) return;
  PutVarint(key, out);
  PutVarint(value, out);
}

}  // namespace

Result<PipeRequestMessage> ReadPipeRequest(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return Status::InvalidArgument("unreadable pipe message");
  PipeRequestMessage message;
  auto held = std::make_shared<std::vector<grpc::Slice>>(std::move(slices));
  if (ReadPlainFrame(*held, &message.frame)) {
    message.frame.payload.owner = std::move(held);
    return message;
  }
  message.frame = PipeFrame();
  std::string bytes;
  bytes.reserve(buffer.Length());
  for (const grpc::Slice& s : *held) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  v1::PipeRequest request;
  if (!request.ParseFromString(bytes)) {
    return Status::InvalidArgument("a pipe message is not a PipeRequest");
  }
  if (request.has_open()) {
    message.is_open = true;
    message.open = std::move(*request.mutable_open());
    return message;
  }
  if (!request.has_frame()) {
    return Status::InvalidArgument("a pipe message holds neither an opening nor a frame");
  }
  v1::Frame& frame = *request.mutable_frame();
  message.frame.id = frame.id();
  message.frame.stream = frame.stream();
  message.frame.in_session = frame.in_session();
  message.frame.tail_session = frame.tail_session();
  message.frame.lane = frame.lane();
  auto payload = std::make_shared<std::string>(std::move(*frame.mutable_payload()));
  message.frame.payload.parts = {
      ByteView(reinterpret_cast<const uint8_t*>(payload->data()), payload->size())};
  message.frame.payload.owner = std::move(payload);
  return message;
}

grpc::ByteBuffer WritePipeFrame(const PipeFrame& frame) {
  const size_t payload_size = frame.payload.size();
  std::string fields;
  PutVarintField(kIdKey, frame.id, &fields);
  PutVarintField(kStreamKey, frame.stream, &fields);
  PutVarintField(kInSessionKey, frame.in_session, &fields);
  PutVarintField(kTailSessionKey, frame.tail_session, &fields);
  if (payload_size > 0) {
    PutVarint(kPayloadKey, &fields);
    PutVarint(payload_size, &fields);
  }
  // After the payload, in field order, as protobuf writes it.
  std::string tail;
  PutVarintField(kLaneKey, frame.lane, &tail);
  std::string head;
  PutVarint(kFrameKey, &head);
  PutVarint(fields.size() + payload_size + tail.size(), &head);
  head += fields;

  std::vector<grpc::Slice> slices;
  slices.reserve(2 + frame.payload.parts.size());
  slices.emplace_back(head.data(), head.size());
  for (const ByteView& part : frame.payload.parts) {
    if (part.empty()) continue;
    // Each slice holds a reference to the payload's memory until gRPC has
    // sent it. gRPC only reads what it sends, so the const_cast is safe.
    auto* owner = new std::shared_ptr<const void>(frame.payload.owner);
    slices.emplace_back(
        const_cast<uint8_t*>(part.data()), part.size(),
        [](void* held) { delete static_cast<std::shared_ptr<const void>*>(held); }, owner);
  }
  if (!tail.empty()) slices.emplace_back(tail.data(), tail.size());
  return grpc::ByteBuffer(slices.data(), slices.size());
}

Result<grpc::ByteBuffer> WriteMessage(const google::protobuf::MessageLite& message) {
  grpc::ByteBuffer buffer;
  bool own = false;
  const grpc::Status status =
      grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(message, &buffer, &own);
  if (!status.ok())
    return Status::Internal("serialising a pipe message: " + status.error_message());
  return buffer;
}

}  // namespace serdab::worker
