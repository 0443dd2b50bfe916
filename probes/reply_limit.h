// The bound on what a target may send in one attempt (maxReplyBytes of the
// postgres and redis probes). Counted on the socket, so it holds whatever the
// client library buffers: a server that announces a huge reply and streams it
// fails the attempt with kProtocol once the bound is passed, long before the
// process' memory follows it.
#pragma once

#include <cstdint>
#include <optional>

namespace healthgate::probes {

inline constexpr std::uint64_t kDefaultMaxReplyBytes = 1024 * 1024;     // 1 MiB
inline constexpr std::uint64_t kMaxReplyBytesLimit = 16 * 1024 * 1024;  // 16 MiB

// Bytes the kernel has received on the TCP socket `fd` since it connected
// (TCP_INFO's tcpi_bytes_received, Linux 4.1+): everything the peer sent,
// whether the client library has read it yet or not. nullopt when unknown.
std::optional<std::uint64_t> BytesReceived(int fd);

}  // namespace healthgate::probes
