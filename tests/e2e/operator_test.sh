#!/usr/bin/env bash
# `healthgate operator` against a real kube-apiserver, with a real Redis, run with
# the token of a ServiceAccount bound only to manifests/rbac.yaml.
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
[[ -n "${HEALTHGATE_TESTENV_STATE:-}" ]] || fatal "cluster: HEALTHGATE_TESTENV_STATE is not set"
[[ -x "$BIN" ]] || fatal "healthgate binary not found at $BIN"

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT


CANARY="canary-op-$RANDOM-Kq7"
NS=shop

# --- set-up: CRD, RBAC, a restricted identity, Redis, a Secret ---------------------------
k apply --server-side -f "$ROOT/crds/healthgate.dev_healthchecks.yaml" >/dev/null
wait_crd_established || fatal "crd: not Established"
k apply -f "$ROOT/manifests/rbac.yaml" >/dev/null
k create namespace "$NS" >/dev/null
TOKEN="$("$TESTENV" token healthgate-system healthgate 1h)"
"$TESTENV" kubeconfig-for-token "$TOKEN" "$TMP/operator.kubeconfig" >/dev/null 2>&1
if out="$(k --kubeconfig "$TMP/operator.kubeconfig" auth can-i list secrets -n "$NS" 2>&1)"; [[ "$out" == no* ]] \
   && out2="$(k --kubeconfig "$TMP/operator.kubeconfig" auth can-i list healthchecks.healthgate.dev -A 2>&1)" && [[ "$out2" == yes ]]; then
  pass "rbac: the operator's identity can list HealthChecks and cannot list Secrets"
else
  fail "rbac: the operator's identity is least-privilege" "$out / ${out2:-}"
fi

REDIS_PORT="$(free_port)"
start_redis() {
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$TMP" \
    --requirepass "$1" --logfile "$TMP/redis.log" &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_until 5 redis-cli -p "$REDIS_PORT" -a "$1" --no-auth-warning ping
}
stop_redis() { kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; }
start_redis "$CANARY"
k -n "$NS" create secret generic redis --from-literal=password="$CANARY" >/dev/null
# The operator uses only Secrets labelled for probes (--require-secret-label).
k -n "$NS" label secret redis healthgate.dev/probe-credentials=true >/dev/null

