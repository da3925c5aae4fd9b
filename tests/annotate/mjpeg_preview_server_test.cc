// The MJPEG preview over real HTTP on a free loopback port, read with
// httplib's client: snapshots are JPEGs of the published size, the .mjpg
// stream sends a part per new picture, names are escaped and mapped, and
// Stop() does not wait for a browser that is still watching.
#include "cli/annotate/mjpeg_preview_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "tests/annotate/test_pictures.h"

namespace serdab::annotate {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Solid;

// The JPEG parts found so far in a multipart body, each checked against its
// Content-Length.
struct PartCounter {
  std::mutex mutex;
  std::string body;
  int parts = 0;
  bool malformed = false;

  void Add(const char* data, size_t size) {
    std::lock_guard<std::mutex> lock(mutex);
    body.append(data, size);
    while (true) {
      const std::string key = "Content-Length: ";
      const size_t at = body.find(key);
      if (at == std::string::npos) return;
      const size_t line_end = body.find("\r\n\r\n", at);
      if (line_end == std::string::npos) return;
      const size_t length = std::stoul(body.substr(at + key.size()));
      const size_t start = line_end + 4;
      if (body.size() < start + length + 2) return;
      const std::string jpeg = body.substr(start, length);
      malformed = malformed || jpeg.substr(0, 2) != "\xFF\xD8" ||
                  jpeg.substr(length - 2) != "\xFF\xD9" ||
                  body.substr(start + length, 2) != "\r\n" ||
                  body.substr(0, at).find("Content-Type: image/jpeg") == std::string::npos;
      ++parts;
      body.erase(0, start + length);
    }
  }
  int Parts() {
    std::lock_guard<std::mutex> lock(mutex);
    return parts;
  }
};

class PreviewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Status started = server_.Start("127.0.0.1:0");
    ASSERT_TRUE(started.ok()) << started.message();
    ASSERT_GT(server_.port(), 0);
    EXPECT_EQ(server_.url(), "http://127.0.0.1:" + std::to_string(server_.port()));
  }
  void TearDown() override { server_.Stop(); }

  httplib::Client Client() {
    httplib::Client client("127.0.0.1", server_.port());
    client.set_read_timeout(5);
    return client;
  }

  MjpegPreviewServer server_;
};

TEST_F(PreviewTest, SnapshotIsAJpegOfThePublishedPicture) {
  EXPECT_EQ(server_.AddStream("cam1"), "/streams/cam1");
  auto before = Client().Get("/streams/cam1.jpg");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 503);
  EXPECT_NE(before->body.find("no picture yet"), std::string::npos) << before->body;

  ASSERT_TRUE(server_.Publish("cam1", Solid(640, 480, Rgb{200, 30, 30})).ok());
  auto snapshot = Client().Get("/streams/cam1.jpg");
  ASSERT_TRUE(snapshot);
  ASSERT_EQ(snapshot->status, 200);
  EXPECT_EQ(snapshot->get_header_value("Content-Type"), "image/jpeg");
  const std::string& jpeg = snapshot->body;
  ASSERT_GT(jpeg.size(), 4u);
  EXPECT_EQ(jpeg.substr(0, 2), "\xFF\xD8");
  EXPECT_EQ(jpeg.substr(jpeg.size() - 2), "\xFF\xD9");
  auto decoded = testing::DecodeJpeg(jpeg);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->width, 640);
  EXPECT_EQ(decoded->height, 480);
  EXPECT_TRUE(testing::Near(testing::PixelAt(*decoded, 320, 240), Rgb{200, 30, 30}, 12));
}

TEST_F(PreviewTest, UnknownStreamsAre404) {
  ASSERT_TRUE(server_.Publish("cam1", Solid(64, 48, Rgb{1, 2, 3})).ok());
  for (const char* path : {"/streams/cam2.jpg", "/streams/cam2.mjpg", "/streams/a%20b.jpg"}) {
    auto response = Client().Get(path);
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 404) << path;
    EXPECT_NE(response->body.find("cam1"), std::string::npos) << response->body;
  }
}

TEST_F(PreviewTest, MjpegStreamSendsAPartPerNewPicture) {
  ASSERT_TRUE(server_.Publish("cam1", Solid(320, 240, Rgb{10, 200, 10})).ok());
  PartCounter counter;
  std::thread viewer([&] {
    Client().Get("/streams/cam1.mjpg", [&](const char* data, size_t size) {
      counter.Add(data, size);
      return counter.Parts() < 2;
    });
  });
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (counter.Parts() < 1 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(server_.Publish("cam1", Solid(320, 240, Rgb{10, 10, 200})).ok());
  viewer.join();
  EXPECT_GE(counter.Parts(), 2);
  EXPECT_FALSE(counter.malformed) << counter.body.substr(0, 200);
}

TEST_F(PreviewTest, StopEndsAnOpenStreamPromptly) {
  ASSERT_TRUE(server_.Publish("cam1", Solid(320, 240, Rgb{10, 200, 10})).ok());
  PartCounter counter;
  std::thread viewer([&] {
    // A viewer that would watch forever.
    Client().Get("/streams/cam1.mjpg", [&](const char* data, size_t size) {
      counter.Add(data, size);
      return true;
    });
  });
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (counter.Parts() < 1 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(counter.Parts(), 1);
  // And a browser's idle keep-alive connection, left open after the page.
  httplib::Client browser("127.0.0.1", server_.port());
  browser.set_keep_alive(true);
  ASSERT_EQ(browser.Get("/")->status, 200);
  const auto start = Clock::now();
  server_.Stop();
  const auto took = Clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(2))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  viewer.join();
  // Pictures published after Stop() are kept, and served again after Start().
  ASSERT_TRUE(server_.Publish("cam1", Solid(32, 24, Rgb{1, 2, 3})).ok());
  ASSERT_TRUE(server_.Start("127.0.0.1:0").ok());
  auto snapshot = Client().Get("/streams/cam1.jpg");
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->status, 200);
}

TEST_F(PreviewTest, NamesAreEscapedInThePageAndMappedInUrls) {
  EXPECT_EQ(server_.AddStream("front door"), "/streams/front_door");
  EXPECT_EQ(server_.AddStream("front_door"), "/streams/front_door-2");
  EXPECT_EQ(server_.AddStream("front door"), "/streams/front_door");
  EXPECT_EQ(server_.AddStream("<b>\"x\"&"), "/streams/_b__x__");
  EXPECT_EQ(server_.StreamPath("front_door"), "/streams/front_door-2");
  EXPECT_EQ(server_.StreamPath("never"), "");

  auto page = Client().Get("/");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("&lt;b&gt;&quot;x&quot;&amp;"), std::string::npos) << page->body;
  EXPECT_EQ(page->body.find("<b>"), std::string::npos);
  EXPECT_NE(page->body.find("<img src=\"/streams/front_door-2.mjpg\""), std::string::npos);
  EXPECT_EQ(Client().Get("/streams/front_door-2.jpg")->status, 503);
}

TEST(PreviewServerTest, BadAddressesAreRefused) {
  MjpegPreviewServer server;
  EXPECT_EQ(server.Start("localhost").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(server.Start("127.0.0.1:99999").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(server.Publish("x", ingest::RgbImage{2, 2, {}}).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace serdab::annotate
