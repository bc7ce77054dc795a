package sbomapi_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/awsapi/sigv4"
	blobfs "github.com/wharfml/wharf/internal/blob/fs"
	"github.com/wharfml/wharf/internal/registry"
	"github.com/wharfml/wharf/internal/sbomapi"
	"github.com/wharfml/wharf/internal/scan"
	"github.com/wharfml/wharf/internal/store/sqlite"
)

const (
	accountA, keyA, secretA = "111111111111", "AKIAAAAAAAAAAAAAAAAA", "secret-a"
	accountB, keyB, secretB = "222222222222", "AKIABBBBBBBBBBBBBBBB", "secret-b"
)

var keys = map[string]struct {
	secret string
	id     awsapi.Identity
}{
	keyA: {secretA, awsapi.Identity{AccountID: accountA, AccessKeyID: keyA}},
	keyB: {secretB, awsapi.Identity{AccountID: accountB, AccessKeyID: keyB}},
}

type auth struct{}

func (auth) Authenticate(_ context.Context, id, secret string) (awsapi.Identity, error) {
	if k, ok := keys[id]; ok && k.secret == secret {
		return k.id, nil
	}
	return awsapi.Identity{}, registry.ErrInvalidCredentials
}

func (auth) Lookup(_ context.Context, id string) (awsapi.Identity, error) {
	if k, ok := keys[id]; ok {
		return k.id, nil
	}
	return awsapi.Identity{}, registry.ErrInvalidCredentials
}

// env is a real registry, scan service and SigV4 verifier behind one
// listener that dispatches like the server does.
type env struct {
	rg    *registry.Registry
	scans *scan.Service
	srv   *httptest.Server
	host  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	blobs, err := blobfs.Open(filepath.Join(dir, "blobs"), blobfs.WithSync(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	rg, err := registry.New(ctx, registry.Config{Blobs: blobs, TempDir: filepath.Join(dir, "uploads"), Auth: auth{}, Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rg.Close() })
	meta, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	scans := &scan.Service{Store: meta, Images: rg}
	done := make(chan struct{})
	go func() { scans.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	verifier := &sigv4.Verifier{Lookup: func(_ context.Context, id string) (string, awsapi.Identity, error) {
		if k, ok := keys[id]; ok {
			return k.secret, k.id, nil
		}
		return "", awsapi.Identity{}, sigv4.ErrUnknownKey
	}}
	api := &sbomapi.Handler{Registry: rg, Scans: scans, Verifier: verifier}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sbomapi.Match(r) {
			api.ServeHTTP(w, r)
			return
		}
		rg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &env{rg: rg, scans: scans, srv: srv, host: strings.TrimPrefix(srv.URL, "http://")}
}

const dpkgStatus = "Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n\n" +
	"Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n"

func tarLayer(t *testing.T, files map[string]string, modes map[string]int64) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		mode := int64(0o644)
		if m, ok := modes[name]; ok {
			mode = m
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, body)
	}
	tw.Close()
	b := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func algoImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, tarLayer(t, map[string]string{
		"etc/os-release":      "ID=debian\nVERSION_ID=\"12\"\n",
		"var/lib/dpkg/status": dpkgStatus,
		"usr/local/bin/train": "#!/bin/sh\n",
	}, map[string]int64{"usr/local/bin/train": 0o755}))
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{ExposedPorts: map[string]struct{}{"8080/tcp": {}}, User: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// push writes img as account A and returns its digest.
func (e *env) push(t *testing.T, repoTag string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(e.host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: keyA, Password: secretA})); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

// scanned enqueues a scan and waits for it to finish.
func (e *env) scanned(t *testing.T, repo, dgst string) {
	t.Helper()
	ctx := context.Background()
	if err := e.scans.Enqueue(ctx, accountA, repo, dgst); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if res, ok, err := e.scans.Get(ctx, accountA, repo, dgst); err != nil || (ok && res.Status != scan.StatusInProgress) {
			return
		}
	}
	t.Fatal("scan did not finish")
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) errCode() string {
	var e struct{ Code, Message string }
	json.Unmarshal(r.body, &e)
	return e.Code
}

