#include "operator/metrics/probe_series.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace healthgate {
namespace {

constexpr std::string_view kSuccessHeader =
    "# HELP healthgate_probe_success Whether the last attempt of the probe succeeded (1) or not "
    "(0).\n# TYPE healthgate_probe_success gauge\n";
constexpr std::string_view kDurationHeader =
    "# HELP healthgate_probe_duration_seconds Duration of probe attempts, timeouts included.\n"
    "# TYPE healthgate_probe_duration_seconds histogram\n";
constexpr std::string_view kTotalsHeader =
    "# HELP healthgate_probes_total Probe attempts by result: success, timeout, dns, connect, tls, "
    "auth, protocol, assertion.\n# TYPE healthgate_probes_total counter\n";
constexpr std::string_view kConsecutiveFailuresHeader =
    "# HELP healthgate_probe_consecutive_failures Consecutive failed attempts of the probe.\n"
    "# TYPE healthgate_probe_consecutive_failures gauge\n";
constexpr std::string_view kReadyHeader =
    "# HELP healthgate_healthcheck_ready Whether every critical probe of the HealthCheck is "
    "healthy (1) or not (0).\n# TYPE healthgate_healthcheck_ready gauge\n";

constexpr std::string_view kBlockedHeader =
    "# HELP healthgate_probe_blocked Probes that cannot run (1), by reason: SecretNotFound, "
    "SecretForbidden, SecretNotAllowed, SecretUnavailable.\n# TYPE healthgate_probe_blocked "
    "gauge\n";

void AppendNumber(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// Shortest text that reads back as the same double (Prometheus parses Go floats).
void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// A label value: backslash, double quote and line feed escaped (text format rules).
void AppendEscaped(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void AppendLabel(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += "=\"";
  AppendEscaped(out, value);
  out += '"';
}

// `healthcheck="..",namespace="..",probe=".."`: the labels every probe series
// starts with, in the sorted order prometheus-cpp writes them.
void AppendProbeLabels(std::string& out, std::string_view ns, std::string_view check,
                       std::string_view probe) {
  AppendLabel(out, "healthcheck", check);
  out += ',';
  AppendLabel(out, "namespace", ns);
  out += ',';
  AppendLabel(out, "probe", probe);
}

}  // namespace

ProbeSeriesTable::Probe& ProbeSeriesTable::FindOrAdd(std::string_view ns, std::string_view check,
                                                     std::string_view probe,
                                                     std::string_view type) {
  auto it = checks_.find(std::pair{ns, check});
  if (it == checks_.end()) {
    it = checks_.emplace(Key{std::string(ns), std::string(check)}, Check{}).first;
  }
  auto& list = it->second.probes;
  auto p = std::find_if(list.begin(), list.end(), [&](const Probe& x) { return x.name == probe; });
  if (p == list.end()) {
    list.push_back(Probe{});
    p = std::prev(list.end());
    p->name = std::string(probe);
    p->type = std::string(type);
  }
  return *p;
}

void ProbeSeriesTable::SetBlocked(std::string_view ns, std::string_view check,
                                  std::string_view probe, std::string_view type,
                                  std::string_view reason) {
  std::lock_guard<std::mutex> lock(mu_);
  Probe& p = FindOrAdd(ns, check, probe, type);
  p.success = false;
  p.blocked = std::string(reason);
}

void ProbeSeriesTable::Record(std::string_view ns, std::string_view check, std::string_view probe,
                              std::string_view type, bool healthy, double seconds,
                              probes::Reason reason, std::uint32_t consecutive_failures) {
  std::lock_guard<std::mutex> lock(mu_);
  Probe* p = &FindOrAdd(ns, check, probe, type);
  p->blocked.clear();
  p->success = healthy;
  p->consecutive_failures = consecutive_failures;
  seconds = std::max(0.0, seconds);
  auto bucket = static_cast<std::size_t>(
      std::lower_bound(kDurationBuckets.begin(), kDurationBuckets.end(), seconds) -
      kDurationBuckets.begin());
  ++p->buckets[bucket];
  p->duration_sum += seconds;
  auto idx = static_cast<std::size_t>(reason);
  if (idx < p->totals.size()) ++p->totals[idx];
}

void ProbeSeriesTable::RemoveProbe(std::string_view ns, std::string_view check,
                                   std::string_view probe) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = checks_.find(std::pair{ns, check});
  if (it == checks_.end()) return;
  std::erase_if(it->second.probes, [&](const Probe& x) { return x.name == probe; });
  if (it->second.empty()) checks_.erase(it);
}

void ProbeSeriesTable::SetReady(std::string_view ns, std::string_view check, bool ready) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = checks_.find(std::pair{ns, check});
  if (it == checks_.end()) {
    it = checks_.emplace(Key{std::string(ns), std::string(check)}, Check{}).first;
  }
  it->second.ready = ready;
}

void ProbeSeriesTable::RemoveCheck(std::string_view ns, std::string_view check) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = checks_.find(std::pair{ns, check});
  if (it != checks_.end()) checks_.erase(it);
}

