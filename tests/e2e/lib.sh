# Shared by tests/e2e/*_test.sh (sourced): PASS/FAIL reporting and the cluster
# preconditions. A missing cluster is a failure, never a skip.
FAILURES=0
PASSES=0
pass() { PASSES=$((PASSES + 1)); printf 'PASS: %s\n' "$1"; }
fail() {
  FAILURES=$((FAILURES + 1))
  printf 'FAIL: %s\n' "$1"
  if [[ $# -gt 1 ]]; then printf '%s\n' "$2" | tail -n 40 | sed 's/^/      | /'; fi
}
fatal() { fail "$@"; echo "$(basename "$0" .sh): aborted"; exit 1; }
require_cluster() {
  [[ -n "${KUBECONFIG:-}" && -f "${KUBECONFIG}" ]] || fatal "cluster: KUBECONFIG is not set or missing (run: eval \"\$(tests/e2e/testenv up)\")"
  [[ -n "${KUBECTL:-}" && -x "${KUBECTL}" ]] || fatal "cluster: KUBECTL is not set or not executable"
  export KUBECONFIG
}
k() { "$KUBECTL" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# SECONDS CMD...: runs CMD (a command or a function) every 0.2 s until it succeeds.
wait_until() {
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [[ $SECONDS -lt $end ]] || return 1
    sleep 0.2
  done
}
http_code() { curl -s -o /dev/null -w '%{http_code}' "$1" || true; }
code_is() { [[ "$(http_code "$1")" == "$2" ]]; }  # URL CODE
# Prints "<name>: N passed, M failed" and returns non-zero when any case failed.
finish() {
  echo "$(basename "$0" .sh): $PASSES passed, $FAILURES failed"
  [[ $FAILURES -eq 0 ]]
}
# Waits for the HealthCheck CRD to be Established. Polls: right after an apply the
# CRD can have no status yet, and `kubectl wait` then fails at once.
wait_crd_established() {
  local i
  for i in $(seq 300); do
    [[ "$(k get crd healthchecks.healthgate.dev -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)" == True ]] && return 0
    sleep 0.2
  done
  return 1
}
