// The MQTT publisher against a real broker (Debian's mosquitto on a free
// loopback port), read back by a libmosquitto subscriber: events and the
// retained state arrive in order on their topics, QoS 1 messages wait out a
// broker restart and go out after the reconnect, the queue is bounded and
// Close() is too, and an absent broker or a wrong password fails Connect()
// with a message naming the broker. Every wait has a deadline.
#include "cli/events/mqtt_publisher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "tests/events/mqtt_test_broker.h"

namespace serdab::events {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using testing::Message;
using testing::MosquittoBroker;
using testing::Subscriber;
using testing::WaitUntil;

ClassEvent Event(ClassEvent::Kind kind, int class_id, int64_t frame,
                 const std::string& stream = "cam1") {
  ClassEvent e;
  e.stream = stream;
  e.class_id = class_id;
  e.label = class_id == 1 ? "person" : class_id == 3 ? "car" : "";
  e.kind = kind;
  e.frame = frame;
  e.pts_seconds = static_cast<double>(frame) * 0.04;
  e.score = 0.75;
  e.count = 1;
  return e;
}

MqttOptions OptionsFor(const MosquittoBroker& broker) {
  MqttOptions options;
  options.url = broker.url();
  return options;
}

std::vector<Message> OnTopic(const std::vector<Message>& messages, const std::string& topic) {
  std::vector<Message> out;
  for (const Message& m : messages) {
    if (m.topic == topic) out.push_back(m);
  }
  return out;
}

std::vector<int64_t> Frames(const std::vector<Message>& messages) {
  std::vector<int64_t> frames;
  for (const Message& m : messages) frames.push_back(nlohmann::json::parse(m.payload)["frame"]);
  return frames;
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t i = from; i < to; ++i) out.push_back(i);
  return out;
}

TEST(ParseMqttUrlTest, HostAndPort) {
  struct Case {
    const char* url;
    const char* host;
    int port;
  };
  for (const Case& c :
       {Case{"mqtt://broker.lan", "broker.lan", 1883},
        Case{"mqtt://10.0.0.2:1884/", "10.0.0.2", 1884}, Case{"mqtt://[::1]:8883", "::1", 8883},
        Case{"mqtt://[fe80::1]", "fe80::1", 1883}}) {
    Result<MqttAddress> address = ParseMqttUrl(c.url);
    ASSERT_TRUE(address.ok()) << c.url << ": " << address.status().ToString();
    EXPECT_EQ(address->host, c.host) << c.url;
    EXPECT_EQ(address->port, c.port) << c.url;
  }
}

TEST(ParseMqttUrlTest, SaysWhatIsWrong) {
  struct Case {
    const char* url;
    const char* reason;
  };
  for (const Case& c :
       {Case{"broker:1883", "does not start with mqtt://"},
        Case{"tcp://broker", "does not start with mqtt://"}, Case{"mqtts://broker", "TLS"},
        Case{"mqtt://", "no host"}, Case{"mqtt://:1883", "no host"}, Case{"mqtt://broker:", "port"},
        Case{"mqtt://broker:0", "port"}, Case{"mqtt://broker:65536", "port"},
        Case{"mqtt://broker:18a3", "port"}, Case{"mqtt://broker/serdab", "path"},
        Case{"mqtt://user:secret@broker", "username and password as options"},
        Case{"mqtt://::1", "brackets"}, Case{"mqtt://[::1", "']'"},
        Case{"mqtt://[::1]1883", ":PORT"}}) {
    Result<MqttAddress> address = ParseMqttUrl(c.url);
    ASSERT_FALSE(address.ok()) << c.url;
    EXPECT_EQ(address.status().code(), Status::Code::kInvalidArgument) << c.url;
    EXPECT_NE(address.status().message().find(std::string("'") + c.url + "'"), std::string::npos)
        << address.status().message();
    EXPECT_NE(address.status().message().find(c.reason), std::string::npos)
        << address.status().message();
  }
}

