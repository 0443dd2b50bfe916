#include "operator/cli/check.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "operator/spec/model.h"
#include "probes/run_once.h"

namespace healthgate::cli {
namespace {

struct Row {
  std::string check;  // ns/name
  std::string probe;
  std::string type;
  bool critical = true;
  bool healthy = false;
  std::string reason;
  double latency_ms = 0;
  std::string message;
};

std::string FormatLatency(double ms) {
  char buf[32];
  if (ms < 10)
    std::snprintf(buf, sizeof buf, "%.1fms", ms);
  else
    std::snprintf(buf, sizeof buf, "%.0fms", ms);
  return buf;
}

// One line per row, columns padded to the widest cell; the message is last and
// never truncated.
void PrintTable(const std::vector<Row>& rows, std::FILE* out) {
  std::vector<std::vector<std::string>> cells;
  cells.push_back({"CHECK", "PROBE", "TYPE", "RESULT", "REASON", "LATENCY", "MESSAGE"});
  for (const auto& r : rows) {
    std::string result = r.healthy ? "pass" : (r.critical ? "FAIL" : "fail (non-critical)");
    cells.push_back(
        {r.check, r.probe, r.type, result, r.reason, FormatLatency(r.latency_ms), r.message});
  }
  std::vector<std::size_t> width(7, 0);
  for (const auto& row : cells)
    for (std::size_t i = 0; i + 1 < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  for (const auto& row : cells) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::fprintf(out, "%s\n", line.c_str());
  }
}

}  // namespace

int RunCheck(const CheckOptions& options, std::FILE* out, std::FILE* err) {
  auto docs = spec::LoadPaths(options.paths);
  std::vector<spec::HealthCheck> checks;
  std::size_t errors = 0;
  for (auto& doc : docs) {
    for (const auto& line : doc.ErrorLines()) {
      std::fprintf(err, "error: %s\n", line.c_str());
      ++errors;
    }
    if (doc.check) checks.push_back(std::move(*doc.check));
  }
  if (errors > 0) {
    std::fprintf(err, "%zu validation error(s); nothing was probed\n", errors);
    return 2;
  }
  if (checks.empty()) {
    std::fprintf(err, "error: no HealthCheck found in the given paths\n");
    return 2;
  }

  spec::LocalSecretResolver secrets(options.secrets_dir);
  std::vector<Row> rows;
  std::vector<probes::OnceRequest> requests;
  std::vector<std::size_t> request_row;
  for (const auto& check : checks) {
    for (auto& mp : spec::Materialize(check, secrets)) {
      Row r;
      r.check = check.key();
      r.probe = mp.name;
      r.type = mp.type;
      r.critical = mp.critical;
      if (mp.blocked()) {
        r.reason = mp.blocked_reason;
        r.message = mp.blocked_message;
      } else {
        requests.push_back({*mp.definition.target, mp.definition.timeout});
        request_row.push_back(rows.size());
      }
      rows.push_back(std::move(r));
    }
  }
  auto results = probes::RunOnce(requests);
  for (std::size_t i = 0; i < results.size(); ++i) {
    Row& r = rows[request_row[i]];
    r.healthy = results[i].healthy;
    r.reason = std::string(probes::ReasonName(results[i].reason));
    r.latency_ms = std::chrono::duration<double, std::milli>(results[i].latency).count();
    r.message = results[i].message;
  }
  bool ok =
      std::all_of(rows.begin(), rows.end(), [](const Row& r) { return r.healthy || !r.critical; });

  if (options.output == "json") {
    nlohmann::json j = {{"ok", ok}, {"checks", nlohmann::json::array()}};
    std::map<std::string, nlohmann::json> by_check;
    std::vector<std::string> order;
    for (const auto& r : rows) {
      if (!by_check.contains(r.check)) {
        order.push_back(r.check);
        auto slash = r.check.find('/');
        by_check[r.check] = {{"namespace", r.check.substr(0, slash)},
                             {"name", r.check.substr(slash + 1)},
                             {"ready", true},
                             {"probes", nlohmann::json::array()}};
      }
      auto& c = by_check[r.check];
      if (!r.healthy && r.critical) c["ready"] = false;
      c["probes"].push_back({{"name", r.probe},
                             {"type", r.type},
                             {"critical", r.critical},
                             {"healthy", r.healthy},
                             {"reason", r.reason},
                             {"latencyMs", r.latency_ms},
                             {"message", r.message}});
    }
    for (const auto& k : order) j["checks"].push_back(by_check[k]);
    std::fprintf(out, "%s\n", j.dump(2).c_str());
  } else {
    PrintTable(rows, out);
    std::size_t failed = std::count_if(rows.begin(), rows.end(),
                                       [](const Row& r) { return !r.healthy && r.critical; });
    std::fprintf(out, "\n%s: %zu probe(s), %zu critical failure(s)\n", ok ? "OK" : "FAILED",
                 rows.size(), failed);
  }
  return ok ? 0 : 1;
}

}  // namespace healthgate::cli