OP_PORT="$(free_port)"
start_operator() { # NAME PORT EXTRA...
  local name=$1 port=$2; shift 2
  "$BIN" operator --kubeconfig "$TMP/operator.kubeconfig" --http-address "127.0.0.1:$port" \
    --leader-elect --leader-election-namespace healthgate-system --leader-election-identity "$name" \
    --lease-duration 4s --renew-deadline 3s --retry-period 1s --secret-refresh 2s \
    --log-level debug "$@" >"$TMP/$name.log" 2>&1 &
  LAST_PID=$!  # a child of this shell, so `wait` gets its exit status
}
start_operator op1 "$OP_PORT"
OP1=$LAST_PID
PIDS+=("$OP1")
op1_leads() { [[ "$(curl -s "http://127.0.0.1:$OP_PORT/readyz")" == "ok: leader" ]]; }
if wait_until 20 op1_leads; then
  pass "operator: /readyz 200 after the initial list (ok: leader)"
else
  fatal "operator: /readyz 200 after the initial list" "$(cat "$TMP/op1.log")"
fi

check_manifest() { # NAME [EXTRA PROBE YAML]
  cat <<YAML
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: $1, namespace: $NS}
spec:
  interval: 1s
  timeout: 500ms
  failureThreshold: 1
  probes:
  - name: cache
    redis: {host: 127.0.0.1, port: $REDIS_PORT, passwordSecretRef: {name: redis, key: password}}
${2:-}
YAML
}

# --- Ready, observedGeneration ------------------------------------------------------------
check_manifest orders | k apply -f - >/dev/null
t0=$SECONDS
if out="$(k -n "$NS" wait --for=condition=Ready --timeout=20s hg/orders 2>&1)"; then
  pass "status: kubectl wait --for=condition=Ready succeeds ($((SECONDS - t0)) s)"
else
  fail "status: kubectl wait --for=condition=Ready" "$out"$'\n'"$(k -n "$NS" get hg orders -o yaml)"
fi
gen="$(k -n "$NS" get hg orders -o jsonpath='{.metadata.generation}')"
ogen="$(k -n "$NS" get hg orders -o jsonpath='{.status.observedGeneration}')"
[[ "$gen" == "$ogen" ]] && pass "status: observedGeneration follows the generation ($ogen)" \
  || fail "status: observedGeneration follows the generation" "generation $gen, observed $ogen"
out="$(k -n "$NS" get hg orders 2>&1)"
grep -qE '^orders +True +1/1 ' <<<"$out" && pass "status: kubectl get hg shows True 1/1" \
  || fail "status: kubectl get hg shows True 1/1" "$out"

# --- readiness gates: the selected pods that list the gate get its condition --------------
pod_manifest() { # NAME APP GATED
  cat <<YAML
---
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $NS, labels: {app: $2}}
spec:
  containers: [{name: app, image: registry.invalid/app:1}]
$([[ "$3" == yes ]] && echo "  readinessGates: [{conditionType: healthgate.dev/gated}]")
YAML
}
{ pod_manifest gated-1 gated yes; pod_manifest gated-other other yes; pod_manifest ungated gated no; } \
  | k apply -f - >/dev/null
# Continuous mode (the condition follows Ready), one pod allowed False; the Rollout
# default, the budget and fail-open are in readiness_gate_test.sh and the unit tests.
check_manifest gated "  readinessGate: {podSelector: {matchLabels: {app: gated}}, mode: Continuous, maxUnavailable: 1}" | k apply -f - >/dev/null
gate_of() { k -n "$NS" get pod "$1" -o jsonpath='{.status.conditions[?(@.type=="healthgate.dev/gated")].status}'; }
gate_is() { [[ "$(gate_of "$1")" == "$2" ]]; }  # POD STATUS
if wait_until 20 gate_is gated-1 True; then
  pass "gates: the selected pod's condition healthgate.dev/gated is True"
else
  fail "gates: the selected pod gets the condition" "$(k -n "$NS" get pod gated-1 -o jsonpath='{.status}')"$'\n'"$(grep -i 'gate\|pod' "$TMP/op1.log" | tail -5)"
fi
[[ -z "$(gate_of gated-other)" && -z "$(gate_of ungated)" ]] \
  && pass "gates: pods not selected, or not listing the gate, are not touched" \
  || fail "gates: only selected pods listing the gate" "other=$(gate_of gated-other) ungated=$(gate_of ungated)"

# --- Redis outage: Ready=False naming the probe, a Warning Event; back to True -------------
stop_redis
if out="$(k -n "$NS" wait --for=condition=Ready=false --timeout=15s hg/orders 2>&1)"; then
  pass "outage: Ready becomes False when Redis stops"
else
  fail "outage: Ready becomes False when Redis stops" "$out"
fi
msg="$(k -n "$NS" get hg orders -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')"
reason="$(k -n "$NS" get hg orders -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}')"
[[ "$msg" == *cache* && "$reason" == ProbeFailing ]] && pass "outage: reason ProbeFailing, message names the probe ($msg)" \
  || fail "outage: reason ProbeFailing, message names the probe" "$reason: $msg"
if wait_until 10 bash -c "'$KUBECTL' -n $NS get events --field-selector involvedObject.name=orders,type=Warning,reason=NotReady -o name | grep -q ."; then
  pass "outage: a Warning NotReady Event"
else
  fail "outage: a Warning NotReady Event" "$(k -n "$NS" get events 2>&1)"
fi
if wait_until 15 gate_is gated-1 False \
   && [[ "$(k -n "$NS" get pod gated-1 -o jsonpath='{.status.conditions[?(@.type=="healthgate.dev/gated")].reason}')" == ProbeFailing ]]; then
  pass "gates: the pod's condition turns False (ProbeFailing) while Redis is down"
else
  fail "gates: the pod's condition turns False" "$(k -n "$NS" get pod gated-1 -o jsonpath='{.status.conditions}')"
fi
start_redis "$CANARY"
wait_until 15 gate_is gated-1 True && pass "gates: True again after Redis restarts" \
  || fail "gates: True again after Redis restarts" "$(k -n "$NS" get pod gated-1 -o jsonpath='{.status.conditions}')"
if out="$(k -n "$NS" wait --for=condition=Ready --timeout=15s hg/orders 2>&1)"; then
  pass "outage: Ready again after Redis restarts"
else
  fail "outage: Ready again after Redis restarts" "$out"
fi
wait_until 10 bash -c "'$KUBECTL' -n $NS get events --field-selector involvedObject.name=orders,type=Normal,reason=Ready -o name | grep -q ." \
  && pass "outage: a Normal Ready Event" || fail "outage: a Normal Ready Event" "$(k -n "$NS" get events 2>&1)"
nevents="$(k -n "$NS" get events --field-selector involvedObject.name=orders -o name | wc -l)"
[[ "$nevents" -le 3 ]] && pass "events: no Event per probe run ($nevents Events)" \
  || fail "events: no Event per probe run" "$nevents events"

# --- secret rotation ---------------------------------------------------------------------
NEWPW="$CANARY-rotated"
redis-cli -p "$REDIS_PORT" -a "$CANARY" --no-auth-warning config set requirepass "$NEWPW" >/dev/null
k -n "$NS" create secret generic redis --from-literal=password="$NEWPW" --dry-run=client -o yaml | k apply -f - >/dev/null
k -n "$NS" label secret redis healthgate.dev/probe-credentials=true --overwrite >/dev/null
sleep 1
if wait_until 15 bash -c "'$KUBECTL' -n $NS get hg orders -o jsonpath='{.status.probes[0].healthy}' | grep -qx true && '$KUBECTL' -n $NS get hg orders -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"; then
  pass "secrets: a rotated Secret is picked up"
else
  fail "secrets: a rotated Secret is picked up" "$(k -n "$NS" get hg orders -o yaml)"
fi
CANARY2="$NEWPW"

# --- add a probe: only it starts fresh -----------------------------------------------------
probe0() { curl -s "http://127.0.0.1:$OP_PORT/api/v1/healthchecks/$NS/orders" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["probes"][0]["consecutiveSuccesses"], j["probes"][0]["lastTransitionTime"])'; }
has_verdict() { [[ "$(probe0)" =~ ^[1-9][0-9]*\ [0-9] ]]; }
wait_until 10 has_verdict || true  # the rotation restarted the probe: wait for its first verdict
before="$(curl -s "http://127.0.0.1:$OP_PORT/api/v1/healthchecks/$NS/orders" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["probes"][0]["consecutiveSuccesses"], j["probes"][0]["lastTransitionTime"])')"
check_manifest orders "  - name: port
    tcp: {host: 127.0.0.1, port: $REDIS_PORT}" | k apply -f - >/dev/null
if wait_until 10 bash -c "[[ \$('$KUBECTL' -n $NS get hg orders -o jsonpath='{.status.observedGeneration}') == \$('$KUBECTL' -n $NS get hg orders -o jsonpath='{.metadata.generation}') && \$('$KUBECTL' -n $NS get hg orders -o jsonpath='{.status.summary}') == 2/2 ]]"; then
  pass "spec change: observedGeneration follows, the new probe runs (2/2)"
else
  fail "spec change: observedGeneration follows, the new probe runs" "$(k -n "$NS" get hg orders -o yaml)"
fi
after="$(curl -s "http://127.0.0.1:$OP_PORT/api/v1/healthchecks/$NS/orders" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["probes"][0]["consecutiveSuccesses"], j["probes"][0]["lastTransitionTime"])')"
read -r b_succ b_lt <<<"$before"; read -r a_succ a_lt <<<"$after"
[[ "$a_succ" -ge "$b_succ" && "$a_lt" == "$b_lt" ]] && pass "spec change: the unchanged probe kept its state ($b_succ -> $a_succ successes)" \
  || fail "spec change: the unchanged probe kept its state" "before: $before, after: $after"

# --- schema-valid but broken: missing Secret, unresolvable host -------------------------
cat <<YAML | k apply -f - >/dev/null
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: broken, namespace: $NS}
spec:
  interval: 1s
  timeout: 500ms
  probes:
  - name: nosecret
    redis: {host: 127.0.0.1, port: $REDIS_PORT, passwordSecretRef: {name: missing, key: password}}
  - name: nohost
    critical: false
    tcp: {host: does-not-exist.invalid, port: 80}
