// HealthCheck manifests as `healthgate local`, `check` and `validate` read them:
// a multi-document YAML stream through ParseYaml (YAML -> JSON, then ParseJson's
// validation and defaults). Invariants: nothing throws; each document is either a
// check or a list of errors, each error with a message; the error lines formatted
// for status.invalidSpec are valid UTF-8 within the cap (they become JSON); a
// valid check's durations survive FormatDuration -> ParseDuration.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "operator/api/v1alpha1/model.h"
#include "operator/api/v1alpha1/yaml_json.h"

namespace v1 = healthgate::v1alpha1;

namespace {

void RoundTrip(v1::Duration d) {
  std::string error;
  const auto back = v1::ParseDuration(v1::FormatDuration(d), &error);
  if (!back || *back != d) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const v1::Document& doc : v1::ParseYaml(text, "fuzz.yaml")) {
    if (doc.errors.empty() != doc.check.has_value()) __builtin_trap();
    for (const v1::ValidationError& e : doc.errors) {
      if (e.message.empty()) __builtin_trap();
    }
    const std::string formatted = v1::FormatErrors(doc.ErrorLines());
    if (formatted.size() > v1::kMaxMessageBytes || !v1::IsUtf8(formatted)) __builtin_trap();
    if (!doc.check) continue;
    const v1::HealthCheck& c = *doc.check;
    if (c.name.empty() || c.probes.empty()) __builtin_trap();
    RoundTrip(c.interval);
    RoundTrip(c.timeout);
    for (const v1::ProbeSpec& p : c.probes) {
      if (p.name.empty()) __builtin_trap();
      RoundTrip(p.interval);
      RoundTrip(p.timeout);
    }
  }
  return 0;
}
