#include "probes/reply_limit.h"

// <linux/tcp.h>, not <netinet/tcp.h>: glibc's struct tcp_info lacks
// tcpi_bytes_received.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace healthgate::probes {

std::optional<std::uint64_t> BytesReceived(int fd) {
  if (fd < 0) return std::nullopt;
  struct tcp_info info {};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  if (len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) {
    return std::nullopt;  // an older kernel's shorter struct
  }
  return info.tcpi_bytes_received;
}

}  // namespace healthgate::probes
