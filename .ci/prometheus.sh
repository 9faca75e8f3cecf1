# shellcheck shell=bash
# .ci/prometheus.sh: make Debian's Prometheus available to the tests of
# deploy/prometheus (promtool check/test rules, and a real Prometheus that
# scrapes a real `latchkey serve`). Sourced by .ci/run.
#
# When promtool or prometheus is missing it runs
#   apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus
# and otherwise does nothing (idempotent). The package would start a
# prometheus service: where no policy-rc.d forbids service starts already,
# one is put in place for the install and removed after, so the only
# Prometheus that runs is the one each test starts and stops itself. It
# prints one line, and the installer's last lines only on failure. It changes
# no shell option of the shell that sources it.

_lk_prometheus_main() {
	local log policy=/usr/sbin/policy-rc.d added=""
	if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
		echo "prometheus.sh: $(prometheus --version 2>&1 | head -n 1) already installed"
		return 0
	fi
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
	fi
	log=$(mktemp -t latchkey-prometheus.XXXXXX)
	if ! {
		apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
	} >"$log" 2>&1; then
		[ -n "$added" ] && rm -f "$policy"
		echo "prometheus.sh: could not install prometheus; last lines of $log:" >&2
		tail -n 20 "$log" >&2
		return 1
	fi
	[ -n "$added" ] && rm -f "$policy"
	rm -f "$log"
	echo "prometheus.sh: installed $(prometheus --version 2>&1 | head -n 1)"
}

if _lk_prometheus_main; then
	unset -f _lk_prometheus_main
else
	unset -f _lk_prometheus_main
	# shellcheck disable=SC2317 # exit is reached when run rather than sourced
	return 1 2>/dev/null || exit 1
fi
