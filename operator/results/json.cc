#include "operator/results/json.h"

#include "common/rfc3339.h"

namespace healthgate::results {

using nlohmann::json;

namespace {

json OptTime(const std::optional<WallTime>& t) {
  return t ? json(Rfc3339(*t, Rfc3339Precision::kMillis)) : json(nullptr);
}

// Kubernetes wants whole seconds in metav1.Time (RFC 3339 without fraction).
std::string KubeTime(WallTime t) {
  std::string s = Rfc3339(t, Rfc3339Precision::kMillis);  // ...T13:28:20.123Z
  return s.substr(0, 19) + "Z";
}

json OptKubeTime(const std::optional<WallTime>& t) {
  return t ? json(KubeTime(*t)) : json(nullptr);
}

double Ms(const std::optional<probes::Duration>& d) {
  return d ? std::chrono::duration<double, std::milli>(*d).count() : -1;
}

std::string HealthWord(const ProbeRecord& p) {
  if (!p.info->blocked_reason.empty()) return "Blocked";
  return std::string(probes::HealthName(p.health));
}

}  // namespace

std::string Summary(const CheckSnapshot& s) {
  return std::to_string(s.healthy_count()) + "/" + std::to_string(s.probes.size());
}

json ConditionJson(const Condition& c) {
  return json{{"type", c.type},
              {"status", c.status},
              {"reason", c.reason},
              {"message", c.message},
              {"lastTransitionTime", KubeTime(c.last_transition_time)},
              {"observedGeneration", c.observed_generation}};
}

json StatusJson(const CheckSnapshot& s) {
  // Only states are written to the API server (docs/operator.md, "Status"): a
  // field that changes on every run (latency, counters, last probe time, a
  // success payload) would either be stale in the status or cost a write per run.
  // The live values are in the JSON API and the metrics.
  json probes_json = json::array();
  for (const ProbeRecord& p : s.probes) {
    const bool blocked = !p.info->blocked_reason.empty();
    const bool healthy = !blocked && p.healthy();
    json pj{{"name", p.info->name},
            {"type", p.info->type},
            {"healthy", healthy},
            {"reason", !blocked ? (p.has_result ? std::string(probes::ReasonName(p.reason)) : "")
                                : p.info->blocked_reason},
            {"message", blocked ? p.info->blocked_message : (healthy ? "" : p.message)}};
    if (p.last_transition_time) pj["lastTransitionTime"] = KubeTime(*p.last_transition_time);
    probes_json.push_back(std::move(pj));
  }
  json out{{"observedGeneration", s.generation},
           {"conditions", json::array({ConditionJson(s.ready), ConditionJson(s.degraded),
                                       ConditionJson(s.reconciling), ConditionJson(s.stalled)})},
           {"probes", std::move(probes_json)},
           {"summary", Summary(s)}};
  if (!s.invalid_message.empty()) out["invalidSpec"] = s.invalid_message;
  return out;
}

json CheckJson(const CheckSnapshot& s, bool with_history) {
  json probes_json = json::array();
  for (const ProbeRecord& p : s.probes) {
    json pj{{"name", p.info->name},
            {"type", p.info->type},
            {"critical", p.info->critical},
            {"state", HealthWord(p)},
            {"healthy", p.info->blocked_reason.empty() && p.healthy()},
            {"reason", p.info->blocked_reason.empty()
                           ? (p.has_result ? std::string(probes::ReasonName(p.reason)) : "")
                           : p.info->blocked_reason},
            {"message", p.info->blocked_reason.empty() ? p.message : p.info->blocked_message},
            {"latencyMs", p.latency_ms},
            {"timingsMs",
             {{"dns", Ms(p.timings.dns)},
              {"connect", Ms(p.timings.connect)},
              {"tls", Ms(p.timings.tls)},
              {"firstByte", Ms(p.timings.first_byte)}}},
            {"consecutiveSuccesses", p.consecutive_successes},
            {"consecutiveFailures", p.consecutive_failures},
            {"lastProbeTime", OptTime(p.last_probe_time)},
            {"lastTransitionTime", OptTime(p.last_transition_time)}};
    if (with_history) {
      json h = json::array();
      for (const HistoryEntry& e : p.history) {
        h.push_back({{"time", Rfc3339(e.at(), Rfc3339Precision::kMillis)},
                     {"healthy", e.healthy()},
                     {"reason", probes::ReasonName(e.reason())},
                     {"latencyMs", e.latency_ms()}});
      }
      pj["history"] = std::move(h);
    }
    probes_json.push_back(std::move(pj));
  }
  std::string state = s.is_ready() ? (s.degraded.status == "True" ? "Degraded" : "Ready")
                                   : (s.ready.status == "Unknown" ? "Pending" : "NotReady");
  json out{{"namespace", s.ns},
           {"name", s.name},
           {"generation", s.generation},
           {"state", state},
           {"ready", s.is_ready()},
           {"healthy", s.all_healthy()},
           {"summary", Summary(s)},
           {"conditions", json::array({ConditionJson(s.ready), ConditionJson(s.degraded),
                                       ConditionJson(s.reconciling), ConditionJson(s.stalled)})},
           {"lastProbeTime", OptKubeTime(s.last_probe_time)},
           {"probes", std::move(probes_json)}};
  if (!s.invalid_message.empty()) out["invalidSpec"] = s.invalid_message;
  return out;
}

}  // namespace healthgate::results
