#include "operator/leader/elector.h"

namespace healthgate::leader {

Elector::Elector(kube::Client& client, std::string ns, std::string name, LeaseConfig config,
                 const healthgate::Clock& clock, Metrics* metrics, Logger& log, Callbacks callbacks)
    : client_(client),
      leases_{"coordination.k8s.io", "v1", "leases", std::move(ns)},
      name_(std::move(name)),
      config_(std::move(config)),
      clock_(clock),
      metrics_(metrics),
      log_(log),
      callbacks_(std::move(callbacks)) {}

Elector::~Elector() { Stop(); }

void Elector::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Elector::Stop() {
  stop_.Stop();
  if (thread_.joinable()) thread_.join();
}

void Elector::Run() {
  do {
    const bool was_leading = leading_.load();
    bool now_leading = Round();
    if (now_leading && MustStepDown(state_, config_, clock_.Now())) now_leading = false;
    if (!was_leading && now_leading) {
      leading_ = true;
      if (metrics_) metrics_->SetLeader(true);
      log_.Info("became the leader",
                {{"lease", leases_.ns + "/" + name_}, {"identity", config_.identity}});
      if (callbacks_.on_started) callbacks_.on_started();
    }
    if (was_leading && !now_leading) {
      // Step down before anyone else may take over (renew_deadline < lease
      // duration); keep campaigning, so a replica cut off from the API server
      // for a while becomes leader again when it is back and the lease is free.
      leading_ = false;
      state_.leading = false;
      if (metrics_) metrics_->SetLeader(false);
      log_.Error("lost the leader lease; standing by",
                 {{"lease", leases_.ns + "/" + name_}, {"identity", config_.identity}});
      if (callbacks_.on_lost) callbacks_.on_lost();
    }
  } while (!stop_.WaitFor(config_.retry_period));
}

bool Elector::Round() {
  auto got = client_.Get(leases_, name_);
  std::optional<LeaseRecord> current;
  if (got.ok()) {
    current = RecordFromLease(*got);
  } else if (!got.error().IsNotFound()) {
    log_.Warn("cannot read the leader lease", {{"error", got.error().ToString()}});
    return state_.leading && !MustStepDown(state_, config_, clock_.Now());
  }
  const auto now = clock_.Now();
  const Action action = Decide(state_, current, config_, now);
  if (action == Action::kWait) return false;
  LeaseRecord next = NextRecord(action, current, config_, clock_.WallNow());
  kube::Result<nlohmann::json> written = kube::Error{};
  if (action == Action::kCreate) {
    nlohmann::json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                            {"kind", "Lease"},
                            {"metadata", {{"name", name_}, {"namespace", leases_.ns}}},
                            {"spec", LeaseSpec(next)}};
    written = client_.Create(leases_, lease);
  } else {
    nlohmann::json lease = *got;  // carries resourceVersion: a concurrent writer conflicts
    lease["spec"] = LeaseSpec(next);
    written = client_.Update(leases_, lease);
  }
  if (!written.ok()) {
    if (!written.error().IsConflict() && !written.error().IsAlreadyExists())
      log_.Warn("cannot write the leader lease", {{"error", written.error().ToString()}});
    return state_.leading && !MustStepDown(state_, config_, clock_.Now());
  }
  held_ = *written;
  state_.leading = true;
  state_.last_renew = now;
  state_.observed = next;
  state_.observed_at = now;
  return true;
}

void Elector::Release() {
  if (!leading_.load() || !held_) return;
  LeaseRecord released = RecordFromLease(*held_);
  released.holder.clear();
  released.lease_duration_seconds = 1;
  nlohmann::json lease = *held_;
  lease["spec"] = LeaseSpec(released);
  auto r = client_.Update(leases_, lease);
  if (r.ok())
    log_.Info("released the leader lease", {{"lease", leases_.ns + "/" + name_}});
  else
    log_.Warn("cannot release the leader lease", {{"error", r.error().ToString()}});
  leading_ = false;
}

}  // namespace healthgate::leader