TEST(MqttPublisherTest, RejectsOptionsBeforeConnecting) {
  MqttOptions options;
  options.url = "mqtt://127.0.0.1:1";
  auto rejects = [](MqttOptions o, const std::string& reason) {
    Result<std::unique_ptr<MqttPublisher>> mqtt = MqttPublisher::Connect(o);
    ASSERT_FALSE(mqtt.ok()) << reason;
    EXPECT_EQ(mqtt.status().code(), Status::Code::kInvalidArgument) << mqtt.status().message();
    EXPECT_NE(mqtt.status().message().find(reason), std::string::npos) << mqtt.status().message();
  };
  MqttOptions o = options;
  o.url = "mqtt://127.0.0.1:99999";
  rejects(o, "port");
  o = options;
  o.qos = 2;
  rejects(o, "QoS");
  o = options;
  o.topic_prefix = "home/#";
  rejects(o, "prefix 'home/#'");
  o = options;
  o.topic_prefix = "";
  rejects(o, "prefix");
  o = options;
  o.keepalive_seconds = 1;
  rejects(o, "keepalive");
  o = options;
  o.max_queued = 0;
  rejects(o, "max_queued");
  o = options;
  o.max_inflight = 0;
  rejects(o, "max_inflight");
}

TEST(MqttPublisherTest, EventsAndRetainedStateArriveInOrder) {
  MosquittoBroker broker;
  ASSERT_EQ(broker.Start(), "");
  Subscriber subscriber;
  ASSERT_EQ(subscriber.Subscribe(broker.port(), "serdab/#"), "");
  Result<std::unique_ptr<MqttPublisher>> connected = MqttPublisher::Connect(OptionsFor(broker));
  ASSERT_TRUE(connected.ok()) << connected.status().ToString();
  std::unique_ptr<MqttPublisher> mqtt = std::move(connected).value();
  EXPECT_TRUE(mqtt->connected());

  // A stream's name is one topic level, without wildcards.
  EXPECT_EQ(mqtt->EventsTopic("front/door #1+"), "serdab/front_door _1_/events");
  const std::string stream = "front/door";
  const std::vector<ClassEvent> events = {Event(ClassEvent::kAppeared, 1, 10, stream),
                                          Event(ClassEvent::kAppeared, 3, 12, stream),
                                          Event(ClassEvent::kLeft, 1, 30, stream)};
  for (const ClassEvent& e : events) mqtt->Publish(e);
  mqtt->Close();  // flushes
  MqttCounters counters = mqtt->counters();
  EXPECT_EQ(counters.published, 6);
  EXPECT_EQ(counters.pending, 0);
  EXPECT_EQ(counters.dropped, 0);
  EXPECT_FALSE(mqtt->connected());

  const std::vector<Message> all = subscriber.WaitFor(6, 10s);
  ASSERT_EQ(all.size(), 6u);
  const std::vector<Message> event_messages = OnTopic(all, "serdab/front_door/events");
  ASSERT_EQ(event_messages.size(), 3u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(nlohmann::json::parse(event_messages[i].payload), ToJson(events[i]));
  }
  const std::vector<Message> states = OnTopic(all, "serdab/front_door/state");
  ASSERT_EQ(states.size(), 3u);
  const nlohmann::json person = {
      {"class", 1}, {"label", "person"}, {"since_frame", 10}, {"since_pts", 10 * 0.04}};
  const nlohmann::json car = {
      {"class", 3}, {"label", "car"}, {"since_frame", 12}, {"since_pts", 12 * 0.04}};
  EXPECT_EQ(nlohmann::json::parse(states[0].payload)["classes"], nlohmann::json::array({person}));
  EXPECT_EQ(nlohmann::json::parse(states[1].payload)["classes"],
            nlohmann::json::array({person, car}));
  const nlohmann::json last = {{"stream", stream},
                               {"frame", 30},
                               {"pts", 30 * 0.04},
                               {"classes", nlohmann::json::array({car})}};
  EXPECT_EQ(nlohmann::json::parse(states[2].payload), last);

  // Whoever subscribes later is told what the camera sees now.
  Subscriber late("events-test-late");
  ASSERT_EQ(late.Subscribe(broker.port(), "serdab/+/state"), "");
  const std::vector<Message> retained = late.WaitFor(1, 10s);
  ASSERT_EQ(retained.size(), 1u);
  EXPECT_TRUE(retained[0].retained);
  EXPECT_EQ(nlohmann::json::parse(retained[0].payload), last);

  mqtt->Publish(events[0]);  // after Close()
  EXPECT_EQ(mqtt->counters().dropped, 2);
}

