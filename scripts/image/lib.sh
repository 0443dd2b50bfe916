# Shared by scripts/image/*.sh and tests/e2e/image_test.sh (sourced): Podman with the
# settings of scripts/image/containers.conf and a storage of its own, and the locally
# made base image (no registry is reachable from CI, so nothing is ever pulled).
#
# Environment:
#   HEALTHGATE_TOOLS_CACHE       cache root (default $HOME/.cache/healthgate-tools)
#   HEALTHGATE_IMAGE_STORAGE     Podman storage root (default $cache/containers/storage)
#   HEALTHGATE_BASE_MAX_AGE_DAYS reuse a cached base root filesystem up to this old (default 7)
#   HEALTHGATE_DEBIAN_MIRROR     Debian mirror for debootstrap (default: the one apt uses)

IMAGE_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE_CACHE="${HEALTHGATE_TOOLS_CACHE:-$HOME/.cache/healthgate-tools}"
IMAGE_STORAGE="${HEALTHGATE_IMAGE_STORAGE:-$IMAGE_CACHE/containers/storage}"
# Run state (locks, mounts) belongs on a filesystem that does not outlive a reboot's
# processes; it is separate per storage root.
IMAGE_RUNROOT="${HEALTHGATE_IMAGE_RUNROOT:-/tmp/healthgate-podman-run-$(id -u)-$(printf '%s' "$IMAGE_STORAGE" | md5sum | cut -c1-8)}"
BASE_CACHE="$IMAGE_CACHE/images"
BASE_REPO="localhost/healthgate-base/debian"
DEBIAN_SUITE=bookworm
export CONTAINERS_CONF="$IMAGE_LIB_DIR/containers.conf"

image_log() { printf 'image: %s\n' "$*" >&2; }
image_die() { printf 'image: ERROR: %s\n' "$*" >&2; exit 1; }

# Podman with this project's configuration and storage.
hg_podman() { podman --root "$IMAGE_STORAGE" --runroot "$IMAGE_RUNROOT" "$@"; }

# Fails early and clearly when Podman cannot work here.
image_preflight() {
  command -v podman >/dev/null || image_die "podman is not installed (scripts/setup.sh installs podman, buildah, runc, debootstrap)"
  command -v runc >/dev/null || image_die "runc is not installed (scripts/setup.sh)"
  [[ "$(id -u)" -eq 0 ]] || image_die "the image scripts run Podman rootful: run them as root"
  # The configured default ulimits must not exceed the host's hard limits, or every
  # container start fails with EPERM.
  local want have
  want="$(sed -nE 's/.*"nofile=([0-9]+):([0-9]+)".*/\2/p' "$CONTAINERS_CONF")"
  have="$(ulimit -Hn)"
  [[ "$have" == unlimited || "$have" -ge "$want" ]] ||
    image_die "$CONTAINERS_CONF sets nofile=$want but this host's hard limit is $have (ulimit -Hn): lower default_ulimits"
  want="$(sed -nE 's/.*"nproc=([0-9]+):([0-9]+)".*/\2/p' "$CONTAINERS_CONF")"
  have="$(ulimit -Hu)"
  [[ "$have" == unlimited || "$have" -ge "$want" ]] ||
    image_die "$CONTAINERS_CONF sets nproc=$want but this host's hard limit is $have (ulimit -Hu): lower default_ulimits"
  mkdir -p "$IMAGE_STORAGE" "$IMAGE_RUNROOT"
}

# The Debian mirror apt already uses on this host (deb822 .sources or a one-line .list).
debian_mirror() {
  if [[ -n "${HEALTHGATE_DEBIAN_MIRROR:-}" ]]; then echo "$HEALTHGATE_DEBIAN_MIRROR"; return; fi
  local f url=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    url="$(awk -v s="$DEBIAN_SUITE" '
      /^[[:space:]]*$/ { if (u != "" && ok) { print u; exit } u = ""; ok = 0; next }
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
      END { if (u != "" && ok) print u }' "$f" | grep -v -- '-security' | head -n1)"
    [[ -n "$url" ]] && break
  done
  if [[ -z "$url" ]]; then
    url="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk -v s="$DEBIAN_SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) == s) print $i; break } }' | head -n1)"
  fi
  [[ -n "$url" ]] || image_die "no Debian $DEBIAN_SUITE mirror found in /etc/apt/sources.list*; set HEALTHGATE_DEBIAN_MIRROR"
  echo "$url"
}

