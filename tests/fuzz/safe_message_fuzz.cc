// SafeMessage (probes/text.h): every message from a target passes through it.
// Its documented invariants, asserted: the output is valid UTF-8, at most the
// cap, holds no C0 control, DEL, C1, line/paragraph separator or bidi override,
// and no echo of a secret: no kSecretWindow-byte window of any secret (the whole
// secret when shorter), compared case-insensitively with whitespace removed.
// Secrets are drawn from letters that no escape or marker SafeMessage writes
// contains (\xNN, \uNNNN, \n, ***, "...[truncated]"), plus whitespace, so any
// window found in the output came from the target's text.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "operator/api/v1alpha1/yaml_json.h"
#include "probes/text.h"

namespace hp = healthgate::probes;

namespace {

constexpr std::string_view kAlphabet = "ghijklmopqsvwyzGHIJKLMOPQSVWYZ \t\n";

std::string Fold(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') continue;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : static_cast<char>(c));
  }
  return out;
}

// Code points SanitizeText must have escaped.
bool Forbidden(std::uint32_t cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

// Decodes valid UTF-8 (checked before) and traps on a forbidden code point.
void CheckCodePoints(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 7u);
    for (std::size_t k = 1; k < len; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3fu);
    if (Forbidden(cp)) __builtin_trap();
    i += len;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<hp::Secret> secrets;
  std::vector<std::string> folded;
  const int n = in.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < n; ++i) {
    std::string s;
    const std::size_t len = in.ConsumeIntegralInRange<std::size_t>(0, 24);
    for (std::size_t k = 0; k < len; ++k)
      s.push_back(kAlphabet[in.ConsumeIntegralInRange<std::size_t>(0, kAlphabet.size() - 1)]);
    folded.push_back(Fold(s));
    secrets.emplace_back(std::move(s));
  }
  const std::size_t cap =
      in.ConsumeBool() ? hp::kMaxMessageBytes : in.ConsumeIntegralInRange<std::size_t>(0, 256);
  const std::string text = in.ConsumeRemainingBytesAsString();

  const std::string out = hp::SafeMessage(text, secrets, cap);
  if (out.size() > cap) __builtin_trap();
  if (!healthgate::v1alpha1::IsUtf8(out)) __builtin_trap();
  CheckCodePoints(out);
  const std::string seen = Fold(out);
  for (const std::string& s : folded) {
    if (s.empty()) continue;
    const std::size_t w = std::min(s.size(), hp::kSecretWindow);
    for (std::size_t k = 0; k + w <= s.size(); ++k) {
      if (seen.find(s.substr(k, w)) != std::string::npos) __builtin_trap();
    }
  }
  return 0;
}
