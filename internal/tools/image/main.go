// Command image builds the Latchkey container image without a Docker
// daemon: it compiles cmd/latchkey (static, -trimpath, stripped, the version
// stamped in) and writes a one-layer image from scratch holding the binary
// and the empty data directory, as a tarball that docker load, podman load
// and crane push read. Its config (user 65532, /data volume, environment,
// port, HEALTHCHECK, OCI labels) is the Dockerfile's; dockerfile_test.go
// checks that they agree. Two builds of one commit give one digest.
//
//	go run ./internal/tools/image -tag ghcr.io/latchkey-dev/latchkey:1.4.0 -o latchkey.tar
//	docker load -i latchkey.tar          # or: podman load -i latchkey.tar
//	crane push latchkey.tar ghcr.io/latchkey-dev/latchkey:1.4.0
//
// It prints the image digest and its compressed size. With -push it then
// pushes the tarball's image to the -tag reference itself, as crane push
// would, with the credentials docker login or crane auth login stored
// (~/.docker/config.json, or $DOCKER_CONFIG): no daemon and no crane needed.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	var o Options
	modified := flag.String("modified", "", "true or false: whether the tree differs from the commit (default: read with git)")
	flag.StringVar(&o.Out, "o", "latchkey.tar", "the image tarball to write")
	flag.StringVar(&o.Ref, "tag", "", "name:tag recorded in the tarball (required; not latest), e.g. "+Repository+":1.4.0")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "GOARCH of the image: amd64 or arm64")
	flag.StringVar(&o.Version, "version", "", "version to stamp (default: git describe --tags --always --dirty)")
	flag.StringVar(&o.Licenses, "licenses", "NOASSERTION", "SPDX expression for the org.opencontainers.image.licenses label")
	flag.StringVar(&o.Revision, "revision", "", "commit to record (default: git rev-parse HEAD)")
	flag.StringVar(&o.Time, "time", "", "commit time, RFC 3339 (default: the commit's, from git)")
	push := flag.Bool("push", false, "then push the image to the -tag reference (credentials of docker login / crane auth login)")
	flag.Parse()
	if o.Ref == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./internal/tools/image -tag NAME:TAG [-o latchkey.tar] [-version V] [-arch amd64|arm64] [-push]")
		os.Exit(2)
	}
	if *modified != "" {
		m := *modified == "true"
		o.Modified = &m
	}
	root, err := moduleRoot()
	if err != nil {
		fail(err)
	}
	o.Root = root
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := Build(ctx, o)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%s %s\n", o.Out, o.Ref)
	fmt.Printf("digest %s\n", r.Digest)
	fmt.Printf("compressed %d bytes (%.1f MiB); version %s, revision %s\n", r.Size, float64(r.Size)/(1<<20), r.Version, r.Revision)
	if *push {
		pushed, err := Push(ctx, o.Out, o.Ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
		if err != nil {
			fail(err)
		}
		fmt.Printf("pushed %s\n", pushed)
	}
}

// Push uploads the image of the tarball at path to ref (name:tag) as
// `crane push path ref` does: it reads the file back as a docker save
// archive, so what is pushed is what was written. It returns the pushed
// image's name@digest.
func Push(ctx context.Context, path, ref string, opts ...remote.Option) (string, error) {
	tag, err := CheckRef(ref)
	if err != nil {
		return "", err
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if err := remote.Write(tag, img, append([]remote.Option{remote.WithContext(ctx)}, opts...)...); err != nil {
		return "", fmt.Errorf("push %s: %w", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return tag.Context().Digest(d.String()).String(), nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

// moduleRoot is the directory of the Latchkey go.mod, from the working
// directory upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/latchkey-dev/latchkey\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run it inside the Latchkey repository (no go.mod of github.com/latchkey-dev/latchkey above %s)", dir)
		}
		dir = parent
	}
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
