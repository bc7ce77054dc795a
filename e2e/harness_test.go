// Package e2e drives a real wharf binary with the installed AWS CLI, the way
// a user following the README would.
package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// wharfBinary builds ./cmd/wharf once per test run.
func wharfBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wharf-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "wharf")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/wharf")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// serverProc is a wharf server running as a subprocess.
type serverProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string
	dataDir string
	logs    *os.File
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `wharf server` on addr with dataDir and waits for /healthz.
func startServer(t *testing.T, addr, dataDir string, env ...string) *serverProc {
	t.Helper()
	logs, err := os.CreateTemp(t.TempDir(), "server-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(wharfBinary(t), "server", "--addr", addr, "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{t: t, cmd: cmd, addr: addr, dataDir: dataDir, logs: logs}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("server log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server did not become healthy")
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serverProc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.t.Fatalf("server exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		p.t.Fatal("server did not stop on SIGTERM")
	}
}

func (p *serverProc) url() string { return "http://" + p.addr }

// creds are an access key pair as `wharf admin create-account` prints it.
type creds struct {
	AccountId       string
	AccessKeyId     string
	SecretAccessKey string
}

// readRootCredentials parses the shared-credentials file the server wrote.
func readRootCredentials(t *testing.T, path string) creds {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var c creds
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			c.AccessKeyId = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.SecretAccessKey = strings.TrimSpace(v)
		}
	}
	if c.AccessKeyId == "" || c.SecretAccessKey == "" {
		t.Fatalf("no keys in %s", path)
	}
	return c
}

// cliEnv is an environment that points the AWS CLI at the given keys only.
func cliEnv(t *testing.T, c creds) []string {
	home := t.TempDir()
	env := []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"AWS_ACCESS_KEY_ID=" + c.AccessKeyId,
		"AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_PAGER=",
	}
	for _, k := range []string{"PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH", "LANG", "LC_ALL"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// run executes a command and returns stdout; stderr is kept for failures.
func run(env []string, name string, args ...string) (string, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// awsOK runs the AWS CLI and fails the test on a non-zero exit.
func awsOK(t *testing.T, env []string, endpoint string, args ...string) string {
	t.Helper()
	out, errOut, err := run(env, "aws", append([]string{"--endpoint-url", endpoint}, args...)...)
	if err != nil {
		t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// awsFail runs the AWS CLI, expects a failure, and returns stderr.
func awsFail(t *testing.T, env []string, endpoint string, args ...string) string {
	t.Helper()
	out, errOut, err := run(env, "aws", append([]string{"--endpoint-url", endpoint}, args...)...)
	if err == nil {
		t.Fatalf("aws %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}
