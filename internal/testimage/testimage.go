// Package testimage builds small container images for tests from the Go
// programs under programs/ (standard library only, built with CGO_ENABLED=0
// and packaged FROM scratch through the Docker Engine API).
//
// Images are tagged wharf-test/<name>:<hash>, where hash covers the program
// source and the build recipe, so repeated test runs reuse them; each is built
// at most once per test binary. Tests are skipped when no Docker daemon
// answers, unless WHARF_REQUIRE_DOCKER=1 (then they fail).
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// Image names accepted by Build.
const (
	// Contract is the reference SageMaker container (programs/contract): no
	// ENTRYPOINT, /usr/local/bin/{train,serve,prog} on PATH.
	Contract = "contract"
	// ContractEntrypoint is the same program with
	// ENTRYPOINT ["/usr/local/bin/prog"]; it reads the mode from argv[1].
	ContractEntrypoint = "contract-entrypoint"
)

// EntrypointSuffix turns a program name into its ENTRYPOINT variant.
const EntrypointSuffix = "-entrypoint"

// Repo is the repository prefix of every image built here.
const Repo = "wharf-test"

// ProgramLabel is set on every built image to the program's name.
const ProgramLabel = "wharf.test.program"

// recipe versions the Dockerfile and build flags below; bump it when they change.
const recipe = "4"

//go:embed programs
var programs embed.FS

var (
	mu     sync.Mutex
	cli    *client.Client
	cliErr error
	built  = map[string]*buildResult{}
)

type buildResult struct {
	once sync.Once
	ref  string
	err  error
}

// Client returns a Docker client shared by the test binary, skipping t (or
// failing it with WHARF_REQUIRE_DOCKER=1) when no daemon answers.
func Client(t testing.TB) *client.Client {
	t.Helper()
	mu.Lock()
	if cli == nil && cliErr == nil {
		c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
			cancel()
			if err != nil {
				c.Close()
			}
		}
		cli, cliErr = c, err
		if err != nil {
			cli = nil
		}
	}
	c, err := cli, cliErr
	mu.Unlock()
	if err != nil {
		msg := fmt.Sprintf("testimage: no Docker daemon answers (%v); start one with scripts/ensure-docker", err)
		if os.Getenv("WHARF_REQUIRE_DOCKER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return c
}

// Build returns a local image reference for programs/<name> (or, for
// "<name>-entrypoint", its ENTRYPOINT variant), building the image if no image
// with the same content hash exists yet.
func Build(t testing.TB, name string) string {
	t.Helper()
	c := Client(t)
	mu.Lock()
	r := built[name]
	if r == nil {
		r = &buildResult{}
		built[name] = r
	}
	mu.Unlock()
	r.once.Do(func() { r.ref, r.err = build(c, name) })
	if r.err != nil {
		t.Fatalf("testimage: build %s: %v", name, r.err)
	}
	return r.ref
}

func build(c *client.Client, name string) (string, error) {
	prog, entrypoint := name, false
	if _, err := fs.Stat(programs, "programs/"+name); err != nil {
		base, ok := strings.CutSuffix(name, EntrypointSuffix)
		if !ok {
			return "", fmt.Errorf("no program %q under internal/testimage/programs", name)
		}
		prog, entrypoint = base, true
	}
	hash, err := sourceHash(prog)
	if err != nil {
		return "", err
	}
	ref := fmt.Sprintf("%s/%s:%s", Repo, name, hash)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Test binaries run in parallel: let one of them build, the others reuse.
	if unlock, err := lockFile(filepath.Join(os.TempDir(), "wharf-testimage-"+name+".lock")); err == nil {
		defer unlock()
	}
	if _, err := c.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", err
	}

	bin, err := compile(ctx, prog)
	if err != nil {
		return "", err
	}
	dockerfile := "FROM scratch\n" +
		"COPY rootfs/ /\n" +
		"ENV PATH=/usr/local/bin\n" +
		"EXPOSE 8080\n" +
		fmt.Sprintf("LABEL %s=%q\n", ProgramLabel, name)
	if entrypoint {
		dockerfile += "ENTRYPOINT [\"/usr/local/bin/prog\"]\n"
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) {
		h.ModTime = time.Unix(0, 0)
		h.Size = int64(len(body))
		_ = tw.WriteHeader(h)
		_, _ = tw.Write(body)
	}
	add(&tar.Header{Name: "Dockerfile", Mode: 0o644, Typeflag: tar.TypeReg}, []byte(dockerfile))
	for _, d := range []string{"rootfs/", "rootfs/tmp/", "rootfs/usr/", "rootfs/usr/local/", "rootfs/usr/local/bin/"} {
		mode := int64(0o755)
		if d == "rootfs/tmp/" {
			mode = 0o1777
		}
		add(&tar.Header{Name: d, Mode: mode, Typeflag: tar.TypeDir}, nil)
	}
	add(&tar.Header{Name: "rootfs/usr/local/bin/prog", Mode: 0o755, Typeflag: tar.TypeReg}, bin)
	for _, n := range []string{"train", "serve"} {
		// Hard links keep one copy of the binary in the layer.
		add(&tar.Header{Name: "rootfs/usr/local/bin/" + n, Linkname: "rootfs/usr/local/bin/prog", Mode: 0o755, Typeflag: tar.TypeLink}, nil)
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	res, err := c.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags:        []string{ref},
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if err := drain(res.Body); err != nil {
		return "", err
	}
	pruneOld(ctx, c, name, ref)
	return ref, nil
}

// pruneOld removes images of earlier versions of the program; images still
// used by a container are kept.
func pruneOld(ctx context.Context, c *client.Client, name, keep string) {
	repo := Repo + "/" + name
	list, err := c.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", repo)})
	if err != nil {
		return
	}
	for _, img := range list.Items {
		for _, tag := range img.RepoTags {
			if tag != keep && strings.HasPrefix(tag, repo+":") {
				_, _ = c.ImageRemove(ctx, tag, client.ImageRemoveOptions{PruneChildren: true})
			}
		}
	}
}

// sourceHash hashes the program's files (tests excluded), the recipe and the
// toolchain.
func sourceHash(prog string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "recipe %s\ngo %s %s\n", recipe, goruntime.Version(), goruntime.GOARCH)
	err := fs.WalkDir(programs, "programs/"+prog, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := programs.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// compile builds the embedded program as a static linux binary.
func compile(ctx context.Context, prog string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "wharf-testimage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	err = fs.WalkDir(programs, "programs/"+prog, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(src, filepath.FromSlash(strings.TrimPrefix(p, "programs/"+prog)))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := programs.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return nil, err
	}
	mod := fmt.Sprintf("module wharftest/%s\n\ngo %s\n", prog, goVersion())
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(mod), 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "prog")
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goruntime.GOARCH,
		"GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %v\n%s", prog, err, b)
	}
	return os.ReadFile(out)
}

