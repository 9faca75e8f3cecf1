package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options say what to build.
type Options struct {
	Root     string // the module root (the directory of go.mod)
	Out      string // the image tarball to write
	Ref      string // name:tag recorded in the tarball, e.g. ghcr.io/latchkey-dev/latchkey:1.4.0
	Arch     string // GOARCH of the binary and the image
	Version  string // latchkey version; empty: git describe --tags --always --dirty
	Licenses string // SPDX expression of the licenses label

	// The commit; empty: read with git from Root. Time is RFC 3339.
	Revision, Time string
	Modified       *bool
}

// Result is what was built.
type Result struct {
	Image    v1.Image
	Digest   v1.Hash // the manifest's: what a registry names the image by
	Size     int64   // compressed: manifest, config and layers, as pushed
	Version  string
	Revision string
}

// Build compiles cmd/latchkey for linux/Arch, puts it in a one-layer image
// from scratch with the empty data directory, and writes the tarball. The
// result depends only on the source tree and the Go toolchain: file times
// and the image's creation time are the commit's, the binary is built with
// -trimpath and no build-time stamps, the layer is written in a fixed order
// with fixed owners. So two builds of one commit have one digest.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Arch == "" {
		o.Arch = "amd64"
	}
	if o.Licenses == "" {
		o.Licenses = "NOASSERTION"
	}
	if err := o.fromGit(ctx); err != nil {
		return nil, err
	}
	created, err := time.Parse(time.RFC3339, o.Time)
	if err != nil {
		return nil, fmt.Errorf("commit time %q: %w", o.Time, err)
	}
	created = created.UTC()
	dir, err := os.MkdirTemp("", "latchkey-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "latchkey")
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.revision=%s -X main.revisionTime=%s -X main.modified=%t",
		o.Version, o.Revision, created.Format(time.RFC3339), *o.Modified)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags="+ldflags, "-o", bin, "./cmd/latchkey")
	cmd.Dir = o.Root
	// The environment may not choose the code generated: the baseline
	// instruction sets (a CI runner's GOAMD64=v3 would make a binary that
	// dies on CPUs without AVX2) and no experiments, whatever the machine.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch, "GOFLAGS=-buildvcs=false",
		"GOAMD64=v1", "GOARM64=v8.0", "GOEXPERIMENT=", "GOFIPS140=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/latchkey: %w\n%s", err, out)
	}
	raw, err := rootfs(bin, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.DockerManifestSchema2), mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "go run ./internal/tools/image", Comment: "latchkey " + o.Version},
	})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = o.Arch, "linux"
	cf.Created = v1.Time{Time: created}
	cf.Config = Config(o.Version, o.Revision, created.Format(time.RFC3339), o.Licenses)
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	if err := writeTarball(o.Out, o.Ref, img); err != nil {
		return nil, err
	}
	r := &Result{Image: img, Version: o.Version, Revision: o.Revision}
	if r.Digest, err = img.Digest(); err != nil {
		return nil, err
	}
	if r.Size, err = compressedSize(img); err != nil {
		return nil, err
	}
	return r, nil
}

// fromGit fills in the commit, its time, whether the tree has uncommitted
// changes, and the default version.
func (o *Options) fromGit(ctx context.Context) error {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = o.Root
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w (outside a git checkout, pass -revision, -time and -version)", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	var err error
	if o.Revision == "" {
		if o.Revision, err = git("rev-parse", "HEAD"); err != nil {
			return err
		}
	}
	if o.Time == "" {
		if o.Time, err = git("log", "-1", "--format=%cI", o.Revision); err != nil {
			return err
		}
	}
	if o.Modified == nil {
		st, err := git("status", "--porcelain", "--untracked-files=no")
		if err != nil {
			return err
		}
		dirty := st != ""
		o.Modified = &dirty
	}
	if o.Version == "" {
		if o.Version, err = git("describe", "--tags", "--always", "--dirty"); err != nil {
			return err
		}
	}
	if strings.ContainsAny(o.Version+o.Revision, " \t'\"") {
		return errors.New("version and revision must not contain spaces or quotes")
	}
	return nil
}

// rootfs returns the image's one layer, uncompressed: the binary at /latchkey
// (root-owned, 0755) and the empty /data (owned by 65532, 0700), the volume.
// Nothing else: no shell, no /etc, no CA bundle (the binary embeds its
// fallback roots).
func rootfs(bin string, mtime time.Time) ([]byte, error) {
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []*tar.Header{
		{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(DataDir, "/") + "/", Mode: 0o700, Uid: UID, Gid: GID, ModTime: mtime, Format: tar.FormatUSTAR},
		{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(Binary, "/"), Mode: 0o755, Size: int64(len(b)), ModTime: mtime, Format: tar.FormatUSTAR},
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(b); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// compressedSize is what a registry stores and a pull downloads.
func compressedSize(img v1.Image) (int64, error) {
	m, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	c, err := img.RawConfigFile()
	if err != nil {
		return 0, err
	}
	n := int64(len(m) + len(c))
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, err
		}
		n += s
	}
	return n, nil
}
