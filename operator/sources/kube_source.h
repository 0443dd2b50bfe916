// The operator's source: HealthChecks from the API server (list, then watch,
// through kube::Reflector), parsed with the same spec model as local files and
// handed to the controller keyed by namespace/name. Level-based: each notice
// re-derives the desired check from the object as it is now.
//
// Also resolves `...SecretRef`s through the API (Secrets are read in the check's
// own namespace, `get` only, and only those labelled for probes, see
// KubeSecretResolver) and re-resolves them every `secret_refresh`, so a rotated
// Secret, or one labelled or unlabelled, reaches exactly the probes that use it
// (the controller restarts a probe only when its materialized definition changed).
//
// Thread-safety: handlers run on the reflector's thread; Start/Stop from the owner.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "operator/api/v1alpha1/model.h"
#include "operator/controller/controller.h"
#include "operator/kube/config.h"
#include "operator/kube/interface.h"
#include "operator/kube/reflector.h"
#include "operator/log/log.h"
#include "operator/metrics/metrics.h"

namespace healthgate::sources {

inline const kube::ResourceRef kHealthChecks{"healthgate.dev", "v1alpha1", "healthchecks", ""};

// The label a Secret must carry, with the value "true", before a probe may use
// it (operator mode, unless --require-secret-label=false).
inline constexpr std::string_view kProbeCredentialsLabel = "healthgate.dev/probe-credentials";

// `...SecretRef` through the API: GET /api/v1/namespaces/NS/secrets/NAME.
//
// With `require_label` (the default): the Secret's metadata is read first
// (GetMetadata, a PartialObjectMetadata without `data`), and a Secret without
// the label healthgate.dev/probe-credentials: "true" blocks its probes with
// SecretNotAllowed; its data is never requested, so an unlabelled Secret's value
// never reaches healthgate. A labelled Secret whose resourceVersion matches the
// value already held is not read again; otherwise it is read, and its label is
// checked again on what was read (it may have been removed in between). So
// anyone allowed to create a HealthCheck can only point probes at Secrets that
// someone allowed to label Secrets opted in.
//
// Truthful under API trouble: only a 404 (or a missing key) is SecretNotFound, a
// 403 is SecretForbidden, a missing label is SecretNotAllowed. A 403 for a
// reference whose value was read before keeps that value for `forbidden_grace`
// (an API server that just started answers 403 until its RBAC authorizer has
// synced, and a webhook authorizer may fail closed for a moment); a 403 that
// lasts longer is a revocation and blocks the probe. Any other failure
// (connection refused, timeout, 5xx, 429) keeps the last value read for that
// reference, so an API server blip never blocks a probe or turns a check
// NotReady. Without an earlier value the probe is blocked with SecretUnavailable
// (healthgate's fault, not the target's). Each change of a reference's state (ok,
// not found, forbidden, not allowed, unavailable, serving the last value) is
// logged once. Values of references not looked up for `forget_after` are
// dropped, so deleted checks leave nothing behind.
//
// Thread-safety: Lookup/Get from any thread (the reflector's and the refresher's).
class KubeSecretResolver final : public v1alpha1::SecretResolver {
 public:
  struct Options {
    bool require_label = true;  // --require-secret-label
  };
  using GetFn =
      std::function<kube::Result<nlohmann::json>(const std::string& ns, const std::string& name)>;
  KubeSecretResolver(kube::Interface& client, Logger& log, Options options);
  // The label required.
  KubeSecretResolver(kube::Interface& client, Logger& log)
      : KubeSecretResolver(client, log, Options{true}) {}
  // For tests: `get` stands in for the Secret's GET and `get_metadata` for its
  // metadata GET (when empty, the label is not required); `now` for the steady
  // clock.
  KubeSecretResolver(GetFn get, Logger& log,
                     std::function<std::chrono::steady_clock::time_point()> now = {},
                     GetFn get_metadata = {});
  std::optional<std::string> Get(const std::string& ns, const v1alpha1::SecretRef& ref,
                                 std::string* error) override;
  v1alpha1::SecretLookup Lookup(const std::string& ns, const v1alpha1::SecretRef& ref) override;

  std::chrono::minutes forget_after{10};
  std::chrono::seconds forbidden_grace{30};

 private:
  struct Known {
    std::optional<std::string> value;  // last value read
    std::string resource_version;      // of the Secret `value` was read from
    std::string state;                 // last logged state
    std::chrono::steady_clock::time_point used;
    // First 403 of the current run of 403s for a held value.
    std::optional<std::chrono::steady_clock::time_point> forbidden_since;
  };
  struct Read {
    v1alpha1::SecretLookup lookup;
    std::string resource_version;
  };
  // `held`: the value held for this reference and its Secret's resourceVersion.
  Read ReadSecret(const std::string& ns, const v1alpha1::SecretRef& ref, const Known* held) const;
  std::chrono::steady_clock::time_point Now() const {
    return now_ ? now_() : std::chrono::steady_clock::now();
  }

  GetFn get_;
  GetFn get_metadata_;
  Logger& log_;
  Options options_;
  std::function<std::chrono::steady_clock::time_point()> now_;
  std::mutex mu_;
  std::map<std::string, Known> known_;  // key "ns/name/key"
};

class KubeSource {
 public:
  struct Options {
    std::string ns;  // empty: all namespaces
    std::chrono::seconds secret_refresh{30};
    // The process's validation options (--redis-allow-commands).
    v1alpha1::ValidationOptions validation;
  };
  struct Hooks {
    // An object was seen (its current status, for writers that must not undo it).
    std::function<void(const nlohmann::json& object)> on_object;
    std::function<void(const std::string& ns, const std::string& name)> on_deleted;
    // A valid spec was seen: its readiness gate (nullopt: none). Not called for an
    // invalid spec, whose previous valid version keeps running.
    std::function<void(const std::string& ns, const std::string& name,
                       const std::optional<v1alpha1::ReadinessGate>& gate)>
        on_gate;
  };
  KubeSource(kube::Interface& client, controller::Controller& controller, Metrics* metrics,
             Logger& log, Options options, Hooks hooks);
  ~KubeSource();
  KubeSource(const KubeSource&) = delete;
  KubeSource& operator=(const KubeSource&) = delete;

  void Start();
  void Stop();
  bool synced() const { return reflector_.synced(); }
  std::optional<nlohmann::json> Find(const std::string& ns, const std::string& name) const {
    return reflector_.Find(ns + "/" + name);
  }

 private:
  void OnUpsert(const nlohmann::json& object);
  void OnDelete(const nlohmann::json& object);

  controller::Controller& controller_;
  Metrics* metrics_;
  Logger& log_;
  Options options_;
  Hooks hooks_;
  kube::Reflector reflector_;
  kube::StopSignal stop_;
  std::thread refresher_;
};

}  // namespace healthgate::sources
