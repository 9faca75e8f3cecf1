package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/latchkey-dev/latchkey/internal/testkit"
)

const testRef = Repository + ":test"

// buildImage builds the image into dir by running the command itself (as
// `go run ./internal/tools/image` would, compiled once), from the one source
// snapshot of the test binary (see source), with the version fixed (the tree
// may have uncommitted changes). A separate process, not Build in the test
// binary: under -race the compression would take minutes. env is added to
// the command's environment.
func buildImage(t *testing.T, dir string, env ...string) (*Result, string) {
	t.Helper()
	src := source(t)
	out := filepath.Join(dir, "latchkey.tar")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, imageTool(t), "-tag", testRef, "-o", out, "-arch", "amd64", "-version", "v0.0.0-test",
		"-revision", src.revision, "-time", src.time, "-modified", strconv.FormatBool(src.modified))
	cmd.Dir = src.dir
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("./internal/tools/image: %v\n%s", err, b)
	}
	// digest sha256:…
	// compressed N bytes (… MiB); version V, revision R
	r := &Result{}
	for _, line := range strings.Split(string(b), "\n") {
		if d, ok := strings.CutPrefix(line, "digest "); ok {
			if r.Digest, err = v1.NewHash(d); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := fmt.Sscanf(line, "compressed %d bytes", &r.Size); err == nil {
			_, rev, _ := strings.Cut(line, "revision ")
			_, ver, _ := strings.Cut(line, "version ")
			r.Revision, r.Version = rev, strings.TrimSuffix(ver[:max(0, strings.Index(ver, ","))], ",")
		}
	}
	if r.Digest.Hex == "" || r.Size == 0 || r.Revision == "" {
		t.Fatalf("./internal/tools/image: unexpected output:\n%s", b)
	}
	return r, out
}

// snapshot is the source every build of the test binary compiles: a copy of
// the checkout's files (tracked ones as they are in the working tree, with
// any uncommitted change, and untracked ones that are not ignored), taken
// once, and its commit, commit time and modified flag, read once with git.
// So a commit landing in the checkout while the tests run (HEAD moves, files
// change) cannot make two builds differ: only the builder can.
type snapshot struct {
	dir            string
	revision, time string
	modified       bool
}

var snap struct {
	sync.Mutex
	s   *snapshot
	err string // why there is none: a skip outside CI
}

func source(t *testing.T) *snapshot {
	t.Helper()
	snap.Lock()
	defer snap.Unlock()
	if snap.s == nil && snap.err == "" {
		snap.s, snap.err = takeSnapshot(t)
	}
	if snap.s == nil {
		skipOutsideCI(t, "cannot build the image here: "+snap.err)
	}
	return snap.s
}

func takeSnapshot(t *testing.T) (*snapshot, string) {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %v %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return string(out), nil
	}
	s := &snapshot{}
	rev, err := git("rev-parse", "HEAD")
	if err != nil {
		return nil, err.Error() + " (outside a git checkout)"
	}
	s.revision = strings.TrimSpace(rev)
	tm, err := git("log", "-1", "--format=%cI", s.revision)
	if err != nil {
		return nil, err.Error()
	}
	s.time = strings.TrimSpace(tm)
	st, err := git("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return nil, err.Error()
	}
	s.modified = strings.TrimSpace(st) != ""
	files, err := git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return nil, err.Error()
	}
	if s.dir, err = os.MkdirTemp("", "latchkey-image-src-"); err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Split(files, "\x00") {
		if name == "" {
			continue
		}
		from, to := filepath.Join(root, name), filepath.Join(s.dir, name)
		fi, err := os.Lstat(from)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, to); err != nil {
				t.Fatal(err)
			}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s, ""
}

// skipOutsideCI skips with one line, except under CI=true where it fails.
func skipOutsideCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("CI: " + why)
	}
	t.Skip(why)
}

var shared struct {
	sync.Mutex
	dir, path string
	r         *Result
}

var tool struct {
	sync.Mutex
	dir, path string
}

// imageTool compiles ./internal/tools/image once per test binary.
func imageTool(t *testing.T) string {
	t.Helper()
	src := source(t)
	tool.Lock()
	defer tool.Unlock()
	if tool.path == "" {
		dir, err := os.MkdirTemp("", "latchkey-image-tool-")
		if err != nil {
			t.Fatal(err)
		}
		tool.dir = dir
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "image"), "./internal/tools/image")
		cmd.Dir = src.dir
		if b, err := cmd.CombinedOutput(); err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				skipOutsideCI(t, "cannot build the image here: "+err.Error())
			}
			t.Fatalf("go build ./internal/tools/image: %v\n%s", err, b)
		}
		tool.path = filepath.Join(dir, "image")
	}
	return tool.path
}

