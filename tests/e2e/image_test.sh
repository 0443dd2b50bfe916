#!/usr/bin/env bash
# The container image, built from the Dockerfile and run with Podman (no registry: the
# base image is made locally by scripts/image/build.sh): its contents (no shell, no
# package manager, at most 60 MB, the OCI labels, uid 65532), `--version`, `check` on a
# mounted manifest against a loopback target, and `operator` against the test apiserver
# with the chart's ServiceAccount token mounted where in-cluster config expects it,
# read-only, as uid 65532, reconciling a HealthCheck.
#
# Needs KUBECONFIG, KUBECTL, HELM (from `tests/e2e/testenv up`), root and Podman
# (scripts/setup.sh). HEALTHGATE_IMAGE: an image already built (default: build it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TESTENV="$HERE/testenv"
CHART="$ROOT/helm/healthgate"
MAX_IMAGE_BYTES=$((60 * 1000 * 1000))

# shellcheck source=tests/e2e/lib.sh
source "$HERE/lib.sh"
# shellcheck source=../../scripts/image/lib.sh
source "$ROOT/scripts/image/lib.sh"
require_cluster
[[ -n "${HELM:-}" && -x "${HELM}" ]] || fatal "cluster: HELM is not set or not executable"
( image_preflight ) || fatal "podman: cannot run here (see the message above)"

