package ecr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/smithy-go"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/awsapi/shapes"
	blobfs "github.com/wharfml/wharf/internal/blob/fs"
	"github.com/wharfml/wharf/internal/registry"
)

const (
	accountA = "111111111111"
	keyA     = "AKIAAAAAAAAAAAAAAAAA"
	secretA  = "secret-a"
	accountB = "222222222222"
	keyB     = "AKIABBBBBBBBBBBBBBBB"
	secretB  = "secret-b"
)

type key struct {
	secret string
	id     awsapi.Identity
}

// keys is the test's IAM: an Authenticator for the registry and the
// identity lookup of the test's stand-in for SigV4.
type keys map[string]key

func (k keys) Authenticate(_ context.Context, id, secret string) (awsapi.Identity, error) {
	if v, ok := k[id]; ok && v.secret == secret {
		return v.id, nil
	}
	return awsapi.Identity{}, registry.ErrInvalidCredentials
}

func (k keys) Lookup(_ context.Context, id string) (awsapi.Identity, error) {
	if v, ok := k[id]; ok {
		return v.id, nil
	}
	return awsapi.Identity{}, registry.ErrInvalidCredentials
}

var credentialRE = regexp.MustCompile(`Credential=([A-Z0-9]+)/\d{8}/[a-z0-9-]+/([a-z0-9.-]+)/aws4_request`)

// identify stands in for the server's SigV4 verification: it takes the
// access key id from the Authorization header without checking the
// signature, and puts its identity in the request context. It also checks
// that clients sign with service name SigningName ("ecr").
func (k keys) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			awsjson.WriteError(w, awsjson.Errorf("MissingAuthenticationTokenException", http.StatusForbidden, "Missing Authentication Token"))
			return
		}
		if m[2] != SigningName {
			awsjson.WriteError(w, awsjson.Errorf("InvalidSignatureException", http.StatusForbidden, "Credential should be scoped to correct service: '%s'.", SigningName))
			return
		}
		v, ok := k[m[1]]
		if !ok {
			awsjson.WriteError(w, awsjson.Errorf("UnrecognizedClientException", http.StatusForbidden, "The security token included in the request is invalid."))
			return
		}
		next.ServeHTTP(w, r.WithContext(awsapi.WithIdentity(r.Context(), v.id)))
	})
}

type env struct {
	sizes map[string]int // manifest sizes by digest
	rg    *registry.Registry
	srv   *httptest.Server
	host  string
	keys  keys
}

// newEnv serves the registry (/v2/) and the ECR API (everything else) on
// one 127.0.0.1 listener, as the Wharf server does.
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	blobs, err := blobfs.Open(filepath.Join(dir, "blobs"), blobfs.WithSync(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	e := &env{sizes: map[string]int{}, keys: keys{
		keyA: {secretA, awsapi.Identity{AccountID: accountA, AccessKeyID: keyA}},
		keyB: {secretB, awsapi.Identity{AccountID: accountB, AccessKeyID: keyB}},
	}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.rg, err = registry.New(context.Background(), registry.Config{
		Blobs: blobs, TempDir: filepath.Join(dir, "uploads"), Auth: e.keys, Logger: logger,
		Key: []byte("0123456789abcdef0123456789abcdef"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.rg.Close() })
	router := &awsjson.Router{TargetPrefix: TargetPrefix, Model: shapes.MustLoad("ecr"), Logger: logger}
	(&Service{Registry: e.rg, Region: "us-east-1"}).Register(router)
	mux := http.NewServeMux()
	mux.Handle("/v2/", e.rg)
	mux.Handle("/", e.keys.identify(Handler(router)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: mux}}
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	e.host = l.Addr().String()
	return e
}

// client returns an aws-sdk-go-v2 ECR client for an access key.
func (e *env) client(keyID, secret string) *ecr.Client {
	return ecr.NewFromConfig(aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		RetryMaxAttempts: 1,
	}, func(o *ecr.Options) { o.BaseEndpoint = aws.String(e.srv.URL) })
}

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// do sends a registry request with Basic auth.
func (e *env) do(t *testing.T, user, pass, method, target string, body []byte, header ...string) *http.Response {
	t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = e.srv.URL + target
	}
	req, _ := http.NewRequest(method, target, bytes.NewReader(body))
	req.SetBasicAuth(user, pass)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

func (e *env) pushBlob(t *testing.T, user, pass, repo string, data []byte) {
	t.Helper()
	r := e.do(t, user, pass, "POST", "/v2/"+repo+"/blobs/uploads/", nil)
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d", r.StatusCode)
	}
	r = e.do(t, user, pass, "PUT", r.Header.Get("Location")+"&digest="+digestOf(data), data)
	if r.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(r.Body)
		t.Fatalf("upload: %d %s", r.StatusCode, b)
	}
}

const (
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	ociIndex    = "application/vnd.oci.image.index.v1+json"
	ociConfig   = "application/vnd.oci.image.config.v1+json"
)

// pushImage pushes a one-layer OCI image whose layer holds layerSize bytes
// under ref (a tag, or "" to push by digest) and returns the manifest digest and the PUT response status.
func (e *env) pushImage(t *testing.T, user, pass, repo, ref, content string, layerSize int) (string, int) {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","x":"` + content + `"}`)
	layer := bytes.Repeat([]byte(content[:1]), layerSize)
	e.pushBlob(t, user, pass, repo, config)
	e.pushBlob(t, user, pass, repo, layer)
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		ociManifest, ociConfig, digestOf(config), len(config), digestOf(layer), len(layer)))
	if ref == "" {
		ref = digestOf(m) // push by digest: an untagged image
	}
	r := e.do(t, user, pass, "PUT", "/v2/"+repo+"/manifests/"+ref, m, "Content-Type", ociManifest)
	e.sizes[digestOf(m)] = len(m)
	return digestOf(m), r.StatusCode
}

// pushIndex pushes an OCI index over the given manifests.
func (e *env) pushIndex(t *testing.T, user, pass, repo, ref string, children ...string) string {
	t.Helper()
	var ms []string
	for _, d := range children {
		n := e.sizes[d]
		ms = append(ms, fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"amd64","os":"linux"}}`, ociManifest, d, n))
	}
	idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[%s]}`, ociIndex, strings.Join(ms, ",")))
	r := e.do(t, user, pass, "PUT", "/v2/"+repo+"/manifests/"+ref, idx, "Content-Type", ociIndex)
	if r.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(r.Body)
		t.Fatalf("push index: %d %s", r.StatusCode, b)
	}
	return digestOf(idx)
}
