#include "operator/leader/lease.h"

#include <ctime>

namespace healthgate::leader {

LeaseRecord RecordFromLease(const nlohmann::json& lease) {
  LeaseRecord r;
  if (!lease.is_object() || !lease.contains("spec") || !lease["spec"].is_object()) return r;
  const auto& s = lease["spec"];
  // Fields of another type read as absent (json::value() would throw).
  auto str = [&s](const char* k) {
    const auto v = s.find(k);
    return v != s.end() && v->is_string() ? v->get<std::string>() : std::string();
  };
  auto int64 = [&s](const char* k) {
    const auto v = s.find(k);
    return v != s.end() && v->is_number_integer() ? v->get<std::int64_t>() : std::int64_t{0};
  };
  r.holder = str("holderIdentity");
  r.lease_duration_seconds = int64("leaseDurationSeconds");
  r.acquire_time = str("acquireTime");
  r.renew_time = str("renewTime");
  r.transitions = int64("leaseTransitions");
  return r;
}

nlohmann::json LeaseSpec(const LeaseRecord& r) {
  nlohmann::json s = {{"holderIdentity", r.holder},
                      {"leaseDurationSeconds", r.lease_duration_seconds},
                      {"leaseTransitions", r.transitions}};
  if (!r.acquire_time.empty()) s["acquireTime"] = r.acquire_time;
  if (!r.renew_time.empty()) s["renewTime"] = r.renew_time;
  return s;
}

Action Decide(ElectorState& state, const std::optional<LeaseRecord>& current,
              const LeaseConfig& config, healthgate::MonoTime now) {
  if (!current) {
    state.observed.reset();
    return Action::kCreate;
  }
  if (!state.observed || !(*state.observed == *current)) {
    state.observed = current;
    state.observed_at = now;
  }
  if (current->holder == config.identity) return Action::kRenew;
  if (current->holder.empty()) return Action::kAcquire;  // released
  // The holder's own duration, if it wrote one; ours otherwise.
  auto duration = current->lease_duration_seconds > 0
                      ? std::chrono::seconds(current->lease_duration_seconds)
                      : config.lease_duration;
  if (now - state.observed_at >= duration) return Action::kAcquire;
  return Action::kWait;
}

LeaseRecord NextRecord(Action action, const std::optional<LeaseRecord>& current,
                       const LeaseConfig& config, healthgate::WallTime wall_now) {
  LeaseRecord r;
  r.holder = config.identity;
  r.lease_duration_seconds = config.lease_duration.count();
  r.renew_time = MicroTime(wall_now);
  switch (action) {
    case Action::kRenew:
      r.acquire_time = current ? current->acquire_time : r.renew_time;
      r.transitions = current ? current->transitions : 0;
      break;
    case Action::kAcquire:
      r.acquire_time = r.renew_time;
      r.transitions = current ? current->transitions + 1 : 0;
      break;
    case Action::kCreate:
    case Action::kWait:
      r.acquire_time = r.renew_time;
      r.transitions = 0;
      break;
  }
  return r;
}

bool MustStepDown(const ElectorState& state, const LeaseConfig& config, healthgate::MonoTime now) {
  return state.leading && now - state.last_renew > config.renew_deadline;
}

}  // namespace healthgate::leader
