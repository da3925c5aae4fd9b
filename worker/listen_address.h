// ListenAddress: the HOST:PORT an HTTP endpoint of ours binds (the metrics
// endpoints, the stream preview), as users write it on the command line.
#ifndef SERDAB_WORKER_LISTEN_ADDRESS_H_
#define SERDAB_WORKER_LISTEN_ADDRESS_H_

#include <string>

#include "enclave/common/status.h"

namespace serdab {

struct ListenAddress {
  std::string host;  // without the brackets of an IPv6 literal
  int port = 0;      // 0: any free port
};

// "HOST:PORT" or "[V6]:PORT", port 0..65535. InvalidArgument "WHAT address
// 'ADDR': why (expected HOST:PORT, e.g. EXAMPLE)" otherwise.
Result<ListenAddress> ParseListenAddress(const std::string& addr, const std::string& what,
                                         const std::string& example);

}  // namespace serdab

#endif  // SERDAB_WORKER_LISTEN_ADDRESS_H_
