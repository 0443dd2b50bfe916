// Asynchronous name resolution on the loop (uv_getaddrinfo runs getaddrinfo on
// libuv's thread pool, so the loop thread never blocks on DNS). Numeric
// addresses are parsed in place, without a thread-pool hop.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "probes/address_policy.h"
#include "probes/engine/loop.h"

namespace healthgate::probes {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  std::string ip() const;  // numeric form without port, e.g. "127.0.0.1" or "::1"
  std::uint16_t port() const;
};

struct Resolution {
  std::vector<Address> addresses;  // empty on error
  std::string error;               // human-readable, names the host
};

// Cancels the lookup when destroyed: the callback is not called afterwards.
class ResolveHandle {
 public:
  virtual ~ResolveHandle() = default;
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  // Calls `done` on the loop thread, never from inside Resolve().
  virtual std::unique_ptr<ResolveHandle> Resolve(const std::string& host, std::uint16_t port,
                                                 std::function<void(Resolution)> done) = 0;
};

class UvResolver final : public Resolver {
 public:
  explicit UvResolver(Loop& loop) : loop_(loop) {}
  std::unique_ptr<ResolveHandle> Resolve(const std::string& host, std::uint16_t port,
                                         std::function<void(Resolution)> done) override;

 private:
  Loop& loop_;
};

// Removes the addresses `policy` refuses from `addresses` (keeping the order of
// the rest); returns why the first removed one was refused, empty if none was.
std::string RemoveRefused(const AddressPolicy& policy, std::vector<Address>* addresses);

// Parses a numeric IPv4/IPv6 address (brackets allowed); false for host names.
bool ParseNumericAddress(const std::string& host, std::uint16_t port, Address* out);

}  // namespace healthgate::probes
