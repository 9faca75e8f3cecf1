# Sourced by .ci/run: makes PostgreSQL reachable on 127.0.0.1:5432 (starting
# or installing it when needed), creates a fresh database for this run and
# exports LATCHKEY_TEST_POSTGRES_URL.
pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
if ! command -v pg_isready >/dev/null 2>&1; then
  echo "== installing PostgreSQL (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! pg_ready; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
fi
pg_ready || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
LATCHKEY_CI_DB="latchkey_ci_$(date +%s)_$$"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE ${LATCHKEY_CI_DB}" >/dev/null
export LATCHKEY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/${LATCHKEY_CI_DB}?sslmode=disable"
echo "== PostgreSQL ready: fresh database ${LATCHKEY_CI_DB}"
