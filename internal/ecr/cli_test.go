package ecr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCLIGetLoginPasswordDockerPush is the flow users follow:
//
//	aws ecr create-repository --repository-name R --image-tag-mutability IMMUTABLE
//	aws ecr get-login-password | docker login --username AWS --password-stdin HOST:PORT
//	docker push HOST:PORT/R:1
//	aws ecr describe-images --repository-name R
//
// with the AWS CLI and the docker CLI against one listener.
func TestCLIGetLoginPasswordDockerPush(t *testing.T) {
	if testing.Short() {
		t.Skip("CLI tests are skipped with -short")
	}
	for _, tool := range []string{"aws", "docker"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s CLI not installed", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "info").Run(); err != nil {
		t.Skip("no Docker Engine answers (run scripts/ensure-docker)")
	}
	e := newEnv(t)
	home := t.TempDir()
	env := append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+keyA, "AWS_SECRET_ACCESS_KEY="+secretA, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		"DOCKER_CONFIG="+filepath.Join(home, "docker"), "DOCKER_BUILDKIT=0")
	run := func(stdin string, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("%s %s: %v", name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	aws := func(args ...string) string {
		return run("", "aws", append([]string{"--endpoint-url", e.srv.URL, "--output", "json", "ecr"}, args...)...)
	}

	b := make([]byte, 4)
	rand.Read(b)
	repo := "cli/app-" + hex.EncodeToString(b)
	out := aws("create-repository", "--repository-name", repo, "--image-tag-mutability", "IMMUTABLE",
		"--image-scanning-configuration", "scanOnPush=true")
	var created struct {
		Repository struct{ RepositoryUri string }
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Repository.RepositoryUri != e.host+"/"+repo {
		t.Fatalf("create-repository: %v\n%s", err, out)
	}

	password := strings.TrimSpace(aws("get-login-password"))
	run(password+"\n", "docker", "login", "--username", "AWS", "--password-stdin", e.host)

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte(hex.EncodeToString(b)), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY f /f\n"), 0o644)
	ref := created.Repository.RepositoryUri + ":1"
	run("", "docker", "build", "-q", "-t", ref, dir)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
	pushed := run("", "docker", "push", ref)
	m := regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(pushed)
	if m == nil {
		t.Fatalf("push output:\n%s", pushed)
	}

	out = aws("describe-images", "--repository-name", repo)
	var described struct {
		ImageDetails []struct {
			ImageDigest            string
			ImageTags              []string
			ImageSizeInBytes       int64
			ImagePushedAt          float64
			ImageManifestMediaType string
		}
	}
	if err := json.Unmarshal([]byte(out), &described); err != nil || len(described.ImageDetails) != 1 {
		t.Fatalf("describe-images: %v\n%s", err, out)
	}
	d := described.ImageDetails[0]
	if d.ImageDigest != m[1] || len(d.ImageTags) != 1 || d.ImageTags[0] != "1" || d.ImageSizeInBytes <= 0 ||
		time.Since(time.Unix(int64(d.ImagePushedAt), 0)) > 5*time.Minute ||
		d.ImageManifestMediaType != "application/vnd.docker.distribution.manifest.v2+json" {
		t.Fatalf("describe-images: %s", out)
	}
}
