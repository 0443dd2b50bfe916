// JSON views of snapshots, shared by the HTTP API, `check --output json` and the
// Kubernetes status writer, so every surface shows the same fields. Nothing here
// can contain a credential: snapshots hold only names and probe messages.
#pragma once

#include <nlohmann/json.hpp>

#include "operator/results/store.h"

namespace healthgate::results {

nlohmann::json ConditionJson(const Condition& c);
// The `status` block of the HealthCheck resource (CRD status schema).
nlohmann::json StatusJson(const CheckSnapshot& s);
// The API's view: status plus identity, per-probe details and history.
nlohmann::json CheckJson(const CheckSnapshot& s, bool with_history = true);
// "2/3": healthy probes / all probes.
std::string Summary(const CheckSnapshot& s);

}  // namespace healthgate::results
