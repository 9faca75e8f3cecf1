#!/usr/bin/env bash
# Runs every Go fuzz target of the module for FUZZTIME each (default 10s).
# `go test ./...` already replays each target's seed corpus
# (testdata/fuzz/<Target>/); this explores beyond it. A failure leaves the
# crashing input in testdata/fuzz/<Target>/ of its package: commit it as a
# regression seed together with the fix.
#
#   FUZZTIME=30s bash .ci/fuzz.sh            # every target
#   FUZZTIME=1m bash .ci/fuzz.sh ./token     # the targets of some packages
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  # Packages with a func Fuzz… in a _test.go file.
  mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
fi
failed=0
for pkg in "${pkgs[@]}"; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "== fuzz $pkg $target for $fuzztime"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
      echo "!! $pkg $target failed; the crashing input is in $pkg/testdata/fuzz/$target/" >&2
      failed=1
    fi
  done
done
exit "$failed"
