# Sourced by .ci/run: makes Redis reachable on 127.0.0.1:6379 (starting or
# installing it when needed) and exports LATCHKEY_TEST_REDIS_URL for the
# shared rate-limiter tests. Each test uses its own key prefix under
# latchkey:rl:test:, so database 0 of a shared Redis is fine.
redis_ready() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_ready; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing Redis (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 40); do redis_ready && break; sleep 0.25; done
fi
redis_ready || { echo "Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }
export LATCHKEY_TEST_REDIS_URL="redis://127.0.0.1:6379/0"
echo "== Redis ready: ${LATCHKEY_TEST_REDIS_URL}"
