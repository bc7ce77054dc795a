package testimage_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/runtime/docker"
	"github.com/wharfml/wharf/internal/testimage"
)

// TestContractModes runs the contract program's modes that the runtime
// conformance suite does not.
func TestContractModes(t *testing.T) {
	img := testimage.Build(t, testimage.Contract)
	rt, err := docker.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })

	// train runs one training container and returns its log text and model dir.
	train := func(t *testing.T, hps map[string]string, mounts ...runtime.Mount) (int, string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dir := t.TempDir()
		cfg, model := filepath.Join(dir, "config"), filepath.Join(dir, "model")
		for _, d := range []string{cfg, model} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := json.Marshal(hps)
		if err := os.WriteFile(filepath.Join(cfg, "hyperparameters.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		mounts = append(mounts, runtime.Mount{Source: cfg, Target: "/opt/ml/input/config", ReadOnly: true},
			runtime.Mount{Source: model, Target: "/opt/ml/model"})
		id, err := rt.Start(ctx, runtime.ContainerSpec{Image: img, Cmd: []string{"train"}, Network: "none", Mounts: mounts,
			Labels: map[string]string{runtime.LabelKind: "testimage"}, User: fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rt.Remove(context.Background(), id) })
		st, err := rt.Wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		_ = rt.Logs(ctx, id, false, func(l runtime.LogLine) error { out.WriteString(l.Text + "\n"); return nil })
		return st.Code, out.String(), model
	}

	t.Run("checkpoint", func(t *testing.T) {
		t.Parallel()
		ckpt := t.TempDir()
		if err := os.WriteFile(filepath.Join(ckpt, "old.txt"), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, _ := train(t, map[string]string{"mode": "checkpoint", "steps": "2", "interval_ms": "10"},
			runtime.Mount{Source: ckpt, Target: "/opt/ml/checkpoints"})
		sum := sha256.Sum256([]byte("old"))
		if code != 0 || !strings.Contains(out, "ckpt old.txt "+hex.EncodeToString(sum[:])+"\n") ||
			!strings.Contains(out, "wrote checkpoint step-2.txt\n") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, n := range []string{"step-1.txt", "step-2.txt"} {
			if b, err := os.ReadFile(filepath.Join(ckpt, n)); err != nil || !strings.HasPrefix(string(b), "step ") {
				t.Errorf("%s: %q %v", n, b, err)
			}
		}
	})
	t.Run("symlink", func(t *testing.T) {
		t.Parallel()
		code, _, model := train(t, map[string]string{"mode": "symlink"})
		ok, err1 := os.Readlink(filepath.Join(model, "ok"))
		esc, err2 := os.Readlink(filepath.Join(model, "escape"))
		if code != 0 || ok != "model.txt" || esc != "/etc/passwd" || err1 != nil || err2 != nil {
			t.Errorf("exit %d, ok -> %q (%v), escape -> %q (%v)", code, ok, err1, esc, err2)
		}
	})
	t.Run("bigwrite", func(t *testing.T) {
		t.Parallel()
		code, _, model := train(t, map[string]string{"mode": "bigwrite", "mb": "3"})
		if fi, err := os.Stat(filepath.Join(model, "big.bin")); code != 0 || err != nil || fi.Size() != 3<<20 {
			t.Errorf("exit %d, big.bin %v %v", code, fi, err)
		}
	})
	t.Run("sleep-timeout", func(t *testing.T) {
		t.Parallel()
		code, out, _ := train(t, map[string]string{"mode": "sleep", "seconds": "1"})
		// stdout and stderr interleave, so check order, not adjacency.
		i, j := strings.Index(out, "sleeping\n"), strings.Index(out, "slept\n")
		if code != 0 || i < 0 || j < i || !strings.Contains(out, "train: success") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("serve", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		model := t.TempDir()
		if err := os.WriteFile(filepath.Join(model, "model.txt"), []byte("weights-v1"), 0o644); err != nil {
			t.Fatal(err)
		}
		id, err := rt.Start(ctx, runtime.ContainerSpec{Image: img, Cmd: []string{"serve"}, PublishPort: 9090,
			Labels: map[string]string{runtime.LabelKind: "testimage"},
			Mounts: []runtime.Mount{{Source: model, Target: "/opt/ml/model", ReadOnly: true}},
			Env: map[string]string{"SAGEMAKER_BIND_TO_PORT": "9090", "PING_DELAY_SECONDS": "1",
				"EXEC_PARAMS": `{"BatchStrategy":"MULTI_RECORD"}`, "INVOKE_MODE": "upper"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rt.Remove(context.Background(), id) })
		info, err := rt.Inspect(ctx, id)
		if err != nil || info.HostPort == 0 {
			t.Fatalf("Inspect = %+v, %v", info, err)
		}
		base := fmt.Sprintf("http://127.0.0.1:%d", info.HostPort)
		get := func(path string) (int, string) {
			resp, err := http.Get(base + path)
			if err != nil {
				return 0, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		start := time.Now()
		sawUnavailable := false
		for {
			code, _ := get("/ping")
			if code == 503 {
				sawUnavailable = true
			}
			if code == 200 {
				break
			}
			if time.Since(start) > 20*time.Second {
				t.Fatalf("/ping never 200 (last %d)", code)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !sawUnavailable {
			t.Error("PING_DELAY_SECONDS: /ping answered 200 at once")
		}
		if code, body := get("/execution-parameters"); code != 200 || body != `{"BatchStrategy":"MULTI_RECORD"}` {
			t.Errorf("/execution-parameters = %d %q", code, body)
		}
		if code, body := get("/model"); code != 200 || body != "weights-v1" {
			t.Errorf("/model = %d %q", code, body)
		}
		if code, body := get("/env"); code != 200 || !strings.Contains(body, `"INVOKE_MODE":"upper"`) {
			t.Errorf("/env = %d %q", code, body)
		}
		resp, err := http.Post(base+"/invocations", "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "HELLO" {
			t.Errorf("upper = %q", b)
		}
	})
	t.Run("ping-fail", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		id, err := rt.Start(ctx, runtime.ContainerSpec{Image: img, Cmd: []string{"serve"}, PublishPort: 8080,
			Labels: map[string]string{runtime.LabelKind: "testimage"}, Env: map[string]string{"PING_FAIL": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rt.Remove(context.Background(), id) })
		info, _ := rt.Inspect(ctx, id)
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ping", info.HostPort))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 500 {
					t.Errorf("/ping = %d, want 500", resp.StatusCode)
				}
				if resp2, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/execution-parameters", info.HostPort)); err == nil {
					resp2.Body.Close()
					if resp2.StatusCode != 404 {
						t.Errorf("/execution-parameters without EXEC_PARAMS = %d", resp2.StatusCode)
					}
				}
				break
			}
			if time.Since(start) > 20*time.Second {
				t.Fatalf("no answer: %v", err)
			}
		}
	})
}
