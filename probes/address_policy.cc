#include "probes/address_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace healthgate::probes {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Format(bool v4, const std::uint8_t* bytes) {
  char buf[INET6_ADDRSTRLEN] = {0};
  inet_ntop(v4 ? AF_INET : AF_INET6, bytes, buf, sizeof buf);
  return buf;
}

bool IsMapped(const std::uint8_t* b) {
  static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(b, kPrefix, sizeof kPrefix) == 0;
}

// The first block of `list` holding the address, or nullptr. A mapped IPv6
// address is also judged as its IPv4 address.
const Cidr* Find(const std::vector<Cidr>& list, bool v4, const std::uint8_t* bytes) {
  for (const Cidr& c : list) {
    if (c.Contains(v4, bytes)) return &c;
    if (!v4 && c.v4 && IsMapped(bytes) && c.Contains(true, bytes + 12)) return &c;
  }
  return nullptr;
}

std::string Joined(const std::vector<Cidr>& list) {
  std::string out;
  for (const Cidr& c : list) {
    if (!out.empty()) out += ",";
    out += c.text;
  }
  return out;
}

}  // namespace

bool Cidr::Contains(bool address_v4, const std::uint8_t* address) const {
  if (address_v4 != v4) return false;
  const int full = prefix / 8;
  if (std::memcmp(bytes.data(), address, static_cast<std::size_t>(full)) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (bytes[static_cast<std::size_t>(full)] & mask) == (address[full] & mask);
}

std::optional<Cidr> ParseCidr(std::string_view text_in, std::string* error) {
  const std::string_view text = Trim(text_in);
  const std::string shown = "\"" + std::string(text) + "\"";
  if (text.empty()) {
    *error = "empty entry";
    return std::nullopt;
  }
  const std::size_t slash = text.find('/');
  const std::string ip(text.substr(0, slash));
  Cidr c;
  if (inet_pton(AF_INET, ip.c_str(), c.bytes.data()) == 1) {
    c.v4 = true;
  } else if (inet_pton(AF_INET6, ip.c_str(), c.bytes.data()) == 1) {
    c.v4 = false;
  } else {
    *error = shown + " is not a CIDR block (an IPv4 or IPv6 address, then /prefix)";
    return std::nullopt;
  }
  const int max = c.v4 ? 32 : 128;
  c.prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos) {
      *error = shown + ": the prefix length must be a number from 0 to " + std::to_string(max);
      return std::nullopt;
    }
    c.prefix = std::stoi(std::string(digits));
    if (c.prefix > max) {
      *error = shown + ": the prefix length must be a number from 0 to " + std::to_string(max);
      return std::nullopt;
    }
  }
  // Host bits beyond the prefix: 169.254.1.1/16 most likely means a mistake.
  Cidr network = c;
  const std::size_t size = c.v4 ? 4 : 16;
  for (std::size_t i = 0; i < size; ++i) {
    const int bit = static_cast<int>(i) * 8;
    if (bit >= c.prefix) {
      network.bytes[i] = 0;
    } else if (bit + 8 > c.prefix) {
      network.bytes[i] &= static_cast<std::uint8_t>(0xff << (8 - (c.prefix - bit)));
    }
  }
  const std::string network_text =
      Format(c.v4, network.bytes.data()) + "/" + std::to_string(c.prefix);
  if (network.bytes != c.bytes) {
    *error = shown + " has host bits set beyond the prefix (did you mean " + network_text + "?)";
    return std::nullopt;
  }
  c.text = network_text;
  return c;
}

std::optional<std::vector<Cidr>> ParseCidrList(std::string_view text, std::string* error) {
  std::vector<Cidr> out;
  if (Trim(text).empty()) return out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    std::string why;
    auto c = ParseCidr(item, &why);
    if (!c) {
      *error = why;
      return std::nullopt;
    }
    out.push_back(std::move(*c));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

AddressPolicy::AddressPolicy() {
  std::string error;
  deny_ = ParseCidrList(kDefaultDeny, &error).value();
}

AddressPolicy::AddressPolicy(std::vector<Cidr> deny, std::vector<Cidr> allow)
    : deny_(std::move(deny)), allow_(std::move(allow)) {}

std::string AddressPolicy::Refusal(const sockaddr* sa) const {
  bool v4 = false;
  const std::uint8_t* bytes = nullptr;
  if (sa->sa_family == AF_INET) {
    v4 = true;
    bytes = reinterpret_cast<const std::uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
  } else if (sa->sa_family == AF_INET6) {
    bytes = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr.s6_addr;
  } else {
    return "address family " + std::to_string(sa->sa_family) + " is not allowed for probes";
  }
  const std::string ip = Format(v4, bytes);
  if (const Cidr* c = Find(deny_, v4, bytes)) {
    return "address " + ip + " is denied by --probe-deny-cidrs (" + c->text + ")";
  }
  if (!allow_.empty() && Find(allow_, v4, bytes) == nullptr) {
    return "address " + ip + " is not in --probe-allow-cidrs (" + Joined(allow_) + ")";
  }
  return {};
}

std::string AddressPolicy::Refusal(std::string_view ip_in) const {
  const std::string ip(ip_in);
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
  } else {
    return "\"" + ip + "\" is not a numeric address";
  }
  return Refusal(reinterpret_cast<const sockaddr*>(&storage));
}

}  // namespace healthgate::probes
