#!/usr/bin/env bash
# Style and static checks of the product and test sources:
#   clang-format (.clang-format): every C++ file is formatted; a diff fails.
#   clang-tidy (.clang-tidy, a small agreed set): every product source, with the
#   compile commands of the build tree given as $1 (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=${JOBS:-$(nproc)}

mapfile -t files < <(git ls-files '*.h' '*.cc')
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "lint: clang-format: the files above are not formatted (run: clang-format -i FILE)" >&2
  exit 1
fi
echo "lint: clang-format: ${#files[@]} files formatted"

[ -f "$build/compile_commands.json" ] || { echo "lint: no $build/compile_commands.json" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# GCC-only warning flags in the compile commands are unknown to clang.
if ! run-clang-tidy -p "$build" -j "$jobs" -quiet -extra-arg=-Wno-unknown-warning-option \
    "$(pwd)/(common|probes|operator)/.*\.cc$" >"$log" 2>&1 ||
    grep -qE '(warning|error): ' "$log"; then
  grep -E -A3 '(warning|error): ' "$log" >&2 || tail -20 "$log" >&2
  echo "lint: clang-tidy found the problems above" >&2
  exit 1
fi
echo "lint: clang-tidy: $(grep -c '^clang-tidy' "$log") sources clean"
