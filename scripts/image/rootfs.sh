#!/usr/bin/env bash
# Assembles the root filesystem of the healthgate runtime image: the binary, the shared
# libraries it loads (its `ldd` closure, the dynamic loader included), the CA bundle and
# OpenSSL's configuration, passwd/group entries for uid/gid 65532, an nsswitch.conf, an
# empty /tmp, and the Debian copyright file of every package a library comes from. No
# shell, no package manager, nothing else: the image is `FROM scratch` plus this tree.
#
#   scripts/image/rootfs.sh BINARY OUTDIR [LICENSE]
#
# The Dockerfile's build stage runs it on the binary it built; tests/packaging/
# dockerfile_check.sh runs it on build/healthgate and starts the result in a chroot.
set -euo pipefail

[[ $# -ge 2 ]] || { echo "usage: $0 BINARY OUTDIR [LICENSE]" >&2; exit 2; }
binary="$1"
out="$2"
license="${3:-}"
die() { printf 'rootfs: ERROR: %s\n' "$*" >&2; exit 1; }
[[ -x "$binary" ]] || die "$binary is not an executable file"
[[ ! -e "$out" || -z "$(ls -A "$out")" ]] || die "$out exists and is not empty"

mkdir -p "$out"
install -D -m 0755 "$binary" "$out/usr/local/bin/healthgate"

# The closure: every `soname => /path` line and the loader's own `/path (0x...)` line.
# A library ldd cannot find makes the image unusable: fail here, not at run time.
ldd_out="$(ldd "$binary")" || die "ldd $binary failed (is it a dynamically linked executable?)"
if grep -q 'not found' <<<"$ldd_out"; then
  die "$binary needs libraries this system does not have: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t\n' ' ')"
fi
mapfile -t libs < <(sed -nE -e 's/^[[:space:]]*[^[:space:]]+ => (\/[^[:space:]]+) \(0x[0-9a-f]+\)$/\1/p' \
                          -e 's/^[[:space:]]*(\/[^[:space:]]+) \(0x[0-9a-f]+\)$/\1/p' <<<"$ldd_out")
[[ ${#libs[@]} -gt 0 ]] || die "ldd lists no library for $binary (a static binary needs no closure; this script expects a dynamic one)"
for lib in "${libs[@]}"; do
  # The file itself under the name the loader looks for (soname symlinks resolved).
  install -D -m 0644 "$(realpath -e "$lib")" "$out$lib"
done
chmod 0755 "$out"/lib*/ld-linux*.so* 2>/dev/null || true

# CA bundle (libcurl's and OpenSSL's default file) and OpenSSL's configuration with
# Debian's defaults (security level), under the paths those libraries look for.
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$out/etc/ssl/certs/ca-certificates.crt"
install -D -m 0644 "$(realpath -e /etc/ssl/openssl.cnf)" "$out/etc/ssl/openssl.cnf"
mkdir -p "$out/usr/lib/ssl"
ln -s /etc/ssl/certs "$out/usr/lib/ssl/certs"
ln -s /etc/ssl/certs/ca-certificates.crt "$out/usr/lib/ssl/cert.pem"
ln -s /etc/ssl/openssl.cnf "$out/usr/lib/ssl/openssl.cnf"

# The user the image runs as (USER 65532:65532), and root for tools that expect it.
mkdir -p "$out/etc"
cat >"$out/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
healthgate:x:65532:65532:healthgate:/nonexistent:/sbin/nologin
EOF
cat >"$out/etc/group" <<'EOF'
root:x:0:
healthgate:x:65532:
EOF
# /etc/hosts first (Kubernetes writes it), then DNS (glibc has both built in).
cat >"$out/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
chmod 0644 "$out/etc/passwd" "$out/etc/group" "$out/etc/nsswitch.conf"
install -d -m 1777 "$out/tmp"

# Licenses: healthgate's own, and the Debian copyright file of each library's package.
if [[ -n "$license" ]]; then
  install -D -m 0644 "$license" "$out/usr/share/doc/healthgate/LICENSE"
fi
if command -v dpkg-query >/dev/null; then
  # dpkg records a path as its package ships it: on merged-/usr systems that may be
  # the /lib or the /usr/lib spelling of what ldd printed, or of the file it points to.
  mapfile -t paths < <(for lib in "${libs[@]}"; do
    for p in "$lib" "$(realpath -e "$lib")"; do
      printf '%s\n' "$p"
      case $p in /usr/*) printf '%s\n' "${p#/usr}" ;; *) printf '/usr%s\n' "$p" ;; esac
    done
  done | sort -u)
  mapfile -t pkgs < <(dpkg-query -S "${paths[@]}" 2>/dev/null | grep -v '^diversion' |
    sed -E 's/: \/.*//; s/, /\n/g' | sed 's/:.*//' | sort -u)
  for p in "${pkgs[@]}"; do
    f="/usr/share/doc/$p/copyright"
    [[ -f "$f" ]] && install -D -m 0644 "$(realpath -e "$f")" "$out/usr/share/doc/$p/copyright"
  done
fi
exit 0
