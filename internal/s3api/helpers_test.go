package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/awsapi/sigv4"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/blob/fs"
	"github.com/wharfml/wharf/internal/store"
)

// Test accounts, keyed by access key id.
var testAccounts = map[string]string{
	"AKIDALICE": "111111111111",
	"AKIDBOB":   "222222222222",
}

// memBuckets is an in-memory BucketStore.
type memBuckets struct {
	mu sync.Mutex
	m  map[string]store.Bucket
}

func newMemBuckets() *memBuckets { return &memBuckets{m: map[string]store.Bucket{}} }

func (s *memBuckets) CreateBucket(_ context.Context, b store.Bucket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[b.Name]; ok {
		return store.ErrExists
	}
	s.m[b.Name] = b
	return nil
}

func (s *memBuckets) GetBucket(_ context.Context, name string) (store.Bucket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[name]
	if !ok {
		return store.Bucket{}, store.ErrNotFound
	}
	return b, nil
}

func (s *memBuckets) ListBuckets(_ context.Context, owner string) ([]store.Bucket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Bucket
	for _, b := range s.m {
		if b.Owner == owner {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *memBuckets) DeleteBucket(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[name]; !ok {
		return store.ErrNotFound
	}
	delete(s.m, name)
	return nil
}

// testAuth is the authentication the server puts in front of the handler:
// the real SigV4 verifier (which also decodes aws-chunked bodies and checks
// payload hashes, chunk signatures and trailing checksums). Requests with
// no authentication at all go through without an identity, so that the
// handler's own refusal is tested.
func testAuth(next http.Handler) http.Handler {
	v := &sigv4.Verifier{Lookup: func(_ context.Context, akid string) (string, awsapi.Identity, error) {
		acct, ok := testAccounts[akid]
		if !ok {
			return "", awsapi.Identity{}, sigv4.ErrUnknownKey
		}
		return testSecret(akid), awsapi.Identity{AccountID: acct, AccessKeyID: akid}, nil
	}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" && !r.URL.Query().Has("X-Amz-Credential") {
			next.ServeHTTP(w, r)
			return
		}
		id, err := v.Verify(r)
		if err != nil {
			var se *sigv4.Error
			if errors.As(err, &se) {
				WriteError(w, r, se.HTTPStatus(true), se.S3Code(), se.S3Message())
				return
			}
			WriteError(w, r, http.StatusInternalServerError, "InternalError", err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(awsapi.WithIdentity(r.Context(), id)))
	})
}

func testSecret(akid string) string { return "secret-" + akid }

// env is a running handler with SDK clients for two accounts.
type env struct {
	t       *testing.T
	h       *Handler
	srv     *httptest.Server
	blobs   blob.Store
	buckets *memBuckets
	alice   *s3.Client
	bob     *s3.Client
}

type envOpts struct {
	tls    bool
	region string
	cfg    func(*Config)
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	bs, err := fs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	e := &env{t: t, blobs: bs, buckets: newMemBuckets()}
	logLevel := slog.LevelWarn
	if testing.Verbose() {
		logLevel = slog.LevelDebug
	}
	cfg := Config{
		Blobs: bs, Buckets: e.buckets, Region: o.region,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})),
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	e.h = New(cfg)
	if o.tls {
		e.srv = httptest.NewTLSServer(testAuth(e.h))
	} else {
		e.srv = httptest.NewServer(testAuth(e.h))
	}
	t.Cleanup(e.srv.Close)
	e.alice = e.client("AKIDALICE")
	e.bob = e.client("AKIDBOB")
	return e
}

func (e *env) client(akid string) *s3.Client {
	region := e.h.region
	return s3.New(s3.Options{
		BaseEndpoint:     aws.String(e.srv.URL),
		UsePathStyle:     true,
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(akid, testSecret(akid), ""),
		HTTPClient:       e.srv.Client(),
		RetryMaxAttempts: 1,
		// As config.LoadDefaultConfig sets them.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	})
}

// mkBucket creates a bucket as alice.
func (e *env) mkBucket(name string) {
	e.t.Helper()
	if _, err := e.alice.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		e.t.Fatalf("CreateBucket %s: %v", name, err)
	}
}

// put stores an object as alice.
func (e *env) put(bucket, key string, data []byte) *s3.PutObjectOutput {
	e.t.Helper()
	out, err := e.alice.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
	})
	if err != nil {
		e.t.Fatalf("PutObject %s/%q: %v", bucket, key, err)
	}
	return out
}

// get reads an object as alice.
func (e *env) get(bucket, key string) []byte {
	e.t.Helper()
	out, err := e.alice.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		e.t.Fatalf("GetObject %s/%q: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatalf("GetObject %s/%q: read: %v", bucket, key, err)
	}
	return b
}

// raw sends a hand-built request signed by akid ("" for an anonymous one).
func (e *env) raw(akid, method, path string, body []byte, hdr map[string]string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
		req.ContentLength = 0
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if akid != "" {
		sum := sha256.Sum256(body)
		e.sign(req, akid, hex.EncodeToString(sum[:]))
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// sign signs req with SigV4 as akid, for the given payload hash.
func (e *env) sign(req *http.Request, akid, payloadHash string) {
	e.t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: testSecret(akid)}
	err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		SignHTTP(tctx, creds, req, payloadHash, "s3", e.h.region, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
}

// readAll reads and closes a response body.
func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errCode returns the S3 error code of an SDK error.
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// errStatus returns the HTTP status of an SDK error.
func errStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// wantErr fails unless err is an S3 error with this code and status.
func wantErr(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s (%d), got success", code, status)
	}
	if code != "" && errCode(err) != code {
		t.Fatalf("want code %s, got %q (%v)", code, errCode(err), err)
	}
	if status != 0 && errStatus(err) != status {
		t.Fatalf("want status %d, got %d (%v)", status, errStatus(err), err)
	}
}

var tctx = context.Background()

// mustReq builds a request signed by alice with an unsigned body of
// unknown length.
func mustReq(t *testing.T, e *env, method, path string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	e.sign(req, "AKIDALICE", "UNSIGNED-PAYLOAD")
	return req
}
