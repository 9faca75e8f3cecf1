package deploy

import (
	"net"
	"net/netip"
	"testing"
)

// /metrics (sign-in failures, refusals, hash saturation: what a credential
// stuffer would like to watch) must not be reachable through the reverse
// proxy that fronts the systemd service. The proxy forwards HTTP_ADDR, so
// the unit as shipped, with the example environment file, puts /metrics on
// a loopback METRICS_ADDR of its own (the API listener then answers 404).
func TestSystemdMetricsOffTheProxiedListener(t *testing.T) {
	u := readUnit(t, "latchkey.service")
	env := u.env(t)
	file, _ := readEnvFile(t, "latchkey.env.example")
	for k, v := range file {
		env[k] = v
	}
	env["REFRESH_TOKEN_SECRET"] = secret()
	cfg := load(t, "latchkey.service", env)
	if cfg.MetricsAddr == "" {
		t.Fatalf("latchkey.service: no METRICS_ADDR: /metrics is served on HTTP_ADDR (%s), which the reverse proxy forwards", cfg.HTTPAddr)
	}
	host, port, err := net.SplitHostPort(cfg.MetricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		t.Errorf("METRICS_ADDR=%s: want a loopback address (only a local scraper or a tunnel reaches it)", cfg.MetricsAddr)
	}
	if _, hport, _ := net.SplitHostPort(cfg.HTTPAddr); hport == port {
		t.Errorf("METRICS_ADDR=%s shares HTTP_ADDR's port %s", cfg.MetricsAddr, hport)
	}
}