YAML
if wait_until 15 bash -c "'$KUBECTL' -n $NS get hg broken -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}' | grep -qx SecretNotFound"; then
  pass "broken: a missing Secret gives Ready=False, reason SecretNotFound"
else
  fail "broken: a missing Secret gives reason SecretNotFound" "$(k -n "$NS" get hg broken -o yaml)"
fi
if wait_until 10 bash -c "'$KUBECTL' -n $NS get hg broken -o jsonpath='{.status.probes[1].reason}' | grep -qx dns"; then
  pass "broken: an unresolvable host is reported as dns"
else
  fail "broken: an unresolvable host is reported as dns" "$(k -n "$NS" get hg broken -o yaml)"
fi
k -n "$NS" get hg orders -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True \
  && pass "broken: other checks keep going" || fail "broken: other checks keep going"

# --- 100 stable checks for a minute: no status writes --------------------------------------
for i in $(seq 1 100); do
  cat <<YAML
---
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: stable-$i, namespace: $NS}
spec:
  interval: 2s
  timeout: 1s
  probes:
  - name: port
    tcp: {host: 127.0.0.1, port: $REDIS_PORT}
YAML
done | k apply -f - >/dev/null
if wait_until 30 bash -c "[[ \$('$KUBECTL' -n $NS get hg -o jsonpath='{range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}' | grep -c True) -ge 101 ]]"; then
  pass "stable: 100 more checks become Ready"
