#!/usr/bin/env bash
# The status contract as the GitOps clients read it, against a real kube-apiserver with
# the real clients: kstatus from sigs.k8s.io/cli-utils (the computation of Helm 4
# --wait, Flux and kpt; tests/e2e/tools/kstatus) and Helm 4 itself.
#   - a new HealthCheck reads InProgress before healthgate has written anything (the
#     CRD's status default, observedGeneration 0) and while its probes have no verdict
#     (Reconciling=True);
#   - Current when Ready, InProgress while a dependency is down, Failed when Stalled (a
#     referenced Secret that does not exist);
#   - `helm install --wait` (Helm 4) of a chart whose HealthCheck's dependency is down does
#     not complete while it is down, and succeeds once it is up; one whose HealthCheck is
#     Stalled fails well before its timeout.
#
# Needs KUBECONFIG, KUBECTL, HELM4, KSTATUS (from `tests/e2e/testenv up`) and
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
[[ -n "${HELM4:-}" && -x "$HELM4" ]] || fatal "HELM4 (Helm 4) is not set or not executable"
[[ -n "${KSTATUS:-}" && -x "$KSTATUS" ]] || fatal "KSTATUS is not set or not executable"

TMP="$(mktemp -d)"
PIDS=()
TARGET_PID=""
cleanup() {
  for p in "${PIDS[@]}" $TARGET_PID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

NS=contract
k apply --server-side -f "$ROOT/crds/healthgate.dev_healthchecks.yaml" >/dev/null
wait_crd_established || fatal "crd: not Established"
k apply -f "$ROOT/manifests/rbac.yaml" >/dev/null
k create namespace "$NS" >/dev/null
TOKEN="$("$TESTENV" token healthgate-system healthgate 1h)"
"$TESTENV" kubeconfig-for-token "$TOKEN" "$TMP/operator.kubeconfig" >/dev/null 2>&1

# The dependency: an HTTP listener started and stopped by the test ("down" = nothing listens).
TARGET_PORT="$(free_port)"
cat >"$TMP/target.py" <<'PY'
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
target_up() {
  python3 "$TMP/target.py" "$TARGET_PORT" 2>"$TMP/target.err" &
  TARGET_PID=$!
  wait_until 5 code_is "http://127.0.0.1:$TARGET_PORT/" 200 || fatal "target: did not start" "$(cat "$TMP/target.err")"
}
target_down() {
  [[ -n "$TARGET_PID" ]] && { kill "$TARGET_PID" 2>/dev/null || true; wait "$TARGET_PID" 2>/dev/null || true; }
  TARGET_PID=""
}

check() { # NAME [EXTRA-PROBE-YAML]: a HealthCheck on the dependency
  cat <<YAML
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: $1, namespace: $NS}
spec:
  interval: 1s
  timeout: 500ms
  failureThreshold: 1
  probes:
  - name: dep
    http: {url: "http://127.0.0.1:$TARGET_PORT/"}
${2:-}
YAML
}
kstatus_of() { k -n "$NS" get hg "$1" -o json | "$KSTATUS" | cut -f1; }
kstatus_is() { [[ "$(kstatus_of "$1")" == "$2" ]]; }
cond() { k -n "$NS" get hg "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status}"; }
explain() { # NAME: what a failure message shows
  printf 'kstatus: %s\n' "$(k -n "$NS" get hg "$1" -o json | "$KSTATUS" 2>&1)"
  k -n "$NS" get hg "$1" -o yaml 2>&1
  tail -5 "$TMP/op.log" 2>/dev/null || true
}

# --- before healthgate writes anything ------------------------------------------------------
check fresh | k apply -f - >/dev/null
og="$(k -n "$NS" get hg fresh -o jsonpath='{.status.observedGeneration}')"
gen="$(k -n "$NS" get hg fresh -o jsonpath='{.metadata.generation}')"
if [[ "$og" == 0 && "$gen" == 1 ]] && kstatus_is fresh InProgress; then
  pass "no operator yet: the CRD's status default (observedGeneration 0) makes kstatus read InProgress"
else
  fail "no operator yet: InProgress from the status default" "observedGeneration '$og', generation '$gen'"$'\n'"$(explain fresh)"
fi

OP_PORT="$(free_port)"
"$BIN" operator --kubeconfig "$TMP/operator.kubeconfig" --http-address "127.0.0.1:$OP_PORT" \
  --secret-refresh 2s >"$TMP/op.log" 2>&1 &
PIDS+=($!)
wait_until 20 code_is "http://127.0.0.1:$OP_PORT/readyz" 200 || fatal "operator: not ready" "$(tail -20 "$TMP/op.log")"

# --- no verdict yet: Reconciling --------------------------------------------------------------
# A long initialDelay holds the first attempt back, so the pending state is observable.
cat <<YAML | k apply -f - >/dev/null
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: pending, namespace: $NS}
spec:
  interval: 10s
  timeout: 1s
  initialDelay: 5m
  probes:
  - name: dep
    http: {url: "http://127.0.0.1:$TARGET_PORT/"}
