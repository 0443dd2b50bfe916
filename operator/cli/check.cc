#include "operator/cli/check.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>

#include "operator/api/v1alpha1/model.h"
#include "operator/api/v1alpha1/yaml_json.h"
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

// Text for a terminal: C0 controls, DEL and C1 controls (U+0080..U+009F) become
// \xNN or \uNNNN, and so do bytes that are not UTF-8 (a terminal in 8-bit mode
// reads 0x80..0x9F as C1). A target's reply reaches the table through probe
// messages and must not move the cursor, clear the screen or set the title.
std::string EscapeControls(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char buf[16];
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
      ++i;
      continue;
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (len == 0 || i + len > text.size() || !v1alpha1::IsUtf8(text.substr(i, len))) {
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
      ++i;
      continue;
    }
    const auto c1 = static_cast<unsigned char>(text[i + 1]);
    if (c == 0xC2 && c1 < 0xA0) {  // U+0080..U+009F
      std::snprintf(buf, sizeof buf, "\\u%04x", c1);
      out += buf;
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

// One line per row, columns padded to the widest cell; the message is last and
// never truncated. Every cell is escaped (EscapeControls).
void PrintTable(const std::vector<Row>& rows, std::FILE* out) {
  std::vector<std::vector<std::string>> cells;
  cells.push_back({"CHECK", "PROBE", "TYPE", "RESULT", "REASON", "LATENCY", "MESSAGE"});
  for (const auto& r : rows) {
    std::string result = r.healthy ? "pass" : (r.critical ? "FAIL" : "fail (non-critical)");
    cells.push_back({EscapeControls(r.check), EscapeControls(r.probe), EscapeControls(r.type),
                     result, EscapeControls(r.reason), FormatLatency(r.latency_ms),
                     EscapeControls(r.message)});
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
  auto docs = v1alpha1::LoadPaths(options.paths, options.validation);
  std::vector<v1alpha1::HealthCheck> checks;
  std::size_t errors = 0;
  // Two documents for one namespace/name are invalid input, as in local mode
  // (which one would the result belong to?).
  std::map<std::string, std::string> where;  // key -> "file document N"
  for (auto& doc : docs) {
    for (const auto& line : doc.ErrorLines()) {
      std::fprintf(err, "error: %s\n", EscapeControls(line).c_str());
      ++errors;
    }
    if (!doc.check) continue;
    const std::string key = doc.check->key();
    const std::string here = doc.source + " document " + std::to_string(doc.index);
    if (auto [it, inserted] = where.emplace(key, here); !inserted) {
      std::fprintf(err, "error: %s\n",
                   EscapeControls(here + ": duplicate HealthCheck " + key + " (first defined in " +
                                  it->second + ")")
                       .c_str());
      ++errors;
      continue;
    }
    checks.push_back(std::move(*doc.check));
  }
  if (errors > 0) {
    std::fprintf(err, "%zu validation error(s); nothing was probed\n", errors);
    return 2;
  }
  if (checks.empty()) {
    std::fprintf(err, "error: no HealthCheck found in the given paths\n");
    return 2;
  }

  v1alpha1::LocalSecretResolver secrets(options.secrets_dir);
  std::vector<Row> rows;
  std::vector<probes::OnceRequest> requests;
  std::vector<std::size_t> request_row;
  for (const auto& check : checks) {
    for (auto& mp : v1alpha1::Materialize(check, secrets)) {
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
  auto results = probes::RunOnce(requests, options.address_policy);
  for (std::size_t i = 0; i < results.size(); ++i) {
    Row& r = rows[request_row[i]];
    r.healthy = results[i].healthy;
    // Still inconclusive after every try: healthgate could not run the probe on
    // time. The gate fails (it cannot vouch for the target), under its own reason.
    r.reason = results[i].inconclusive ? std::string("Inconclusive")
                                       : std::string(probes::ReasonName(results[i].reason));
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