else
  fail "stable: 100 more checks become Ready" "$(k -n "$NS" get hg | head -20)"
fi
sleep 3
rv() { k -n "$NS" get hg -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}' | grep '^stable-' | sort; }
rv1="$(rv)"
pod_rv1="$(k -n "$NS" get pod gated-1 -o jsonpath='{.metadata.resourceVersion}')"
sleep 60
rv2="$(rv)"
pod_rv2="$(k -n "$NS" get pod gated-1 -o jsonpath='{.metadata.resourceVersion}')"
[[ "$pod_rv1" == "$pod_rv2" ]] && pass "gates: a stable check causes no pod writes for 60 s" \
  || fail "gates: no pod writes while nothing changes" "resourceVersion $pod_rv1 -> $pod_rv2"
changed="$(diff <(echo "$rv1") <(echo "$rv2") | grep -c '^>' || true)"
[[ "$changed" -eq 0 ]] && pass "stable: 100 stable checks for 60 s cause no status writes (0 resourceVersion changes)" \
  || fail "stable: no status writes while nothing changes" "$changed objects changed"

# --- the canary never leaks -----------------------------------------------------------------
leak=""
for src in "$(cat "$TMP/op1.log")" "$(k -n "$NS" get hg -o yaml)" "$(k -n "$NS" get events -o yaml)" \
           "$(curl -s "http://127.0.0.1:$OP_PORT/metrics")" "$(curl -s "http://127.0.0.1:$OP_PORT/api/v1/healthchecks")" \
           "$(curl -s "http://127.0.0.1:$OP_PORT/")"; do
  [[ "$src" == *"$CANARY"* || "$src" == *"$CANARY2"* ]] && leak+="x"
done
[[ -z "$leak" ]] && pass "secrets: the canary password is in no log, status, event, metric or API output" \
  || fail "secrets: the canary password leaked" "$leak"

# --- delete: endpoint and series go --------------------------------------------------------
k -n "$NS" delete hg broken >/dev/null
if wait_until 10 code_is "http://127.0.0.1:$OP_PORT/ready/$NS/broken" 404 \
   && metrics="$(curl -s "http://127.0.0.1:$OP_PORT/metrics")" && [[ -n "$metrics" && "$metrics" != *'healthcheck="broken"'* ]]; then
  pass "delete: /ready answers 404 and the metrics series are gone"
