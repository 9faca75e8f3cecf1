package main

import (
	"net"
	"strings"
	"testing"
)

// `docker run -p 8080:8080 IMAGE` publishes HTTP_ADDR, and so would every
// load balancer or proxy put in front of it: /metrics (sign-in failures,
// refusals, hash saturation) must not be there. The image's environment
// gives /metrics a port of its own, which it does not expose (docker run -P
// publishes the exposed ports).
func TestImageMetricsOffTheAPIPort(t *testing.T) {
	c := Config("v0", "r", "2026-01-01T00:00:00Z", "NOASSERTION")
	env := map[string]string{}
	for _, e := range c.Env {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	addr, ok := env["METRICS_ADDR"]
	if !ok || addr == "" {
		t.Fatalf("image environment %q: no METRICS_ADDR, so /metrics is served on HTTP_ADDR %s, the published port", c.Env, env["HTTP_ADDR"])
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, hport, _ := net.SplitHostPort(env["HTTP_ADDR"]); hport == port {
		t.Errorf("METRICS_ADDR %s shares HTTP_ADDR's port", addr)
	}
	if _, exposed := c.ExposedPorts[port+"/tcp"]; exposed {
		t.Errorf("the metrics port %s is exposed: docker run -P would publish it", port)
	}
}
