// MqttPublisher: ClassEvents to an MQTT broker, for home automation (Home
// Assistant, Node-RED, openHAB subscribe to the topics), over Debian's
// libmosquitto on its own network thread.
//
//   MqttOptions options;
//   options.url = "mqtt://192.168.1.10";  // port 1883 unless given
//   SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<MqttPublisher> mqtt,
//                           MqttPublisher::Connect(options));
//   mqtt->Publish(event);  // from any thread; returns at once
//   ...
//   mqtt->Close();  // or let it go out of scope
//
// Each event goes, as ToJson(event), to <prefix>/<stream>/events; with
// publish_state, a retained <prefix>/<stream>/state follows it:
//   {"stream": "cam1", "frame": 42, "pts": 1.68, "classes": [{"class": 1,
//    "label": "person", "since_frame": 30, "since_pts": 1.2}, ...]}
// listing the classes present, by class id, so that a subscriber arriving
// later learns what the camera sees now. In topics, '/', '+' and '#' in a
// stream's name become '_' (a stream is one topic level; the others are
// wildcards).
//
// When the broker goes away, libmosquitto reconnects by itself (after 1 s,
// then 4, 9, ... up to reconnect_max_seconds) and Publish() keeps
// returning at once: QoS 1 messages wait in libmosquitto's queue and go out,
// in order, once reconnected; QoS 0 messages are dropped. At most max_queued
// messages wait at a time; beyond that, new ones are dropped. counters()
// says how many were published, wait, or were dropped. The session is
// clean: a message waits in this process, not at the broker.
//
// The connection is plain TCP (no TLS): use a broker on a trusted network.
// Events carry class names and times, never pictures.
#ifndef SERDAB_CLI_EVENTS_MQTT_PUBLISHER_H_
#define SERDAB_CLI_EVENTS_MQTT_PUBLISHER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cli/events/class_event.h"
#include "enclave/common/status.h"

namespace serdab::events {

struct MqttOptions {
  std::string url;  // mqtt://HOST[:PORT]; HOST a name, IPv4 or [IPv6]
  std::string topic_prefix = "serdab";
  std::string client_id;  // "": a random one (two clients with one id evict each other)
  std::string username;   // "": anonymous
  std::string password;
  int qos = 1;  // 0 or 1
  int keepalive_seconds = 30;
  int reconnect_max_seconds = 30;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds flush_timeout{2000};  // Close() waits this long at most
  int max_inflight = 20;                          // QoS 1 messages sent and not yet acknowledged
  int max_queued = 1000;                          // messages waiting in all (in flight too)
  bool publish_state = true;
};

// The broker's address in an mqtt:// URL.
struct MqttAddress {
  std::string host;  // without the brackets of an IPv6 address
  int port = 1883;
};

// InvalidArgument quoting the URL and saying what is wrong when it is not
// mqtt://HOST[:PORT] with a port from 1 to 65535 (mqtts:// included: TLS is
// not supported).
Result<MqttAddress> ParseMqttUrl(const std::string& url);

struct MqttCounters {
  int64_t published = 0;  // acknowledged by the broker (QoS 1) or written to it (QoS 0)
  int64_t pending = 0;    // handed to libmosquitto, not yet published
  int64_t dropped = 0;    // queue full, QoS 0 while disconnected, or still waiting at Close()
};

class MqttPublisher {
 public:
  // Connects to the broker and starts the network thread. Fails, after at
  // most connect_timeout, with a message naming HOST:PORT:
  // InvalidArgument for a malformed URL or option, IoError when no broker
  // answers (name not resolved, refused, unreachable), PermissionDenied
  // when the broker refuses the username or password.
  static Result<std::unique_ptr<MqttPublisher>> Connect(const MqttOptions& options);

  ~MqttPublisher();  // Close()s
  MqttPublisher(const MqttPublisher&) = delete;
  MqttPublisher& operator=(const MqttPublisher&) = delete;

  // Sends the event (and the stream's state, with publish_state), or counts
  // it dropped; never waits for the network. Thread-safe; after Close()
  // every message is dropped.
  void Publish(const ClassEvent& event);

  // Where a stream's events and state go.
  std::string EventsTopic(const std::string& stream) const;
  std::string StateTopic(const std::string& stream) const;

  MqttCounters counters() const;
  bool connected() const;  // to the broker, at this moment

  // Waits up to flush_timeout for the waiting messages to be published
  // (counting those left as dropped), disconnects and stops the network
  // thread. Idempotent.
  void Close();

 private:
  struct Impl;  // keeps mosquitto.h out of this header
  explicit MqttPublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace serdab::events

#endif  // SERDAB_CLI_EVENTS_MQTT_PUBLISHER_H_