# The apt sources of the base image: the host's Debian entries (main, updates and
# security, as in Debian's own images), so that the image gets the same security
# updates as the host.
write_base_sources() { # ROOTFS
  local root="$1" mirror="$2" f
  rm -f "$root/etc/apt/sources.list"
  mkdir -p "$root/etc/apt/sources.list.d"
  f="/etc/apt/sources.list.d/debian.sources"
  if [[ -f "$f" && -z "${HEALTHGATE_DEBIAN_MIRROR:-}" ]]; then
    grep -v '^#' "$f" >"$root/etc/apt/sources.list.d/debian.sources"
  else
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $DEBIAN_SUITE ${DEBIAN_SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
}

# Prints the name of the base image (debootstrap --variant=minbase, imported into the
# storage), making it first when no cached root filesystem is young enough. The root
# filesystem tarball is cached by date in $BASE_CACHE; a new one (after
# HEALTHGATE_BASE_MAX_AGE_DAYS) also clears the storage, so old layers do not pile up.
ensure_base_image() {
  local max_age="${HEALTHGATE_BASE_MAX_AGE_DAYS:-7}" tarball="" f day today
  mkdir -p "$BASE_CACHE"
  today="$(date -u +%Y%m%d)"
  for f in $(ls -1 "$BASE_CACHE"/debian-"$DEBIAN_SUITE"-minbase-*.tar 2>/dev/null | sort -r); do
    day="$(basename "$f" .tar)"; day="${day##*-}"
    if (( ($(date -u -d "$today" +%s) - $(date -u -d "$day" +%s)) / 86400 <= max_age )); then
      tarball="$f"; break
    fi
  done
  if [[ -z "$tarball" ]]; then
    command -v debootstrap >/dev/null || image_die "debootstrap is not installed (scripts/setup.sh)"
    local mirror root start=$SECONDS
    mirror="$(debian_mirror)"
    root="$(mktemp -d "${TMPDIR:-/tmp}/healthgate-rootfs.XXXXXX")"
    image_log "debootstrap --variant=minbase $DEBIAN_SUITE from $mirror"
    if ! debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$mirror" >"$root.log" 2>&1; then
      tail -n 20 "$root.log" >&2
      rm -rf "$root" "$root.log"
      image_die "debootstrap failed"
    fi
    write_base_sources "$root" "$mirror"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/var/log/*.log
    tarball="$BASE_CACHE/debian-$DEBIAN_SUITE-minbase-$today.tar"
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root" "$root.log"
    image_log "base root filesystem made in $((SECONDS - start))s: $tarball"
    # Older tarballs and everything built on them go.
    for f in "$BASE_CACHE"/debian-"$DEBIAN_SUITE"-minbase-*.tar; do
      [[ "$f" == "$tarball" ]] || rm -f "$f"
    done
    if [[ -n "$(hg_podman images -q 2>/dev/null)" ]]; then
      image_log "clearing the image storage $IMAGE_STORAGE (new base)"
      hg_podman rmi -a -f >/dev/null 2>&1 || true
    fi
  fi
  day="$(basename "$tarball" .tar)"; day="${day##*-}"
  local name="$BASE_REPO:$DEBIAN_SUITE-$day"
  if ! hg_podman image exists "$name"; then
    image_log "importing $tarball as $name"
    hg_podman import --message "debootstrap --variant=minbase $DEBIAN_SUITE" "$tarball" "$name" >/dev/null ||
      image_die "podman import $tarball failed"
  fi
  echo "$name"
}
