#!/usr/bin/env bash
# The Helm chart (helm/healthgate) and the plain manifests against a real kube-apiserver,
# with real helm and kubectl: lint, render variants, install, run the operator with the
# chart's own ServiceAccount token and RBAC, uninstall.
#
# Needs KUBECONFIG, KUBECTL, HELM (from `tests/e2e/testenv up`) and HEALTHGATE_BINARY.
# One PASS/FAIL line per case; non-zero exit when any case fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TESTENV="$HERE/testenv"
BIN="${HEALTHGATE_BINARY:-$ROOT/build/healthgate}"
CHART="$ROOT/helm/healthgate"

# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
require_cluster
[[ -n "${HELM:-}" && -x "${HELM}" ]] || fatal "cluster: HELM is not set or not executable"
[[ -x "$BIN" ]] || fatal "healthgate binary not found at $BIN"

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$HELM" uninstall healthgate -n healthgate-system >/dev/null 2>&1 || true
  k delete namespace hg-app --wait=false >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
h() { "$HELM" "$@"; }
render() { h template healthgate "$CHART" --namespace healthgate-system --kube-version 1.34.0 "$@"; }
# KIND NAME: one rendered object as JSON (from a rendering on stdin).
pick() {
  python3 -c '
import json, sys, yaml
kind, name = sys.argv[1], sys.argv[2]
for d in yaml.safe_load_all(sys.stdin):
    if d and d.get("kind") == kind and d["metadata"]["name"] == name:
        print(json.dumps(d)); break
' "$1" "$2"
}
rules_of() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["rules"], sort_keys=True))'; }

# --- static: lint, the chart's CRD, the plain manifests, the RBAC rules ---------------------
if out="$(h lint "$CHART" --strict 2>&1)"; then pass "chart: helm lint --strict"; else fail "chart: helm lint --strict" "$out"; fi
cmp -s "$ROOT/crds/healthgate.dev_healthchecks.yaml" "$CHART/crds/healthgate.dev_healthchecks.yaml" \
  && pass "chart: its CRD is crds/healthgate.dev_healthchecks.yaml" \
  || fail "chart: its CRD differs from crds/ (cp crds/healthgate.dev_healthchecks.yaml helm/healthgate/crds/)"
HELM="$HELM" "$ROOT/scripts/gen-manifests.sh" "$TMP/install.yaml"
if diff -u "$ROOT/manifests/install.yaml" "$TMP/install.yaml" >"$TMP/install.diff"; then
  pass "manifests: install.yaml is the chart rendered with its defaults"
else
  fail "manifests: install.yaml is stale (run HELM=... scripts/gen-manifests.sh)" "$(head -30 "$TMP/install.diff")"
fi
default="$(render)"
chart_rules="$(pick ClusterRole healthgate <<<"$default" | rules_of)"
plain_rules="$(pick ClusterRole healthgate-operator <"$ROOT/manifests/rbac.yaml" | rules_of)"
[[ -n "$chart_rules" && "$chart_rules" == "$plain_rules" ]] \
  && pass "chart: its ClusterRole has exactly the rules of manifests/rbac.yaml (docs/rbac.md)" \
  || fail "chart: ClusterRole rules match manifests/rbac.yaml" "chart: $chart_rules"$'\n'"plain: $plain_rules"

# --- render variants ------------------------------------------------------------------------
ns_only="$(render --set watchNamespace=hg-app)"
if [[ -z "$(pick ClusterRole healthgate <<<"$ns_only")" ]] \
   && [[ "$(pick Role healthgate <<<"$ns_only" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["namespace"])')" == hg-app ]] \
   && grep -q -- '--namespace=hg-app' <<<"$ns_only"; then
  pass "chart: watchNamespace gives a Role in that namespace, no ClusterRole, and --namespace"
else
  fail "chart: watchNamespace is namespaced" "$(grep -n 'kind:\|namespace' <<<"$ns_only" | head -20)"
fi
no_gates="$(render --set readinessGates.enabled=false)"
if ! grep -q '"pods' <<<"$(pick ClusterRole healthgate <<<"$no_gates" | rules_of)" && grep -q -- '--no-readiness-gates' <<<"$no_gates"; then
  pass "chart: readinessGates.enabled=false drops every pod permission and passes --no-readiness-gates"
