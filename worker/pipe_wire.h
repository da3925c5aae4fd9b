// The data plane's Pipe messages (proto/serdab/v1/data_plane.proto) as gRPC
// byte buffers, for the workers' ends of a pipe: a frame's payload is never
// copied into or out of a protobuf string. A frame is written as its fields'
// few bytes followed by the payload's own memory, and read as views into the
// slices gRPC received. The bytes on the wire are the protobuf encoding, so
// the other end may use the generated classes (the camera client does).
#ifndef SERDAB_WORKER_PIPE_WIRE_H_
#define SERDAB_WORKER_PIPE_WIRE_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/support/byte_buffer.h>

#include "enclave/common/status.h"
#include "serdab/v1/data_plane.pb.h"
#include "worker/pipe_frame.h"

namespace serdab::worker {

// A PipeRequest as read: the pipe's opening, or a frame.
struct PipeRequestMessage {
  bool is_open = false;
  v1::PipeOpen open;
  PipeFrame frame;  // when !is_open; its payload shares the buffer's slices
};

// Reads a PipeRequest. Any valid encoding is read as protobuf would read it;
// a frame encoded the way WritePipeFrame and protobuf write one is read
// without copying its payload, others are copied and parsed by protobuf.
// InvalidArgument for bytes that are not a PipeRequest, or one that holds
// neither an opening nor a frame.
Result<PipeRequestMessage> ReadPipeRequest(const grpc::ByteBuffer& buffer);

// A PipeRequest holding `frame`, whose payload it shares, not copies.
grpc::ByteBuffer WritePipeFrame(const PipeFrame& frame);

// `message` serialised by protobuf (the pipe's opening, its replies).
Result<grpc::ByteBuffer> WriteMessage(const google::protobuf::MessageLite& message);

}  // namespace serdab::worker

#endif  // SERDAB_WORKER_PIPE_WIRE_H_
