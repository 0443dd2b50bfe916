#include "probes/text.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <unordered_set>

namespace healthgate::probes {
namespace {

bool IsSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

unsigned char Lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + ('a' - 'A')) : c;
}

// The secret as it is matched: lower case, without whitespace.
std::string Fold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (!IsSpace(c)) out.push_back(static_cast<char>(Lower(c)));
  }
  return out;
}

std::string Hex2(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", v & 0xffu);
  return buf;
}

std::string Hex4(std::uint32_t v) {
  char buf[12];
  std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(v & 0xffffu));
  return buf;
}

// Code points that are valid but move the cursor, end a line for some readers,
// or reorder the text around them (the "Trojan Source" overrides).
bool IsInvisibleControl(std::uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

}  // namespace

std::string ScrubSecrets(std::string_view text, const std::vector<Secret>& secrets) {
  if (text.empty() || secrets.empty()) return std::string(text);
  // The text as matched, and where each of its bytes came from.
  std::string folded;
  std::vector<std::size_t> origin;
  std::vector<bool> covered;
  bool any = false;
  auto mark = [&](std::size_t first, std::size_t count) {
    for (std::size_t k = origin[first]; k <= origin[first + count - 1]; ++k) covered[k] = true;
    any = true;
  };
  for (const Secret& secret : secrets) {
    const std::string s = Fold(secret.reveal());
    if (s.empty()) continue;
    if (origin.empty()) {
      folded.reserve(text.size());
      origin.reserve(text.size());
      for (std::size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (IsSpace(c)) continue;
        folded.push_back(static_cast<char>(Lower(c)));
        origin.push_back(i);
      }
      covered.assign(text.size(), false);
    }
    if (folded.size() < std::min(s.size(), kSecretWindow)) continue;
    if (s.size() < kSecretWindow) {
      for (std::size_t p = folded.find(s); p != std::string::npos; p = folded.find(s, p + 1)) {
        mark(p, s.size());
      }
      continue;
    }
    // Every window of the secret as a 64-bit key; one pass over the text.
    static_assert(kSecretWindow == 8, "windows are packed into 64 bits");
    std::unordered_set<std::uint64_t> windows;
    std::uint64_t key = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      key = (key << 8) | static_cast<unsigned char>(s[i]);
      if (i + 1 >= kSecretWindow) windows.insert(key);
    }
    key = 0;
    for (std::size_t j = 0; j < folded.size(); ++j) {
      key = (key << 8) | static_cast<unsigned char>(folded[j]);
      if (j + 1 >= kSecretWindow && windows.count(key) != 0) {
        mark(j + 1 - kSecretWindow, kSecretWindow);
      }
    }
  }
  if (!any) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!covered[i]) {
      out.push_back(text[i]);
    } else if (i == 0 || !covered[i - 1]) {
      out += "***";
    }
  }
  return out;
}

std::string SanitizeText(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 8);
  // The longest prefix of `out` (at a piece boundary) that leaves room for the marker.
  const std::size_t room =
      max_bytes > kTruncatedMarker.size() ? max_bytes - kTruncatedMarker.size() : 0;
  std::size_t keep = 0;
  auto append = [&](std::string_view piece) {
    if (out.size() + piece.size() > max_bytes) return false;
    out += piece;
    if (out.size() <= room) keep = out.size();
    return true;
  };
  std::size_t i = 0;
  bool fits = true;
  while (i < text.size() && fits) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '\n') {
        fits = append("\\n");
      } else if (c == '\r') {
        fits = append("\\r");
      } else if (c == '\t') {
        fits = append("\\t");
      } else if (c < 0x20 || c == 0x7f) {
        fits = append(Hex2(c));
      } else {
        fits = append(text.substr(i, 1));
      }
      ++i;
      continue;
    }
    // Well-formed sequences (Unicode 15, table 3-7): the first continuation
    // byte's range excludes overlong forms, surrogates and values > U+10FFFF.
    std::size_t need = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      cp = c & 0x0fu;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      cp = c & 0x07u;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      fits = append(kReplacement);
      ++i;
      continue;
    }
    std::size_t k = 1;
    for (; k <= need; ++k) {
      if (i + k >= text.size()) break;
      auto b = static_cast<unsigned char>(text[i + k]);
      if (b < lo || b > hi) break;
      cp = (cp << 6) | (b & 0x3fu);
      lo = 0x80;
      hi = 0xbf;
    }
    if (k <= need) {
      fits = append(kReplacement);  // the lead byte and the valid part of its tail
      i += k;
      continue;
    }
    fits = IsInvisibleControl(cp) ? append(Hex4(cp)) : append(text.substr(i, need + 1));
    i += need + 1;
  }
  if (fits) return out;
  out.resize(keep);
  out += kTruncatedMarker.substr(0, max_bytes - keep);
  return out;
}

std::string SafeMessage(std::string_view text, const std::vector<Secret>& secrets,
                        std::size_t max_bytes) {
  if (text.empty()) return {};
  return SanitizeText(ScrubSecrets(text, secrets), max_bytes);
}

std::string QuoteValue(std::string_view v) {
  std::string out;
  out.reserve(v.size() + 2);
  out += '"';
  out += v;
  out += '"';
  return out;
}

}  // namespace healthgate::probes
