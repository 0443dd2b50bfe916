#include "operator/results/store.h"

#include <algorithm>

namespace healthgate::results {

using probes::Health;

bool CheckSnapshot::all_healthy() const {
  if (!invalid_message.empty() && probes.empty()) return false;
  return std::all_of(probes.begin(), probes.end(), [](const ProbeRecord& p) {
    return p.info->blocked_reason.empty() && p.healthy();
  });
}

std::size_t CheckSnapshot::healthy_count() const {
  return static_cast<std::size_t>(std::count_if(
      probes.begin(), probes.end(),
      [](const ProbeRecord& p) { return p.info->blocked_reason.empty() && p.healthy(); }));
}

namespace {

// Condition messages are capped like Kubernetes caps metav1.Condition messages
// (32,768 characters): what does not fit is counted, "… (N more probes)".
constexpr std::size_t kMaxConditionMessage = 32768;
constexpr std::size_t kRoomForTheCount = 32;

struct MessageList {
  std::string text;
  std::size_t omitted = 0;
  void Append(const std::string& probe, const std::string& msg) {
    const std::size_t need =
        (text.empty() ? 0 : 2) + probe.size() + (msg.empty() ? 0 : 2 + msg.size());
    if (omitted > 0 || text.size() + need > kMaxConditionMessage - kRoomForTheCount) {
      ++omitted;
      return;
    }
    if (!text.empty()) text += "; ";
    text += probe;
    if (!msg.empty()) text += ": " + msg;
  }
  bool empty() const { return text.empty() && omitted == 0; }
  std::string str() const {
    if (omitted == 0) return text;
    return text + " \u2026 (" + std::to_string(omitted) + " more probes)";
  }
};

void SetStatus(Condition& c, const Condition* prev, WallTime now) {
  c.last_transition_time =
      (prev != nullptr && prev->status == c.status) ? prev->last_transition_time : now;
}

}  // namespace

bool IsPermanentReason(const std::string& ready_reason) {
  // SecretUnavailable is healthgate's own, passing trouble (the API server did not
  // answer): it is not permanent.
  return ready_reason == "InvalidSpec" || ready_reason == "SecretNotFound" ||
         ready_reason == "SecretForbidden" || ready_reason == "SecretNotAllowed";
}

void ComputeConditions(CheckSnapshot& s, const CheckSnapshot* previous, WallTime now) {
  Condition ready{"Ready", "Unknown", "", "", now, s.generation};
  Condition degraded{"Degraded", "False", "", "", now, s.generation};
  MessageList blocked, failing, pending, noncritical, auth_failing;
  std::string blocked_reason;
  std::size_t critical = 0;
  for (const ProbeRecord& p : s.probes) {
    bool is_blocked = !p.info->blocked_reason.empty();
    if (p.info->critical) {
      ++critical;
      if (is_blocked) {
        blocked.Append(p.info->name, p.info->blocked_message);
        if (blocked_reason.empty()) blocked_reason = p.info->blocked_reason;
      } else if (p.health == Health::kUnhealthy) {
        failing.Append(p.info->name, p.message);
        // Unhealthy means past the failure threshold: rejected credentials that
        // persist do not heal by waiting.
        if (p.reason == probes::Reason::kAuth) auth_failing.Append(p.info->name, p.message);
      } else if (p.health == Health::kUnknown) {
        pending.Append(p.info->name, "");
      }
    } else if (is_blocked) {
      noncritical.Append(p.info->name, p.info->blocked_message);
    } else if (p.health == Health::kUnhealthy) {
      noncritical.Append(p.info->name, p.message);
    }
  }
  if (!s.invalid_message.empty() && s.probes.empty()) {
    ready.status = "False";
    ready.reason = "InvalidSpec";
    ready.message = s.invalid_message;
  } else if (!blocked.empty()) {
    ready.status = "False";
    ready.reason = blocked_reason;
    ready.message = blocked.str();
  } else if (!failing.empty()) {
    ready.status = "False";
    ready.reason = "ProbeFailing";
    ready.message = failing.str();
  } else if (!pending.empty()) {
    ready.status = "Unknown";
    ready.reason = "ProbesPending";
    ready.message = "waiting for a verdict from: " + pending.str();
  } else {
    ready.status = "True";
    ready.reason = "AllCriticalProbesHealthy";
    ready.message = critical == 0 ? "no critical probes"
                                  : "all " + std::to_string(critical) + " critical probes healthy";
  }
  if (!noncritical.empty()) {
    degraded.status = "True";
    degraded.reason = "ProbeFailing";
    degraded.message = noncritical.str();
  } else {
    degraded.status = "False";
    degraded.reason = "NonCriticalProbesHealthy";
    degraded.message = "";
  }
  Condition stalled{"Stalled", "False", "NoPermanentError", "", now, s.generation};
  if (!s.invalid_message.empty()) {
    // Also with the previous generation's probes still running: the latest spec
    // cannot be applied until someone fixes it.
    stalled.status = "True";
    stalled.reason = "InvalidSpec";
    stalled.message = s.invalid_message;
  } else if (ready.status == "False" && IsPermanentReason(ready.reason)) {
    stalled.status = "True";
    stalled.reason = ready.reason;
    stalled.message = ready.message;
  } else if (!auth_failing.empty()) {
    stalled.status = "True";
    stalled.reason = "AuthenticationFailing";
    stalled.message = "credentials rejected past the failure threshold: " + auth_failing.str();
  }
  Condition reconciling{"Reconciling", "False", "VerdictReached", "", now, s.generation};
  if (ready.status == "Unknown" && stalled.status != "True") {
    reconciling.status = "True";
    reconciling.reason = ready.reason;
    reconciling.message = ready.message;
  }
  SetStatus(ready, previous ? &previous->ready : nullptr, now);
  SetStatus(degraded, previous ? &previous->degraded : nullptr, now);
  SetStatus(reconciling, previous ? &previous->reconciling : nullptr, now);
  SetStatus(stalled, previous ? &previous->stalled : nullptr, now);
  s.ready = std::move(ready);
  s.degraded = std::move(degraded);
  s.reconciling = std::move(reconciling);
  s.stalled = std::move(stalled);
}

namespace {

// The message a status shows for a probe: the last result's while the probe is
// not healthy, nothing while it is. A success payload (`SELECT now()`, `DBSIZE`)
// or the text of a failure still under the threshold changes every run; neither
// is a state a user must be told about, so neither may cause a status write.
const std::string& ShownMessage(const ProbeRecord& p) {
  static const std::string kNone;
  return p.healthy() ? kNone : p.message;
}

// True when a user would see a difference between two snapshots' states
// (conditions, per-probe health, reason, blocked state, generation).
bool VisiblyDifferent(const CheckSnapshot& a, const CheckSnapshot& b) {
  if (!a.ready.SameVisible(b.ready) || !a.degraded.SameVisible(b.degraded) ||
      !a.reconciling.SameVisible(b.reconciling) || !a.stalled.SameVisible(b.stalled))
    return true;
  if (a.invalid_message != b.invalid_message || a.generation != b.generation) return true;
  if (a.probes.size() != b.probes.size()) return true;
  for (std::size_t i = 0; i < a.probes.size(); ++i) {
    const ProbeRecord& x = a.probes[i];
    const ProbeRecord& y = b.probes[i];
    if ((x.info != y.info && !(*x.info == *y.info)) || x.health != y.health ||
        x.has_result != y.has_result || ShownMessage(x) != ShownMessage(y) ||
        x.reason != y.reason) {
      return true;
    }
  }
  return false;
}

}  // namespace

void Store::UpsertCheck(const CheckInfo& info, const std::vector<std::string>& reset_probes) {
  SnapshotPtr published;
  Change change = Change::kUpserted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::string key = info.ns + "/" + info.name;
    auto it = checks_.find(key);
    const CheckSnapshot* prev = it == checks_.end() ? nullptr : it->second.get();
    auto next = std::make_shared<CheckSnapshot>();
    next->ns = info.ns;
    next->name = info.name;
    next->generation = info.generation;
    next->invalid_message = info.invalid_message;
    next->probes.reserve(info.probes.size());
    for (const ProbeInfoPtr& pi : info.probes) {
      ProbeRecord rec;
      bool reset =
          std::find(reset_probes.begin(), reset_probes.end(), pi->name) != reset_probes.end();
      if (prev != nullptr && !reset) {
        for (const ProbeRecord& old : prev->probes) {
          if (old.info->name == pi->name && old.info->type == pi->type) {
            rec = old;
            break;
          }
        }
      }
      rec.info = pi;
      next->probes.push_back(std::move(rec));
    }
    if (prev != nullptr) next->last_probe_time = prev->last_probe_time;
    ComputeConditions(*next, prev, clock_.WallNow());
    bool changed = prev == nullptr || VisiblyDifferent(*prev, *next);
    next->visible_version = (prev ? prev->visible_version : 0) + (changed ? 1 : 0);
    checks_[key] = next;
    if (changed) published = next;
  }
  if (published) Publish(published, change);
}

