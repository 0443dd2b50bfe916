// Kubernetes duration strings (ParseDuration). Invariants: an accepted string
// matches the CRD's pattern ^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$, its value
// is >= 0 and FormatDuration of it parses back to the same value; a rejected one
// has an error message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "operator/api/v1alpha1/model.h"

namespace v1 = healthgate::v1alpha1;

namespace {

bool Digit(char c) { return c >= '0' && c <= '9'; }

// The CRD pattern, by hand (no regex engine to trust here).
bool MatchesPattern(std::string_view s) {
  if (s.empty()) return false;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t start = i;
    while (i < s.size() && Digit(s[i])) ++i;
    if (i == start) return false;
    if (i < s.size() && s[i] == '.') {
      const std::size_t frac = ++i;
      while (i < s.size() && Digit(s[i])) ++i;
      if (i == frac) return false;
    }
    const std::string_view rest = s.substr(i);
    if (rest.starts_with("ns") || rest.starts_with("us") || rest.starts_with("ms")) {
      i += 2;
    } else if (rest.starts_with("\xC2\xB5s")) {
      i += 3;
    } else if (rest.starts_with("s") || rest.starts_with("m") || rest.starts_with("h")) {
      i += 1;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto d = v1::ParseDuration(text, &error);
  if (!d) {
    if (error.empty()) __builtin_trap();
    return 0;
  }
  if (!MatchesPattern(text) || d->count() < 0) __builtin_trap();
  const std::string formatted = v1::FormatDuration(*d);
  std::string error2;
  const auto back = v1::ParseDuration(formatted, &error2);
  if (!back || *back != *d || !MatchesPattern(formatted)) __builtin_trap();
  return 0;
}
