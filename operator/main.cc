// Composition root: parses the command line and hands each subcommand to its
// runner in operator/cli/. No logic lives here.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/clock.h"
#include "common/version.h"
#include "operator/api/v1alpha1/model.h"
#include "operator/cli/check.h"
#include "operator/cli/local.h"
#include "operator/cli/operator.h"
#include "operator/cli/wait.h"
#include "operator/log/log.h"
#include "probes/address_policy.h"

namespace {

// A Kubernetes duration for flags ("5m", "30s").
std::chrono::milliseconds FlagDuration(const std::string& text, const char* flag) {
  std::string error;
  auto d = healthgate::v1alpha1::ParseDuration(text, &error);
  if (!d) throw CLI::ValidationError(flag, error);
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

// The flags of the cluster admin's probe policy, shared by check, local and
// operator: their text, turned into options by Apply() after parsing.
struct PolicyFlags {
  std::string deny_cidrs{healthgate::probes::AddressPolicy::kDefaultDeny};
  std::string allow_cidrs;
  std::string redis_commands;

  void Add(CLI::App* cmd) {
    // expected(0, 1): "--probe-deny-cidrs=" (as the chart renders an empty list)
    // is an empty value, not a missing one.
    cmd->add_option("--probe-deny-cidrs", deny_cidrs,
                    "comma-separated CIDR blocks probes never connect to, checked after DNS "
                    "and before connect for every probe and redirect hop (default: " +
                        deny_cidrs +
                        ", the link-local and cloud-metadata ranges; an empty value "
                        "denies nothing)")
        ->expected(0, 1);
    cmd->add_option("--probe-allow-cidrs", allow_cidrs,
                    "comma-separated CIDR blocks: when set, probes connect only to addresses "
                    "inside them (the deny list still applies)")
        ->expected(0, 1);
    cmd->add_option("--redis-allow-commands", redis_commands,
                    "comma-separated Redis commands (\"CONFIG GET\" for one subcommand) that "
                    "redis probes may send besides the read-only allowlist")
        ->expected(0, 1);
  }

  // False after printing an error naming the flag and its value.
  bool Apply(healthgate::probes::AddressPolicy* policy,
             healthgate::v1alpha1::ValidationOptions* validation) const {
    std::string error;
    auto deny = healthgate::probes::ParseCidrList(deny_cidrs, &error);
    if (!deny) {
      std::fprintf(stderr, "error: --probe-deny-cidrs \"%s\": %s\n", deny_cidrs.c_str(),
                   error.c_str());
      return false;
    }
    auto allow = healthgate::probes::ParseCidrList(allow_cidrs, &error);
    if (!allow) {
      std::fprintf(stderr, "error: --probe-allow-cidrs \"%s\": %s\n", allow_cidrs.c_str(),
                   error.c_str());
      return false;
    }
    auto commands = healthgate::v1alpha1::ParseRedisCommandList(redis_commands, &error);
    if (!commands) {
      std::fprintf(stderr, "error: --redis-allow-commands \"%s\": %s\n", redis_commands.c_str(),
                   error.c_str());
      return false;
    }
    *policy = healthgate::probes::AddressPolicy(std::move(*deny), std::move(*allow));
    validation->redis_extra_commands = std::move(*commands);
    return true;
  }
};

}  // namespace

int main(int argc, char** argv) {
  // Probe clients (hiredis, libuv, libpq) write to sockets whose peer may close at
  // any time: that must be an error value on the write, not a process kill.
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{"healthgate: dependency health checks for Kubernetes workloads"};
  app.set_version_flag("--version", std::string("healthgate ") + HEALTHGATE_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // --log-level works before or after the subcommand
  std::string log_level;
  app.add_option("--log-level", log_level, "debug, info, warn, error (default: LOG_LEVEL or info)")
      ->envname("LOG_LEVEL");

  healthgate::cli::CheckOptions check;
  auto* check_cmd = app.add_subcommand(
      "check",
      "Run every probe once; exit 0 when every critical probe passes, 1 if not, 2 on bad input");
  check_cmd->add_option("-f,--filename", check.paths, "manifest file or directory (repeatable)")
      ->required();
  check_cmd->add_option("--secrets-dir", check.secrets_dir,
                        "directory of secrets: DIR/<namespace>/<name>/<key>");
  check_cmd->add_option("-o,--output", check.output, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  PolicyFlags check_policy;
  check_policy.Add(check_cmd);

  healthgate::cli::LocalOptions local;
  auto* local_cmd = app.add_subcommand(
      "local", "Probe HealthCheck manifests continuously without a cluster; reload on change");
  local_cmd->add_option("-f,--filename", local.paths, "manifest file or directory (repeatable)")
      ->required();
  local_cmd->add_option("--secrets-dir", local.secrets_dir,
                        "directory of secrets: DIR/<namespace>/<name>/<key>");
  local_cmd->add_option("--http-address", local.http_address, "address of the HTTP endpoints")
      ->capture_default_str();
  std::string local_verdict_wait = "30s";
  auto engine_flags = [](CLI::App* cmd, healthgate::probes::EngineOptions& o) {
    healthgate::probes::Scheduler::Options& e = o.scheduler;
    cmd->add_option("--probe-threads", o.threads,
                    "probe loops (threads), each owning the probes of its endpoints (0: the CPUs "
                    "this process may use, from its affinity mask and cgroup CPU quota)")
        ->capture_default_str();
    cmd->add_option("--max-in-flight", e.max_in_flight,
                    "probe attempts running at once in the whole process, divided between the "
                    "probe loops; due runs beyond it wait, and a run that waits a whole interval "
                    "is skipped (counted), never failed (0: no bound)")
        ->capture_default_str();
    cmd->add_option("--max-in-flight-per-endpoint", e.max_in_flight_per_endpoint,
                    "attempts running at once against one host:port (0: no bound)")
        ->capture_default_str();
    cmd->add_option("--max-in-flight-per-database", e.max_in_flight_per_database,
                    "the same for PostgreSQL endpoints, where each attempt starts a backend")
        ->capture_default_str();
  };
  engine_flags(local_cmd, local.engine);
  PolicyFlags local_policy;
  local_policy.Add(local_cmd);
  local_cmd
      ->add_option("--startup-verdict-wait", local_verdict_wait,
                   "/readyz waits at most this long after the initial load for every check's "
                   "first verdict")
      ->capture_default_str();
  std::string poll_interval = "500ms";
  local_cmd
      ->add_option("--poll-interval", poll_interval,
                   "how often the manifests are checked for changes (SIGHUP reloads at once)")
      ->capture_default_str();

  healthgate::cli::OperatorOptions op;
  std::string lease_duration = "15s", renew_deadline = "10s", retry_period = "2s",
              secret_refresh = "30s", op_verdict_wait = "30s";
  auto* op_cmd = app.add_subcommand(
      "operator", "Kubernetes mode: watch HealthChecks, probe, write status, events and metrics");
  op_cmd->add_option("--kubeconfig", op.kubeconfig,
                     "kubeconfig file (default: KUBECONFIG, else in-cluster)");
  op_cmd->add_option("--namespace", op.ns, "watch only this namespace (default: all)");
  op_cmd->add_option("--http-address", op.http_address, "address of the HTTP endpoints")
      ->capture_default_str();
  op_cmd->add_flag("--leader-elect", op.leader_elect,
                   "elect a leader with a coordination.k8s.io Lease: every replica probes and "
                   "serves the endpoints (hot standby), only the leader writes status, Events "
                   "and pod conditions");
  op_cmd->add_option("--leader-election-id", op.lease_name, "name of the Lease")
      ->capture_default_str();
  op_cmd->add_option("--leader-election-namespace", op.lease_namespace,
                     "namespace of the Lease (default: POD_NAMESPACE, else the config's)");
  op_cmd->add_option("--leader-election-identity", op.identity,
                     "this replica's identity (default: hostname and a random suffix)");
  op_cmd->add_option("--lease-duration", lease_duration, "how long a lease lasts unrenewed")
      ->capture_default_str();
  op_cmd
      ->add_option("--renew-deadline", renew_deadline,
                   "a leader that cannot renew within this steps down")
      ->capture_default_str();
  op_cmd->add_option("--retry-period", retry_period, "how often to try to acquire or renew")
      ->capture_default_str();
  op_cmd->add_flag("--readiness-gates,!--no-readiness-gates", op.readiness_gates,
                   "set readiness-gate conditions on the pods a check selects (default: on; "
                   "off needs no pod permissions)");
  op_cmd
      ->add_option("--secret-refresh", secret_refresh,
                   "how often referenced Secrets are re-read (rotation)")
      ->capture_default_str();
  op_cmd
      ->add_option("--require-secret-label", op.require_secret_label,
                   "probes use only Secrets labelled healthgate.dev/probe-credentials=true "
                   "(true|false); false lets anyone who may create a HealthCheck make the "
                   "operator send any Secret of that namespace to a target")
      ->default_str("true");
  engine_flags(op_cmd, op.engine);
  op_cmd->add_flag("--secure-serving", op.secure_serving,
                   "serve HTTPS, and answer /metrics, the JSON API and the dashboard only to "
                   "clients whose bearer token the API server authenticates and authorizes "
                   "(TokenReview, SubjectAccessReview on the path; /livez and /readyz stay open)");
  op_cmd->add_option("--tls-cert-file", op.tls_cert_file,
                     "secure serving: PEM certificate (default: a self-signed one made at start)");
  op_cmd->add_option("--tls-private-key-file", op.tls_key_file,
                     "secure serving: PEM private key of --tls-cert-file");
  op_cmd
      ->add_option("--tls-server-names", op.tls_server_names,
                   "secure serving: DNS names and IPs of the self-signed certificate (default: "
                   "the host name, localhost, 127.0.0.1, ::1)")
      ->delimiter(',');
  op_cmd->add_flag("--protect-readiness-urls", op.protect_readiness_urls,
                   "secure serving: /ready/NS/NAME and /health/NS/NAME need authorization too "
                   "(default: open, for readinessProbes that send no token)");
  PolicyFlags op_policy;
  op_policy.Add(op_cmd);
  op_cmd
      ->add_option("--startup-verdict-wait", op_verdict_wait,
                   "/readyz waits at most this long after the initial list for every check's "
                   "first verdict")
      ->capture_default_str();

  healthgate::cli::WaitOptions wait;
  std::string wait_timeout = "5m";
  auto* wait_cmd = app.add_subcommand(
      "wait", "Block until a HealthCheck is Ready (exit 0) or time out (exit 1)");
  wait_cmd->add_option("--for", wait.target, "NAMESPACE/NAME")->required();
  wait_cmd->add_option("--timeout", wait_timeout, "how long to wait, e.g. 5m")
      ->capture_default_str();
  wait_cmd->add_option("--url", wait.url, "base URL of a running healthgate")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  auto level = healthgate::LogLevel::kInfo;
  if (!log_level.empty()) {
    auto parsed = healthgate::ParseLogLevel(log_level);
    if (!parsed) {
      std::fprintf(stderr, "error: --log-level: unknown level \"%s\" (debug, info, warn, error)\n",
                   log_level.c_str());
      return 2;
    }
    level = *parsed;
  }
  healthgate::RealClock clock;

  if (*check_cmd) {
    if (!check_policy.Apply(&check.address_policy, &check.validation)) return 2;
    return healthgate::cli::RunCheck(check, stdout, stderr);
  }
  if (*local_cmd) {
    if (!local_policy.Apply(&local.engine.address_policy, &local.validation)) return 2;
    try {
      local.verdict_wait = std::chrono::duration_cast<std::chrono::seconds>(
          FlagDuration(local_verdict_wait, "--startup-verdict-wait"));
      local.poll_interval = FlagDuration(poll_interval, "--poll-interval");
    } catch (const CLI::ValidationError& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 2;
    }
    if (local.poll_interval.count() < 10) {
      std::fprintf(stderr, "error: --poll-interval must be at least 10ms\n");
      return 2;
    }
    healthgate::Logger log(level, stdout, clock);
    return healthgate::cli::RunLocal(local, clock, log);
  }
  if (*op_cmd) {
    if (!op_policy.Apply(&op.engine.address_policy, &op.validation)) return 2;
    try {
      auto secs = [](const std::string& t, const char* flag) {
        return std::chrono::duration_cast<std::chrono::seconds>(FlagDuration(t, flag));
      };
      op.lease_duration = secs(lease_duration, "--lease-duration");
      op.renew_deadline = secs(renew_deadline, "--renew-deadline");
      op.retry_period = secs(retry_period, "--retry-period");
      op.secret_refresh = secs(secret_refresh, "--secret-refresh");
      op.verdict_wait = secs(op_verdict_wait, "--startup-verdict-wait");
    } catch (const CLI::ValidationError& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 2;
    }
    if (op.retry_period.count() < 1 || op.renew_deadline <= op.retry_period ||
        op.lease_duration <= op.renew_deadline) {
      std::fprintf(stderr,
                   "error: need 1s <= --retry-period < --renew-deadline < --lease-duration\n");
      return 2;
    }
    healthgate::Logger log(level, stdout, clock);
    return healthgate::cli::RunOperator(op, clock, log);
  }
  if (*wait_cmd) {
    try {
      wait.timeout = FlagDuration(wait_timeout, "--timeout");
    } catch (const CLI::ValidationError& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 2;
    }
    return healthgate::cli::RunWait(wait, clock, stdout, stderr);
  }
  return 2;
}