void Store::RemoveCheck(const std::string& ns, const std::string& name) {
  SnapshotPtr removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = checks_.find(ns + "/" + name);
    if (it == checks_.end()) return;
    removed = it->second;
    checks_.erase(it);
  }
  Publish(removed, Change::kRemoved);
}

void Store::RecordResult(const std::string& ns, const std::string& name, const std::string& probe,
                         const probes::Result& result, const probes::ThresholdState& state) {
  SnapshotPtr published;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = checks_.find(ns + "/" + name);
    if (it == checks_.end()) return;
    const CheckSnapshot& prev = *it->second;
    auto next = std::make_shared<CheckSnapshot>(prev);
    WallTime now = clock_.WallNow();
    bool found = false;
    for (ProbeRecord& rec : next->probes) {
      if (rec.info->name != probe) continue;
      found = true;
      if (rec.health != state.health) rec.last_transition_time = now;
      rec.health = state.health;
      rec.has_result = true;
      rec.reason = result.reason;
      rec.message = result.message;
      rec.latency_ms = std::chrono::duration<double, std::milli>(result.latency).count();
      rec.timings = result.timings;
      rec.consecutive_successes = state.consecutive_successes;
      rec.consecutive_failures = state.consecutive_failures;
      rec.last_probe_time = now;
      rec.history.push_back(HistoryEntry(now, result.healthy, result.reason, result.latency));
      break;
    }
    if (!found) return;
    next->last_probe_time = now;
    ComputeConditions(*next, &prev, now);
    bool changed = VisiblyDifferent(prev, *next);
    if (changed) next->visible_version = prev.visible_version + 1;
    it->second = next;
    if (changed) published = next;
  }
  if (published) Publish(published, Change::kUpserted);
}

SnapshotPtr Store::Get(const std::string& ns, const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = checks_.find(ns + "/" + name);
  return it == checks_.end() ? nullptr : it->second;
}

std::vector<SnapshotPtr> Store::List(const std::string& ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SnapshotPtr> out;
  out.reserve(checks_.size());
  for (const auto& [key, snap] : checks_) {
    if (ns.empty() || snap->ns == ns) out.push_back(snap);
  }
  return out;
}

std::size_t Store::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return checks_.size();
}

std::size_t Store::PendingChecks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<std::size_t>(std::count_if(checks_.begin(), checks_.end(), [](const auto& kv) {
    return kv.second->ready.status == "Unknown";
  }));
}

void Store::Subscribe(Subscriber s) {
  std::lock_guard<std::mutex> lock(sub_mu_);
  subscribers_.push_back(std::move(s));
}

void Store::Publish(const SnapshotPtr& s, Change c) {
  std::vector<Subscriber> subs;
  {
    std::lock_guard<std::mutex> lock(sub_mu_);
    subs = subscribers_;
  }
  for (const auto& fn : subs) fn(s, c);
}

}  // namespace healthgate::results