else
  fail "delete: endpoint and series go away" "$(curl -s "http://127.0.0.1:$OP_PORT/metrics" | grep broken | head)"
fi

# --- API server restart and a forced 410 -------------------------------------------------
restart_apiserver() {
  local out
  out="$("$TESTENV" restart-apiserver "$HEALTHGATE_TESTENV_STATE" 2>&1)" \
    || fatal "testenv restart-apiserver failed" "$out"$'\n'"$(tail -20 "$HEALTHGATE_TESTENV_STATE/kube-apiserver.log" 2>&1)"
}
restart_apiserver
stop_redis
if out="$(k -n "$NS" wait --for=condition=Ready=false --timeout=40s hg/orders 2>&1)"; then
  pass "apiserver restart: the operator recovers and keeps status current"
else
  fail "apiserver restart: status current after the restart" "$out"$'\n'"$(tail -20 "$TMP/op1.log")"
fi
start_redis "$CANARY2"
k -n "$NS" wait --for=condition=Ready --timeout=20s hg/orders >/dev/null 2>&1 || true
out="$("$TESTENV" compact "$HEALTHGATE_TESTENV_STATE" 2>&1)" || fatal "testenv compact failed" "$out"
restart_apiserver
sleep 5
n_api="$(curl -s "http://127.0.0.1:$OP_PORT/api/v1/healthchecks" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
n_k8s="$(k get hg -A -o name | wc -l)"
[[ "$n_api" == "$n_k8s" ]] && pass "compaction: after a relist the operator has every check ($n_api), no spurious deletes" \
  || fail "compaction: no spurious deletes" "api $n_api vs cluster $n_k8s"
grep -q '"healthgate_watch_restarts_total' <<<"$(curl -s "http://127.0.0.1:$OP_PORT/metrics" | sed 's/^/"/')" \
  && pass "compaction: watch restarts are counted" || fail "compaction: watch restarts are counted"

# --- restart the operator: status continues without flapping --------------------------------
rv_all() { k -n "$NS" get hg -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}' | sort; }
# Settle first: the outage above flipped every check that probes Redis, and status
# writes retried across the apiserver restarts may still be landing.
not_ready_count() { k -n "$NS" get hg -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -vcx True || true; }
settled() { local a b; [[ "$(not_ready_count)" == 0 ]] || return 1; a="$(rv_all)"; sleep 3; b="$(rv_all)"; [[ "$a" == "$b" ]]; }
wait_until 60 settled || true
before_restart="$(rv_all)"
k -n "$NS" get hg -o json >"$TMP/before-restart.json"
kill -TERM "$OP1"; wait "$OP1" 2>/dev/null || true
mv "$TMP/op1.log" "$TMP/op1-before-restart.log"
start_operator op1 "$OP_PORT"
OP1=$LAST_PID
PIDS+=("$OP1")
if wait_until 20 code_is "http://127.0.0.1:$OP_PORT/readyz" 200; then
  sleep 5  # several probe intervals after the restart
  after_restart="$(rv_all)"
  changed="$(diff <(echo "$before_restart") <(echo "$after_restart") | grep -c '^>' || true)"
  [[ "$changed" -eq 0 ]] && pass "restart: a restarted operator rewrites no status (0 of $(wc -l <<<"$after_restart") objects changed)" \
    || { example="$(diff <(echo "$before_restart") <(echo "$after_restart") | grep '^>' | head -1 | sed 's/^> //; s/=.*//')"
         fail "restart: status continues without flapping" "$changed objects changed; e.g. $example"$'\n'"before: $(python3 -c 'import json,sys; print(json.dumps([i["status"] for i in json.load(open(sys.argv[1]))["items"] if i["metadata"]["name"]==sys.argv[2]]))' "$TMP/before-restart.json" "$example")"$'\n'"after:  $(k -n "$NS" get hg "$example" -o jsonpath='{.status}')"$'\n'"$(grep -c '"probe unhealthy"' "$TMP/op1.log") unhealthy transitions after the restart"$'\n'"writes before the restart:"$'\n'"$(grep '"writing status"' "$TMP/op1-before-restart.log" | grep "\"$example\"" | tail -5)"$'\n'"writes after:"$'\n'"$(grep '"writing status"' "$TMP/op1.log" | head -3)"; }