else
  fail "chart: readinessGates.enabled=false" "$(pick ClusterRole healthgate <<<"$no_gates")"
fi
if out="$(render --set leaderElection.enabled=false 2>&1)"; then
  fail "chart: 2 replicas without leader election are refused" "rendered"
else
  [[ "$out" == *"needs leaderElection.enabled"* ]] && pass "chart: 2 replicas without leader election are refused with a clear error" \
    || fail "chart: 2 replicas without leader election are refused with a clear error" "$out"
fi
single="$(render --set replicaCount=1 --set leaderElection.enabled=false)"
[[ -z "$(pick PodDisruptionBudget healthgate <<<"$single")" && -z "$(pick Role healthgate-leader-election <<<"$single")" ]] \
  && ! grep -q -- '--leader-elect' <<<"$single" \
  && pass "chart: one replica without election: no Lease role, no PDB, no --leader-elect" \
  || fail "chart: one replica without election" "$(grep -n 'kind:\|leader' <<<"$single")"
deploy="$(pick Deployment healthgate <<<"$default")"
if python3 - "$deploy" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
pod = d["spec"]["template"]["spec"]
c = pod["containers"][0]
assert pod["securityContext"]["runAsNonRoot"] is True, "runAsNonRoot"
assert c["securityContext"]["readOnlyRootFilesystem"] is True, "readOnlyRootFilesystem"
assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], "drop ALL"
assert c["livenessProbe"]["httpGet"]["path"] == "/livez", "liveness"
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness"
assert "--leader-elect" in c["args"], "leader election"
assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"]), "/tmp"
assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, "rolling update"
PY
then
  pass "chart: the Deployment runs non-root, read-only, no capabilities, with /livez and /readyz probes"
else
  fail "chart: the Deployment's hardening and probes" "$deploy"
fi

# --- every switch: helm lint --strict and helm template -------------------------------------
switches=(
  ""
  "--set networkPolicy.enabled=true --set networkPolicy.ingressNamespaces={monitoring,shop}"
  "--set serviceMonitor.enabled=true --set serviceMonitor.labels.release=prom"
  "--set rbac.aggregateToDefaultRoles=false"
  "--set fullnameOverride=hg --set nameOverride=gate"
  "--set image.registry=registry.example.com --set image.tag=9.9.9"
  "--set image.registry=registry.example.com --set image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  "--set service.annotations.team=platform"
  "--set extraVolumes[0].name=ca --set extraVolumes[0].configMap.name=ca --set extraVolumeMounts[0].name=ca --set extraVolumeMounts[0].mountPath=/etc/ca"
  "--set affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone --set affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists"
  "--set watchNamespace=hg-app --set readinessGates.enabled=false"
  "--set probePolicy.denyCidrs={169.254.0.0/16,127.0.0.2/32} --set probePolicy.allowCidrs={10.0.0.0/8} --set probePolicy.redisAllowCommands={SCAN}"
  "--set secrets.requireProbeCredentialsLabel=false"
)
bad=""
for sw in "${switches[@]}"; do
  # shellcheck disable=SC2086
  out="$(h lint "$CHART" --strict --kube-version 1.34.0 $sw 2>&1)" || bad+="lint ${sw:-<defaults>}: $(tail -3 <<<"$out")"$'\n'
  # shellcheck disable=SC2086
  out="$(render $sw 2>&1)" || bad+="template ${sw:-<defaults>}: $(tail -3 <<<"$out")"$'\n'
done
[[ -z "$bad" ]] && pass "chart: helm lint --strict and helm template pass for each of ${#switches[@]} switch sets" \
  || fail "chart: lint and template for every switch" "$bad"

