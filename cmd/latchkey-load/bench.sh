#!/usr/bin/env bash
# bench.sh runs one measurement of docs/performance.md against a real
# `latchkey serve` process (so the RSS is the server's alone), then stops it.
#
#   cmd/latchkey-load/bench.sh sqlite|postgres MODE [latchkey-load flags...]
#
# Examples:
#   cmd/latchkey-load/bench.sh sqlite ceiling
#   cmd/latchkey-load/bench.sh sqlite refresh -sessions 10000 -seed-sessions
#   cmd/latchkey-load/bench.sh postgres refresh -sessions 10000 -seed-sessions
#
# The server logs at the default level (info: one access-log line and one
# audit line per refresh) to a file, as in production. A fresh database is
# created for every run.
set -euo pipefail
backend=$1 mode=$2
shift 2
cd "$(dirname "$0")/../.."
out=${BENCH_DIR:-/tmp/latchkey-bench}
mkdir -p "$out"
go build -o "$out/latchkey" ./cmd/latchkey
go build -o "$out/latchkey-load" ./cmd/latchkey-load

case $backend in
sqlite)
	rm -f "$out"/bench.db "$out"/bench.db-wal "$out"/bench.db-shm
	db="sqlite://$out/bench.db"
	;;
postgres)
	name=latchkey_bench_$$
	psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $name" >/dev/null
	trap 'psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null' EXIT
	# 32 connections: one per worker, so no request waits for a connection.
	db="postgres://postgres@127.0.0.1:5432/$name?sslmode=disable"
	export DATABASE_MAX_CONNS=${DATABASE_MAX_CONNS:-32}
	;;
*)
	echo "usage: $0 sqlite|postgres MODE [flags]" >&2
	exit 2
	;;
esac

port=${PORT:-18080}
DATABASE_URL=$db HTTP_ADDR=127.0.0.1:$port RATE_LIMITS=off "$out/latchkey" serve >"$out/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; '"$(trap -p EXIT | sed "s/^trap -- '//; s/' EXIT$//")" EXIT
DATABASE_URL=$db "$out/latchkey-load" -url "http://127.0.0.1:$port" -server-pid "$pid" -mode "$mode" "$@"