TEST(MqttPublisherTest, QosZeroDeliversAndDropsWhileDisconnected) {
  MosquittoBroker broker;
  ASSERT_EQ(broker.Start(), "");
  Subscriber subscriber;
  ASSERT_EQ(subscriber.Subscribe(broker.port(), "serdab/cam1/events"), "");
  MqttOptions options = OptionsFor(broker);
  options.qos = 0;
  options.publish_state = false;
  Result<std::unique_ptr<MqttPublisher>> connected = MqttPublisher::Connect(options);
  ASSERT_TRUE(connected.ok()) << connected.status().ToString();
  std::unique_ptr<MqttPublisher> mqtt = std::move(connected).value();

  for (int64_t frame = 0; frame < 3; ++frame) mqtt->Publish(Event(ClassEvent::kAppeared, 1, frame));
  EXPECT_EQ(Frames(subscriber.WaitFor(3, 10s)), Range(0, 3));
  EXPECT_TRUE(WaitUntil([&] { return mqtt->counters().published == 3; }, 10s));

  broker.Stop();
  ASSERT_TRUE(WaitUntil([&] { return !mqtt->connected(); }, 10s));
  mqtt->Publish(Event(ClassEvent::kLeft, 1, 3));
  const MqttCounters counters = mqtt->counters();
  EXPECT_EQ(counters.dropped, 1);
  EXPECT_EQ(counters.pending, 0);
}

TEST(MqttPublisherTest, QueuesWhileTheBrokerIsAwayAndSendsAfterTheReconnect) {
  // The broker keeps the subscriber's session across its restart, so that
  // what the publisher sends before the subscriber is back waits for it.
  MosquittoBroker::Options persisting;
  persisting.persistence = true;
  MosquittoBroker broker(persisting);
  ASSERT_EQ(broker.Start(), "");
  Subscriber subscriber;
  ASSERT_EQ(subscriber.Subscribe(broker.port(), "serdab/cam1/events"), "");
  MqttOptions options = OptionsFor(broker);
  options.publish_state = false;
  Result<std::unique_ptr<MqttPublisher>> connected = MqttPublisher::Connect(options);
  ASSERT_TRUE(connected.ok()) << connected.status().ToString();
  std::unique_ptr<MqttPublisher> mqtt = std::move(connected).value();

  for (int64_t frame = 0; frame < 3; ++frame) mqtt->Publish(Event(ClassEvent::kAppeared, 1, frame));
  EXPECT_EQ(Frames(subscriber.WaitFor(3, 10s)), Range(0, 3));
  ASSERT_TRUE(WaitUntil([&] { return mqtt->counters().published == 3; }, 10s));

  broker.Stop();
  ASSERT_TRUE(WaitUntil([&] { return !mqtt->connected(); }, 10s));
  // More than max_inflight (20), none of them waiting for the network.
  const auto start = Clock::now();
  for (int64_t frame = 3; frame < 33; ++frame) {
    mqtt->Publish(Event(ClassEvent::kAppeared, 1, frame));
  }
  EXPECT_LT(Clock::now() - start, 500ms);
  MqttCounters counters = mqtt->counters();
  EXPECT_EQ(counters.pending, 30);
  EXPECT_EQ(counters.dropped, 0);

  ASSERT_EQ(broker.Start(), "");
  EXPECT_TRUE(WaitUntil([&] { return mqtt->counters().published == 33; }, 30s))
      << "published " << mqtt->counters().published;
  EXPECT_TRUE(mqtt->connected());
  // QoS 1 is at least once: what the broker delivered before it stopped
  // and the subscriber had not acknowledged yet (one message or several),
  // it delivers again after the restart. So every frame arrives, the first
  // arrival of each in order, and a repeat only of frames before the stop.
  const std::vector<int64_t> frames = Frames(subscriber.WaitFor(
      [](const std::vector<Message>& m) {
        return !m.empty() && Frames({m.back()}) == std::vector<int64_t>{32};
      },
      30s));
  std::vector<int64_t> first_arrivals;
  for (int64_t frame : frames) {
    if (std::find(first_arrivals.begin(), first_arrivals.end(), frame) == first_arrivals.end()) {
      first_arrivals.push_back(frame);
    } else {
      EXPECT_LT(frame, 3) << "frame " << frame << " was sent once, after the restart";
    }
  }
  EXPECT_EQ(first_arrivals, Range(0, 33));
  counters = mqtt->counters();
  EXPECT_EQ(counters.pending, 0);
  EXPECT_EQ(counters.dropped, 0);
}