func (e *env) get(t *testing.T, method, path string, setAuth func(*http.Request)) reply {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if setAuth != nil {
		setAuth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func sigv4Auth(key, secret, service string) func(*http.Request) {
	return func(r *http.Request) {
		sum := sha256.Sum256(nil)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
			r, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now())
		if err != nil {
			panic(err)
		}
	}
}

func TestSBOMAndContract(t *testing.T) {
	e := newEnv(t)
	dgst := e.push(t, "team/algo:1", algoImage(t))
	e.scanned(t, "team/algo", dgst)
	base := "/api/v1/registry/repositories/team/algo/images/"
	owner := basic(keyA, secretA)

	// CycloneDX by default, SPDX on request.
	r := e.get(t, "GET", base+dgst+"/sbom", owner)
	if r.status != 200 || r.header.Get("Content-Type") != "application/vnd.cyclonedx+json" {
		t.Fatalf("cyclonedx: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var cdx struct {
		BOMFormat, SpecVersion string
		Metadata               struct {
			Component struct{ Name, Version, Purl string }
		}
		Components []struct{ Name, Purl string }
	}
	if err := json.Unmarshal(r.body, &cdx); err != nil {
		t.Fatal(err)
	}
	purls := map[string]bool{}
	for _, c := range cdx.Components {
		purls[c.Purl] = true
	}
	wantPurl := "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12&upstream=openssl"
	if cdx.BOMFormat != "CycloneDX" || cdx.SpecVersion != "1.5" || !purls[wantPurl] || cdx.Metadata.Component.Version != dgst ||
		cdx.Metadata.Component.Purl != "pkg:oci/algo@"+strings.Replace(dgst, ":", "%3A", 1)+"?repository_url="+e.host+"/team/algo" {
		t.Fatalf("cyclonedx doc: %s", r.body)
	}
	r = e.get(t, "GET", base+dgst+"/sbom?format=spdx", owner)
	if r.status != 200 || r.header.Get("Content-Type") != "application/spdx+json" {
		t.Fatalf("spdx: %d %s", r.status, r.body)
	}
	var spdx struct {
		SPDXVersion string
		Packages    []struct {
			Name         string
			ExternalRefs []struct{ ReferenceLocator string }
		}
	}
	json.Unmarshal(r.body, &spdx)
	found := false
	for _, p := range spdx.Packages {
		for _, ref := range p.ExternalRefs {
			found = found || (p.Name == "libssl3" && ref.ReferenceLocator == wantPurl)
		}
	}
	if spdx.SPDXVersion != "SPDX-2.3" || !found {
		t.Fatalf("spdx doc: %s", r.body)
	}

	// By tag, with an ECR token, and signed with SigV4 for ecr.
	token, _ := e.rg.IssueToken(keyA)
	for what, a := range map[string]func(*http.Request){"token": basic(registry.TokenUser, token), "sigv4": sigv4Auth(keyA, secretA, "ecr")} {
		if r := e.get(t, "GET", base+"1/sbom", a); r.status != 200 || !bytes.Contains(r.body, []byte(wantPurl)) {
			t.Errorf("%s by tag: %d %s", what, r.status, r.body)
		}
	}

	// The contract check.
	r = e.get(t, "GET", base+dgst+"/contract", owner)
	var c struct {
		Repository, ImageDigest, TrainReason, AcceptBindToPort, User string
		TrainInvocable, ServeInvocable, UserIsRoot                   bool
		ExposedPorts                                                 []string
		UncompressedSize                                             int64
	}
	if err := json.Unmarshal(r.body, &c); err != nil || r.status != 200 {
		t.Fatalf("contract: %d %s", r.status, r.body)
	}
	if c.Repository != "team/algo" || c.ImageDigest != dgst || !c.TrainInvocable || c.ServeInvocable || c.UserIsRoot || c.User != "1000" ||
		c.TrainReason != "/usr/local/bin/train is executable on PATH" || c.AcceptBindToPort != "absent" || len(c.ExposedPorts) != 1 || c.UncompressedSize == 0 {
		t.Fatalf("contract: %s", r.body)
	}

	// HEAD works like GET without a body.
	if r := e.get(t, "HEAD", base+dgst+"/sbom", owner); r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD: %d %q", r.status, r.body)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	dgst := e.push(t, "algo:1", algoImage(t))
	e.scanned(t, "algo", dgst)
	base := "/api/v1/registry/repositories/algo/images/"
	owner := basic(keyA, secretA)

	for _, tc := range []struct {
		what, method, path string
		auth               func(*http.Request)
		status             int
		code               string
	}{
		{"no credentials", "GET", base + dgst + "/sbom", nil, 401, "Unauthenticated"},
		{"wrong secret", "GET", base + dgst + "/sbom", basic(keyA, "nope"), 401, "Unauthenticated"},
		{"bad token", "GET", base + dgst + "/sbom", basic("AWS", "wharf1.forged.mac"), 401, "Unauthenticated"},
		{"other account", "GET", base + dgst + "/sbom", basic(keyB, secretB), 403, "AccessDenied"},
		{"other account, contract", "GET", base + dgst + "/contract", basic(keyB, secretB), 403, "AccessDenied"},
		{"other account, sigv4", "GET", base + dgst + "/sbom", sigv4Auth(keyB, secretB, "ecr"), 403, "AccessDenied"},
		{"bad signature", "GET", base + dgst + "/sbom", sigv4Auth(keyA, "wrong", "ecr"), 403, "InvalidSignatureException"},
		{"unknown repository", "GET", "/api/v1/registry/repositories/nope/images/" + dgst + "/sbom", owner, 404, "RepositoryNotFound"},
		{"unknown repository, sigv4", "GET", "/api/v1/registry/repositories/nope/images/" + dgst + "/sbom", sigv4Auth(keyA, secretA, "ecr"), 404, "RepositoryNotFound"},
		{"unknown image", "GET", base + "sha256:" + strings.Repeat("0", 64) + "/sbom", owner, 404, "ImageNotFound"},
		{"unknown tag", "GET", base + "v9/sbom", owner, 404, "ImageNotFound"},
		{"unknown image, sigv4", "GET", base + "v9/contract", sigv4Auth(keyA, secretA, "ecr"), 404, "ImageNotFound"},
		{"bad digest", "GET", base + "sha256:xyz/sbom", owner, 400, "InvalidParameter"},
		{"bad digest, unauthenticated", "GET", base + "sha256:xyz/sbom", nil, 401, "Unauthenticated"},
		{"bad format", "GET", base + dgst + "/sbom?format=xml", owner, 400, "InvalidParameter"},
		{"unknown resource", "GET", base + dgst + "/vex", owner, 404, "NotFound"},
		{"method", "DELETE", base + dgst + "/sbom", owner, 405, "MethodNotAllowed"},
	} {
		r := e.get(t, tc.method, tc.path, tc.auth)
		if r.status != tc.status || r.errCode() != tc.code || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s, want %d %s", tc.what, r.status, r.body, tc.status, tc.code)
		}
		if r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic realm=") {
			t.Errorf("%s: challenge %q", tc.what, r.header.Get("WWW-Authenticate"))
		}
	}
	if r := e.get(t, "GET", base+dgst+"/sbom", basic(keyA, "nope")); !strings.Contains(string(r.body), "invalid username or password") {
		t.Errorf("401 reason: %s", r.body)
	}

	// An image never scanned, one being scanned, one whose scan failed.
	unscanned := e.push(t, "algo:2", mustConfig(t, algoImage(t), v1.Config{User: "2"}))
	if r := e.get(t, "GET", base+unscanned+"/sbom", owner); r.status != 404 || r.errCode() != "ScanNotFound" || !strings.Contains(string(r.body), "start-image-scan") {
		t.Errorf("unscanned: %d %s", r.status, r.body)
	}
	idle := &scan.Service{Store: e.scans.Store} // never runs: the scan stays queued
	if err := idle.Enqueue(context.Background(), accountA, "algo", unscanned); err != nil {
		t.Fatal(err)
	}
	if r := e.get(t, "GET", base+unscanned+"/contract", owner); r.status != 409 || r.errCode() != "ScanInProgress" || r.header.Get("Retry-After") == "" {
		t.Errorf("in progress: %d %s", r.status, r.body)
	}
	junk, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte(strings.Repeat("not a tar ", 200)), types.DockerLayer))
	if err != nil {
		t.Fatal(err)
	}
	broken := e.push(t, "algo:junk", junk)
	e.scanned(t, "algo", broken)
	if r := e.get(t, "GET", base+broken+"/sbom", owner); r.status != 409 || r.errCode() != "ScanFailed" {
		t.Errorf("failed scan: %d %s", r.status, r.body)
	}
}