// goVersion is the language version for the generated go.mod ("1.26").
func goVersion() string {
	v := strings.TrimPrefix(goruntime.Version(), "go")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) >= 2 {
		return parts[0] + "." + strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	}
	return "1.22"
}

func goTool() string {
	if p := filepath.Join(goruntime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// drain reads a JSON message stream (build or load progress) and returns
// the first error it reports.
func drain(r io.Reader) error {
	dec := json.NewDecoder(r)
	var last string
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.Error != nil && m.Error.Message != "" {
			return fmt.Errorf("%s (after %q)", m.Error.Message, strings.TrimSpace(last))
		}
		if m.Stream != "" {
			last = m.Stream
		}
	}
}

// Unique builds a tiny throwaway image (FROM scratch, one file with random
// content, so its layer is new to the engine) tagged wharf-test/unique:<random>,
// and removes it when the test ends. For load/save round trips.
func Unique(t testing.TB) string {
	t.Helper()
	c := Client(t)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	ref := Repo + "/unique:" + tag
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := map[string]string{
		"Dockerfile": "FROM scratch\nCOPY unique.txt /unique.txt\nLABEL " + ProgramLabel + "=unique\n",
		"unique.txt": tag + "\n",
	}
	for _, n := range []string{"Dockerfile", "unique.txt"} {
		_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		_, _ = io.WriteString(tw, files[n])
	}
	_ = tw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("testimage: build unique image: %v", err)
	}
	err = drain(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("testimage: build unique image: %v", err)
	}
	t.Cleanup(func() { Remove(t, ref) })
	return ref
}

// Save returns the `docker save` tar stream of ref.
func Save(t testing.TB, ref string) []byte {
	t.Helper()
	c := Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rc, err := c.ImageSave(ctx, []string{ref})
	if err != nil {
		t.Fatalf("testimage: save %s: %v", ref, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("testimage: save %s: %v", ref, err)
	}
	return b
}

// Remove deletes the image ref (and its now untagged parents); a missing
// image is not an error.
func Remove(t testing.TB, ref string) {
	t.Helper()
	c := Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Errorf("testimage: remove %s: %v", ref, err)
	}
}

// lockFile takes an exclusive flock on p, waiting for other processes.
func lockFile(p string) (func(), error) {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