# Object contents per switch.
check_render() { # DESCRIPTION PYTHON-ASSERTIONS -- helm args...
  local what="$1" code="$2"; shift 3
  local r
  if r="$(render "$@" 2>&1)" && python3 -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
def one(kind, name=None):
    m = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(m) == 1, f"{kind} {name}: {len(m)} found"
    return m[0]
def none(kind): assert not [d for d in docs if d["kind"] == kind], f"unexpected {kind}"
pod = one("Deployment")["spec"]["template"]["spec"]
'"$code" <<<"$r" 2>"$TMP/check.err"; then
    pass "chart: $what"
  else
    fail "chart: $what" "$(cat "$TMP/check.err")"
  fi
}
check_render "defaults: no NetworkPolicy or ServiceMonitor; preferred anti-affinity by hostname; aggregated view/edit ClusterRoles; image healthgate:<appVersion>" '
none("NetworkPolicy"); none("ServiceMonitor")
t = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
assert t["topologyKey"] == "kubernetes.io/hostname", t
assert t["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "healthgate", t
v = one("ClusterRole", "healthgate-view")["metadata"]["labels"]
e = one("ClusterRole", "healthgate-edit")["metadata"]["labels"]
assert v["rbac.authorization.k8s.io/aggregate-to-view"] == "true", v
assert e["rbac.authorization.k8s.io/aggregate-to-edit"] == "true", e
assert "rbac.authorization.k8s.io/aggregate-to-view" not in e, "edit verbs must not reach view"
assert pod["containers"][0]["image"] == "healthgate:0.1.0", pod["containers"][0]["image"]
' --
check_render "secrets.requireProbeCredentialsLabel: --require-secret-label=true by default, false when set" '
assert "--require-secret-label=true" in pod["containers"][0]["args"], pod["containers"][0]["args"]
' --
check_render "secrets.requireProbeCredentialsLabel=false: --require-secret-label=false" '
assert "--require-secret-label=false" in pod["containers"][0]["args"], pod["containers"][0]["args"]
' -- --set secrets.requireProbeCredentialsLabel=false
check_render "networkPolicy: ingress to the HTTP port from the release namespace and the named ones, egress open" '
n = one("NetworkPolicy")["spec"]
assert n["policyTypes"] == ["Ingress"], n
vals = n["ingress"][0]["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"]
assert vals == ["healthgate-system", "monitoring", "shop"], vals
assert n["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}], n
' -- --set networkPolicy.enabled=true --set 'networkPolicy.ingressNamespaces={monitoring,shop}'
check_render "serviceMonitor: honorLabels true (healthgate's namespace label is kept) and its labels" '
m = one("ServiceMonitor")
assert m["spec"]["endpoints"][0]["honorLabels"] is True, m
assert m["metadata"]["labels"]["release"] == "prom", m
' -- --set serviceMonitor.enabled=true --set serviceMonitor.labels.release=prom
check_render "rbac.aggregateToDefaultRoles=false: no aggregated roles" '
assert not [d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] != "healthgate"], "aggregated roles"
' -- --set rbac.aggregateToDefaultRoles=false
check_render "fullnameOverride names every object, nameOverride the name label" '
names = {d["metadata"]["name"] for d in docs}
assert names <= {"hg", "hg-view", "hg-edit", "hg-leader-election"}, names
assert one("Deployment")["metadata"]["labels"]["app.kubernetes.io/name"] == "gate"
' -- --set fullnameOverride=hg --set nameOverride=gate
check_render "image: registry and tag" '
assert pod["containers"][0]["image"] == "registry.example.com/healthgate:9.9.9", pod["containers"][0]["image"]
' -- --set image.registry=registry.example.com --set image.tag=9.9.9
check_render "image: a digest pins the image (tag ignored)" '
assert pod["containers"][0]["image"] == "registry.example.com/healthgate@sha256:" + "0123456789abcdef" * 4, pod["containers"][0]["image"]
' -- --set image.registry=registry.example.com --set image.tag=9.9.9 --set image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
check_render "service annotations, extra volumes and mounts (the /tmp volume kept)" '
assert one("Service")["metadata"]["annotations"] == {"team": "platform"}
assert [v["name"] for v in pod["volumes"]] == ["tmp", "ca"], pod["volumes"]
assert [m["mountPath"] for m in pod["containers"][0]["volumeMounts"]] == ["/tmp", "/etc/ca"]
' -- --set service.annotations.team=platform --set 'extraVolumes[0].name=ca' --set 'extraVolumes[0].configMap.name=ca' \
   --set 'extraVolumeMounts[0].name=ca' --set 'extraVolumeMounts[0].mountPath=/etc/ca'
check_render "affinity given: replaces the default anti-affinity" '
assert "podAntiAffinity" not in pod["affinity"] and "nodeAffinity" in pod["affinity"], pod["affinity"]
' -- --set 'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone' \
   --set 'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists'
check_render "probePolicy: defaults pass no policy flag (the binary's default deny list applies)" '
args = pod["containers"][0]["args"]
assert not [a for a in args if a.startswith(("--probe-deny", "--probe-allow", "--redis-allow"))], args
' --
check_render "probePolicy: lists become --probe-deny-cidrs, --probe-allow-cidrs and --redis-allow-commands" '
args = pod["containers"][0]["args"]
assert "--probe-deny-cidrs=169.254.0.0/16,127.0.0.2/32" in args, args
assert "--probe-allow-cidrs=10.0.0.0/8" in args, args
assert "--redis-allow-commands=CONFIG GET,SCAN" in args, args
' -- --set 'probePolicy.denyCidrs={169.254.0.0/16,127.0.0.2/32}' --set 'probePolicy.allowCidrs={10.0.0.0/8}' \
   --set 'probePolicy.redisAllowCommands={CONFIG GET,SCAN}'
check_render "probePolicy.denyCidrs=[]: an empty --probe-deny-cidrs turns the default off" '
assert "--probe-deny-cidrs=" in pod["containers"][0]["args"], pod["containers"][0]["args"]
' -- --set-json 'probePolicy.denyCidrs=[]'

# --- values.schema.json: wrong types, unknown keys and bad enums fail at template time --------
for case in "replicaCount=two|/replicaCount" "serviceMonitor.enable=true|'enable' not allowed" \
            "logLevel=verbose|/logLevel" "image.pullPolicy=Sometimes|/image/pullPolicy" \
            "service.type=Ingress|/service/type" "httpPort=0|/httpPort" "imageTag=1.0|'imageTag' not allowed" \
            "leaderElection.leaseDuration=15|/leaderElection/leaseDuration" "image.digest=latest|/image/digest" \
            "probePolicy.denyCidrs=10.0.0.0/8|/probePolicy/denyCidrs" \
            "secrets.requireProbeCredentialsLabel=maybe|/secrets/requireProbeCredentialsLabel"; do
  set_arg="${case%%|*}"; want="${case#*|}"
  if out="$(render --set "$set_arg" 2>&1)"; then
    fail "schema: --set $set_arg is refused" "rendered"
  elif [[ "$out" == *"schema"* && "$out" == *"$want"* ]]; then
    pass "schema: --set $set_arg is refused at template time, naming $want"
  else
    fail "schema: --set $set_arg is refused naming $want" "$out"
  fi
done

# --- install into the real cluster ---------------------------------------------------------
if out="$(h install healthgate "$CHART" --namespace healthgate-system --create-namespace 2>&1)"; then
  pass "install: helm install succeeds on the real API server (every object passes its schema)"
else
  fatal "install: helm install" "$out"
fi
wait_crd_established && pass "install: the chart's CRD is Established" || fail "install: the chart's CRD is Established"
[[ "$(k -n healthgate-system get deployment healthgate -o jsonpath='{.spec.replicas}')" == 2 ]] \
  && pass "install: Deployment, Service, ServiceAccount and RBAC exist" \
  || fail "install: objects exist" "$(k -n healthgate-system get all,sa,role,rolebinding 2>&1)"
if out="$(k apply --server-side --force-conflicts --dry-run=server -f "$ROOT/manifests/install.yaml" 2>&1)"; then
  pass "manifests: install.yaml passes a server-side dry run"
else
  fail "manifests: install.yaml passes a server-side dry run" "$out"
fi

# --- kubeconform against schemas generated offline from this API server's OpenAPI ------------
# kubeconform (pinned, from the Go module proxy, cached like the other tools) validates
# every rendered switch set (types, enums, unknown fields) against JSON schemas
# written from the running apiserver's /openapi/v3 (the chart's CRD included, as it is
# installed now). ServiceMonitor has no schema here (prometheus-operator's CRD is not
# installed) and is skipped by name.
KUBECONFORM_VERSION=v0.7.0
KC="${HEALTHGATE_TOOLS_CACHE:-$HOME/.cache/healthgate-tools}/kubeconform-$KUBECONFORM_VERSION/bin/kubeconform"
if [[ ! -x "$KC" ]]; then
  GOWORK=off GOFLAGS=-mod=mod GOBIN="$(dirname "$KC")" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >"$TMP/kc.log" 2>&1 \
    || fatal "kubeconform: go install github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" "$(tail -20 "$TMP/kc.log")"
fi
mkdir -p "$TMP/schemas"
if out="$(python3 - "$TMP/schemas" <<'PY' 2>&1
import json, os, subprocess, sys
out = sys.argv[1]
kubectl = os.environ["KUBECTL"]
def get(path):
    return json.loads(subprocess.run([kubectl, "get", "--raw", path], check=True, capture_output=True, text=True).stdout)
written = 0
for path, ref in get("/openapi/v3")["paths"].items():
    if not (path == "api/v1" or path.startswith("apis/")) or path.count("/") != (1 if path == "api/v1" else 2):
        continue
    doc = get("/" + ref["serverRelativeURL"].lstrip("/"))
    comps = doc.get("components", {}).get("schemas", {})
    # Unknown fields fail: objects with declared properties admit no others (what
    # the API server's strict field validation does).
    for sch in comps.values():
        if "properties" in sch and "additionalProperties" not in sch and not sch.get("x-kubernetes-preserve-unknown-fields"):
            sch["additionalProperties"] = False
    for name, sch in comps.items():
        for gvk in sch.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            want = "v1" if path == "api/v1" else path.split("/", 1)[1]
            if (f"{group}/{version}" if group else version) != want:
                continue
            f = os.path.join(out, f"{kind.lower()}-{group}-{version}.json")
            with open(f, "w") as fh:
                json.dump({"$ref": f"#/components/schemas/{name}", "components": {"schemas": comps}}, fh)
            if not group:  # kubeconform may name the core group either way
                with open(os.path.join(out, f"{kind.lower()}-{version}.json"), "w") as fh:
                    json.dump({"$ref": f"#/components/schemas/{name}", "components": {"schemas": comps}}, fh)
            written += 1
print(written)
PY
)" && [[ "$out" -gt 50 ]]; then
  pass "kubeconform: $out schemas generated offline from the API server's OpenAPI v3"
