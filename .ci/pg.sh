# shellcheck shell=bash
# .ci/pg.sh: make PostgreSQL available to the tests and export
# LATCHKEY_TEST_POSTGRES_URL. Source it (.ci/run does: `source .ci/pg.sh`);
# run on its own (`bash .ci/pg.sh`) it prints the export line instead.
#
# On this machine kind (go-svc) a server runs on 127.0.0.1:5432 with trust
# authentication. This script:
#   1. keeps a LATCHKEY_TEST_POSTGRES_URL that is already set (a developer's
#      own server) and does nothing else;
#   2. otherwise, if `pg_isready -h 127.0.0.1 -p 5432` fails, starts the
#      cluster (pg_ctlcluster --skip-systemctl-redirect <version> main start),
#      first installing Debian's postgresql (and allowing trust on the
#      loopback, as this machine kind is set up) if there is none;
#   3. waits (at most 60s) until the server accepts connections;
#   4. drops the databases of earlier runs whose process is gone, creates
#      latchkey_ci_<pid> and exports its URL.
# It prints one line saying what it did, and more only on failure. It
# changes no shell option of the shell that sources it.

_lk_pg_log=$(mktemp -t latchkey-pg.XXXXXX)

_lk_pg_fail() {
	echo "pg.sh: $*" >&2
	if [ -s "$_lk_pg_log" ]; then
		echo "pg.sh: last lines of $_lk_pg_log:" >&2
		tail -n 20 "$_lk_pg_log" >&2
	fi
	return 1
}

_lk_psql() {
	psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtX "$@"
}

# _lk_pg_install installs Debian's PostgreSQL and lets the loopback in with
# trust authentication, as on a new go-svc machine.
_lk_pg_install() {
	{
		apt-get update &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
	} >>"$_lk_pg_log" 2>&1 || return 1
	local hba
	for hba in /etc/postgresql/*/main/pg_hba.conf; do
		[ -f "$hba" ] || continue
		if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
			printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' | cat - "$hba" >"$hba.new" &&
				mv "$hba.new" "$hba" && chown postgres:postgres "$hba" 2>/dev/null
		fi
	done
}

_lk_pg_main() {
	local did=()
	if [ -n "${LATCHKEY_TEST_POSTGRES_URL:-}" ]; then
		echo "pg.sh: using the LATCHKEY_TEST_POSTGRES_URL already set"
		return 0
	fi

	if ! pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
		if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
			_lk_pg_install || { _lk_pg_fail "could not install postgresql"; return 1; }
			did+=("installed postgresql")
		fi
		local version
		version=$(ls /etc/postgresql | sort -V | tail -n 1)
		pg_ctlcluster --skip-systemctl-redirect "$version" main start >>"$_lk_pg_log" 2>&1 ||
			pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1 ||
			{ _lk_pg_fail "could not start PostgreSQL $version (cluster main)"; return 1; }
		did+=("started PostgreSQL $version")
	fi

	local i
	for ((i = 0; i < 120; i++)); do
		pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && break
		sleep 0.5
	done
	pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1 ||
		{ _lk_pg_fail "PostgreSQL on 127.0.0.1:5432 not ready after 60s"; return 1; }

	# Earlier runs' databases, if their process is gone (a run that was
	# killed never dropped its own).
	local old pid
	for old in $(_lk_psql -c "SELECT datname FROM pg_database WHERE datname ~ '^latchkey_ci_[0-9]+$'" 2>>"$_lk_pg_log"); do
		pid=${old#latchkey_ci_}
		if ! kill -0 "$pid" 2>/dev/null; then
			_lk_psql -c "DROP DATABASE IF EXISTS \"$old\" WITH (FORCE)" >>"$_lk_pg_log" 2>&1 && did+=("dropped $old")
		fi
	done

	local db="latchkey_ci_$$"
	if [ -z "$(_lk_psql -c "SELECT 1 FROM pg_database WHERE datname = '$db'" 2>>"$_lk_pg_log")" ]; then
		_lk_psql -c "CREATE DATABASE \"$db\"" >>"$_lk_pg_log" 2>&1 ||
			{ _lk_pg_fail "could not create database $db"; return 1; }
	fi
	did+=("created database $db")
	export LATCHKEY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"

	local summary="" d
	for d in "${did[@]}"; do summary+="$d; "; done
	echo "pg.sh: ${summary}LATCHKEY_TEST_POSTGRES_URL=$LATCHKEY_TEST_POSTGRES_URL"
}

if _lk_pg_main; then
	rm -f "$_lk_pg_log"
	unset -f _lk_pg_main _lk_pg_install _lk_pg_fail _lk_psql
	unset _lk_pg_log
	# Run on its own rather than sourced: print what a caller would eval.
	if [ "${BASH_SOURCE[0]}" = "$0" ]; then
		echo "export LATCHKEY_TEST_POSTGRES_URL='$LATCHKEY_TEST_POSTGRES_URL'"
	fi
else
	unset -f _lk_pg_main _lk_pg_install _lk_pg_fail _lk_psql
	unset _lk_pg_log
	# shellcheck disable=SC2317 # exit is reached when run rather than sourced
	return 1 2>/dev/null || exit 1
fi