std::size_t ProbeSeriesTable::probes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::size_t n = 0;
  for (const auto& [key, check] : checks_) n += check.probes.size();
  return n;
}

std::size_t ProbeSeriesTable::checks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return checks_.size();
}

bool ProbeSeriesTable::Render(Family family, const Key& key, const Check& check, std::string& out) {
  const std::string& ns = key.first;
  const std::string& name = key.second;
  if (family == Family::kReady) {
    if (!check.ready) return false;
    out += "healthgate_healthcheck_ready{";
    AppendLabel(out, "healthcheck", name);
    out += ',';
    AppendLabel(out, "namespace", ns);
    out += *check.ready ? "} 1\n" : "} 0\n";
    return true;
  }
  if (family == Family::kBlocked) {
    bool any = false;
    for (const Probe& p : check.probes) {
      if (p.blocked.empty()) continue;
      out += "healthgate_probe_blocked{";
      AppendProbeLabels(out, ns, name, p.name);
      out += ',';
      AppendLabel(out, "reason", p.blocked);
      out += ',';
      AppendLabel(out, "type", p.type);
      out += "} 1\n";
      any = true;
    }
    return any;
  }
  for (const Probe& p : check.probes) {
    switch (family) {
      case Family::kSuccess:
        out += "healthgate_probe_success{";
        AppendProbeLabels(out, ns, name, p.name);
        out += ',';
        AppendLabel(out, "type", p.type);
        out += p.success ? "} 1\n" : "} 0\n";
        break;
      case Family::kConsecutiveFailures:
        out += "healthgate_probe_consecutive_failures{";
        AppendProbeLabels(out, ns, name, p.name);
        out += ',';
        AppendLabel(out, "type", p.type);
        out += "} ";
        AppendNumber(out, std::uint64_t{p.consecutive_failures});
        out += '\n';
        break;
      case Family::kTotals:
        for (std::size_t i = 0; i < p.totals.size(); ++i) {
          if (p.totals[i] == 0) continue;
          out += "healthgate_probes_total{";
          AppendProbeLabels(out, ns, name, p.name);
          out += ',';
          AppendLabel(out, "result", probes::ReasonName(static_cast<probes::Reason>(i)));
          out += ',';
          AppendLabel(out, "type", p.type);
          out += "} ";
          AppendNumber(out, p.totals[i]);
          out += '\n';
        }
        break;
      case Family::kDuration: {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < p.buckets.size(); ++i) {
          cumulative += p.buckets[i];
          out += "healthgate_probe_duration_seconds_bucket{";
          AppendProbeLabels(out, ns, name, p.name);
          out += ',';
          AppendLabel(out, "type", p.type);
          out += ",le=\"";
          if (i < kDurationBuckets.size()) {
            AppendNumber(out, kDurationBuckets[i]);
          } else {
            out += "+Inf";
          }
          out += "\"} ";
          AppendNumber(out, cumulative);
          out += '\n';
        }
        for (std::string_view suffix : {"_sum{", "_count{"}) {
          out += "healthgate_probe_duration_seconds";
          out += suffix;
          AppendProbeLabels(out, ns, name, p.name);
          out += ',';
          AppendLabel(out, "type", p.type);
          out += "} ";
          if (suffix == "_sum{") {
            AppendNumber(out, p.duration_sum);
          } else {
            AppendNumber(out, cumulative);
          }
          out += '\n';
        }
        break;
      }
      case Family::kReady:
      case Family::kBlocked:
        break;
    }
  }
  return !check.probes.empty();
}

bool ProbeSeriesTable::Write(const Writer& write, std::size_t piece_bytes) const {
  static constexpr std::pair<Family, std::string_view> kFamilies[] = {
      {Family::kSuccess, kSuccessHeader},
      {Family::kDuration, kDurationHeader},
      {Family::kTotals, kTotalsHeader},
      {Family::kConsecutiveFailures, kConsecutiveFailuresHeader},
      {Family::kReady, kReadyHeader},
      {Family::kBlocked, kBlockedHeader}};
  piece_bytes = std::max<std::size_t>(piece_bytes, 1);
  std::string piece;
  piece.reserve(piece_bytes + 4096);
  for (const auto& [family, header] : kFamilies) {
    bool started = false;  // header written
    std::optional<Key> after;
    for (;;) {
      piece.clear();
      bool more = false;
      {
        // Resume after the last check written: checks added or removed meanwhile
        // do not invalidate anything, they are simply seen or not.
        std::lock_guard<std::mutex> lock(mu_);
        auto it = after ? checks_.upper_bound(*after) : checks_.begin();
        for (; it != checks_.end(); ++it) {
          if (piece.size() >= piece_bytes) {
            more = true;
            break;
          }
          std::size_t mark = piece.size();
          if (!started) piece += header;
          if (Render(family, it->first, it->second, piece)) {
            started = true;
          } else {
            piece.resize(mark);
          }
        }
        if (more) after = std::prev(it)->first;
      }
      if (!piece.empty() && !write(piece)) return false;
      if (!more) break;
    }
  }
  return true;
}

}  // namespace healthgate