else
  fail "kubeconform: schemas from the API server's OpenAPI v3" "$out"
fi
bad=""
for sw in "${switches[@]}"; do
  # shellcheck disable=SC2086
  if ! out="$(render $sw | "$KC" -strict -summary -skip ServiceMonitor -verbose \
      -schema-location "$TMP/schemas/{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json" \
      -schema-location "$TMP/schemas/{{ .ResourceKind }}-{{ .ResourceAPIVersion }}.json" - 2>&1)"; then
    bad+="${sw:-<defaults>}: $(grep -v " is valid$" <<<"$out" | tail -5)"$'\n'
  fi
done
[[ -z "$bad" ]] && pass "kubeconform: every switch set's rendering is valid for this API server (-strict)" \
  || fail "kubeconform: renderings valid for this API server" "$bad"
# Control: the same validation refuses an unknown field and a wrong type.
broken="$(render | sed -e 's/^  replicas: 2$/  replicas: 2\n  replicaz: 3/' -e 's/^      terminationGracePeriodSeconds: 15$/      terminationGracePeriodSeconds: "15"/')"
out="$("$KC" -strict -summary -skip ServiceMonitor \
  -schema-location "$TMP/schemas/{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json" \
  -schema-location "$TMP/schemas/{{ .ResourceKind }}-{{ .ResourceAPIVersion }}.json" - <<<"$broken" 2>&1 || true)"
[[ "$out" == *replicaz* && "$out" == *terminationGracePeriodSeconds* ]] \
  && pass "kubeconform: an unknown field (spec.replicaz) and a wrong type (a string grace period) are refused" \
  || fail "kubeconform: unknown field and wrong type refused" "$out"

# --- the operator with the chart's own identity ---------------------------------------------
# No kubelet runs here, so the binary runs on the host with the token of the chart's
# ServiceAccount and the chart's arguments.
TOKEN="$("$TESTENV" token healthgate-system healthgate 1h)"
"$TESTENV" kubeconfig-for-token "$TOKEN" "$TMP/sa.kubeconfig" >/dev/null 2>&1
TARGET_PORT="$(free_port)"
python3 -m http.server "$TARGET_PORT" --bind 127.0.0.1 --directory "$TMP" >/dev/null 2>&1 &
TARGET_PID=$!
PIDS+=("$TARGET_PID")
OP_PORT="$(free_port)"
args="$(python3 -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])["spec"]["template"]["spec"]["containers"][0]["args"]))' "$deploy" \
  | grep -v -- '--http-address\|--leader-election-identity')"
mapfile -t chart_args <<<"$args"
POD_NAME=healthgate-0 POD_NAMESPACE=healthgate-system "$BIN" "${chart_args[@]}" --kubeconfig "$TMP/sa.kubeconfig" \
  --http-address "127.0.0.1:$OP_PORT" --leader-election-identity healthgate-0 >"$TMP/operator.log" 2>&1 &
OP=$!
PIDS+=("$OP")
k create namespace hg-app >/dev/null
cat <<YAML | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: hg-app, labels: {app: web}}
spec:
  containers: [{name: app, image: registry.invalid/web:1}]
  readinessGates: [{conditionType: healthgate.dev/web-deps}]
---
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: web-deps, namespace: hg-app}
spec:
  interval: 1s
  timeout: 500ms
  failureThreshold: 1
  probes:
  - name: api
    http: {url: "http://127.0.0.1:$TARGET_PORT/"}
  readinessGate: {podSelector: {matchLabels: {app: web}}}