TMP="$(mktemp -d)"
PIDS=()
CONTAINERS=()
cleanup() {
  for c in "${CONTAINERS[@]}"; do hg_podman rm -f "$c" >/dev/null 2>&1 || true; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$HELM" uninstall healthgate -n healthgate-system >/dev/null 2>&1 || true
  k delete namespace hg-image --wait=false >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# --- build ----------------------------------------------------------------------------------
version="$(sed -nE 's/^project\(healthgate VERSION ([0-9][0-9.]*).*/\1/p' "$ROOT/CMakeLists.txt")"
if [[ -n "${HEALTHGATE_IMAGE:-}" ]]; then
  IMAGE="$HEALTHGATE_IMAGE"
  hg_podman image exists "$IMAGE" || fatal "image: HEALTHGATE_IMAGE=$IMAGE is not in $IMAGE_STORAGE"
else
  start=$SECONDS
  if IMAGE="$("$ROOT/scripts/image/build.sh" 2>"$TMP/build.log" | tail -n1)" && [[ -n "$IMAGE" ]]; then
    pass "image: the Dockerfile builds with Podman, no registry ($((SECONDS - start))s: $(grep -o 'built .*' "$TMP/build.log" | tail -n1))"
  else
    fatal "image: the Dockerfile builds" "$(tail -40 "$TMP/build.log")"
  fi
fi

# --- contents ---------------------------------------------------------------------------------
size="$(hg_podman image inspect "$IMAGE" --format '{{.Size}}')"
[[ "$size" =~ ^[0-9]+$ && "$size" -le $MAX_IMAGE_BYTES ]] \
  && pass "image: $((size / 1000000)) MB, at most $((MAX_IMAGE_BYTES / 1000000)) MB" \
  || fail "image: at most $((MAX_IMAGE_BYTES / 1000000)) MB" "size: $size bytes"
labels="$(hg_podman image inspect "$IMAGE" --format '{{index .Labels "org.opencontainers.image.version"}} {{index .Labels "org.opencontainers.image.revision"}}')"
revision="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || true)"
want="$version $revision"
[[ -n "${HEALTHGATE_IMAGE:-}" ]] && want="$version ${labels#* }"  # built elsewhere: any revision
[[ "$labels" == "$want" && -n "${labels#* }" ]] \
  && pass "image: OCI labels version=$version, revision=${labels#* }" \
  || fail "image: OCI labels version and revision" "got '$labels', want '$want'"
user="$(hg_podman image inspect "$IMAGE" --format '{{.Config.User}} {{json .Config.Entrypoint}}')"
[[ "$user" == '65532:65532 ["/usr/local/bin/healthgate"]' ]] \
  && pass "image: runs as 65532:65532 with the binary as entrypoint" \
  || fail "image: user and entrypoint" "$user"

cid="$(hg_podman create "$IMAGE")"; CONTAINERS+=("$cid")
hg_podman export -o "$TMP/rootfs.tar" "$cid"
tar -tf "$TMP/rootfs.tar" | sed 's|^\./||; s|/$||' | sort >"$TMP/files"
hg_podman rm -f "$cid" >/dev/null
bad=""
for f in bin/sh usr/bin/sh bin/bash bin/busybox usr/bin/apt usr/bin/apt-get usr/bin/dpkg usr/bin/env; do
  grep -qx "$f" "$TMP/files" && bad+="$f "
done
[[ -z "$bad" ]] && pass "image: no shell, no package manager ($(wc -l <"$TMP/files") entries, none of /bin/sh, bash, busybox, apt, dpkg)" \
  || fail "image: no shell, no package manager" "present: $bad"
bad=""
for f in usr/local/bin/healthgate etc/ssl/certs/ca-certificates.crt etc/passwd etc/group lib64/ld-linux-x86-64.so.2 tmp \
         usr/share/doc/healthgate/LICENSE; do
  grep -qx "$f" "$TMP/files" || bad+="$f "
done
tar -xOf "$TMP/rootfs.tar" etc/passwd 2>/dev/null | grep -q '^healthgate:x:65532:65532:' || bad+="passwd entry for 65532 "
tar -xOf "$TMP/rootfs.tar" etc/group 2>/dev/null | grep -q '^healthgate:x:65532:' || bad+="group entry for 65532 "
[[ -z "$bad" ]] && pass "image: the binary, the loader, the CA bundle, LICENSE, /tmp, passwd/group entries for 65532" \
  || fail "image: expected files" "missing: $bad"

# --- run: --version, check ----------------------------------------------------------------------
run() { hg_podman run --rm --network=host --read-only --user 65532:65532 --cap-drop=ALL "$@"; }
if out="$(run "$IMAGE" --version 2>&1)" && [[ "$out" == *"$version"* ]]; then
  pass "run: --version prints $version ($out)"
else
  fail "run: --version" "$out"
fi

TARGET_PORT="$(free_port)"
mkdir -p "$TMP/www"; echo ok >"$TMP/www/index.html"
python3 -m http.server "$TARGET_PORT" --bind 127.0.0.1 --directory "$TMP/www" >/dev/null 2>&1 &
TARGET_PID=$!; PIDS+=("$TARGET_PID")
wait_until 10 code_is "http://127.0.0.1:$TARGET_PORT/" 200 || fatal "target: python http.server did not start"
CLOSED_PORT="$(free_port)"
mkdir -p "$TMP/manifests"
cat >"$TMP/manifests/checks.yaml" <<YAML
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: web, namespace: demo}
spec:
  probes:
  - name: page
    http: {url: "http://127.0.0.1:$TARGET_PORT/", bodyRegex: "ok"}
  - name: port
    tcp: {host: 127.0.0.1, port: $TARGET_PORT}
YAML
cat >"$TMP/manifests/down.yaml" <<YAML
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: down, namespace: demo}
spec:
  probes:
  - name: closed
    tcp: {host: 127.0.0.1, port: $CLOSED_PORT}
YAML
chmod -R a+rX "$TMP/manifests"
set +e
out="$(run -v "$TMP/manifests/checks.yaml:/manifests/checks.yaml:ro" "$IMAGE" check -f /manifests/checks.yaml 2>&1)"; rc=$?
set -e
[[ $rc -eq 0 ]] && pass "run: check on a mounted manifest against a loopback HTTP and TCP target exits 0" \
  || fail "run: check against a live loopback target exits 0" "exit $rc"$'\n'"$out"
set +e
out="$(run -v "$TMP/manifests/down.yaml:/manifests/down.yaml:ro" "$IMAGE" check -f /manifests/down.yaml 2>&1)"; rc=$?
set -e
[[ $rc -eq 1 ]] && pass "run: check against a closed loopback port exits 1" \
  || fail "run: check against a closed port exits 1" "exit $rc"$'\n'"$out"

# --- run: operator, in-cluster config with the chart's ServiceAccount ----------------------------
if out="$("$HELM" install healthgate "$CHART" --namespace healthgate-system --create-namespace \
      --set replicaCount=1 --set leaderElection.enabled=false 2>&1)"; then
  pass "operator: the chart installs (ServiceAccount and RBAC for the image)"