// sharedImage is one build for the tests that only read it.
func sharedImage(t *testing.T) (*Result, string) {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.r == nil {
		dir, err := os.MkdirTemp("", "latchkey-image-test-")
		if err != nil {
			t.Fatal(err)
		}
		shared.dir = dir
		shared.r, shared.path = buildImage(t, dir)
	}
	return shared.r, shared.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	if tool.dir != "" {
		os.RemoveAll(tool.dir)
	}
	if snap.s != nil {
		os.RemoveAll(snap.s.dir)
	}
	os.Exit(code)
}

// Two builds of one tree give one digest, and byte-identical tarballs. Both
// compile the same source snapshot with the same commit stamped in, so only
// the builder's own non-reproducibility can fail this, not a commit landing
// in the checkout between the builds.
func TestImageReproducible(t *testing.T) {
	a, pa := sharedImage(t)
	b, pb := buildImage(t, t.TempDir())
	if a.Digest != b.Digest {
		t.Fatalf("two builds, two digests: %s and %s", a.Digest, b.Digest)
	}
	ba, _ := os.ReadFile(pa)
	bb, _ := os.ReadFile(pb)
	if !bytes.Equal(ba, bb) {
		t.Fatal("two builds, one digest, but the tarballs differ")
	}
	t.Logf("two builds: one digest %s", a.Digest)
}

// The image is the commit's, not the build machine's: Go settings in the
// builder's environment that change the code generated (a CI runner's
// GOAMD64=v3 would make a binary that dies on CPUs before AVX2, and another
// digest) do not reach the image's build.
func TestImageIgnoresBuildEnvironment(t *testing.T) {
	a, _ := sharedImage(t)
	b, _ := buildImage(t, t.TempDir(), "GOAMD64=v3")
	if a.Digest != b.Digest {
		t.Fatalf("GOAMD64=v3 in the builder's environment changed the image: %s, not %s", b.Digest, a.Digest)
	}
}

// The image tarball is read back both ways (docker-archive with
// tarball.ImageFromPath, OCI layout with layout.ImageIndexFromPath); its
// config says what the deployment files rely on; it holds the binary and
// the empty data directory and nothing else; and it is small. Then it runs
// (TestImageRuns).
func TestImageContents(t *testing.T) {
	r, path := sharedImage(t)
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("docker-archive: %v", err)
	}
	if d, _ := img.Digest(); d != r.Digest {
		t.Fatalf("docker-archive digest %s; built %s", d, r.Digest)
	}
	dir := t.TempDir()
	untar(t, path, dir, false)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Digest != r.Digest ||
		im.Manifests[0].Annotations["io.containerd.image.name"] != testRef {
		t.Fatalf("OCI layout index: %+v %v; want the one image %s named %s", im, err, r.Digest, testRef)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	checkConfig(t, cf, r)
	if len(r.Revision) != 40 {
		t.Errorf("revision %q: want a full commit id", r.Revision)
	}

	rootDir := t.TempDir()
	listing := unpack(t, img, rootDir)
	t.Logf("image %s, %s; files:\n%s", testRef, r.Digest, strings.Join(listing, "\n"))
	if len(listing) != 2 || !strings.HasPrefix(listing[0], "drwx------ 65532:65532 ") || !strings.HasSuffix(listing[0], " /data/") ||
		!strings.HasPrefix(listing[1], "-rwxr-xr-x 0:0 ") || !strings.HasSuffix(listing[1], " /latchkey") {
		t.Errorf("want exactly /data/ (65532, 0700) and /latchkey (root, 0755), got:\n%s", strings.Join(listing, "\n"))
	}
	const budget = 20 << 20
	t.Logf("compressed size %d bytes (%.1f MiB; target %d MiB)", r.Size, float64(r.Size)/(1<<20), budget>>20)
	if r.Size > budget {
		t.Errorf("compressed size %d bytes is above the %d MiB target", r.Size, budget>>20)
	}
}