YAML
if out="$(k -n hg-app wait --for=condition=Ready --timeout=30s hg/web-deps 2>&1)"; then
  pass "operator: with the chart's ServiceAccount and RBAC, a HealthCheck becomes Ready"
else
  fail "operator: Ready with the chart's identity" "$out"$'\n'"$(tail -20 "$TMP/operator.log")"
fi
gate() { k -n hg-app get pod web-1 -o jsonpath='{.status.conditions[?(@.type=="healthgate.dev/web-deps")].status}'; }
gate_true() { [[ "$(gate)" == True ]]; }
wait_until 15 gate_true \
  && pass "operator: the chart's RBAC lets it set the pod's readiness gate" \
  || fail "operator: pod readiness gate with the chart's RBAC" "$(gate) $(grep -i 'pod' "$TMP/operator.log" | tail -5)"
holder="$(k -n healthgate-system get lease healthgate -o jsonpath='{.spec.holderIdentity}' 2>&1 || true)"
[[ "$holder" == healthgate-0 ]] && pass "operator: the Lease (named by the chart) is held in the release namespace" \
  || fail "operator: the Lease in the release namespace" "$holder"$'\n'"$(grep -i lease "$TMP/operator.log" | tail -5)"
kill "$TARGET_PID"
if k -n hg-app wait --for=condition=Ready=false --timeout=20s hg/web-deps >/dev/null 2>&1 \
   && wait_until 10 bash -c "'$KUBECTL' -n hg-app get events --field-selector involvedObject.name=web-deps,type=Warning -o name | grep -q ."; then
  pass "operator: the chart's RBAC lets it write status and Events (target stopped: Ready=False, a Warning Event)"
