// FormatErrors and CapMessage: bounded messages for conditions, status and the API.
#include <string>
#include <string_view>
#include <vector>

#include "operator/api/v1alpha1/model.h"

namespace healthgate::v1alpha1 {

namespace {

// The longest prefix of `text` of at most `max` bytes that ends on a UTF-8
// character boundary (a continuation byte never starts the cut-off part).
std::string_view Prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // "…"

std::string MoreErrors(std::size_t n) {
  return std::string(kEllipsis) + " (" + std::to_string(n) +
         (n == 1 ? " more error)" : " more errors)");
}

}  // namespace

std::string FormatErrors(const std::vector<std::string>& lines, std::size_t max_bytes,
                         std::string_view separator) {
  std::size_t total = 0;
  for (const auto& l : lines) total += l.size() + (total == 0 ? 0 : separator.size());
  std::string out;
  if (total <= max_bytes) {
    out.reserve(total);
    for (const auto& l : lines) {
      if (!out.empty()) out += separator;
      out += l;
    }
    return out;
  }
  // Not everything fits: a line is shown only with room left for the count of
  // the lines after it.
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::size_t left = lines.size() - i - 1;  // lines after this one
    const std::string more = left == 0 ? "" : std::string(separator) + MoreErrors(left);
    const std::size_t piece = (out.empty() ? 0 : separator.size()) + lines[i].size();
    if (out.size() + piece + more.size() <= max_bytes) {
      if (!out.empty()) out += separator;
      out += lines[i];
      continue;
    }
    if (!out.empty()) {
      // Fits: the previous line was admitted with room for this very suffix.
      return out + std::string(separator) + MoreErrors(lines.size() - i);
    }
    // The first line alone is too long: what fits of it, then the count of the rest.
    if (max_bytes > kEllipsis.size() + more.size()) {
      return std::string(Prefix(lines[i], max_bytes - kEllipsis.size() - more.size())) +
             std::string(kEllipsis) + more;
    }
    return std::string(Prefix(MoreErrors(lines.size()), max_bytes));
  }
  return out;
}

std::string CapMessage(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  constexpr std::string_view kCut = "\xE2\x80\xA6 (truncated)";
  if (max_bytes <= kCut.size()) return std::string(Prefix(kCut, max_bytes));
  return std::string(Prefix(text, max_bytes - kCut.size())) + std::string(kCut);
}

}  // namespace healthgate::v1alpha1
