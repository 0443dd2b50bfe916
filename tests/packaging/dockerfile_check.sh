#!/usr/bin/env bash
# Checks of the container image definition, without a container engine
# (tests/e2e/image_test.sh builds and runs the image itself).
#
# The runtime stage is `FROM scratch` plus the tree scripts/image/rootfs.sh assembles
# in the build stage: the binary and its `ldd` closure. This check runs that script on
# build/healthgate, checks that every library `ldd` lists (and the dynamic loader) is in
# the tree, and starts the binary in a chroot of the tree, so a missing library fails
# here. The build stage must build with the packages scripts/setup.sh installs for CI
# and copy every source directory CMakeLists.txt adds. Plus the image's contract:
# pinned base image, numeric non-root user, the binary as entrypoint, no remote ADD,
# no tests built, the version of CMake.
#
#   tests/packaging/dockerfile_check.sh
#   DOCKERFILE=path HEALTHGATE_BINARY=build/healthgate tests/packaging/dockerfile_check.sh
#
# Prints one PASS/FAIL line per check; exits non-zero when any check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=../e2e/lib.sh
source "$root/tests/e2e/lib.sh"

dockerfile=${DOCKERFILE:-$root/Dockerfile}
context=${DOCKER_CONTEXT:-$root}   # `docker build .` from the repository root
dockerignore=${DOCKERIGNORE:-$context/.dockerignore}
setup=${HEALTHGATE_SETUP:-$root/scripts/setup.sh}
binary=${HEALTHGATE_BINARY:-$root/build/healthgate}

rootfs_script=scripts/image/rootfs.sh
# Build packages of scripts/setup.sh that only the test suite needs.
test_only_packages=(libgtest-dev libgmock-dev googletest libclang-rt-14-dev)

[[ -f "$dockerfile" ]] || fatal "dockerfile: $dockerfile does not exist"
[[ -f "$setup" ]] || fatal "setup: $setup does not exist"
[[ -x "$binary" ]] || fatal "binary: $binary is missing (build it: cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build healthgate)"

has() {  # word, list...: 0 when word is one of the list
  local w=$1 x; shift
  for x in "$@"; do [[ "$x" == "$w" ]] && return 0; done
  return 1
}

# --- Dockerfile parsing -------------------------------------------------------
# One logical instruction per line: continuation lines joined, comment lines
# (which Docker drops even inside a continuation) and blank lines removed.
logical_lines() {
  awk '
    /^[[:space:]]*#/ || /^[[:space:]]*$/ { next }
    { line = line $0 }
    /\\[[:space:]]*$/ { sub(/\\[[:space:]]*$/, "", line); line = line " "; next }
    { gsub(/[[:space:]]+/, " ", line); sub(/^ /, "", line); print line; line = "" }
    END { if (line != "") print line }
  ' "$1"
}

