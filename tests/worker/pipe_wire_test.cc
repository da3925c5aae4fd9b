// The Pipe's byte-buffer codec against protobuf's own: whatever protobuf
// writes, ReadPipeRequest reads the same way, in whatever slices it arrives,
// and what WritePipeFrame writes, protobuf reads back.
#include "worker/pipe_wire.h"

#include <grpcpp/support/slice.h>
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace serdab::worker {
namespace {

// `bytes` as gRPC might deliver it: cut into slices at `cuts`.
grpc::ByteBuffer Sliced(const std::string& bytes, std::vector<size_t> cuts) {
  std::vector<grpc::Slice> slices;
  size_t at = 0;
  cuts.push_back(bytes.size());
  for (size_t cut : cuts) {
    slices.emplace_back(bytes.data() + at, cut - at);
    at = cut;
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

std::string Flat(const Payload& payload) {
  std::string out;
  for (const ByteView& part : payload.parts) out.append(part.begin(), part.end());
  return out;
}

std::string Flat(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) out.append(s.begin(), s.end());
  return out;
}

v1::PipeRequest FrameRequest(uint64_t id, size_t payload_size) {
  v1::PipeRequest request;
  v1::Frame* frame = request.mutable_frame();
  frame->set_id(id);
  frame->set_stream(7);
  frame->set_in_session(0x1234567890abcdefull);
  frame->set_tail_session(uint64_t{1} << 63);
  frame->set_lane(static_cast<uint32_t>(id % 3));
  std::string payload(payload_size, '\0');
  for (size_t i = 0; i < payload_size; ++i) payload[i] = static_cast<char>(i * 131 + id);
  frame->set_payload(payload);
  return request;
}

void ExpectSameFrame(const v1::Frame& want, const PipeFrame& got) {
  EXPECT_EQ(got.id, want.id());
  EXPECT_EQ(got.stream, want.stream());
  EXPECT_EQ(got.in_session, want.in_session());
  EXPECT_EQ(got.tail_session, want.tail_session());
  EXPECT_EQ(got.lane, want.lane());
  EXPECT_EQ(Flat(got.payload), want.payload());
}

TEST(PipeWireTest, ReadsProtobufFramesInAnySlicesWithoutJoiningThePayload) {
  std::mt19937 rng(1);
  for (size_t payload_size : {0, 1, 300, 70000}) {
    const v1::PipeRequest request = FrameRequest(payload_size + 1, payload_size);
    const std::string bytes = request.SerializeAsString();
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<size_t> cuts;
      for (size_t at = std::uniform_int_distribution<size_t>(0, 40)(rng); at < bytes.size();
           at += std::uniform_int_distribution<size_t>(1, bytes.size())(rng)) {
        cuts.push_back(at);
      }
      auto read = ReadPipeRequest(Sliced(bytes, cuts));
      ASSERT_TRUE(read.ok()) << read.status().ToString();
      ASSERT_FALSE(read->is_open);
      ExpectSameFrame(request.frame(), read->frame);
      EXPECT_NE(read->frame.payload.owner, nullptr);
    }
  }
  // A payload across three slices is read as three views of them.
  const v1::PipeRequest request = FrameRequest(1, 3000);
  const std::string bytes = request.SerializeAsString();
  auto read = ReadPipeRequest(Sliced(bytes, {bytes.size() - 2000, bytes.size() - 1000}));
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->frame.payload.parts.size(), 3u);
}

TEST(PipeWireTest, WritesWhatProtobufReads) {
  const v1::PipeRequest request = FrameRequest(10, 5000);
  PipeFrame frame;
  frame.id = 10;
  frame.stream = 7;
  frame.in_session = request.frame().in_session();
  frame.tail_session = request.frame().tail_session();
  frame.lane = request.frame().lane();
  auto memory = std::make_shared<std::string>(request.frame().payload());
  const ByteView all(reinterpret_cast<const uint8_t*>(memory->data()), memory->size());
  frame.payload.parts = {all.subspan(0, 10), all.subspan(10, 0), all.subspan(10)};
  frame.payload.owner = memory;
  const grpc::ByteBuffer written = WritePipeFrame(frame);
  // The same bytes protobuf writes, and the buffer keeps the payload alive.
  memory.reset();
  frame.payload = Payload();
  EXPECT_EQ(Flat(written), request.SerializeAsString());
  v1::PipeRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(Flat(written)));
  EXPECT_EQ(parsed.frame().payload(), request.frame().payload());
  // And back.
  auto read = ReadPipeRequest(written);
  ASSERT_TRUE(read.ok());
  ExpectSameFrame(request.frame(), read->frame);
}

TEST(PipeWireTest, OtherEncodingsAreReadAsProtobufReadsThem) {
  const v1::PipeRequest request = FrameRequest(3, 100);
  const std::string payload = request.frame().payload();
  // Fields out of order, a payload given twice (the last counts), a field this
  // version does not know, and a frame field split in two (merged).
  v1::Frame later;
  later.set_payload("replaced");
  later.set_id(4);
  std::vector<std::string> encodings;
  encodings.push_back(later.SerializeAsString());
  {
    v1::Frame first;
    first.set_payload(payload);
    first.set_stream(7);
    v1::Frame second;
    second.set_id(3);
    second.set_payload("second");
    encodings.push_back(first.SerializeAsString() + second.SerializeAsString());
    // Field 15, varint 1: unknown.
    encodings.push_back(first.SerializeAsString() + std::string("\x78\x01", 2));
  }
  for (const std::string& frame_bytes : encodings) {
    const std::string frame_field =
        std::string("\x12", 1) + static_cast<char>(frame_bytes.size()) + frame_bytes;
    for (const std::string& bytes : {frame_field, frame_field + frame_field}) {
      v1::PipeRequest want;
      ASSERT_TRUE(want.ParseFromString(bytes));
      auto read = ReadPipeRequest(Sliced(bytes, {bytes.size() / 2}));
      ASSERT_TRUE(read.ok()) << read.status().ToString();
      ExpectSameFrame(want.frame(), read->frame);
    }
  }
}

TEST(PipeWireTest, OpeningsAndMalformedMessages) {
  v1::PipeRequest open;
  open.mutable_open()->add_stages()->set_address("127.0.0.1:1");
  open.mutable_open()->set_first_stage(2);
  auto written = WriteMessage(open);
  ASSERT_TRUE(written.ok());
  auto read = ReadPipeRequest(*written);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->is_open);
  EXPECT_EQ(read->open.stages(0).address(), "127.0.0.1:1");
  EXPECT_EQ(read->open.first_stage(), 2u);

  const std::string bytes = FrameRequest(1, 100).SerializeAsString();
  for (const std::string& bad : {std::string(), bytes.substr(0, bytes.size() - 1),
                                 std::string("\x12\x05\x2a\x09", 4), std::string("\xff", 1)}) {
    auto r = ReadPipeRequest(Sliced(bad, {}));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace serdab::worker
