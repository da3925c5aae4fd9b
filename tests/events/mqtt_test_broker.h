// A real MQTT broker for the publisher tests: Debian's mosquitto on a free
// loopback port, with a config file the test writes, stopped by pid when the
// test ends (pass or fail); and a subscriber on libmosquitto that records
// what arrives.
#ifndef SERDAB_TESTS_EVENTS_MQTT_TEST_BROKER_H_
#define SERDAB_TESTS_EVENTS_MQTT_TEST_BROKER_H_

#include <mosquitto.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/ingest/test_media.h"

namespace serdab::events::testing {

using ingest::testing::ChildProcess;
using ingest::testing::ScratchDir;

// Where Debian's mosquitto package puts the broker and its password tool.
inline constexpr char kMosquitto[] = "/usr/sbin/mosquitto";
inline constexpr char kMosquittoPasswd[] = "/usr/bin/mosquitto_passwd";
inline constexpr char kMissingBroker[] =
    "the MQTT tests run a real broker: install Debian's mosquitto and libmosquitto-dev "
    "packages (scripts/install-deps.sh does)";

// Polls `done` every 10 ms until it holds or `timeout` passes; whether it held.
inline bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class MosquittoBroker {
 public:
  struct Options {
    // A user the broker accepts; anonymous clients are then refused.
    std::string username;
    std::string password;
    // Sessions and their queued messages survive a Stop() and Start().
    bool persistence = false;
  };

  explicit MosquittoBroker(Options options) : options_(std::move(options)) {}
  MosquittoBroker() : MosquittoBroker(Options{}) {}

  // Writes the config (and password file) and starts the broker on a free
  // port, the same port again after a Stop(); "" once it listens, else why
  // not.
  std::string Start() {
    if (!std::filesystem::exists(kMosquitto)) return kMissingBroker;
    if (port_ == 0) port_ = ingest::testing::FreePort();
    std::ofstream config(dir_ / "mosquitto.conf");
    config << "listener " << port_
           << " 127.0.0.1\n"
           // Started by root, mosquitto would switch to its own user, who
           // cannot read this test's files; started by anyone else, it
           // ignores the line.
           << "user root\n"
           << "log_dest stderr\nlog_type error\n";
    if (options_.username.empty()) {
      config << "allow_anonymous true\n";
    } else {
      const std::string passwords = dir_ / "passwords";
      ChildProcess tool(
          {kMosquittoPasswd, "-b", "-c", passwords, options_.username, options_.password}, false);
      if (!tool.started() || tool.WaitExit(std::chrono::seconds(10)) != 0) {
        return std::string("mosquitto_passwd failed to write ") + passwords;
      }
      config << "allow_anonymous false\npassword_file " << passwords << "\n";
    }
    if (options_.persistence) {
      config << "persistence true\npersistence_location " << dir_.path() << "/\n";
    }
    config.close();
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{kMosquitto, "-c", dir_ / "mosquitto.conf"}, false);
    if (!process_->started()) return std::string("cannot start ") + kMosquitto;
    if (!WaitUntil([this] { return ingest::testing::IsListening(port_); },
                   std::chrono::seconds(10))) {
      return "mosquitto did not listen on 127.0.0.1:" + std::to_string(port_) + " within 10 s";
    }
    return "";
  }

  // SIGTERM (a persisting broker saves its sessions), then waits for it.
  void Stop() { process_.reset(); }

  int port() const { return port_; }
  std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }

 private:
  Options options_;
  ScratchDir dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

struct Message {
  std::string topic;
  std::string payload;
  bool retained = false;
};

// A libmosquitto client subscribed to a topic filter at QoS 1. Its session
// is persistent (a fixed client id, no clean start), so that a persisting
// broker keeps its subscription, and the messages for it, across a restart.
class Subscriber {
 public:
  explicit Subscriber(const std::string& client_id = "events-test-subscriber") {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(client_id.c_str(), /*clean_session=*/false, this);
    mosquitto_message_callback_set(mosq_, &Subscriber::OnMessage);
    mosquitto_subscribe_callback_set(mosq_, &Subscriber::OnSubscribe);
    mosquitto_reconnect_delay_set(mosq_, 1, 1, false);
  }
  ~Subscriber() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
    mosquitto_lib_cleanup();
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // "" once subscribed, else why not.
  std::string Subscribe(int port, const std::string& filter) {
    int rc = mosquitto_connect(mosq_, "127.0.0.1", port, 30);
    if (rc != MOSQ_ERR_SUCCESS) return std::string("connect: ") + mosquitto_strerror(rc);
    rc = mosquitto_loop_start(mosq_);
    if (rc != MOSQ_ERR_SUCCESS) return std::string("loop_start: ") + mosquitto_strerror(rc);
    rc = mosquitto_subscribe(mosq_, nullptr, filter.c_str(), 1);
    if (rc != MOSQ_ERR_SUCCESS) return std::string("subscribe: ") + mosquitto_strerror(rc);
    std::unique_lock<std::mutex> lock(mutex_);
    if (!changed_.wait_for(lock, std::chrono::seconds(10), [this] { return subscribed_; })) {
      return "no SUBACK within 10 s";
    }
    return "";
  }

  // The messages so far, once `done` holds for them or `timeout` passed.
  std::vector<Message> WaitFor(const std::function<bool(const std::vector<Message>&)>& done,
                               std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return done(messages_); });
    return messages_;
  }
  // ... once there are at least `n`.
  std::vector<Message> WaitFor(size_t n, std::chrono::milliseconds timeout) {
    return WaitFor([n](const std::vector<Message>& m) { return m.size() >= n; }, timeout);
  }

 private:
  static void OnSubscribe(mosquitto*, void* self, int, int, const int*) {
    Subscriber* s = static_cast<Subscriber*>(self);
    std::lock_guard<std::mutex> lock(s->mutex_);
    s->subscribed_ = true;
    s->changed_.notify_all();
  }
  static void OnMessage(mosquitto*, void* self, const mosquitto_message* m) {
    Subscriber* s = static_cast<Subscriber*>(self);
    std::lock_guard<std::mutex> lock(s->mutex_);
    s->messages_.push_back(
        {m->topic,
         std::string(static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen)),
         m->retain});
    s->changed_.notify_all();
  }

  mosquitto* mosq_ = nullptr;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool subscribed_ = false;
  std::vector<Message> messages_;
};

}  // namespace serdab::events::testing

#endif  // SERDAB_TESTS_EVENTS_MQTT_TEST_BROKER_H_
