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
    for attempt in 1 2; do
      log=$(mktemp)
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
        rm -f "$log"
        break
      fi
      # Go before 1.27 can end a -fuzztime run with a bare "context deadline
      # exceeded" failure when a loaded machine keeps a worker busy past the
      # deadline (https://go.dev/issue/75804): no input is written and
      # nothing is wrong with the target. Such a run is tried once more; a
      # real finding always writes its input and fails at once.
      if ! grep -q 'Failing input written to' "$log" && grep -q 'context deadline exceeded' "$log" &&
        [ "$(grep -c -- '--- FAIL\|panic:\|_test.go:[0-9]' "$log")" -le 1 ]; then
        rm -f "$log"
        if [ "$attempt" = 1 ]; then
          echo "== fuzz $pkg $target: the fuzzing engine's deadline race (go.dev/issue/75804), no input found; once more"
          continue
        fi
        echo "== fuzz $pkg $target: the deadline race again, no input found; not a finding"
        break
      fi
      rm -f "$log"
      echo "!! $pkg $target failed; the crashing input is in $pkg/testdata/fuzz/$target/" >&2
      failed=1
      break
    done
  done
done
exit "$failed"
