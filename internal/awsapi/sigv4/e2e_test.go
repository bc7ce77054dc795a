package sigv4

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// fakeS3 is the smallest S3 that the SDK and the CLI accept for uploads:
// PutObject, GetObject, and the three multipart calls. Every request goes
// through Verify and the whole (decoded) body is read, as a real front would.
type fakeS3 struct {
	v *Verifier

	mu      sync.Mutex
	objects map[string][]byte
	uploads map[string]map[int][]byte
	seen    []seenRequest
}

// seenRequest records how a client sent a body.
type seenRequest struct {
	method, path, payload, encoding string
	headerSums, transfer            []string
	trailers                        http.Header
	n                               int
	err                             error
}

func (s seenRequest) String() string {
	v := s.payload
	if v == "" {
		v = "(no x-amz-content-sha256)"
	}
	var tr []string
	for k, vs := range s.trailers {
		tr = append(tr, k+"="+strings.Join(vs, ","))
	}
	sort.Strings(tr)
	out := fmt.Sprintf("%s %s: %s", s.method, s.path, v)
	if s.encoding != "" {
		out += " content-encoding=" + s.encoding
	}
	if len(s.transfer) > 0 {
		out += " transfer-encoding=" + strings.Join(s.transfer, ",")
	}
	if len(s.headerSums) > 0 {
		out += " header-checksums[" + strings.Join(s.headerSums, " ") + "]"
	}
	if len(tr) > 0 {
		out += " trailers[" + strings.Join(tr, " ") + "]"
	}
	out += fmt.Sprintf(" decoded=%d", s.n)
	if s.err != nil {
		out += " error=" + s.err.Error()
	}
	return out
}

func newFakeS3(v *Verifier) *fakeS3 {
	return &fakeS3{v: v, objects: map[string][]byte{}, uploads: map[string]map[int][]byte{}}
}

func (f *fakeS3) variants() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.seen {
		out = append(out, s.String())
	}
	return out
}

func (f *fakeS3) object(key string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objects[key]
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	seen := seenRequest{
		method: r.Method, path: r.URL.Path,
		payload:  r.Header.Get("X-Amz-Content-Sha256"),
		encoding: r.Header.Get("Content-Encoding"),
	}
	seen.transfer = r.TransferEncoding
	for k := range r.Header {
		if strings.HasPrefix(k, "X-Amz-Checksum-") {
			seen.headerSums = append(seen.headerSums, k)
		}
	}
	sort.Strings(seen.headerSums)
	if seen.payload == "" && r.URL.Query().Has("X-Amz-Signature") {
		seen.payload = "(presigned)"
	}
	_, err := f.v.Verify(r)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(r.Body)
		seen.trailers = Trailers(r.Body)
	}
	seen.n, seen.err = len(data), err
	f.mu.Lock()
	f.seen = append(f.seen, seen)
	f.mu.Unlock()
	if err != nil {
		writeS3Error(w, err)
		return
	}

	key := strings.TrimPrefix(r.URL.Path, "/")
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		id := strconv.Itoa(len(f.uploads) + 1)
		f.uploads[id] = map[int][]byte{}
		bucket, k, _ := strings.Cut(key, "/")
		writeXML(w, struct {
			XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
			Bucket   string
			Key      string
			UploadId string
		}{Bucket: bucket, Key: k, UploadId: id})
	case r.Method == http.MethodPut && q.Has("uploadId"):
		parts, ok := f.uploads[q.Get("uploadId")]
		n, _ := strconv.Atoi(q.Get("partNumber"))
		if !ok || n < 1 {
			http.Error(w, "no such upload", http.StatusNotFound)
			return
		}
		parts[n] = data
		w.Header().Set("ETag", etag(data))
	case r.Method == http.MethodPost && q.Has("uploadId"):
		parts := f.uploads[q.Get("uploadId")]
		nums := make([]int, 0, len(parts))
		for n := range parts {
			nums = append(nums, n)
		}
		slices.Sort(nums)
		var obj []byte
		for _, n := range nums {
			obj = append(obj, parts[n]...)
		}
		f.objects[key] = obj
		bucket, k, _ := strings.Cut(key, "/")
		writeXML(w, struct {
			XMLName xml.Name `xml:"CompleteMultipartUploadResult"`
			Bucket  string
			Key     string
			ETag    string
		}{Bucket: bucket, Key: k, ETag: etag(obj)})
	case r.Method == http.MethodPut:
		f.objects[key] = data
		w.Header().Set("ETag", etag(data))
	case r.Method == http.MethodGet:
		obj, ok := f.objects[key]
		if !ok {
			http.Error(w, "no such key", http.StatusNotFound)
			return
		}
		w.Header().Set("ETag", etag(obj))
		w.Write(obj)
	default:
		http.Error(w, "not implemented", http.StatusNotImplemented)
	}
}

func etag(b []byte) string {
	s := md5.Sum(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/xml")
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(v)
}

func writeS3Error(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.HTTPStatus(true))
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
		Message string
	}{Code: e.S3Code(), Message: e.S3Message()})
}

