package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"text/tabwriter"
	"time"

	// CA roots for outbound TLS (PostgreSQL with sslmode=verify-full, Redis
	// over rediss://, pushes to SSF receivers over HTTPS, whose client leaves
	// RootCAs unset) where the system has none, as in the container image,
	// which holds nothing but this binary: Mozilla's set, used only when the
	// system's cannot be loaded.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/latchkey-dev/latchkey/config"
)

// Stamped by the image builds, whose source has no .git for Go's own VCS
// stamping: go build -ldflags "-X main.version=v1.2.0 -X main.revision=<sha>
// -X main.revisionTime=<RFC 3339> -X main.modified=false". Empty: read from
// the build info.
var version, revision, revisionTime, modified string

// buildInfo is what `latchkey version` prints.
type buildInfo struct {
	Version, Revision, Time, Modified, Go, Platform string
	CARoots                                         int
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Revision: "unknown", Time: "unknown", Modified: "unknown",
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value
			}
		}
	}
	if version != "" {
		b.Version = version
	}
	if revision != "" {
		b.Revision = revision
	}
	if modified != "" {
		b.Modified = modified
	}
	if revisionTime != "" {
		b.Time = revisionTime
	}
	if pool, err := x509.SystemCertPool(); err == nil {
		// Counting only. (Where the platform verifies with its own store,
		// macOS and Windows, the count is 0.)
		b.CARoots = len(pool.Subjects())
	}
	return b
}

type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	b := readBuildInfo()
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "version\t%s\n", b.Version)
	fmt.Fprintf(w, "revision\t%s\n", b.Revision)
	fmt.Fprintf(w, "time\t%s\n", b.Time)
	fmt.Fprintf(w, "modified\t%s\n", b.Modified)
	fmt.Fprintf(w, "go\t%s\n", b.Go)
	fmt.Fprintf(w, "platform\t%s\n", b.Platform)
	fmt.Fprintf(w, "ca-roots\t%d\n", b.CARoots)
	return w.Flush()
}

type healthcheckCmd struct {
	Path    string        `default:"/readyz" help:"Path to ask: /readyz (the database answers and the server is not stopping) or /healthz (the process serves)."`
	Timeout time.Duration `default:"3s" help:"How long to wait for the answer."`
}

// Run asks the server on HTTP_ADDR, from inside its own host or container:
// exit 0 on a 200, 1 otherwise. It is what a Docker HEALTHCHECK or an exec
// probe can run in an image with no shell or curl.
func (c healthcheckCmd) Run(cfg *config.Config, e *env) error {
	url, err := localURL(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+c.Path, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s %s", c.Path, resp.Status, body)
	}
	fmt.Fprintf(e.stdout, "ok: GET %s %s\n", c.Path, body)
	return nil
}

// localURL is the base URL reaching addr (HTTP_ADDR) from the same host: an
// empty or unspecified host is the loopback of its family.
func localURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", errors.New("healthcheck: HTTP_ADDR: want host:port")
	}
	switch ip := net.ParseIP(host); {
	case host == "" || (ip != nil && ip.Equal(net.IPv4zero)):
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}
