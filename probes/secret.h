// A credential value. It has no stream operator and no implicit conversion, so it
// cannot reach a log line, a message or a metric by accident; code that needs the
// bytes calls reveal() at the one place it hands them to a client library.
#pragma once

#include <string>

namespace healthgate::probes {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  bool operator==(const Secret&) const = default;

 private:
  std::string value_;
};

}  // namespace healthgate::probes
