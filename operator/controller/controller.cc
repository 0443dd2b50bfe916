#include "operator/controller/controller.h"

#include <algorithm>
#include <set>
#include <utility>

namespace healthgate::controller {
namespace {

struct ProbeKeyParts {
  std::string ns, check, probe;
};

// Probe keys are "<ns>/<check>/<probe>"; none of the three may contain '/'.
std::optional<ProbeKeyParts> SplitKey(const std::string& key) {
  auto a = key.find('/');
  if (a == std::string::npos) return std::nullopt;
  auto b = key.find('/', a + 1);
  if (b == std::string::npos) return std::nullopt;
  return ProbeKeyParts{key.substr(0, a), key.substr(a + 1, b - a - 1), key.substr(b + 1)};
}

std::string ProbeKey(const std::string& check_key, const std::string& probe) {
  return check_key + "/" + probe;
}

}  // namespace

Controller::Controller(Deps deps) : deps_(deps) {}

Controller::~Controller() { alive_->store(false); }

Controller::Planned Controller::Plan(DesiredCheck desired) {
  Planned p;
  if (desired.spec) p.probes = v1alpha1::Materialize(desired.spec, deps_.secrets);
  p.desired = std::move(desired);
  return p;
}

void Controller::CarryOver(DesiredCheck& d) const {
  if (d.spec) return;
  auto old = desired_.find(d.ns + "/" + d.name);
  if (old != desired_.end() && old->second.spec) d.spec = old->second.spec;
}

void Controller::Replace(std::vector<DesiredCheck> desired) {
  std::vector<Planned> batch;
  {
    std::lock_guard lock(desired_mu_);
    std::map<std::string, DesiredCheck> next;
    for (auto& d : desired) {
      CarryOver(d);
      next[d.ns + "/" + d.name] = d;
    }
    desired_ = std::move(next);
  }
  batch.reserve(desired.size());
  for (auto& d : desired) batch.push_back(Plan(std::move(d)));
  Submit(std::move(batch), /*replace_all=*/true);
}

void Controller::Upsert(DesiredCheck desired) {
  {
    std::lock_guard lock(desired_mu_);
    CarryOver(desired);
    desired_[desired.ns + "/" + desired.name] = desired;
  }
  std::vector<Planned> batch;
  batch.push_back(Plan(std::move(desired)));
  Submit(std::move(batch), /*replace_all=*/false);
}

void Controller::Remove(const std::string& ns, const std::string& name) {
  const std::string key = ns + "/" + name;
  {
    std::lock_guard lock(desired_mu_);
    desired_.erase(key);
  }
  ++submitted_;
  auto alive = alive_;
  deps_.loop.Post([this, alive, key] {
    if (!alive->load()) return;
    RemoveOnLoop(key);
    if (scheduler_) scheduled_ = scheduler_->size();
    MarkApplied();
  });
}

void Controller::Refresh() {
  std::vector<DesiredCheck> copy;
  {
    std::lock_guard lock(desired_mu_);
    for (const auto& [key, d] : desired_) copy.push_back(d);
  }
  std::vector<Planned> batch;
  batch.reserve(copy.size());
  for (auto& d : copy) batch.push_back(Plan(std::move(d)));
  Submit(std::move(batch), /*replace_all=*/false);
}

void Controller::Submit(std::vector<Planned> batch, bool replace_all) {
  ++submitted_;
  auto alive = alive_;
  auto shared = std::make_shared<std::vector<Planned>>(std::move(batch));
  deps_.loop.Post([this, alive, shared, replace_all] {
    if (!alive->load()) return;
    if (replace_all) {
      std::set<std::string> keep;
      for (const auto& p : *shared) keep.insert(p.desired.ns + "/" + p.desired.name);
      std::vector<std::string> gone;
      for (const auto& [key, r] : running_)
        if (!keep.contains(key)) gone.push_back(key);
      for (const auto& key : gone) RemoveOnLoop(key);
    }
    for (auto& p : *shared) Apply(p);
    if (scheduler_) scheduled_ = scheduler_->size();
    // Free the batch before saying it is applied: a source that waits for this
    // can then hand the memory back to the OS (FileSource trims after a load).
    std::vector<Planned>().swap(*shared);
    MarkApplied();
  });
}

void Controller::MarkApplied() {
  {
    std::lock_guard lock(applied_mu_);
    ++applied_;
  }
  applied_cv_.notify_all();
}

bool Controller::WaitApplied(std::chrono::milliseconds timeout) {
  const std::uint64_t target = submitted_.load();
  std::unique_lock lock(applied_mu_);
  return applied_cv_.wait_for(lock, timeout, [&] { return applied_.load() >= target; });
}

void Controller::Apply(Planned& planned) {
  const DesiredCheck& d = planned.desired;
  const std::string key = d.ns + "/" + d.name;
  Running& run = running_[key];

  results::CheckInfo info;
  info.ns = d.ns;
  info.name = d.name;
  info.generation = d.generation != 0 ? d.generation : (d.spec ? d.spec->generation : 0);
  info.invalid_message = d.invalid_message;
  info.probes.reserve(planned.probes.size());

  std::vector<RunningProbe> next;
  next.reserve(planned.probes.size());
  std::vector<std::string> reset;
  for (auto& mp : planned.probes) {
    auto pi = std::make_shared<results::ProbeInfo>();
    pi->name = mp.name;
    pi->type = mp.type;
    pi->critical = mp.critical;
    pi->blocked_reason = mp.blocked_reason;
    pi->blocked_message = mp.blocked_message;
    info.probes.push_back(std::move(pi));

    auto old = std::find_if(run.probes.begin(), run.probes.end(),
                            [&](const RunningProbe& r) { return r.name == mp.name; });
    const bool existed = old != run.probes.end();
    const bool type_changed = existed && old->type != mp.type;
    if (type_changed) {
      // Another kind of probe under the same name: its series and history are not
      // comparable with the old ones.
      reset.push_back(mp.name);
      if (deps_.metrics) deps_.metrics->ProbeRemoved(d.ns, d.name, mp.name);
    }
    if (mp.blocked()) {
      if (scheduler_ && scheduler_->Contains(mp.definition.key)) {
        scheduler_->Remove(mp.definition.key);
      }
      if (existed && !old->blocked() && !type_changed) reset.push_back(mp.name);
      if (deps_.metrics) {
        deps_.metrics->ProbeBlocked(d.ns, d.name, mp.name, mp.type, mp.blocked_reason);
      }
    } else if (scheduler_) {
      // New or changed definition: the scheduler keeps the thresholds state of a
      // changed one and runs it promptly, and the store keeps its record, so an
      // edit or a rotated secret never opens a "pending" window.
      scheduler_->Upsert(std::move(mp.definition));
    }
    const bool was_blocked = existed && old->blocked();
    if (mp.blocked() && (!was_blocked || old->blocked_reason != mp.blocked_reason ||
                         old->blocked_message != mp.blocked_message)) {
      deps_.log.Warn("probe blocked", {{"namespace", d.ns},
                                       {"healthcheck", d.name},
                                       {"probe", mp.name},
                                       {"type", mp.type},
                                       {"reason", mp.blocked_reason},
                                       {"error", mp.blocked_message}});
    } else if (!mp.blocked() && was_blocked) {
      deps_.log.Info("probe unblocked", {{"namespace", d.ns},
                                         {"healthcheck", d.name},
                                         {"probe", mp.name},
                                         {"type", mp.type},
                                         {"was", old->blocked_reason}});
    }
    next.push_back(RunningProbe{mp.name, mp.type, mp.blocked_reason, mp.blocked_message});
  }
  // Probes that are gone.
  for (const RunningProbe& rp : run.probes) {
    if (std::any_of(next.begin(), next.end(),
                    [&](const RunningProbe& n) { return n.name == rp.name; })) {
      continue;
    }
    if (scheduler_) scheduler_->Remove(ProbeKey(key, rp.name));
    if (deps_.metrics) deps_.metrics->ProbeRemoved(d.ns, d.name, rp.name);
  }
  // Without a valid version ever, the check has no probes: it shows InvalidSpec.
  run.probes = std::move(next);
  deps_.store.UpsertCheck(info, reset);
  // Reconciles repeat (reloads, secret refreshes): log an error once, not per pass.
  if (!d.invalid_message.empty() && d.invalid_message != run.invalid_message) {
    deps_.log.Warn("invalid HealthCheck", {{"healthcheck", d.name},
                                           {"namespace", d.ns},
                                           {"error", d.invalid_message},
                                           {"running_previous_version", d.spec != nullptr}});
  }
  run.invalid_message = d.invalid_message;
}

void Controller::RemoveOnLoop(const std::string& key) {
  auto it = running_.find(key);
  if (it == running_.end()) return;
  auto parts = key.find('/');
  const std::string ns = key.substr(0, parts), name = key.substr(parts + 1);
  for (const RunningProbe& rp : it->second.probes) {
    if (scheduler_) scheduler_->Remove(ProbeKey(key, rp.name));
    if (deps_.metrics) deps_.metrics->ProbeRemoved(ns, name, rp.name);
  }
  running_.erase(it);
  deps_.store.RemoveCheck(ns, name);
  if (deps_.metrics) deps_.metrics->CheckRemoved(ns, name);
}

void Controller::OnProbeEvent(const probes::ProbeEvent& ev) {
  auto parts = SplitKey(ev.key);
  if (!parts) return;
  deps_.store.RecordResult(parts->ns, parts->check, parts->probe, ev.result, ev.after);
  const std::string type(probes::TypeName(ev.target));
  if (deps_.metrics) {
    deps_.metrics->ProbeResult(parts->ns, parts->check, parts->probe, type, ev.result, ev.after);
    // Skipped runs and the loops' load are sampled by the runtime (runtime.h).
    deps_.metrics->ScheduleLateness(ev.started - ev.planned);
  }
  if (ev.before.health != ev.after.health) {
    const bool healthy = ev.after.health == probes::Health::kHealthy;
    nlohmann::json f = {
        {"namespace", parts->ns},
        {"healthcheck", parts->check},
        {"probe", parts->probe},
        {"from", probes::HealthName(ev.before.health)},
        {"to", probes::HealthName(ev.after.health)},
        {"reason", probes::ReasonName(ev.result.reason)},
        {"latency_ms", std::chrono::duration<double, std::milli>(ev.result.latency).count()}};
    f["type"] = type;
    if (!ev.result.message.empty()) f["message"] = ev.result.message;
    if (healthy)
      deps_.log.Info("probe healthy", f);
    else
      deps_.log.Warn("probe unhealthy", f);
  }
}

}  // namespace healthgate::controller
