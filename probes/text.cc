#include "probes/text.h"

namespace healthgate::probes {

std::string ScrubSecret(std::string text, const Secret& secret) {
  const std::string& s = secret.reveal();
  if (s.empty()) return text;
  for (std::size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos)) {
    text.replace(pos, s.size(), "***");
    pos += 3;
  }
  return text;
}

std::string QuoteValue(std::string v, std::size_t max_chars) {
  if (v.size() > max_chars) v = v.substr(0, max_chars) + "...";
  return "\"" + v + "\"";
}

}  // namespace healthgate::probes
