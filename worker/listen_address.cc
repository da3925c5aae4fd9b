#include "worker/listen_address.h"

#include <charconv>

namespace serdab {

Result<ListenAddress> ParseListenAddress(const std::string& addr, const std::string& what,
                                         const std::string& example) {
  const size_t colon = addr.rfind(':');
  const auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(what + " address '" + addr + "': " + why +
                                   " (expected HOST:PORT, e.g. " + example + ")");
  };
  if (colon == std::string::npos) return bad("no port");
  ListenAddress out;
  out.host = addr.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  if (out.host.empty()) return bad("no host");
  const std::string port = addr.substr(colon + 1);
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || out.port < 0 ||
      out.port > 65535) {
    return bad("the port is not a number in 0..65535");
  }
  return out;
}

}  // namespace serdab
