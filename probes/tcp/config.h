#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace healthgate::probes {

struct TcpConfig {
  std::string host;
  std::uint16_t port = 0;
  std::string send;                   // bytes written after connect, if any
  std::optional<std::string> expect;  // bytes that must appear in what the peer sends
  bool operator==(const TcpConfig&) const = default;
};

}  // namespace healthgate::probes
