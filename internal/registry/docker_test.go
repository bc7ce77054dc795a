package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// requireDocker skips the test unless a Docker Engine answers (start one
// with scripts/ensure-docker). Docker treats 127.0.0.0/8 registries as
// insecure, so it speaks plain HTTP to the test server.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("docker tests are skipped with -short")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "info").Run(); err != nil {
		t.Skip("no Docker Engine answers (run scripts/ensure-docker)")
	}
}

// dockerCLI runs the docker CLI with its own config directory, so logins in
// tests touch neither the user's credentials nor each other's.
type dockerCLI struct {
	t      *testing.T
	config string
}

func newDockerCLI(t *testing.T) *dockerCLI {
	return &dockerCLI{t: t, config: t.TempDir()}
}

func (d *dockerCLI) run(stdin string, args ...string) (string, error) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+d.config, "DOCKER_BUILDKIT=0")
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d.t.Logf("docker %s: %v (%v)", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err)
	if err != nil {
		d.t.Logf("%s", out)
	}
	return string(out), err
}

func (d *dockerCLI) must(stdin string, args ...string) string {
	d.t.Helper()
	out, err := d.run(stdin, args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// buildImage builds a two-layer FROM scratch image with unique content and
// tags it ref; it is removed when the test ends.
func (d *dockerCLI) buildImage(ref string) {
	d.t.Helper()
	dir := d.t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a "+randomHex(8)+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("b "+randomHex(8)+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nCMD [\"/train\"]\n"), 0o644)
	d.must("", "build", "-q", "-t", ref, dir)
	d.t.Cleanup(func() { d.run("", "rmi", "-f", ref) })
}

var pushDigestRE = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

// TestDocker pushes and pulls with the docker CLI: login (access key and
// wrong password), push, pull by tag and by digest after deleting the local
// copy, another account denied, an immutable tag refused.
func TestDocker(t *testing.T) {
	requireDocker(t)
	e := newEnv(t)
	a := newDockerCLI(t)

	if out, err := a.run(secretA+"x\n", "login", e.host, "-u", keyA, "--password-stdin"); err == nil ||
		!strings.Contains(strings.ToLower(out), "unauthorized") {
		t.Fatalf("login with a wrong secret: %v\n%s", err, out)
	}
	a.must(secretA+"\n", "login", e.host, "-u", keyA, "--password-stdin")

	ref := e.host + "/team/app-" + randomHex(4)
	a.buildImage(ref + ":v1")
	out := a.must("", "push", ref+":v1")
	m := pushDigestRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no digest in push output:\n%s", out)
	}
	dgst := m[1]
	repoName := strings.TrimPrefix(ref, e.host+"/")
	if ev := e.pushes(); len(ev) != 1 || ev[0].Digest != dgst || ev[0].Tag != "v1" || ev[0].Repository != repoName ||
		ev[0].MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
		t.Errorf("push events = %+v", ev)
	}

	// Pull by tag, then by digest, each time from a clean local store.
	a.must("", "rmi", ref+":v1")
	a.must("", "pull", ref+":v1")
	if out := a.must("", "image", "inspect", "--format", "{{json .RepoDigests}} {{json .Config.Cmd}}", ref+":v1"); !strings.Contains(out, dgst) || !strings.Contains(out, `["/train"]`) {
		t.Errorf("pulled image: %s", out)
	}
	a.must("", "rmi", ref+":v1")
	a.must("", "pull", ref+"@"+dgst)
	t.Cleanup(func() { a.run("", "rmi", "-f", ref+"@"+dgst) })

	// Another account can neither pull nor push.
	b := newDockerCLI(t)
	b.must(secretB+"\n", "login", e.host, "-u", keyB, "--password-stdin")
	if out, err := b.run("", "pull", ref+":v1"); err == nil || !strings.Contains(out, "denied") {
		t.Errorf("pull by another account: %v\n%s", err, out)
	}
	b.buildImage(ref + ":intruder")
	if out, err := b.run("", "push", ref+":intruder"); err == nil || !strings.Contains(out, "denied") {
		t.Errorf("push by another account: %v\n%s", err, out)
	}

	// An immutable tag cannot be pushed again with other content.
	ctx := context.Background()
	repo, err := e.rg.Repos().GetRepository(ctx, repoName)
	if err != nil {
		t.Fatal(err)
	}
	repo.ImageTagMutability = Immutable
	if err := e.rg.Repos().UpdateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	a.buildImage(ref + ":v1") // new content, same tag
	if out, err := a.run("", "push", ref+":v1"); err == nil || !strings.Contains(out, "cannot be overwritten because the repository is immutable") {
		t.Errorf("push over an immutable tag: %v\n%s", err, out)
	}
	if got, _ := e.rg.ResolveTag(ctx, repoName, "v1"); got != dgst {
		t.Errorf("immutable tag moved to %s", got)
	}
}

// TestDockerTokenLogin logs in with user AWS and an ECR authorization token.
func TestDockerTokenLogin(t *testing.T) {
	requireDocker(t)
	e := newEnv(t)
	tok, _ := e.rg.IssueToken(keyA)
	a := newDockerCLI(t)
	a.must(tok+"\n", "login", e.host, "-u", TokenUser, "--password-stdin")
	ref := e.host + "/tok/app-" + randomHex(4) + ":1"
	a.buildImage(ref)
	a.must("", "push", ref)
	a.must("", "rmi", ref)
	a.must("", "pull", ref)
}
