# shellcheck shell=bash
# .ci/chromium.sh: make Debian's Chromium available to the browser tests
# (web/browser_test.go and e2e/aurelia_test.go drive /usr/bin/chromium with
# chromedp). Source it (`source .ci/chromium.sh`) or run it
# (`bash .ci/chromium.sh`).
#
# On this machine kind (go-svc) Chromium is not installed until the project
# installs it: when /usr/bin/chromium is missing this script runs
#   apt-get update -qq && apt-get install -y -qq chromium chromium-driver
# and otherwise does nothing (idempotent). It prints one line saying what it
# did, and the installer's last lines only on failure. It changes no shell
# option of the shell that sources it.

_lk_chromium_main() {
	local log
	if [ -x /usr/bin/chromium ]; then
		echo "chromium.sh: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
		return 0
	fi
	log=$(mktemp -t latchkey-chromium.XXXXXX)
	if ! {
		apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
	} >"$log" 2>&1; then
		echo "chromium.sh: could not install chromium and chromium-driver; last lines of $log:" >&2
		tail -n 20 "$log" >&2
		return 1
	fi
	rm -f "$log"
	echo "chromium.sh: installed $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium (version unknown)')"
}

if _lk_chromium_main; then
	unset -f _lk_chromium_main
else
	unset -f _lk_chromium_main
	# shellcheck disable=SC2317 # exit is reached when run rather than sourced
	return 1 2>/dev/null || exit 1
fi