// checkConfig checks what the deployment files rely on in the image config:
// platform, user, entrypoint and command, environment, port, volume, health
// check and labels.
func checkConfig(t *testing.T, cf *v1.ConfigFile, r *Result) {
	t.Helper()
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != "amd64" || c.User != "65532:65532" ||
		!slices.Equal(c.Entrypoint, []string{"/latchkey"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
		t.Errorf("config: os %s arch %s user %q entrypoint %q cmd %q", cf.OS, cf.Architecture, c.User, c.Entrypoint, c.Cmd)
	}
	for _, e := range []string{"DATABASE_URL=sqlite:///data/latchkey.db", "HTTP_ADDR=:8080"} {
		if !slices.Contains(c.Env, e) {
			t.Errorf("config env %q lacks %s", c.Env, e)
		}
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("exposed ports %v", c.ExposedPorts)
	}
	if _, ok := c.Volumes["/data"]; !ok || len(c.Volumes) != 1 {
		t.Errorf("volumes %v", c.Volumes)
	}
	if h := c.Healthcheck; h == nil || !slices.Equal(h.Test, []string{"CMD", "/latchkey", "healthcheck"}) || h.Interval == 0 || h.Retries == 0 {
		t.Errorf("healthcheck %+v", h)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.source": Source, "org.opencontainers.image.version": "v0.0.0-test",
		"org.opencontainers.image.revision": r.Revision, "org.opencontainers.image.licenses": "NOASSERTION",
	} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q; want %q", k, c.Labels[k], want)
		}
	}
}

// untar extracts a tar file into dir; with owners, it keeps uid, gid and
// modes (as root).
func untar(t *testing.T, path, dir string, owners bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	extract(t, f, dir, owners)
}

func extract(t *testing.T, r io.Reader, dir string, owners bool) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
		default:
			t.Fatalf("%s: unexpected tar entry type %c", h.Name, h.Typeflag)
		}
		if err := os.Chmod(name, fs.FileMode(h.Mode).Perm()); err != nil {
			t.Fatal(err)
		}
		if owners && os.Geteuid() == 0 {
			if err := os.Lchown(name, h.Uid, h.Gid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// unpack extracts the image's layers into dir, in order, and returns the
// listing "mode uid:gid size /path" of every entry.
func unpack(t *testing.T, img v1.Image, dir string) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var listing []string
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(bytes.NewReader(b))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			listing = append(listing, fmt.Sprintf("%s %d:%d %d /%s", h.FileInfo().Mode(), h.Uid, h.Gid, h.Size, h.Name))
		}
		extract(t, bytes.NewReader(b), dir, true)
	}
	return listing
}

// TestImageRuns starts the image's entrypoint from its unpacked layers, as a
// container runtime would without one: chroot into the root file system,
// uid and gid 65532, the config's environment, a data directory as /data
// (the volume). It signs up, signs in and refreshes, runs `latchkey
// healthcheck` and `latchkey version` inside, stops the server with SIGTERM
// (exit 0), starts it again from a fresh unpack with the same volume and
// refreshes with the successor token. Needs root (CI runs as root).
func TestImageRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOutsideCI(t, "not root: cannot chroot and switch to uid 65532 to run the image")
	}
	r, path := sharedImage(t)
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	// The volume: a directory of the host, owned by the image's user.
	volume := filepath.Join(t.TempDir(), "volume")
	if err := os.Mkdir(volume, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(volume, UID, GID); err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	addr, maddr := freeAddr(t), freeAddr(t)
	// `docker run -e` overrides: free loopback ports (the container shares
	// the host's network here), production settings.
	env := append(slices.Clone(cf.Config.Env), "HTTP_ADDR="+addr, "METRICS_ADDR="+maddr, "APP_ENV=production",
		"REFRESH_TOKEN_SECRET="+hex.EncodeToString(secret), "PUBLIC_URL=http://"+addr, "LOG_FORMAT=text")
	base := "http://" + addr

	c := startContainer(t, img, cf.Config, env, volume)
	tokens := signIn(t, base)
	// /metrics on its own port only (the image's METRICS_ADDR), 404 on the API's.
	if code := getStatus(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics on HTTP_ADDR: %d; want 404", code)
	}
	if code := getStatus(t, "http://"+maddr+"/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics on METRICS_ADDR: %d; want 200", code)
	}
	successor := refresh(t, base, tokens.RefreshToken)
	if out, err := c.exec(t, "healthcheck"); err != nil || !strings.Contains(out, `"database":"ok"`) {
		t.Fatalf("latchkey healthcheck in the container: %v\n%s", err, out)
	}
	out, err := c.exec(t, "version")
	if err != nil || !strings.Contains(out, "version   v0.0.0-test") || !strings.Contains(out, "revision  "+r.Revision) {
		t.Fatalf("latchkey version in the container: %v\n%s", err, out)
	}
	if !regexpRoots(out) {
		t.Errorf("latchkey version in the container: no CA roots (the image has no /etc/ssl; the embedded fallback should be in use):\n%s", out)
	}
	if err := c.stop(t); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, c.logs.String())
	}
	c.detach(t)
	if _, err := os.Stat(filepath.Join(volume, "latchkey.db")); err != nil {
		t.Fatalf("the database is not on the volume: %v", err)
	}

	// A new container from the same image, with the same volume.
	startContainer(t, img, cf.Config, env, volume)
	refresh(t, base, successor)
}