func mustConfig(t *testing.T, img v1.Image, cfg v1.Config) v1.Image {
	t.Helper()
	img, err := mutate.Config(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		path, auth, target string
		want               bool
	}{
		{"/api/v1/registry/repositories/a/images/x/sbom", "", "", true},
		{"/api/v1/registry/repositories/a/images/x/sbom", "Basic eDp5", "", true},
		{"/api/v1/registry/repositories/a/images/x/sbom", "AWS4-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000", "", true},
		// S3 path-style for a bucket named "api", and anything else signed for another service.
		{"/api/v1/registry/repositories/a/images/x/sbom", "AWS4-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000", "", false},
		{"/api/v1/registry/x", "", "SageMaker.ListModels", false},
		{"/api/v2/other", "", "", false},
		{"/v2/api/v1/registry/", "", "", false},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if tc.target != "" {
			r.Header.Set("X-Amz-Target", tc.target)
		}
		if got := sbomapi.Match(r); got != tc.want {
			t.Errorf("Match(%s, %q, %q) = %v", tc.path, tc.auth, tc.target, got)
		}
	}
	if got := fmt.Sprint(sbomapi.OperationName(httptest.NewRequest("GET", "/api/v1/registry/repositories/a/images/x/contract", nil))); got != "GetImageContract" {
		t.Errorf("operation %s", got)
	}
}
