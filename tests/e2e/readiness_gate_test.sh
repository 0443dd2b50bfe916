#!/usr/bin/env bash
# Readiness gate modes against a real kube-apiserver (pods are created directly; there
# is no kubelet), the operator running with the ServiceAccount token of
# manifests/rbac.yaml, and a real HTTP target that the test stops and starts:
#   - Rollout (the default): a serving pod stays True through a 10 s dependency outage,
#     a pod created during it stays False until the dependency is back;
#   - Continuous with maxUnavailable 1: of three pods, never more than one turns False,
#     with a Warning Event on it;
#   - failOpenAfter: a pod whose dependency never comes up is released with reason
#     FailOpen and a Warning Event;
#   - no pod writes while nothing changes.
#
# Needs KUBECONFIG, KUBECTL, HEALTHGATE_TESTENV_STATE (from `tests/e2e/testenv up`) and
# HEALTHGATE_BINARY. One PASS/FAIL line per case; non-zero exit when any case fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TESTENV="$HERE/testenv"
BIN="${HEALTHGATE_BINARY:-$ROOT/build/healthgate}"

# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
require_cluster
[[ -x "$BIN" ]] || fatal "healthgate binary not found at $BIN"

TMP="$(mktemp -d)"
PIDS=()
TARGET_PID=""
cleanup() {
  [[ -n "$TARGET_PID" ]] && kill "$TARGET_PID" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

NS=gates
k apply --server-side -f "$ROOT/crds/healthgate.dev_healthchecks.yaml" >/dev/null
wait_crd_established || fatal "crd: not Established"
k apply -f "$ROOT/manifests/rbac.yaml" >/dev/null
k create namespace "$NS" >/dev/null
TOKEN="$("$TESTENV" token healthgate-system healthgate 1h)"
"$TESTENV" kubeconfig-for-token "$TOKEN" "$TMP/operator.kubeconfig" >/dev/null 2>&1

TARGET_PORT="$(free_port)"
DEAD_PORT="$(free_port)"  # nothing listens here
mkdir -p "$TMP/www"
target_up() {
  python3 -m http.server --bind 127.0.0.1 --directory "$TMP/www" "$TARGET_PORT" >/dev/null 2>&1 &
  TARGET_PID=$!
  wait_until 10 code_is "http://127.0.0.1:$TARGET_PORT/" 200 || fatal "target: did not start"
}
target_down() { kill "$TARGET_PID" 2>/dev/null || true; wait "$TARGET_PID" 2>/dev/null || true; TARGET_PID=""; }
target_up

OP_PORT="$(free_port)"
"$BIN" operator --kubeconfig "$TMP/operator.kubeconfig" --http-address "127.0.0.1:$OP_PORT" \
  --log-level info >"$TMP/op.log" 2>&1 &
PIDS+=($!)
wait_until 60 code_is "http://127.0.0.1:$OP_PORT/readyz" 200 \
  || fatal "operator: not ready after 60 s" "$(tail -30 "$TMP/op.log")"

check() { # NAME URL GATE-EXTRA
  cat <<YAML | k apply -f - >/dev/null
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: $1, namespace: $NS}
spec:
  interval: 1s
  timeout: 500ms
  failureThreshold: 1
  probes:
  - name: api
    http: {url: "$2"}
  readinessGate: {podSelector: {matchLabels: {app: $1}}$3}
YAML
}
pod() { # NAME APP
  cat <<YAML | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $NS, labels: {app: $2}}
spec:
  containers: [{name: app, image: registry.invalid/app:1}]
  readinessGates: [{conditionType: healthgate.dev/$2}]
YAML
}
gate() { # POD APP [FIELD]
  k -n "$NS" get pod "$1" -o jsonpath="{.status.conditions[?(@.type==\"healthgate.dev/$2\")].${3:-status}}" 2>/dev/null
}
gate_is() { [[ "$(gate "$1" "$2")" == "$3" ]]; }  # POD APP STATUS
ready_is() { [[ "$(k -n "$NS" get hg "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == "$2" ]]; }
events_for() { # POD REASON
  k -n "$NS" get events --field-selector "involvedObject.kind=Pod,involvedObject.name=$1,reason=$2" -o name | wc -l
}

# --- Rollout (default) --------------------------------------------------------------------
check rollout "http://127.0.0.1:$TARGET_PORT/" ""
pod ro-1 rollout
wait_until 30 gate_is ro-1 rollout True \
  && pass "rollout: a new pod is released once its check is Ready" \
  || fail "rollout: a new pod is released" "$(gate ro-1 rollout) $(gate ro-1 rollout message)"
