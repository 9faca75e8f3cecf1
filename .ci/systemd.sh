# Sourced by .ci/run: systemd-analyze for deploy/'s checks of the systemd
# units (verify, the offline security score, the syscall filter's groups).
# Installs Debian's systemd package if it is missing (no systemd is started).
# Idempotent; prints one line.
if ! command -v systemd-analyze >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
echo "== $(systemd-analyze --version | head -1)"
