// Which addresses a probe may connect to: the cluster admin's deny list
// (--probe-deny-cidrs, by default link-local and cloud-metadata ranges) and the
// optional allow list (--probe-allow-cidrs). A HealthCheck can name any host, so
// without this anyone who may create one could aim healthgate at the node's
// metadata service or another internal address and read the answer in the
// check's status.
//
// Enforced by every probe type after name resolution and before a socket is
// created (the HTTP probe for every connection curl opens, redirect hops
// included): a refused address is never connected to, and a probe whose every
// address is refused fails with reason `connect` and Refusal()'s message.
//
// Pure and immutable once built: safe to share between the probe loops.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace healthgate::probes {

// One CIDR block, IPv4 or IPv6.
struct Cidr {
  bool v4 = false;
  std::array<std::uint8_t, 16> bytes{};  // network address (4 bytes used for IPv4)
  int prefix = 0;                        // 0..32 (IPv4) or 0..128 (IPv6)
  std::string text;                      // canonical form, e.g. "169.254.0.0/16"
  bool Contains(bool address_v4, const std::uint8_t* address) const;
};

// Parses "a.b.c.d/n" or "x::y/n"; a bare address is a single host (/32, /128).
// Host bits set beyond the prefix are an error (the block would not mean what
// was written). nullopt with `error` naming the entry when invalid.
std::optional<Cidr> ParseCidr(std::string_view text, std::string* error);

// A comma-separated list (spaces around entries allowed; empty text: an empty
// list). nullopt with `error` naming the bad entry.
std::optional<std::vector<Cidr>> ParseCidrList(std::string_view text, std::string* error);

class AddressPolicy {
 public:
  // Link-local IPv4 (169.254.0.0/16 holds the AWS, GCP, Azure and OpenStack
  // metadata services), link-local IPv6, and AWS's IPv6 metadata address.
  static constexpr std::string_view kDefaultDeny = "169.254.0.0/16,fe80::/10,fd00:ec2::254/128";

  // The default deny list, no allow list.
  AddressPolicy();
  // `allow` empty: every address not denied is allowed.
  AddressPolicy(std::vector<Cidr> deny, std::vector<Cidr> allow);
  // Nothing denied, everything allowed.
  static AddressPolicy AllowAll() { return AddressPolicy({}, {}); }

  // Empty when `sa` (AF_INET or AF_INET6) may be connected to; otherwise why
  // not, e.g. "address 169.254.169.254 is denied by --probe-deny-cidrs
  // (169.254.0.0/16)". An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged
  // as the IPv4 address it maps to by IPv4 blocks, and as itself by IPv6 ones.
  // Any other address family is refused.
  std::string Refusal(const sockaddr* sa) const;
  // The same for a numeric address text ("127.0.0.1", "::1"); text that is not
  // a numeric address is refused.
  std::string Refusal(std::string_view ip) const;

  const std::vector<Cidr>& deny() const { return deny_; }
  const std::vector<Cidr>& allow() const { return allow_; }

 private:
  std::vector<Cidr> deny_;
  std::vector<Cidr> allow_;
};

}  // namespace healthgate::probes
