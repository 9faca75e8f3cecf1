package main

import (
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The facts of the Latchkey image, in one place: this builder writes them
// into the image config, and dockerfile_test.go checks that the Dockerfile at
// the repository root declares the same.
const (
	// Repository is the image name every deployment file uses; the tag is
	// the deployer's (a release version or a digest, never latest).
	Repository = "ghcr.io/latchkey-dev/latchkey"
	// Source is the org.opencontainers.image.source label.
	Source = "https://github.com/latchkey-dev/latchkey"
	// UID and GID run the server: not root, no name (the image has no
	// /etc/passwd); 65532 is the "nonroot" id of distroless images.
	UID, GID = 65532, 65532
	// Binary is the entrypoint; DataDir the volume holding the SQLite file.
	Binary  = "/latchkey"
	DataDir = "/data"
	// Port is HTTP_ADDR's, the one exposed. MetricsPort is METRICS_ADDR's:
	// /metrics is there only, not on the port a proxy or `docker run -p`
	// publishes; it is not exposed either (`docker run -P` would publish it).
	Port        = "8080"
	MetricsPort = "9090"
)

// Env is the environment the image sets: the SQLite file on the volume, the
// API's port, /metrics on a port of its own, and SQLite's directory for temporary files (an index build or a sort
// that outgrows the page cache, as a migration over a large table does):
// the volume too, since the image has no /tmp and its root may be read-only.
// BuildKit gives an image from scratch a default PATH as well; the builder
// does the same, so that both images run alike.
var Env = []string{
	"DATABASE_URL=sqlite://" + DataDir + "/latchkey.db",
	"HTTP_ADDR=:" + Port,
	"METRICS_ADDR=:" + MetricsPort,
	"SQLITE_TMPDIR=" + DataDir,
}

// DefaultPath is the PATH BuildKit sets on an image with none.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Health is the HEALTHCHECK: latchkey healthcheck asks the local /readyz (the
// image has no shell or curl).
var Health = v1.HealthConfig{
	Test:        []string{"CMD", Binary, "healthcheck"},
	Interval:    30 * time.Second,
	Timeout:     5 * time.Second,
	StartPeriod: 60 * time.Second,
	Retries:     3,
}

// Labels are the OCI annotations of the image config.
func Labels(version, revision, created, licenses string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "latchkey",
		"org.opencontainers.image.description": "Latchkey token service: sign-in, short-lived JWT access tokens, rotating refresh tokens",
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    revision,
		"org.opencontainers.image.created":     created,
		"org.opencontainers.image.licenses":    licenses,
	}
}

// Config is the container config of the image.
func Config(version, revision, created, licenses string) v1.Config {
	h := Health
	return v1.Config{
		User:         "65532:65532",
		Entrypoint:   []string{Binary},
		Cmd:          []string{"serve"},
		Env:          append([]string{DefaultPath}, Env...),
		ExposedPorts: map[string]struct{}{Port + "/tcp": {}},
		Volumes:      map[string]struct{}{DataDir: {}},
		Healthcheck:  &h,
		Labels:       Labels(version, revision, created, licenses),
	}
}