else
  fail "restart: the operator comes back" "$(tail -20 "$TMP/op1.log")"
fi

# --- leader election -------------------------------------------------------------------------
OP2_PORT="$(free_port)"
start_operator op2 "$OP2_PORT"
OP2=$LAST_PID
PIDS+=("$OP2")
body() { curl -s "$1" || true; }
if wait_until 20 code_is "http://127.0.0.1:$OP2_PORT/readyz" 200 \
   && [[ "$(body "http://127.0.0.1:$OP2_PORT/readyz")" == *standby* && "$(body "http://127.0.0.1:$OP_PORT/readyz")" == "ok: leader" ]]; then
  pass "leader: the standby is ready once synced and says it is the standby; op1 says leader"
else
  fail "leader: one leader, one ready standby" "op1: $(body "http://127.0.0.1:$OP_PORT/readyz") op2: $(body "http://127.0.0.1:$OP2_PORT/readyz")"
fi
holder="$(k -n healthgate-system get lease healthgate-operator -o jsonpath='{.spec.holderIdentity}')"
[[ "$holder" == op1 ]] && pass "leader: the Lease names op1" || fail "leader: the Lease names op1" "$holder"
wait_until 10 code_is "http://127.0.0.1:$OP2_PORT/ready/$NS/orders" 200 \
  && pass "leader: the hot standby serves the per-check URLs too (/ready/$NS/orders 200)" \
  || fail "leader: the standby serves per-check results" "$(body "http://127.0.0.1:$OP2_PORT/ready/$NS/orders")"
stop_redis
if k -n "$NS" wait --for=condition=Ready=false --timeout=20s hg/orders >/dev/null 2>&1 \
   && wait_until 10 code_is "http://127.0.0.1:$OP2_PORT/ready/$NS/orders" 503; then
  writes2="$(grep -c '"writing status"' "$TMP/op2.log" || true)"
  [[ "$writes2" == 0 ]] && pass "leader: only the leader writes; the standby probes too (503 during the outage, 0 writes)" \
    || fail "leader: only the leader writes" "$writes2 writes by the standby"$'\n'"$(grep '"writing status"' "$TMP/op2.log" | head -3)"
else
  fail "leader: the outage is seen by both replicas" "op2 /ready: $(http_code "http://127.0.0.1:$OP2_PORT/ready/$NS/orders")"
fi
start_redis "$CANARY2"
k -n "$NS" wait --for=condition=Ready --timeout=20s hg/orders >/dev/null 2>&1 || true
kill -9 "$OP1"
t0=$SECONDS
leads() { [[ "$(body "http://127.0.0.1:$OP2_PORT/readyz")" == "ok: leader" ]]; }
if wait_until 12 leads; then
  pass "leader: the standby takes over after the leader is killed ($((SECONDS - t0)) s, lease 4 s)"
else
  fail "leader: the standby takes over" "$(tail -20 "$TMP/op2.log")"
fi
stop_redis
if out="$(k -n "$NS" wait --for=condition=Ready=false --timeout=20s hg/orders 2>&1)"; then
  pass "leader: the new leader writes status"
else
  fail "leader: the new leader writes status" "$out"
fi
kill -TERM "$OP2"
wait "$OP2" 2>/dev/null && rc=0 || rc=$?
holder="$(k -n healthgate-system get lease healthgate-operator -o jsonpath='{.spec.holderIdentity}')"
[[ "$rc" == 0 && -z "$holder" ]] && pass "leader: SIGTERM exits 0 and releases the Lease" \
  || fail "leader: SIGTERM exits 0 and releases the Lease" "exit $rc, holder '$holder'"

# Sanitizer builds of the binary write their reports into the operator logs.
if grep -lE "ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:" "$TMP"/op*.log >/dev/null 2>&1; then
  fail "sanitizers: reports in the operator logs" "$(grep -hE -A20 "ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:" "$TMP"/op*.log | head -60)"
else
  pass "sanitizers: no sanitizer report in the operator logs"
fi
finish
