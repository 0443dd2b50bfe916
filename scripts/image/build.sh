#!/usr/bin/env bash
# Builds the healthgate image from the Dockerfile with Podman, without any registry:
# the base image is made locally (debootstrap --variant=minbase bookworm from the Debian
# mirror apt uses, cached by date in ~/.cache/healthgate-tools/images) and nothing is
# pulled. Prints the image name on stdout.
#
#   scripts/image/build.sh                        # localhost/healthgate:<project version>
#   HEALTHGATE_IMAGE=registry.example/healthgate:0.1.0 scripts/image/build.sh
#
# Environment:
#   HEALTHGATE_IMAGE         image name to tag (default localhost/healthgate:VERSION)
#   HEALTHGATE_IMAGE_CCACHE  ccache directory to mount into the build stage (default: this
#                            host's, `ccache -k cache_dir`, when ccache is installed; "off": none)
#   JOBS                     compile jobs in the build stage (default 2)
#   HEALTHGATE_IMAGE_NO_CACHE=1  rebuild every layer (the compiler cache still applies)
#   and those of scripts/image/lib.sh (cache and storage locations).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=lib.sh
source "$root/scripts/image/lib.sh"
image_preflight

version="$(sed -nE 's/^project\(healthgate VERSION ([0-9][0-9.]*).*/\1/p' "$root/CMakeLists.txt")"
[[ -n "$version" ]] || image_die "no project version in CMakeLists.txt"
image="${HEALTHGATE_IMAGE:-localhost/healthgate:$version}"
revision="$(git -C "$root" rev-parse HEAD 2>/dev/null || true)"

start=$SECONDS
base="$(ensure_base_image)"
base_s=$((SECONDS - start))

volumes=()
ccache_dir="${HEALTHGATE_IMAGE_CCACHE:-}"
if [[ -z "$ccache_dir" ]] && command -v ccache >/dev/null; then
  ccache_dir="$(ccache -k cache_dir)"
fi
if [[ -n "$ccache_dir" && "$ccache_dir" != off ]]; then
  mkdir -p "$ccache_dir"
  volumes=(-v "$ccache_dir:/ccache")
fi

image_log "building $image from $root/Dockerfile (base $base${ccache_dir:+, ccache $ccache_dir})"
build_start=$SECONDS
log="$(mktemp "${TMPDIR:-/tmp}/healthgate-image-build.XXXXXX")"
# The labels again as --label: Buildah reuses a cached final layer when only a build
# argument changed, which would keep the previous revision in the label.
cache_args=(--layers)
[[ "${HEALTHGATE_IMAGE_NO_CACHE:-0}" == 1 ]] && cache_args=(--no-cache)
if ! hg_podman build --pull=never --network=host "${cache_args[@]}" \
    --build-arg BUILD_IMAGE="$base" \
    --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" \
    --build-arg JOBS="${JOBS:-2}" \
    --label org.opencontainers.image.version="$version" \
    --label org.opencontainers.image.revision="$revision" \
    "${volumes[@]}" \
    -f "$root/Dockerfile" -t "$image" "$root" >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  rm -f "$log"
  image_die "podman build failed"
fi
grep -E 'STEP|COMMIT|--> Using cache' "$log" | sed 's/^/image:   /' >&2 || true
rm -f "$log"
image_log "built $image in $((SECONDS - build_start))s (base image ${base_s}s)"
echo "$image"
