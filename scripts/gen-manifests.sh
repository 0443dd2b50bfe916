#!/usr/bin/env bash
# Writes manifests/install.yaml: the plain-manifest install (namespace, CRD, and the Helm
# chart rendered with its default values as release "healthgate" in healthgate-system).
# The end-to-end tests fail when the committed file differs from what this prints.
#   HELM=/path/to/helm scripts/gen-manifests.sh [OUT]   (default OUT: manifests/install.yaml)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/manifests/install.yaml}"
helm="${HELM:-helm}"
{
  cat <<'YAML'
# healthgate: everything to run the operator, without Helm. Generated from helm/healthgate
# (default values) by scripts/gen-manifests.sh; do not edit by hand.
#   kubectl apply --server-side -f manifests/install.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: healthgate-system
YAML
  echo "---"
  cat "$root/crds/healthgate.dev_healthchecks.yaml"
  # kubeVersion in Chart.yaml: helm template assumes v1.20 unless told otherwise.
  "$helm" template healthgate "$root/helm/healthgate" --namespace healthgate-system --kube-version 1.34.0
} >"$out.tmp"
mv "$out.tmp" "$out"