target_down
wait_until 20 ready_is rollout False || fail "rollout: the check turns NotReady when the target stops" ""
pod ro-2 rollout
ro1_held=1
for _ in $(seq 10); do gate_is ro-1 rollout True || ro1_held=0; sleep 1; done
[[ "$ro1_held" == 1 ]] && pass "rollout: a serving pod stays True through a 10 s dependency outage" \
  || fail "rollout: a serving pod stays True" "$(gate ro-1 rollout) $(gate ro-1 rollout reason)"
gate_is ro-2 rollout False && pass "rollout: a pod created during the outage stays False ($(gate ro-2 rollout reason))" \
  || fail "rollout: a pod created during the outage stays False" "$(gate ro-2 rollout)"
target_up
wait_until 30 gate_is ro-2 rollout True \
  && pass "rollout: that pod is released once the dependency is back" \
  || fail "rollout: released after recovery" "$(gate ro-2 rollout) $(gate ro-2 rollout message)"
[[ "$(events_for ro-2 ReadinessGateReleased)" -ge 1 ]] \
  && pass "rollout: a Normal ReadinessGateReleased Event on the released pod" \
  || fail "rollout: a ReadinessGateReleased Event" "$(k -n "$NS" get events 2>&1 | tail -5)"

# --- Continuous, maxUnavailable 1 ---------------------------------------------------------
check cont "http://127.0.0.1:$TARGET_PORT/" ", mode: Continuous, maxUnavailable: 1"
for i in 1 2 3; do pod "co-$i" cont; done
all_true() { for i in 1 2 3; do gate_is "co-$i" cont True || return 1; done; }
wait_until 30 all_true || fail "continuous: three pods released" "$(for i in 1 2 3; do gate "co-$i" cont; done)"
target_down
max_false=0
for _ in $(seq 12); do
  n=0
  for i in 1 2 3; do gate_is "co-$i" cont False && n=$((n + 1)); done
  (( n > max_false )) && max_false=$n
  sleep 1
done
[[ "$max_false" == 1 ]] \
  && pass "continuous: with the dependency down, exactly maxUnavailable (1) of 3 pods turned False" \
  || fail "continuous: at most maxUnavailable pods False" "at most $max_false False at once"$'\n'"$(grep -i gate "$TMP/op.log" | tail -5)"
closed=0
for i in 1 2 3; do closed=$((closed + $(events_for "co-$i" ReadinessGateClosed))); done
[[ "$closed" == 1 ]] && pass "continuous: one Warning ReadinessGateClosed Event" \
  || fail "continuous: one ReadinessGateClosed Event" "$closed"
target_up
wait_until 30 all_true && pass "continuous: all pods True again after recovery" \
  || fail "continuous: all True after recovery" "$(for i in 1 2 3; do gate "co-$i" cont; done)"

# --- failOpenAfter -------------------------------------------------------------------------
check fo "http://127.0.0.1:$DEAD_PORT/" ", failOpenAfter: 5s"
pod fo-1 fo
wait_until 20 gate_is fo-1 fo False || fail "fail-open: the pod is gated first" "$(gate fo-1 fo)"
if wait_until 30 gate_is fo-1 fo True && [[ "$(gate fo-1 fo reason)" == FailOpen ]]; then
  pass "fail-open: released with reason FailOpen after failOpenAfter 5s although the check is NotReady"
else
  fail "fail-open: released with reason FailOpen" "$(gate fo-1 fo) $(gate fo-1 fo reason) $(gate fo-1 fo message)"
fi
wait_until 10 test "$(events_for fo-1 ReadinessGateFailOpen)" -ge 1 \
  && pass "fail-open: a Warning ReadinessGateFailOpen Event on the pod" \
  || fail "fail-open: a ReadinessGateFailOpen Event" "$(k -n "$NS" get events 2>&1 | tail -5)"

# --- no pod writes while nothing changes ---------------------------------------------------
patches() { curl -s "http://127.0.0.1:$OP_PORT/metrics" | awk '/^healthgate_readiness_gate_patches_total/ {s += $2} END {print s + 0}'; }
sleep 3
p0="$(patches)"
sleep 10
p1="$(patches)"
[[ "$p0" == "$p1" && "$p0" -gt 0 ]] && pass "quiet: no pod writes in 10 s while nothing changes ($p0 patches before and after)" \
  || fail "quiet: no pod writes while nothing changes" "$p0 -> $p1"

finish readiness_gate_test
