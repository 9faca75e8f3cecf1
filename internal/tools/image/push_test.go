package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImagePush pushes the image tarball to a registry and pulls it back:
// go-containerregistry's registry, in memory, on a loopback httptest server.
// The tarball is pushed in both of its forms, each read as `crane push`
// reads it: the file as a docker save archive (`crane push latchkey.tar
// REF`, tarball.ImageFromPath) and, untarred, as an OCI image layout
// (`crane push DIR REF`: the layout's one image); and the builder's own
// -push (Push) pushes it too. Each pull, by tag and by digest, must be what was built: the digest the builder printed, the
// tarball's manifest, config and layer blobs byte for byte, and the config
// the deployment files rely on.
func TestImagePush(t *testing.T) {
	r, path := sharedImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://") // 127.0.0.1:port: name.Registry speaks plain HTTP to loopback

	// The blobs as the tarball holds them, read as plain files: what the
	// pulls must give back.
	dir := t.TempDir()
	untar(t, path, dir, false)
	blob := func(h v1.Hash) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "blobs", h.Algorithm, h.Hex))
		if err != nil {
			t.Fatalf("blob %s of the tarball: %v", h, err)
		}
		return b
	}
	wantManifest := blob(r.Digest)
	m, err := v1.ParseManifest(bytes.NewReader(wantManifest))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 {
		t.Fatalf("manifest has %d layers; the builder writes one", len(m.Layers))
	}

	archive, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("docker-archive: %v", err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || !im.Manifests[0].MediaType.IsImage() {
		t.Fatalf("OCI layout index %+v %v: want one image", im, err)
	}
	oci, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}

	for _, form := range []struct {
		name string
		img  v1.Image // nil: the builder's -push
	}{{"docker-archive", archive}, {"oci-layout", oci}, {"push-flag", nil}} {
		t.Run(form.name, func(t *testing.T) {
			tag, err := name.NewTag(host+"/latchkey-dev/latchkey:"+form.name, name.StrictValidation)
			if err != nil {
				t.Fatal(err)
			}
			if form.img == nil {
				pushed, err := Push(ctx, path, tag.String())
				if err != nil {
					t.Fatal(err)
				}
				if want := tag.Context().Digest(r.Digest.String()).String(); pushed != want {
					t.Fatalf("Push: %s; want %s", pushed, want)
				}
			} else if err := remote.Write(tag, form.img, remote.WithContext(ctx)); err != nil {
				t.Fatalf("push %s: %v", tag, err)
			}
			byDigest := tag.Context().Digest(r.Digest.String())
			for _, ref := range []name.Reference{tag, byDigest} {
				desc, err := remote.Get(ref, remote.WithContext(ctx))
				if err != nil {
					t.Fatalf("pull %s: %v", ref, err)
				}
				if desc.Digest != r.Digest || !bytes.Equal(desc.Manifest, wantManifest) {
					t.Fatalf("pull %s: digest %s; built %s (manifest equal: %t)", ref, desc.Digest, r.Digest, bytes.Equal(desc.Manifest, wantManifest))
				}
				img, err := desc.Image()
				if err != nil {
					t.Fatal(err)
				}
				raw, err := img.RawConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(raw, blob(m.Config.Digest)) {
					t.Errorf("pull %s: the config differs from the tarball's", ref)
				}
				cf, err := img.ConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				checkConfig(t, cf, r)
				layers, err := img.Layers()
				if err != nil {
					t.Fatal(err)
				}
				if len(layers) != len(m.Layers) {
					t.Fatalf("pull %s: %d layers; built %d", ref, len(layers), len(m.Layers))
				}
				for i, l := range layers {
					d, err := l.Digest()
					if err != nil || d != m.Layers[i].Digest {
						t.Fatalf("pull %s: layer %d digest %s %v; built %s", ref, i, d, err, m.Layers[i].Digest)
					}
					rc, err := l.Compressed()
					if err != nil {
						t.Fatal(err)
					}
					got, err := io.ReadAll(rc)
					rc.Close()
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, blob(d)) {
						t.Fatalf("pull %s: layer %s differs from the tarball's (%d bytes, want %d)", ref, d, len(got), len(blob(d)))
					}
				}
			}
			t.Logf("pushed %s and pulled it back by tag and by digest: %s, %d layer(s)", tag, r.Digest, len(m.Layers))
		})
	}
}
