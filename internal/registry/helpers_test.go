package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/blob"
	blobfs "github.com/wharfml/wharf/internal/blob/fs"
)

// testAuth is an Authenticator over a map of access keys.
type testAuth struct {
	mu   sync.Mutex
	keys map[string]testKey
}

type testKey struct {
	secret string
	id     awsapi.Identity
}

const (
	accountA = "111111111111"
	keyA     = "AKIAAAAAAAAAAAAAAAAA"
	secretA  = "secret-a"
	accountB = "222222222222"
	keyB     = "AKIABBBBBBBBBBBBBBBB"
	secretB  = "secret-b"
)

func newTestAuth() *testAuth {
	return &testAuth{keys: map[string]testKey{
		keyA: {secretA, awsapi.Identity{AccountID: accountA, AccessKeyID: keyA}},
		keyB: {secretB, awsapi.Identity{AccountID: accountB, AccessKeyID: keyB}},
	}}
}

func (a *testAuth) Authenticate(_ context.Context, id, secret string) (awsapi.Identity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.keys[id]
	if !ok || k.secret != secret {
		return awsapi.Identity{}, ErrInvalidCredentials
	}
	return k.id, nil
}

func (a *testAuth) Lookup(_ context.Context, id string) (awsapi.Identity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.keys[id]
	if !ok {
		return awsapi.Identity{}, fmt.Errorf("key %s: %w", id, ErrInvalidCredentials)
	}
	return k.id, nil
}

func (a *testAuth) remove(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.keys, id)
}

type testEnv struct {
	rg     *Registry
	srv    *httptest.Server
	host   string // 127.0.0.1:port
	auth   *testAuth
	blobs  blob.Store
	tmp    string
	mu     sync.Mutex
	events []PushEvent
	now    time.Time
}

func (e *testEnv) pushes() []PushEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]PushEvent(nil), e.events...)
}

// testLogger writes to the test log at Info (Debug with -v and
// WHARF_REGISTRY_DEBUG=1).
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("WHARF_REGISTRY_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newEnv starts a registry on 127.0.0.1 over a fresh filesystem blob store.
func newEnv(t testing.TB, opts ...func(*Config)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	blobs, err := blobfs.Open(filepath.Join(dir, "blobs"), blobfs.WithSync(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	e := &testEnv{auth: newTestAuth(), blobs: blobs, tmp: filepath.Join(dir, "uploads")}
	cfg := Config{
		Blobs:   blobs,
		TempDir: e.tmp,
		Auth:    e.auth,
		Logger:  testLogger(t),
		Key:     []byte("0123456789abcdef0123456789abcdef"),
		OnPush: func(_ context.Context, ev PushEvent) {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	rg, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rg.Close() })
	e.rg = rg
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v2/", rg)
	mux.Handle("/v2", rg)
	var h http.Handler = mux
	if os.Getenv("WHARF_REGISTRY_TRACE") != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w}
			mux.ServeHTTP(sw, r)
			t.Logf("TRACE %s %s -> %d", r.Method, r.URL, sw.status)
		})
	}
	e.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	e.host = l.Addr().String()
	return e
}

// client is a minimal registry client for protocol-level tests.
type client struct {
	t          *testing.T
	base       string
	user, pass string
}

func (e *testEnv) client(t *testing.T, user, pass string) *client {
	return &client{t: t, base: e.srv.URL, user: user, pass: pass}
}

type response struct {
	*http.Response
	body []byte
}

func (r *response) String() string { return fmt.Sprintf("%d %s", r.StatusCode, r.body) }

// errorCode returns the first OCI error code of the body.
func (r *response) errorCode() string {
	var b struct {
		Errors []struct{ Code, Message string }
	}
	if json.Unmarshal(r.body, &b) != nil || len(b.Errors) == 0 {
		return ""
	}
	return b.Errors[0].Code
}

func (r *response) errorMessage() string {
	var b struct {
		Errors []struct{ Code, Message string }
	}
	if json.Unmarshal(r.body, &b) != nil || len(b.Errors) == 0 {
		return ""
	}
	return b.Errors[0].Message
}

func (c *client) do(method, target string, body []byte, header ...string) *response {
	c.t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = c.base + target
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{Response: resp, body: b}
}

func digestOf(b []byte) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

// pushBlob uploads data monolithically (POST then PUT) and returns the
// final response.
func (c *client) pushBlob(repo string, data []byte) *response {
	c.t.Helper()
	r := c.do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
	if r.StatusCode != http.StatusAccepted {
		return r
	}
	loc := r.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return c.do("PUT", loc+sep+"digest="+digestOf(data), data, "Content-Type", "application/octet-stream")
}

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

// image builds an OCI image manifest over a config and one layer.
func image(content string) (manifest, config, layer []byte) {
	config = []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":"` + content + `"}`)
	layer = []byte("layer:" + content)
	manifest = []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		ociManifest, digestOf(config), len(config), digestOf(layer), len(layer)))
	return
}

// pushImage pushes an image built from content under repo:ref and returns
// the manifest's digest and the manifest PUT response.
func (c *client) pushImage(repo, ref, content string) (string, *response) {
	c.t.Helper()
	m, cfg, layer := image(content)
	for _, b := range [][]byte{cfg, layer} {
		if r := c.pushBlob(repo, b); r.StatusCode != http.StatusCreated {
			return "", r
		}
	}
	return digestOf(m), c.do("PUT", "/v2/"+repo+"/manifests/"+ref, m, "Content-Type", ociManifest)
}