else
  fatal "operator: helm install" "$out"
fi
wait_crd_established || fail "operator: the chart's CRD is Established"
deploy="$("$HELM" get manifest healthgate -n healthgate-system | python3 -c '
import json, sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d.get("kind") == "Deployment": print(json.dumps(d))')"
mapfile -t chart_args < <(python3 -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])["spec"]["template"]["spec"]["containers"][0]["args"]))' "$deploy" | grep -v -- '--http-address')
sa="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["spec"]["template"]["spec"]["serviceAccountName"])' "$deploy")"
# What the kubelet mounts for a pod of that ServiceAccount.
SADIR="$TMP/serviceaccount"; mkdir -p "$SADIR"
"$TESTENV" token healthgate-system "$sa" 1h >"$SADIR/token"
cp "$HEALTHGATE_TESTENV_STATE/pki/ca.crt" "$SADIR/ca.crt"
printf healthgate-system >"$SADIR/namespace"
chmod 0755 "$SADIR"; chmod 0644 "$SADIR"/*
api_port="${KUBE_APISERVER##*:}"
OP_PORT="$(free_port)"
cid="$(hg_podman run -d --network=host --read-only --user 65532:65532 --cap-drop=ALL \
  --security-opt=no-new-privileges \
  -v "$SADIR:/var/run/secrets/kubernetes.io/serviceaccount:ro" \
  -e KUBERNETES_SERVICE_HOST=127.0.0.1 -e KUBERNETES_SERVICE_PORT="$api_port" \
  -e POD_NAME=healthgate-image-0 -e POD_NAMESPACE=healthgate-system \
  "$IMAGE" "${chart_args[@]}" --http-address "127.0.0.1:$OP_PORT")"
CONTAINERS+=("$cid")
wait_until 30 code_is "http://127.0.0.1:$OP_PORT/readyz" 200 \
  && pass "operator: the container (read-only, uid 65532, in-cluster config) serves /readyz" \
  || fail "operator: /readyz from the container" "$(hg_podman logs "$cid" 2>&1 | tail -20)"
k create namespace hg-image >/dev/null
cat <<YAML | k apply -f - >/dev/null
apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: web-deps, namespace: hg-image}
spec:
  interval: 1s
  timeout: 500ms
  failureThreshold: 1
  probes:
  - name: api
    http: {url: "http://127.0.0.1:$TARGET_PORT/"}
YAML
if out="$(k -n hg-image wait --for=condition=Ready --timeout=30s hg/web-deps 2>&1)"; then
  pass "operator: the image reconciles a HealthCheck with the chart's ServiceAccount (Ready=True in status)"
else
  fail "operator: the image reconciles a HealthCheck" "$out"$'\n'"$(hg_podman logs "$cid" 2>&1 | tail -20)"
fi
kill "$TARGET_PID"
if out="$(k -n hg-image wait --for=condition=Ready=false --timeout=20s hg/web-deps 2>&1)"; then
  pass "operator: target stopped: the image writes Ready=False"
else
  fail "operator: Ready=False after the target stopped" "$out"
fi
logs="$(hg_podman logs "$cid" 2>&1)"
if grep -q 'forbidden: User' <<<"$logs"; then
  fail "operator: RBAC denied no request" "$(grep 'forbidden: User' <<<"$logs" | head -5)"
else
  pass "operator: RBAC denied no request"
fi
hg_podman stop -t 10 "$cid" >/dev/null 2>&1 || true
state="$(hg_podman inspect "$cid" --format '{{.State.ExitCode}}' 2>&1)"
[[ "$state" == 0 ]] && pass "operator: SIGTERM stops the container with exit 0" \
  || fail "operator: clean exit on SIGTERM" "exit code $state"$'\n'"$(tail -5 <<<"$logs")"

"$HELM" uninstall healthgate -n healthgate-system >/dev/null 2>&1 || true
k delete namespace hg-image --wait=false >/dev/null 2>&1 || true
k delete crd healthchecks.healthgate.dev >/dev/null 2>&1 || true
finish
