// Materialize: a validated HealthCheck into engine definitions, with secrets
// resolved into the targets. A probe whose secret cannot be resolved is returned
// blocked (the lookup's reason: SecretNotFound, SecretForbidden, SecretNotAllowed,
// SecretUnavailable) with a
// definition that carries no secret at all, so nothing partial reaches the engine.
#include <chrono>
#include <memory>
#include <string>
#include <variant>

#include "operator/api/v1alpha1/model.h"
#include "probes/target.h"

namespace healthgate::v1alpha1 {

namespace {

// Puts `value` where `use` says. Returns false when the slot does not fit the target
// (a model built by hand, not by ParseJson).
bool Place(probes::Target& target, const SecretUse& use, std::string value) {
  probes::Secret secret(std::move(value));
  switch (use.slot) {
    case SecretSlot::kPostgresPassword:
      if (auto* c = std::get_if<probes::PostgresConfig>(&target)) {
        c->password = std::move(secret);
        return true;
      }
      return false;
    case SecretSlot::kPostgresCa:
      if (auto* c = std::get_if<probes::PostgresConfig>(&target)) {
        c->ca_pem = std::move(secret);
        return true;
      }
      return false;
    case SecretSlot::kRedisPassword:
      if (auto* c = std::get_if<probes::RedisConfig>(&target)) {
        c->password = std::move(secret);
        return true;
      }
      return false;
    case SecretSlot::kHttpCa:
      if (auto* c = std::get_if<probes::HttpConfig>(&target)) {
        c->ca_pem = std::move(secret);
        return true;
      }
      return false;
    case SecretSlot::kHttpHeader:
      if (auto* c = std::get_if<probes::HttpConfig>(&target);
          c != nullptr && use.header_index < c->headers.size()) {
        c->headers[use.header_index].value = std::move(secret);
        c->headers[use.header_index].from_secret = true;  // kept to its origin, scrubbed
        return true;
      }
      return false;
  }
  return false;
}

}  // namespace

std::vector<MaterializedProbe> Materialize(const std::shared_ptr<const HealthCheck>& shared,
                                           SecretResolver& secrets) {
  const HealthCheck& check = *shared;
  std::vector<MaterializedProbe> out;
  out.reserve(check.probes.size());
  for (const ProbeSpec& p : check.probes) {
    MaterializedProbe m;
    m.name = p.name;
    m.type = std::string(probes::TypeName(p.target));
    m.critical = p.critical;
    m.definition.key = check.ns + "/" + check.name + "/" + p.name;
    m.definition.interval = p.interval;
    m.definition.timeout = p.timeout;
    m.definition.initial_delay = p.initial_delay;
    m.definition.thresholds.success = p.success_threshold;
    m.definition.thresholds.failure = p.failure_threshold;
    m.definition.max_concurrent = p.max_concurrent;
    const bool postgres = std::holds_alternative<probes::PostgresConfig>(p.target);
    if (p.secrets.empty() && !postgres) {
      // Nothing to fill in: point into the spec (which the pointer keeps alive)
      // instead of copying the target.
      m.definition.target = probes::TargetPtr(shared, &p.target);
      out.push_back(std::move(m));
      continue;
    }
    probes::Target target = p.target;
    if (auto* c = std::get_if<probes::PostgresConfig>(&target)) {
      // The server bounds the backend's work by the probe's timeout too.
      c->server_timeout = std::chrono::ceil<std::chrono::milliseconds>(p.timeout);
    }
    for (const SecretUse& use : p.secrets) {
      SecretLookup found = secrets.Lookup(check.ns, use.ref);
      if (!found.value) {
        m.blocked_reason = found.blocked_reason;
        m.blocked_message = use.field + ": " + found.error;
        break;
      }
      if (!Place(target, use, std::move(*found.value))) {
        m.blocked_reason = "SecretNotFound";
        m.blocked_message = use.field + ": this probe type has no such secret";
        break;
      }
    }
    m.definition.target = m.blocked() ? probes::TargetPtr(shared, &p.target)
                                      : std::make_shared<const probes::Target>(std::move(target));
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<MaterializedProbe> Materialize(const HealthCheck& check, SecretResolver& secrets) {
  return Materialize(std::make_shared<const HealthCheck>(check), secrets);
}

}  // namespace healthgate::v1alpha1