func regexpRoots(versionOut string) bool {
	for _, line := range strings.Split(versionOut, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "ca-roots" {
			var n int
			fmt.Sscan(f[1], &n)
			return n > 50
		}
	}
	return false
}

type container struct {
	root, volume string
	detached     bool
	env          []string
	cmd          *exec.Cmd
	done         chan error
	logs         *testkit.Buffer
}

// startContainer unpacks img into a fresh root, puts the volume at /data,
// starts the entrypoint and command chrooted there as 65532:65532, and
// waits until it answers GET /healthz.
func startContainer(t *testing.T, img v1.Image, cfg v1.Config, env []string, volume string) *container {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	unpack(t, img, root)
	data := filepath.Join(root, "data")
	if err := os.Remove(data); err != nil { // the image's empty /data, replaced by the volume
		t.Fatal(err)
	}
	if err := os.Rename(volume, data); err != nil {
		t.Fatal(err)
	}
	c := &container{root: root, volume: volume, env: env, done: make(chan error, 1), logs: &testkit.Buffer{}}
	c.cmd = c.command(append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)...)
	c.cmd.Stdout, c.cmd.Stderr = c.logs, c.logs
	if err := c.cmd.Start(); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) && (errno == syscall.EPERM || errno == syscall.EACCES) {
			skipOutsideCI(t, "cannot chroot or switch user here: "+err.Error())
		}
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.cmd.Process.Kill()
			<-c.done
		}
		c.detach(t)
		if t.Failed() {
			t.Logf("container output:\n%s", c.logs.String())
		}
	})
	addr := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "HTTP_ADDR="); ok {
			addr = v
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c
			}
		}
		select {
		case err := <-c.done:
			c.done <- err // for the cleanup, which waits for the exit
			t.Fatalf("the container exited before it served: %v\n%s", err, c.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container did not serve within 30s:\n%s", c.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// detach moves the volume out of the stopped container's root: it outlives
// the container.
func (c *container) detach(t *testing.T) {
	t.Helper()
	if c.detached {
		return
	}
	c.detached = true
	if err := os.Rename(filepath.Join(c.root, "data"), c.volume); err != nil {
		t.Error(err)
	}
}

// command is argv run inside the container: chroot, 65532:65532, no
// supplementary groups, the container's environment and nothing else.
func (c *container) command(argv ...string) *exec.Cmd {
	cmd := &exec.Cmd{Path: argv[0], Args: argv, Env: c.env, Dir: "/"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: c.root,
		Credential: &syscall.Credential{Uid: UID, Gid: GID, Groups: []uint32{}}}
	return cmd
}

// exec runs the image's binary with args in the running container.
func (c *container) exec(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := c.command(append([]string{Binary}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// stop sends SIGTERM and returns the exit error (nil: exit 0).
func (c *container) stop(t *testing.T) error {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		return err
	case <-time.After(20 * time.Second):
		return errors.New("no exit within 20s of SIGTERM")
	}
}

type tokens struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

func post(t *testing.T, url string, body any, want int) tokens {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d %s; want %d", url, resp.StatusCode, rb, want)
	}
	var tk tokens
	json.Unmarshal(rb, &tk)
	return tk
}

func signIn(t *testing.T, base string) tokens {
	t.Helper()
	creds := map[string]string{"email": "ann@example.com", "password": "correct horse battery"}
	post(t, base+"/auth/sign-up", creds, http.StatusCreated)
	tk := post(t, base+"/auth/sign-in", creds, http.StatusOK)
	if tk.AccessToken == "" || tk.RefreshToken == "" {
		t.Fatalf("sign-in: no tokens")
	}
	return tk
}

// refresh rotates rt and returns its successor.
func refresh(t *testing.T, base, rt string) string {
	t.Helper()
	tk := post(t, base+"/token", map[string]string{"refreshToken": rt}, http.StatusOK)
	if tk.RefreshToken == "" || tk.RefreshToken == rt {
		t.Fatalf("refresh: no successor token")
	}
	return tk.RefreshToken
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
