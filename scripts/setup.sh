#!/usr/bin/env bash
# Installs every Debian package the build, the tests, the demo and the benchmarks
# need. Idempotent: when everything is present it only checks and returns.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang-format clang-tidy ccache ca-certificates
  libcpp-httplib-dev libcurl4-openssl-dev libpq-dev libhiredis-dev libuv1-dev
  libyaml-cpp-dev prometheus-cpp-dev nlohmann-json3-dev libcli11-dev libssl-dev
  libgtest-dev libgmock-dev googletest libre2-dev libmicrohttpd-dev
  # fuzzing (scripts/fuzz.sh): clang with the libFuzzer, ASan and UBSan runtimes
  clang-14 libclang-rt-14-dev
  # real servers and tools used by tests, the demo and benchmarks
  postgresql-15 redis-server redis-tools openssl curl procps
  prometheus chromium
  nginx-light wrk prometheus-blackbox-exporter
  # the Argo CD health check (integrations/argocd) runs under Lua 5.4 in its tests
  lua5.4 python3-yaml
  # the container image: built and run with Podman (tests/e2e/image_test.sh)
  podman buildah runc debootstrap
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts nothing here by itself, and tests start their own servers: make
# sure packaged daemons are not holding default ports.
exit 0