declare -A global_args=()   # ARGs before the first FROM: name -> default
stage_images=()             # per stage: the base image, ARGs substituted
stage_names=()              # per stage: its AS name, or its index
instr_stage=()              # per instruction: its stage index
instr_keyword=()            # per instruction: upper-case keyword
instr_text=()               # per instruction: the rest of the line
stage=-1
while IFS= read -r line; do
  keyword=${line%% *}; keyword=${keyword^^}
  rest=""; [[ "$line" == *" "* ]] && rest=${line#* }
  if [[ $keyword == ARG && $stage -lt 0 ]]; then
    name=${rest%%=*}; value=""; [[ "$rest" == *=* ]] && value=${rest#*=}
    global_args[$name]=${value//\"/}
    continue
  fi
  if [[ $keyword == FROM ]]; then
    stage=$((stage + 1))
    read -r -a words <<<"$rest"
    image=""; as="#$stage"
    for ((i = 0; i < ${#words[@]}; i++)); do
      case ${words[i]} in
        --*) ;;
        [Aa][Ss]) as=${words[i + 1]:-$as}; break ;;
        *) [[ -z $image ]] && image=${words[i]} ;;
      esac
    done
    for name in "${!global_args[@]}"; do
      image=${image//\$\{$name\}/${global_args[$name]}}
      image=${image//\$$name/${global_args[$name]}}
    done
    stage_images[stage]=$image; stage_names[stage]=$as
  fi
  instr_stage+=("$stage"); instr_keyword+=("$keyword"); instr_text+=("$rest")
done < <(logical_lines "$dockerfile")

if [[ $stage -lt 0 ]]; then fatal "dockerfile: $dockerfile has no FROM"; fi
runtime_stage=$stage
# The build stage is the one the runtime stage copies the binary from.
build_stage=""
for i in "${!instr_keyword[@]}"; do
  [[ ${instr_stage[i]} == "$runtime_stage" && ${instr_keyword[i]} == COPY ]] || continue
  if [[ ${instr_text[i]} =~ --from=([^[:space:]]+) ]]; then
    for s in "${!stage_names[@]}"; do
      [[ ${stage_names[s]} == "${BASH_REMATCH[1]}" ]] && build_stage=$s
    done
  fi
done
[[ -n $build_stage ]] || fatal "dockerfile: the last stage copies nothing --from an earlier stage, so there is no build stage"

instructions() {  # stage, keyword: the text of each such instruction, one a line
  local i
  for i in "${!instr_keyword[@]}"; do
    [[ ${instr_stage[i]} == "$1" && ${instr_keyword[i]} == "$2" ]] && printf '%s\n' "${instr_text[i]}"
  done
  return 0
}

# Package names that `apt-get install` commands in the stage's RUN lines install.
apt_packages() {  # stage
  instructions "$1" RUN | sed -e 's/&&/\n/g' -e 's/||/\n/g' -e 's/[;|]/\n/g' | awk '
    {
      apt = 0; inst = 0
      for (i = 1; i <= NF; i++) {
        if ($i ~ /(^|\/)apt(-get)?$/) { apt = 1; continue }
        if (apt && !inst && $i == "install") { inst = 1; continue }
        if (inst && $i !~ /^-/) { sub(/=.*/, "", $i); print $i }
      }
    }' | sort -u
}

mapfile -t build_packages < <(apt_packages "$build_stage")

# --- Base images ----------------------------------------------------------------
bad=""
for s in "${!stage_images[@]}"; do
  image=${stage_images[s]}
  # an earlier stage used as a base needs no tag
  has "$image" "${stage_names[@]:0:s}" && continue
  [[ $image == scratch ]] && continue
  if [[ $image == *'$'* ]]; then bad+="stage ${stage_names[s]}: '$image' has an unresolved argument"$'\n'
  elif [[ $image == *@sha256:* ]]; then :
  elif [[ ${image##*/} != *:* ]]; then bad+="stage ${stage_names[s]}: '$image' has no tag (means latest)"$'\n'
  elif [[ ${image##*:} == latest ]]; then bad+="stage ${stage_names[s]}: '$image' uses the latest tag"$'\n'
  fi
done
images="${stage_images[*]}"
if [[ -z $bad ]]; then pass "base images are pinned by tag or digest ($images)"
else fail "base images are pinned by tag or digest ($images)" "${bad%$'\n'}"; fi

# The library check below compares package names of this host with the image's.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
bad=""
for s in "$build_stage"; do
  tag=${stage_images[s]##*:}
  [[ ${tag%%-*} == "$codename" ]] || bad+="stage ${stage_names[s]} is '${stage_images[s]}', this host is Debian '$codename'"$'\n'
done
if [[ -z $bad ]]; then pass "build stage uses this host's Debian release ($codename)"
else fail "build stage uses this host's Debian release ($codename)" "${bad%$'\n'}"; fi

# --- Image contract -------------------------------------------------------------
bad=""
while IFS= read -r src; do
  bad+="ADD $src"$'\n'
done < <(for s in "${!stage_names[@]}"; do instructions "$s" ADD; done |
  grep -Ei '(https?|ftp)://|git@|\.git([[:space:]]|$)' || true)
if [[ -z $bad ]]; then pass "no ADD of a remote URL"
else fail "no ADD of a remote URL (use RUN with a checksum, or COPY)" "${bad%$'\n'}"; fi

user=$(instructions "$runtime_stage" USER | tail -n 1)
if [[ $user =~ ^([0-9]+)(:([0-9]+))?$ ]] && [[ ${BASH_REMATCH[1]} -ne 0 ]] &&
   [[ -z ${BASH_REMATCH[3]} || ${BASH_REMATCH[3]} -ne 0 ]]; then
  pass "runtime stage runs as a numeric non-root user (USER $user)"
else
  fail "runtime stage runs as a numeric non-root user (USER '${user:-<none>}'; Kubernetes runAsNonRoot needs a numeric uid other than 0)"
fi

entrypoint=$(instructions "$runtime_stage" ENTRYPOINT | tail -n 1)
copied=$(instructions "$runtime_stage" COPY | grep -E -- "--from=${stage_names[build_stage]} /rootfs/? /$" || true)
if [[ ${stage_images[runtime_stage]} == scratch && $entrypoint =~ ^\[\ *\"/usr/local/bin/healthgate\"\ *\]$ && -n $copied ]]; then
  pass "runtime stage is FROM scratch plus the build stage's /rootfs; entrypoint is the binary, exec form (ENTRYPOINT $entrypoint)"
else
  fail "runtime stage is FROM scratch plus /rootfs, entrypoint the binary" \
    "FROM '${stage_images[runtime_stage]}' (want scratch); ENTRYPOINT '${entrypoint:-<none>}' (want [\"/usr/local/bin/healthgate\"]); COPY --from=${stage_names[build_stage]} /rootfs/ /: '${copied:-<none>}'"
fi

# The build commands, one shell command a line.
build_commands=$(instructions "$build_stage" RUN | sed -e 's/&&/\n/g' -e 's/;/\n/g' | sed -e 's/^ *//' -e 's/ *$//')
configure=$(grep -E '^cmake .*-S ' <<<"$build_commands" || true)
bad=""
[[ -n $configure ]] || bad+="no cmake configure command (cmake -S . -B ...)"$'\n'
[[ -z $configure || $configure == *-DCMAKE_BUILD_TYPE=Release* ]] || bad+="configure without -DCMAKE_BUILD_TYPE=Release: $configure"$'\n'
[[ -z $configure || $configure == *-DHEALTHGATE_BUILD_TESTS=OFF* ]] || bad+="configure without -DHEALTHGATE_BUILD_TESTS=OFF (the tests would be configured): $configure"$'\n'
grep -qE -- '^cmake --build .*--target healthgate( |$)|^ninja .*[ ]healthgate( |$)' <<<"$build_commands" ||
  bad+="no build of the healthgate target alone (cmake --build DIR --target healthgate)"$'\n'
grep -qE '^strip ' <<<"$build_commands" || bad+="the binary is not stripped"$'\n'
grep -qE "^$rootfs_script [^ ]*healthgate /rootfs( |$)" <<<"$build_commands" ||
  bad+="the build stage does not assemble /rootfs with $rootfs_script BINARY /rootfs"$'\n'
if [[ -z $bad ]]; then
  pass "build stage builds only the healthgate target, Release, without tests, stripped, into /rootfs"
else
  fail "build stage builds only the healthgate target, Release, without tests, stripped" "${bad%$'\n'}"
fi

project_version=$(sed -nE 's/^project\(healthgate VERSION ([0-9][0-9.]*).*/\1/p' "$root/CMakeLists.txt")
version_arg=$(instructions "$runtime_stage" ARG | sed -nE 's/^VERSION=("?)([^"]*)\1$/\2/p' | tail -n 1)
labels=$(instructions "$runtime_stage" LABEL)
if [[ -n $project_version && $version_arg == "$project_version" && $labels == *'org.opencontainers.image.version="${VERSION}"'* ]]; then
  pass "image version label comes from ARG VERSION, default $version_arg as in CMakeLists.txt"
else
  fail "image version label comes from ARG VERSION, default as in CMakeLists.txt" \
    "ARG VERSION default '${version_arg:-<none>}', CMake project version '${project_version:-<none>}'"
fi

# Every COPY source of the build stage exists and is in the build context: the
# .dockerignore lists what the context holds (`*`, then `!path` per source).
bad=""
while IFS= read -r copy; do
  read -r -a words <<<"$copy"
  srcs=()
  for w in "${words[@]}"; do [[ $w == --* ]] || srcs+=("$w"); done
  unset 'srcs[${#srcs[@]}-1]'  # the destination
  for src in "${srcs[@]}"; do
    src=${src#./}; src=${src%/}
    [[ -e "$context/$src" ]] || { bad+="COPY $src: no such file in $context"$'\n'; continue; }
    if [[ -f $dockerignore ]] && grep -qx '\*' "$dockerignore" && ! grep -qxE "!/?$src/?" "$dockerignore"; then
      bad+="COPY $src: excluded by $(basename "$dockerignore") (add !$src)"$'\n'
    fi
  done
done < <(instructions "$build_stage" COPY | grep -v -- '--from=')
copied_srcs=" $(instructions "$build_stage" COPY | grep -v -- '--from=' | tr -s ' ' '\n' | sed 's|^\./||; s|/$||' | tr '\n' ' ') "
while IFS= read -r dir; do
  [[ $copied_srcs == *" $dir "* ]] || bad+="CMakeLists.txt adds $dir, which the build stage does not COPY"$'\n'
done < <(sed -nE 's/^add_subdirectory\(([^ )]+)\).*/\1/p' "$root/CMakeLists.txt" | grep -vx tests)
if [[ -z $bad ]]; then pass "build stage copies sources that exist, are in the build context, and cover every add_subdirectory"
else fail "build stage copies sources that exist, are in the build context, and cover every add_subdirectory" "${bad%$'\n'}"; fi

# --- Build packages against scripts/setup.sh --------------------------------------
mapfile -t setup_packages < <(sed -n '/^packages=(/,/^)/p' "$setup" | sed -e '1d' -e '$d' -e 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
bad=""
for p in "${build_packages[@]}"; do
  has "$p" "${setup_packages[@]}" || bad+="$p is installed by the build stage but not by scripts/setup.sh"$'\n'
done
for p in "${build_packages[@]}"; do
  has "$p" "${test_only_packages[@]}" && bad+="$p is needed only by the tests, which the image does not build"$'\n'
done
for p in "${setup_packages[@]}"; do
  [[ $p == *-dev ]] || continue
  has "$p" "${test_only_packages[@]}" && continue
  has "$p" "${build_packages[@]}" || bad+="$p is a build package of scripts/setup.sh that the build stage does not install"$'\n'
done
if [[ ${#build_packages[@]} -eq 0 ]]; then
  fail "build stage installs the build packages of scripts/setup.sh" "no apt-get install found in stage ${stage_names[build_stage]}"
elif [[ -z $bad ]]; then
  pass "build stage installs the build packages of scripts/setup.sh (${#build_packages[@]}: ${build_packages[*]})"
else
  fail "build stage installs the build packages of scripts/setup.sh" "${bad%$'\n'}"
fi

# --- The runtime root filesystem against the binary's shared libraries --------------------
tree="$(mktemp -d "${TMPDIR:-/tmp}/healthgate-rootfs-check.XXXXXX")"
trap 'rm -rf "$tree"' EXIT
if ! out="$("$root/$rootfs_script" "$binary" "$tree/root" "$root/LICENSE" 2>&1)"; then
  fatal "$rootfs_script $(basename "$binary") fails" "$out"
fi
declare -A lib_path=()
while IFS= read -r l; do
  if [[ $l =~ ^[[:space:]]*([^[:space:]]+)\ =\>\ (/[^[:space:]]+) ]]; then
    lib_path[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
  elif [[ $l =~ ^[[:space:]]*(/[^[:space:]]+)\ \( ]]; then
    lib_path[$(basename "${BASH_REMATCH[1]}")]=${BASH_REMATCH[1]}
  fi
done < <(ldd "$binary")
[[ ${#lib_path[@]} -gt 0 ]] || fatal "ldd: $binary loads no shared library (is it dynamically linked?)"
bad=""
for soname in $(printf '%s\n' "${!lib_path[@]}" | sort); do
  [[ -f "$tree/root${lib_path[$soname]}" ]] || bad+="$soname (${lib_path[$soname]}) is not in the image's root filesystem"$'\n'
done
interp=$(readelf -l "$binary" | sed -nE 's/.*Requesting program interpreter: ([^]]+)\]/\1/p')
[[ -n $interp && -x "$tree/root$interp" ]] || bad+="the dynamic loader ${interp:-<none>} is not in the root filesystem"$'\n'
if [[ -z $bad ]]; then pass "root filesystem holds all ${#lib_path[@]} shared libraries $(basename "$binary") loads and its loader $interp"
else fail "root filesystem holds every shared library $(basename "$binary") loads" "${bad%$'\n'}"; fi

# The proof: the binary starts inside the tree alone, as uid 65532 (a library that
# is missing there fails here even if this host has it).
chroot_cmd=(chroot --userspec=65532:65532 "$tree/root")
[[ "$(id -u)" -eq 0 ]] || chroot_cmd=(unshare --map-root-user chroot "$tree/root")
if out="$("${chroot_cmd[@]}" /usr/local/bin/healthgate --version 2>&1)" && [[ $out == *"$project_version"* ]]; then
  pass "the binary starts in a chroot of the root filesystem alone ($out)"
else
  fail "the binary starts in a chroot of the root filesystem alone" "$out"
fi
bad=""
for f in bin/sh usr/bin/sh bin/bash usr/bin/apt-get usr/bin/dpkg; do
  [[ -e "$tree/root/$f" || -L "$tree/root/$f" ]] && bad+="$f "
done
grep -q '^healthgate:x:65532:65532:' "$tree/root/etc/passwd" || bad+="(no passwd entry for 65532) "
[[ -f "$tree/root/etc/ssl/certs/ca-certificates.crt" ]] || bad+="(no CA bundle) "
if [[ -z $bad ]]; then pass "root filesystem: no shell or package manager; passwd entry for 65532 and the CA bundle present"
else fail "root filesystem: no shell or package manager, passwd entry, CA bundle" "$bad"; fi

finish
