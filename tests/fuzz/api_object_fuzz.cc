// Objects as the API server sends them: the JSON of a list or watch, decoded by
// the same paths the operator uses. A HealthCheck through ParseJson (validation
// never throws; a document is a check or errors), the reflector's key and
// resourceVersion, a Lease through the elector's RecordFromLease, a Secret through
// KubeSecretResolver (base64 data), and an error body through ApiErrorFromBody.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "operator/api/v1alpha1/model.h"
#include "operator/api/v1alpha1/yaml_json.h"
#include "operator/kube/reflector.h"
#include "operator/kube/watch.h"
#include "operator/leader/lease.h"
#include "operator/log/log.h"
#include "operator/sources/kube_source.h"

namespace v1 = healthgate::v1alpha1;
namespace kube = healthgate::kube;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Any HTTP error body, JSON or not.
  const kube::Error api_error = kube::ApiErrorFromBody(500, text);
  if (api_error.message.empty()) __builtin_trap();
  auto object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) return 0;

  const v1::Document doc = v1::ParseJson(object, "api");
  if (doc.errors.empty() != doc.check.has_value()) __builtin_trap();
  const std::string formatted = v1::FormatErrors(doc.ErrorLines());
  if (formatted.size() > v1::kMaxMessageBytes || !v1::IsUtf8(formatted)) __builtin_trap();

  (void)kube::ObjectKey(object);
  (void)kube::ResourceVersionOf(object);
  (void)kube::ApiErrorFromStatus(500, object);
  (void)healthgate::leader::RecordFromLease(object);

  // The object as the Secret a probe's secretKeyRef names: its first data key.
  static healthgate::RealClock clock;
  static std::FILE* devnull = std::fopen("/dev/null", "w");
  static healthgate::Logger log(healthgate::LogLevel::kDebug, devnull, clock);
  v1::SecretRef ref{"s", "k"};
  if (object.is_object()) {
    if (auto d = object.find("data"); d != object.end() && d->is_object() && !d->empty()) {
      ref.key = d->begin().key();
    }
  }
  healthgate::sources::KubeSecretResolver resolver(
      [&object](const std::string&, const std::string&) -> kube::Result<nlohmann::json> {
        return object;
      },
      log);
  const v1::SecretLookup lookup = resolver.Lookup("ns", ref);
  if (lookup.value.has_value() == !lookup.blocked_reason.empty()) __builtin_trap();
  return 0;
}
