package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// CheckRef accepts name:tag with a tag the deployer chose: not latest, which
// names a different image every time and cannot be rolled back to.
func CheckRef(ref string) (name.Tag, error) {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image reference %q: %w (want name:tag, e.g. %s:1.4.0)", ref, err, Repository)
	}
	if tag.TagStr() == "latest" {
		return name.Tag{}, fmt.Errorf("image reference %q: pin a version, not latest", ref)
	}
	return tag, nil
}

// writeTarball writes img as one tar file that is both an OCI image layout
// (oci-layout, index.json, blobs/sha256/…: podman load, skopeo, crane with
// the layout) and a docker save archive (manifest.json naming the same
// blobs: docker load, crane push, podman load), as `docker save` itself
// writes since Docker 25. Entries are in a fixed order with fixed times and
// owners, so the file is as reproducible as the image.
func writeTarball(path, ref string, img v1.Image) (err error) {
	tag, err := CheckRef(ref)
	if err != nil {
		return err
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	file := func(name string, size int64, r io.Reader) error {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		n, err := io.Copy(tw, r)
		if err == nil && n != size {
			err = fmt.Errorf("%s: wrote %d bytes, want %d", name, n, size)
		}
		return err
	}
	bytesFile := func(name string, b []byte) error { return file(name, int64(len(b)), bytesReader(b)) }
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

	if err := bytesFile("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := bytesFile(blob(cfgName), cfg); err != nil {
		return err
	}
	var layerPaths []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		err = file(blob(d), size, rc)
		rc.Close()
		if err != nil {
			return err
		}
		layerPaths = append(layerPaths, blob(d))
	}
	if err := bytesFile(blob(digest), manifest); err != nil {
		return err
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []map[string]any{{
			"mediaType": string(mt),
			"digest":    digest.String(),
			"size":      len(manifest),
			"annotations": map[string]string{
				"io.containerd.image.name":          tag.Name(),
				"org.opencontainers.image.ref.name": tag.TagStr(),
			},
		}},
	})
	if err != nil {
		return err
	}
	if err := bytesFile("index.json", index); err != nil {
		return err
	}
	docker, err := json.Marshal([]map[string]any{{
		"Config":   blob(cfgName),
		"RepoTags": []string{tag.Name()},
		"Layers":   layerPaths,
	}})
	if err != nil {
		return err
	}
	if err := bytesFile("manifest.json", docker); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if len(layerPaths) == 0 {
		return errors.New("image has no layers")
	}
	return nil
}
