# shellcheck shell=bash
# .ci/mailpit.sh: build the real SMTP server the mail tests send to (Mailpit,
# github.com/axllent/mailpit, internal/mailtest) once, into the user's cache
# directory where the tests look for it, and export LATCHKEY_TEST_MAILPIT.
# Sourced by .ci/run. It is `go install` of a pinned release into a directory
# outside the module: Mailpit is not a dependency of Latchkey's go.mod.
# Idempotent (an existing binary is kept); prints one line, and the build's
# output only on failure. It changes no shell option of the shell that
# sources it.

_lk_mailpit_main() {
	local version=v1.33.1 dir log
	dir="${XDG_CACHE_HOME:-$HOME/.cache}/latchkey-test/mailpit-$version"
	if [ ! -x "$dir/mailpit" ]; then
		mkdir -p "$dir" || return 1
		log=$(mktemp -t latchkey-mailpit.XXXXXX)
		if ! (cd "$dir" && GOBIN="$dir" GOFLAGS=-buildvcs=false GOWORK=off go install "github.com/axllent/mailpit@$version") >"$log" 2>&1; then
			echo "mailpit.sh: could not build Mailpit $version; last lines of $log:" >&2
			tail -n 20 "$log" >&2
			return 1
		fi
		rm -f "$log"
	fi
	export LATCHKEY_TEST_MAILPIT="$dir/mailpit"
	echo "mailpit.sh: Mailpit $version at $LATCHKEY_TEST_MAILPIT"
}
if _lk_mailpit_main; then
	unset -f _lk_mailpit_main
else
	unset -f _lk_mailpit_main
	# shellcheck disable=SC2317 # exit is reached when run rather than sourced
	return 1 2>/dev/null || exit 1
fi
