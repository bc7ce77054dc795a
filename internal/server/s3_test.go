package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/wharfml/wharf/internal/admin"
)

func (e *env) s3(c admin.Credentials) *s3.Client {
	return s3.New(s3.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1", UsePathStyle: true,
		Credentials: e.creds(*c.AccessKeyId, *c.SecretAccessKey)})
}

// TestS3ThroughServer drives the S3 API with the Go SDK through the real
// SigV4 layer: every checksum mode the SDK sends, multipart via the upload
// manager, presigned URLs, and isolation between accounts.
func TestS3ThroughServer(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	acme := e.account(t, "acme")
	c := e.s3(acme)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("data")}); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []s3types.ChecksumAlgorithm{"", s3types.ChecksumAlgorithmCrc32, s3types.ChecksumAlgorithmCrc32c, s3types.ChecksumAlgorithmSha1, s3types.ChecksumAlgorithmSha256, s3types.ChecksumAlgorithmCrc64nvme} {
		body := []byte("hello " + string(alg))
		key := "sum/" + string(alg)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(key), Body: bytes.NewReader(body), ChecksumAlgorithm: alg}); err != nil {
			t.Fatalf("put with %q: %v", alg, err)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String(key), ChecksumMode: s3types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, body) {
			t.Fatalf("%q: got %q", alg, got)
		}
	}

	big := make([]byte, 23<<20)
	rand.Read(big)
	up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20; u.Concurrency = 3 })
	if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("big/é 日本.bin"), Body: bytes.NewReader(big)}); err != nil {
		t.Fatal(err)
	}
	buf := manager.NewWriteAtBuffer(nil)
	if _, err := manager.NewDownloader(c).Download(ctx, buf, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("big/é 日本.bin")}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), big) {
		t.Fatal("multipart object differs")
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("data"), Key: aws.String("big/é 日本.bin")})
	if err != nil || !strings.HasSuffix(aws.ToString(head.ETag), `-5"`) {
		t.Fatalf("multipart ETag: %v %v", aws.ToString(head.ETag), err)
	}

	// Presigned GET and PUT.
	pc := s3.NewPresignClient(c)
	pg, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("sum/CRC32")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "hello CRC32" {
		t.Fatalf("presigned get: %d %q", resp.StatusCode, got)
	}
	pp, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("presigned")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, pp.URL, strings.NewReader("via presigned put"))
	for k, v := range pp.SignedHeader {
		req.Header[k] = v
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned put: %d", resp.StatusCode)
	}

	// Another account: AccessDenied everywhere, and the bucket name is taken.
	other := e.s3(e.account(t, "globex"))
	_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("presigned")})
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("other account get: %v", err)
	}
	_, err = other.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("x"), Body: strings.NewReader("x")})
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("other account put: %v", err)
	}
	_, err = other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("data")})
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("other account list: %v", err)
	}
	_, err = other.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("data")})
	if apiCode(err) != "BucketAlreadyExists" {
		t.Fatalf("other account create: %v", err)
	}
	lb, err := other.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 0 {
		t.Fatalf("other account buckets: %+v %v", lb, err)
	}
}
