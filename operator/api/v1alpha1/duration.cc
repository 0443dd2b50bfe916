// Kubernetes duration strings, as the CRD's pattern accepts them:
//   ^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$
// i.e. Go's time.ParseDuration without the sign, without a bare "0" and without a
// fraction lacking digits on either side ("1.s", ".5s"). The value must fit in an
// int64 count of nanoseconds (Go's limit, about 292 years); fractions are truncated
// to whole nanoseconds, as Go does.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "operator/api/v1alpha1/model.h"

namespace healthgate::v1alpha1 {

namespace {

__extension__ using Uint128 = unsigned __int128;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Nanoseconds per unit; 0 when `text` does not start with a unit. `len` is set to
// the unit's length in bytes.
std::uint64_t Unit(std::string_view text, std::size_t* len) {
  struct U {
    std::string_view name;
    std::uint64_t ns;
  };
  // Longest first so "ms" is not read as "m".
  static constexpr U kUnits[] = {
      {"ns", 1},
      {"us", 1000},
      {"\xC2\xB5s", 1000},  // U+00B5 MICRO SIGN (the CRD's pattern; not Go's U+03BC)
      {"ms", 1000 * 1000},
      {"s", 1000ULL * 1000 * 1000},
      {"m", 60ULL * 1000 * 1000 * 1000},
      {"h", 3600ULL * 1000 * 1000 * 1000},
  };
  for (const U& u : kUnits) {
    if (text.substr(0, u.name.size()) == u.name) {
      *len = u.name.size();
      return u.ns;
    }
  }
  return 0;
}

std::optional<Duration> Fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<Duration> ParseDuration(std::string_view text, std::string* error) {
  constexpr std::uint64_t kMax =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  const std::string syntax =
      "must be a duration such as 500ms, 10s or 1m30s (units ns, us, ms, s, m, h)";
  if (text.empty()) return Fail(error, "must not be empty; " + syntax);
  std::uint64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!IsDigit(text[i])) return Fail(error, syntax);
    // Integer part, kept exact while it fits; a value too large for any unit overflows.
    std::uint64_t whole = 0;
    bool overflow = false;
    while (i < text.size() && IsDigit(text[i])) {
      const std::uint64_t d = static_cast<std::uint64_t>(text[i] - '0');
      if (whole > (kMax - d) / 10) overflow = true;
      if (!overflow) whole = whole * 10 + d;
      ++i;
    }
    // Fraction: at most 19 significant digits matter at nanosecond resolution.
    std::uint64_t frac = 0;
    std::uint64_t scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      if (i >= text.size() || !IsDigit(text[i])) return Fail(error, syntax);
      while (i < text.size() && IsDigit(text[i])) {
        if (scale <= std::numeric_limits<std::uint64_t>::max() / 100) {
          frac = frac * 10 + static_cast<std::uint64_t>(text[i] - '0');
          scale *= 10;
        }
        ++i;
      }
    }
    std::size_t unit_len = 0;
    const std::uint64_t unit = Unit(text.substr(i), &unit_len);
    if (unit == 0) {
      if (i >= text.size()) return Fail(error, "missing unit; " + syntax);
      return Fail(error, syntax);
    }
    i += unit_len;
    if (overflow || whole > kMax / unit) {
      return Fail(error, "out of range (at most 2562047h47m16.854775807s)");
    }
    std::uint64_t value = whole * unit;
    // frac/scale of a unit, truncated to whole nanoseconds; exact in 128 bits
    // (frac < 1e18 and unit < 4e12).
    if (frac > 0) {
      const auto add = static_cast<std::uint64_t>(static_cast<Uint128>(frac) * unit / scale);
      if (add > kMax - value) return Fail(error, "out of range (at most 2562047h47m16.854775807s)");
      value += add;
    }
    if (value > kMax - total) {
      return Fail(error, "out of range (at most 2562047h47m16.854775807s)");
    }
    total += value;
  }
  return Duration(static_cast<std::int64_t>(total));
}

namespace {

// Appends `value` / `scale` with the trailing zeros of the fraction dropped,
// e.g. (1500, 1000) -> "1.5".
void AppendDecimal(std::string& out, std::uint64_t value, std::uint64_t scale) {
  out += std::to_string(value / scale);
  std::uint64_t rest = value % scale;
  if (rest == 0) return;
  std::string digits;
  for (std::uint64_t s = scale / 10; s > 0; s /= 10) {
    digits += static_cast<char>('0' + (rest / s) % 10);
  }
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  out += '.';
  out += digits;
}

}  // namespace

// Like Go's Duration.String() but without zero components ("1h", not "1h0m0s")
// and with "us" for microseconds, so the result is ASCII and matches the CRD
// pattern. ParseDuration(FormatDuration(d)) == d for every d >= 0.
std::string FormatDuration(Duration d) {
  std::string out;
  std::int64_t count = d.count();
  if (count == 0) return "0s";
  std::uint64_t ns;
  if (count < 0) {
    out = "-";
    ns = static_cast<std::uint64_t>(-(count + 1)) + 1;  // no overflow at INT64_MIN
  } else {
    ns = static_cast<std::uint64_t>(count);
  }
  constexpr std::uint64_t kUs = 1000, kMs = 1000 * kUs, kS = 1000 * kMs;
  constexpr std::uint64_t kM = 60 * kS, kH = 60 * kM;
  if (ns < kUs) {
    out += std::to_string(ns) + "ns";
  } else if (ns < kMs) {
    AppendDecimal(out, ns, kUs);
    out += "us";
  } else if (ns < kS) {
    AppendDecimal(out, ns, kMs);
    out += "ms";
  } else {
    if (ns >= kH) {
      out += std::to_string(ns / kH) + "h";
      ns %= kH;
    }
    if (ns >= kM) {
      out += std::to_string(ns / kM) + "m";
      ns %= kM;
    }
    if (ns > 0) {
      AppendDecimal(out, ns, kS);
      out += "s";
    }
  }
  return out;
}

}  // namespace healthgate::v1alpha1