TEST(MqttPublisherTest, DropsBeyondMaxQueuedAndClosesInBoundedTime) {
  MosquittoBroker broker;
  ASSERT_EQ(broker.Start(), "");
  MqttOptions options = OptionsFor(broker);
  options.publish_state = false;
  options.max_queued = 5;
  options.flush_timeout = 300ms;
  Result<std::unique_ptr<MqttPublisher>> connected = MqttPublisher::Connect(options);
  ASSERT_TRUE(connected.ok()) << connected.status().ToString();
  std::unique_ptr<MqttPublisher> mqtt = std::move(connected).value();

  broker.Stop();
  ASSERT_TRUE(WaitUntil([&] { return !mqtt->connected(); }, 10s));
  for (int64_t frame = 0; frame < 8; ++frame) mqtt->Publish(Event(ClassEvent::kAppeared, 1, frame));
  MqttCounters counters = mqtt->counters();
  EXPECT_EQ(counters.pending, 5);
  EXPECT_EQ(counters.dropped, 3);

  // The network thread sleeps between reconnects; Close() does not wait
  // for it to wake.
  const auto start = Clock::now();
  mqtt->Close();
  EXPECT_LT(Clock::now() - start, 1500ms);
  counters = mqtt->counters();
  EXPECT_EQ(counters.published, 0);
  EXPECT_EQ(counters.pending, 0);
  EXPECT_EQ(counters.dropped, 8);
  mqtt->Close();  // idempotent
}

TEST(MqttPublisherTest, NoBrokerFailsWithinTheTimeoutNamingTheAddress) {
  const int port = ingest::testing::FreePort();
  MqttOptions options;
  options.url = "mqtt://127.0.0.1:" + std::to_string(port);
  options.connect_timeout = 1000ms;
  const auto start = Clock::now();
  Result<std::unique_ptr<MqttPublisher>> mqtt = MqttPublisher::Connect(options);
  const auto took = Clock::now() - start;
  ASSERT_FALSE(mqtt.ok());
  EXPECT_EQ(mqtt.status().code(), Status::Code::kIoError);
  const std::string& message = mqtt.status().message();
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
  EXPECT_NE(message.find("within 1.0 s"), std::string::npos) << message;
  EXPECT_NE(message.find("Connection refused"), std::string::npos) << message;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2500ms);
}

TEST(MqttPublisherTest, AWrongPasswordIsRefused) {
  MosquittoBroker::Options with_user;
  with_user.username = "camera";
  with_user.password = "s3cret";
  MosquittoBroker broker(with_user);
  ASSERT_EQ(broker.Start(), "");
  const std::string address = "127.0.0.1:" + std::to_string(broker.port());
  MqttOptions options = OptionsFor(broker);

  auto refused = [&](const MqttOptions& o) {
    const auto start = Clock::now();
    Result<std::unique_ptr<MqttPublisher>> mqtt = MqttPublisher::Connect(o);
    EXPECT_LT(Clock::now() - start, 2s);
    ASSERT_FALSE(mqtt.ok());
    EXPECT_EQ(mqtt.status().code(), Status::Code::kPermissionDenied);
    EXPECT_NE(mqtt.status().message().find(address), std::string::npos) << mqtt.status().message();
    EXPECT_NE(mqtt.status().message().find("username and password"), std::string::npos)
        << mqtt.status().message();
  };
  refused(options);  // anonymous
  options.username = "camera";
  options.password = "wrong";
  refused(options);

  options.password = "s3cret";
  Result<std::unique_ptr<MqttPublisher>> mqtt = MqttPublisher::Connect(options);
  ASSERT_TRUE(mqtt.ok()) << mqtt.status().ToString();
  (*mqtt)->Publish(Event(ClassEvent::kAppeared, 1, 0));
  (*mqtt)->Close();
  EXPECT_EQ((*mqtt)->counters().published, 2);  // the event and the state, acknowledged
}

}  // namespace
}  // namespace serdab::events