func s3Client(srv *httptest.Server, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(testAKID, secret, ""),
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// unseekable hides Seek, so the SDK cannot compute a length or hash up
// front and has to stream the body.
type unseekable struct{ io.Reader }

// TestGoSDKPutObject drives the real S3 client against Verify over plain
// HTTP (where the SDK signs the payload hash) and TLS (where it switches to
// aws-chunked with a trailing checksum), with every checksum algorithm.
func TestGoSDKPutObject(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	small := randomBytes(1000, 1)
	big := randomBytes(10<<20, 2)
	for _, tlsOn := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[tlsOn]
		t.Run(name, func(t *testing.T) {
			fake := newFakeS3(&Verifier{Lookup: lookup})
			var srv *httptest.Server
			if tlsOn {
				srv = httptest.NewTLSServer(fake)
			} else {
				srv = httptest.NewServer(fake)
			}
			defer srv.Close()
			client := s3Client(srv, testSecret)
			ctx := context.Background()
			i := 0
			for _, alg := range []types.ChecksumAlgorithm{"", types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha256, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmCrc64nvme} {
				for _, body := range [][]byte{small, big} {
					i++
					key := fmt.Sprintf("obj-%d", i)
					_, err := client.PutObject(ctx, &s3.PutObjectInput{
						Bucket: aws.String("bucket"), Key: aws.String(key),
						Body: bytes.NewReader(body), ChecksumAlgorithm: alg,
					})
					if err != nil {
						t.Fatalf("PutObject %s (%d bytes): %v", alg, len(body), err)
					}
					if got := fake.object("bucket/" + key); !bytes.Equal(got, body) {
						t.Fatalf("PutObject %s: server stored %d bytes, sent %d", alg, len(got), len(body))
					}
				}
			}
			// A body of unknown length: over TLS the SDK sends 64 KiB
			// aws-chunked chunks inside HTTP chunked transfer encoding.
			if tlsOn {
				_, err := client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: aws.String("bucket"), Key: aws.String("stream"),
					Body: unseekable{bytes.NewReader(big)}, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
				})
				if err != nil {
					t.Fatalf("streaming PutObject: %v", err)
				}
				if got := fake.object("bucket/stream"); !bytes.Equal(got, big) {
					t.Fatalf("streaming PutObject: stored %d bytes", len(got))
				}
			}

			// Presigned PUT and GET through the SDK's presigner.
			pc := s3.NewPresignClient(client)
			put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("presigned key+é")})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(put.Method, put.URL, bytes.NewReader(small))
			for k, vs := range put.SignedHeader {
				if k != "Host" {
					req.Header[k] = vs
				}
			}
			resp, err := srv.Client().Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("presigned PUT: %v %v", err, resp)
			}
			resp.Body.Close()
			get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("presigned key+é")})
			if err != nil {
				t.Fatal(err)
			}
			resp, err = srv.Client().Get(get.URL)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("presigned GET: %v %v", err, resp)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, small) {
				t.Fatalf("presigned GET returned %d bytes", len(got))
			}

			// The SDK surfaces our error codes.
			_, err = s3Client(srv, "wrong secret").PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String("bucket"), Key: aws.String("x"), Body: bytes.NewReader(small),
			})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "SignatureDoesNotMatch" {
				t.Fatalf("wrong secret: %v", err)
			}

			for _, v := range fake.variants() {
				t.Logf("Go SDK over %s: %s", name, v)
			}
		})
	}
}

// TestAWSCLIv1 runs botocore (the AWS CLI v1) against Verify: put-object
// (one PUT, default CRC32 and SHA256 checksums) and s3 cp of a 9 MiB file
// (multipart), over HTTP and HTTPS. Over HTTPS botocore sends
// STREAMING-UNSIGNED-PAYLOAD-TRAILER inside HTTP chunked encoding.
func TestAWSCLIv1(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not on PATH")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "payload.bin")
	body := randomBytes(9<<20, 3)
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config")
	// Path-style addressing, and no profile or IMDS lookups from the host.
	if err := os.WriteFile(config, []byte("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tlsOn := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "https"}[tlsOn]
		t.Run(name, func(t *testing.T) {
			fake := newFakeS3(&Verifier{Lookup: lookup})
			var srv *httptest.Server
			env := []string{
				"AWS_ACCESS_KEY_ID=" + testAKID,
				"AWS_SECRET_ACCESS_KEY=" + testSecret,
				"AWS_DEFAULT_REGION=us-east-1",
				"AWS_CONFIG_FILE=" + config,
				"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
				"AWS_EC2_METADATA_DISABLED=true",
				"AWS_MAX_ATTEMPTS=1",
				"PATH=" + os.Getenv("PATH"),
				"HOME=" + dir,
			}
			if tlsOn {
				srv = httptest.NewTLSServer(fake)
				ca := filepath.Join(dir, "ca.pem")
				pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
				if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
					t.Fatal(err)
				}
				env = append(env, "AWS_CA_BUNDLE="+ca)
			} else {
				srv = httptest.NewServer(fake)
			}
			defer srv.Close()
			run := func(args ...string) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, awsPath, append([]string{"--endpoint-url", srv.URL}, args...)...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("aws %s: %v\n%s\nserver saw:\n%s", strings.Join(args, " "), err, out, strings.Join(fake.variants(), "\n"))
				}
			}
			run("s3api", "put-object", "--bucket", "b", "--key", "single", "--body", file)
			run("s3", "cp", file, "s3://b/multi")
			// CRC32C and CRC64NVME need awscrt, which botocore does not bundle.
			run("s3api", "put-object", "--bucket", "b", "--key", "sha256", "--body", file, "--checksum-algorithm", "SHA256")
			for _, key := range []string{"b/single", "b/multi", "b/sha256"} {
				if got := fake.object(key); !bytes.Equal(got, body) {
					t.Fatalf("%s: server stored %d bytes, sent %d", key, len(got), len(body))
				}
			}
			for _, v := range fake.variants() {
				t.Logf("AWS CLI v1 over %s: %s", name, v)
			}
		})
	}
}