YAML
if wait_until 20 eval '[[ "$(cond pending Reconciling)" == True ]]' && kstatus_is pending InProgress \
    && [[ "$(cond pending Ready)" == Unknown && "$(cond pending Stalled)" == False ]]; then
  pass "no verdict yet: Reconciling=True, Ready=Unknown, kstatus InProgress"
else
  fail "no verdict yet: Reconciling=True and InProgress" "$(explain pending)"
fi

# --- dependency down, then up ----------------------------------------------------------------
if wait_until 30 eval '[[ "$(cond fresh Ready)" == False ]]' && kstatus_is fresh InProgress \
    && [[ "$(cond fresh Reconciling)" == False && "$(cond fresh Stalled)" == False ]]; then
  pass "dependency down: Ready=False, not Stalled, kstatus InProgress"
else
  fail "dependency down: InProgress" "$(explain fresh)"
fi
target_up
if wait_until 30 kstatus_is fresh Current && [[ "$(cond fresh Ready)" == True ]]; then
  pass "dependency up: Ready=True, kstatus Current"
else
  fail "dependency up: Current" "$(explain fresh)"
fi

# --- a permanent error: Stalled --------------------------------------------------------------
check stalled "  - name: auth
    http:
      url: http://127.0.0.1:$TARGET_PORT/
      headers:
      - {name: X-Token, valueSecretRef: {name: no-such-secret, key: token}}" | k apply -f - >/dev/null
if wait_until 30 kstatus_is stalled Failed && [[ "$(cond stalled Stalled)" == True ]] \
    && [[ "$(k -n "$NS" get hg stalled -o jsonpath='{.status.conditions[?(@.type=="Stalled")].reason}')" == SecretNotFound ]]; then
  pass "a Secret that does not exist: Stalled=True (SecretNotFound), kstatus Failed"
else
  fail "a Secret that does not exist: Failed" "$(explain stalled)"
fi
k -n "$NS" create secret generic no-such-secret --from-literal=token=t >/dev/null
k -n "$NS" label secret no-such-secret healthgate.dev/probe-credentials=true >/dev/null
if wait_until 30 kstatus_is stalled Current && [[ "$(cond stalled Stalled)" == False ]]; then
  pass "the Secret created (and labelled): Stalled=False, kstatus Current, no restart"
else
  fail "the Secret created: Current" "$(explain stalled)"
fi

# --- Helm 4 install --wait -------------------------------------------------------------------
chart() { # DIR NAME [EXTRA-PROBE-YAML]
  mkdir -p "$1/templates"
  printf 'apiVersion: v2\nname: %s\nversion: 0.1.0\n' "$2" >"$1/Chart.yaml"
  check "$2" "${3:-}" >"$1/templates/healthcheck.yaml"
}
target_down
chart "$TMP/dep-chart" helm-dep
start=$SECONDS
"$HELM4" install helm-dep "$TMP/dep-chart" -n "$NS" --wait --timeout 120s >"$TMP/helm-dep.log" 2>&1 &
HELM_PID=$!
PIDS+=("$HELM_PID")
sleep 10
if kill -0 "$HELM_PID" 2>/dev/null && wait_until 20 eval '[[ "$(cond helm-dep Ready)" == False ]]'; then
  pass "helm 4 install --wait: still waiting while the dependency is down (Ready=False after $((SECONDS - start)) s)"
else
  fail "helm 4 install --wait: still waiting while the dependency is down" "$(cat "$TMP/helm-dep.log")"$'\n'"$(explain helm-dep)"
fi
target_up
up_at=$SECONDS
if wait "$HELM_PID"; then
  pass "helm 4 install --wait: succeeds once the dependency is up ($((SECONDS - up_at)) s after)"
else
  fail "helm 4 install --wait: succeeds once the dependency is up" "$(cat "$TMP/helm-dep.log")"$'\n'"$(explain helm-dep)"
fi

chart "$TMP/stalled-chart" helm-stalled "  - name: auth
    http:
      url: http://127.0.0.1:$TARGET_PORT/
      headers:
      - {name: X-Token, valueSecretRef: {name: never-created, key: token}}"
start=$SECONDS
if "$HELM4" install helm-stalled "$TMP/stalled-chart" -n "$NS" --wait --timeout 180s >"$TMP/helm-stalled.log" 2>&1; then
  fail "helm 4 install --wait of a Stalled HealthCheck fails" "$(cat "$TMP/helm-stalled.log")"
elif [[ $((SECONDS - start)) -lt 120 ]] && grep -q 'helm-stalled' "$TMP/helm-stalled.log" \
    && grep -qi 'fail' "$TMP/helm-stalled.log" && ! grep -qi 'timed out\|timeout' "$TMP/helm-stalled.log"; then
  pass "helm 4 install --wait of a Stalled HealthCheck fails after $((SECONDS - start)) s, before its 180 s timeout: $(grep -i 'error' "$TMP/helm-stalled.log" | head -1)"
else
  fail "helm 4 install --wait of a Stalled HealthCheck fails before its timeout" "took $((SECONDS - start)) s"$'\n'"$(cat "$TMP/helm-stalled.log")"
fi

finish