else
  fail "operator: status and Events with the chart's RBAC" "$(k -n hg-app get events 2>&1 | tail -5)"$'\n'"$(grep -i 'forbidden\|failed' "$TMP/operator.log" | tail -5)"
fi
# RBAC denials name the identity ("... is forbidden: User \"system:serviceaccount:..."); other
# 403s (e.g. an Event in a namespace that is being deleted) are not about the chart's RBAC.
if grep -q 'forbidden: User' "$TMP/operator.log"; then
  fail "operator: RBAC denied no request" "$(grep 'forbidden: User' "$TMP/operator.log" | head -5)"
else
  pass "operator: RBAC denied no request"
fi
kill -TERM "$OP"; wait "$OP" 2>/dev/null || true

# --- uninstall ------------------------------------------------------------------------------
if out="$(h uninstall healthgate --namespace healthgate-system 2>&1)" \
   && ! k -n healthgate-system get deployment healthgate >/dev/null 2>&1 \
   && ! k get clusterrole healthgate >/dev/null 2>&1; then
  pass "uninstall: helm uninstall removes the Deployment and the RBAC"
else
  fail "uninstall: helm uninstall" "$out"
fi
k get crd healthchecks.healthgate.dev >/dev/null 2>&1 \
  && pass "uninstall: the CRD stays (Helm never deletes CRDs: no HealthCheck is lost)" \
  || fail "uninstall: the CRD stays"
# Leave the cluster as the other suites expect it.
k delete namespace hg-app --wait=false >/dev/null 2>&1 || true
k delete crd healthchecks.healthgate.dev >/dev/null 2>&1 || true
finish
