package s3api

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestPutGetHead(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			e := newEnv(t, envOpts{tls: tls})
			e.mkBucket("bkt")
			data := []byte("hello, wharf")
			exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
			po, err := e.alice.PutObject(tctx, &s3.PutObjectInput{
				Bucket: aws.String("bkt"), Key: aws.String("dir/obj.txt"), Body: bytes.NewReader(data),
				ContentType: aws.String("text/plain"), ContentEncoding: aws.String("identity"),
				ContentDisposition: aws.String(`attachment; filename="x.txt"`), ContentLanguage: aws.String("en"),
				CacheControl: aws.String("max-age=60"), Expires: &exp,
				Metadata: map[string]string{"Color": "blue", "x-y": "z w"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(po.ETag) != `"`+md5hex(data)+`"` {
				t.Fatalf("ETag %s", aws.ToString(po.ETag))
			}
			// The SDK sends a CRC32 by default (header over HTTP, trailer over HTTPS).
			if po.ChecksumCRC32 == nil {
				t.Fatalf("no CRC32 in PutObject response")
			}

			g, err := e.alice.GetObject(tctx, &s3.GetObjectInput{
				Bucket: aws.String("bkt"), Key: aws.String("dir/obj.txt"), ChecksumMode: types.ChecksumModeEnabled,
			})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(g.Body)
			g.Body.Close()
			if !bytes.Equal(body, data) {
				t.Fatalf("body %q", body)
			}
			if aws.ToString(g.ContentType) != "text/plain" || aws.ToString(g.ContentEncoding) != "identity" ||
				aws.ToString(g.ContentDisposition) != `attachment; filename="x.txt"` || aws.ToString(g.ContentLanguage) != "en" ||
				aws.ToString(g.CacheControl) != "max-age=60" || aws.ToString(g.ExpiresString) != exp.Format(time.RFC1123Z) &&
				aws.ToString(g.ExpiresString) != "Wed, 02 Jan 2030 03:04:05 GMT" {
				t.Fatalf("attrs: %+v", g)
			}
			if g.Metadata["color"] != "blue" || g.Metadata["x-y"] != "z w" || len(g.Metadata) != 2 {
				t.Fatalf("metadata %v", g.Metadata)
			}
			if aws.ToString(g.ChecksumCRC32) != aws.ToString(po.ChecksumCRC32) {
				t.Fatalf("checksum %v vs %v", aws.ToString(g.ChecksumCRC32), aws.ToString(po.ChecksumCRC32))
			}
			if aws.ToInt64(g.ContentLength) != int64(len(data)) || aws.ToString(g.AcceptRanges) != "bytes" {
				t.Fatalf("length/accept-ranges %+v", g)
			}

			h, err := e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/obj.txt")})
			if err != nil || aws.ToInt64(h.ContentLength) != int64(len(data)) || aws.ToString(h.ETag) != aws.ToString(po.ETag) {
				t.Fatalf("HeadObject %+v %v", h, err)
			}
			if h.ChecksumCRC32 != nil {
				t.Fatalf("checksum returned without x-amz-checksum-mode")
			}
			if h.LastModified == nil || time.Since(*h.LastModified) > time.Minute {
				t.Fatalf("LastModified %v", h.LastModified)
			}

			// Default content type (the SDK always sends one); empty object.
			readAll(t, e.raw("AKIDALICE", "PUT", "/bkt/empty", nil, nil))
			h, err = e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("empty")})
			if err != nil || aws.ToString(h.ContentType) != "binary/octet-stream" || aws.ToInt64(h.ContentLength) != 0 {
				t.Fatalf("HeadObject empty %+v %v", h, err)
			}
			if got := e.get("bkt", "empty"); len(got) != 0 {
				t.Fatalf("empty object has %d bytes", len(got))
			}

			// Every checksum algorithm, verified and returned.
			for _, algo := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c,
				types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
				key := "sum-" + string(algo)
				po, err := e.alice.PutObject(tctx, &s3.PutObjectInput{
					Bucket: aws.String("bkt"), Key: aws.String(key), Body: bytes.NewReader(data), ChecksumAlgorithm: algo,
				})
				if err != nil {
					t.Fatalf("%s: %v", algo, err)
				}
				h, err := e.alice.HeadObject(tctx, &s3.HeadObjectInput{
					Bucket: aws.String("bkt"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
				})
				if err != nil {
					t.Fatal(err)
				}
				got := map[types.ChecksumAlgorithm][2]*string{
					types.ChecksumAlgorithmCrc32:     {po.ChecksumCRC32, h.ChecksumCRC32},
					types.ChecksumAlgorithmCrc32c:    {po.ChecksumCRC32C, h.ChecksumCRC32C},
					types.ChecksumAlgorithmCrc64nvme: {po.ChecksumCRC64NVME, h.ChecksumCRC64NVME},
					types.ChecksumAlgorithmSha1:      {po.ChecksumSHA1, h.ChecksumSHA1},
					types.ChecksumAlgorithmSha256:    {po.ChecksumSHA256, h.ChecksumSHA256},
				}[algo]
				if got[0] == nil || got[1] == nil || *got[0] != *got[1] || h.ChecksumType != types.ChecksumTypeFullObject {
					t.Fatalf("%s: put %v head %v type %v", algo, got[0], got[1], h.ChecksumType)
				}
				// GetObject validates the returned checksum against the body.
				if b := e.get("bkt", key); !bytes.Equal(b, data) {
					t.Fatalf("%s: body", algo)
				}
			}

			// A wrong explicit checksum is BadDigest.
			_, err = e.alice.PutObject(tctx, &s3.PutObjectInput{
				Bucket: aws.String("bkt"), Key: aws.String("bad"), Body: bytes.NewReader(data),
				ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 32))),
			})
			wantErr(t, err, "BadDigest", 400)

			_, err = e.alice.GetObject(tctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("missing")})
			wantErr(t, err, "NoSuchKey", 404)
			_, err = e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("missing")})
			wantErr(t, err, "NotFound", 404)
			_, err = e.alice.GetObject(tctx, &s3.GetObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k")})
			wantErr(t, err, "NoSuchBucket", 404)

			// response-* overrides.
			g, err = e.alice.GetObject(tctx, &s3.GetObjectInput{
				Bucket: aws.String("bkt"), Key: aws.String("dir/obj.txt"),
				ResponseContentType: aws.String("application/x-test"), ResponseContentDisposition: aws.String("inline"),
				ResponseCacheControl: aws.String("no-cache"),
			})
			if err != nil {
				t.Fatal(err)
			}
			g.Body.Close()
			if aws.ToString(g.ContentType) != "application/x-test" || aws.ToString(g.ContentDisposition) != "inline" ||
				aws.ToString(g.CacheControl) != "no-cache" {
				t.Fatalf("overrides: %+v", g)
			}

			// Conditional writes.
			_, err = e.alice.PutObject(tctx, &s3.PutObjectInput{
				Bucket: aws.String("bkt"), Key: aws.String("dir/obj.txt"), Body: bytes.NewReader(data), IfNoneMatch: aws.String("*"),
			})
			wantErr(t, err, "PreconditionFailed", 412)
			if _, err := e.alice.PutObject(tctx, &s3.PutObjectInput{
				Bucket: aws.String("bkt"), Key: aws.String("dir/obj.txt"), Body: bytes.NewReader(data), IfMatch: po.ETag,
			}); err != nil {
				t.Fatalf("If-Match put: %v", err)
			}

			// DeleteObjects (its XML body is checksummed by the SDK).
			do, err := e.alice.DeleteObjects(tctx, &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{
				Objects: []types.ObjectIdentifier{{Key: aws.String("sum-SHA1")}, {Key: aws.String("nothing")}}}})
			if err != nil || len(do.Deleted) != 2 || len(do.Errors) != 0 {
				t.Fatalf("DeleteObjects: %+v %v", do, err)
			}

			// DeleteObject: 204, also for a missing key.
			for _, k := range []string{"dir/obj.txt", "dir/obj.txt"} {
				if _, err := e.alice.DeleteObject(tctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String(k)}); err != nil {
					t.Fatal(err)
				}
			}
			_, err = e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/obj.txt")})
			wantErr(t, err, "NotFound", 404)
		})
	}
}

func TestContentMD5(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("bkt")
	data := []byte("payload")
	sum := md5.Sum(data)
	good := base64.StdEncoding.EncodeToString(sum[:])
	if _, err := e.alice.PutObject(tctx, &s3.PutObjectInput{
		Bucket: aws.String("bkt"), Key: aws.String("k"), Body: bytes.NewReader(data), ContentMD5: aws.String(good),
	}); err != nil {
		t.Fatal(err)
	}
	other := md5.Sum([]byte("other"))
	_, err := e.alice.PutObject(tctx, &s3.PutObjectInput{
		Bucket: aws.String("bkt"), Key: aws.String("k"), Body: bytes.NewReader(data),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(other[:])),
	})
	wantErr(t, err, "BadDigest", 400)
	resp := e.raw("AKIDALICE", "PUT", "/bkt/k", data, map[string]string{"Content-MD5": "not-base64!"})
	body := readAll(t, resp)
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte("<Code>InvalidDigest</Code>")) {
		t.Fatalf("malformed Content-MD5: %d %s", resp.StatusCode, body)
	}
	resp = e.raw("AKIDALICE", "PUT", "/bkt/k", data, map[string]string{"X-Amz-Checksum-Crc32": "AAAA"})
	body = readAll(t, resp)
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte("<Code>InvalidRequest</Code>")) {
		t.Fatalf("malformed checksum: %d %s", resp.StatusCode, body)
	}
	// A streamed body whose SHA-256 differs from the signed one fails while
	// the blob store reads it; the verifier's error comes out as S3's.
	req := mustReq(t, e, "PUT", "/bkt/k", io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte("tampered"))))
	wrong := sha256.Sum256(data)
	e.sign(req, "AKIDALICE", hex.EncodeToString(wrong[:]))
	resp, err = e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte("<Code>XAmzContentSHA256Mismatch</Code>")) {
		t.Fatalf("payload hash mismatch: %d %s", resp.StatusCode, body)
	}
	if got := e.get("bkt", "k"); !bytes.Equal(got, data) {
		t.Fatalf("object changed by failed writes: %q", got)
	}
}

func TestPresignedURLs(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("pre")
	ps := s3.NewPresignClient(e.alice)
	put, err := ps.PresignPutObject(tctx, &s3.PutObjectInput{Bucket: aws.String("pre"), Key: aws.String("a b+c")})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(put.Method, put.URL, strings.NewReader("presigned"))
	for k, v := range put.SignedHeader {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, body)
	}
	get, err := ps.PresignGetObject(tctx, &s3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("a b+c")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = e.srv.Client().Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || string(body) != "presigned" {
		t.Fatalf("presigned GET: %d %s", resp.StatusCode, body)
	}
}

func TestEntityTooLarge(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.MaxObjectSize = 1000 }})
	e.mkBucket("bkt")
	_, err := e.alice.PutObject(tctx, &s3.PutObjectInput{
		Bucket: aws.String("bkt"), Key: aws.String("big"), Body: bytes.NewReader(make([]byte, 1001)),
	})
	wantErr(t, err, "EntityTooLarge", 400)
	e.put("bkt", "ok", make([]byte, 1000))

	// Unknown length (chunked transfer encoding) running past the limit.
	pr, pw := io.Pipe()
	go func() {
		pw.Write(make([]byte, 600))
		pw.Write(make([]byte, 600))
		pw.Close()
	}()
	req := mustReq(t, e, "PUT", "/bkt/chunked", pr)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte("EntityTooLarge")) {
		t.Fatalf("chunked too large: %d %s", resp.StatusCode, body)
	}
	_, err = e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("chunked")})
	wantErr(t, err, "NotFound", 404)
}

func TestSpecialKeys(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("keys")
	keys := []string{
		"a b", "a+b", "a%2Fb", "100%", "%", "ünïcødé/日本語.txt", "../x", "a/../../b", "./.", "a//b", "/lead",
		"trail/", "?q=1&x=2", "#frag", "semi;colon", "tab\there", "new\nline", "~!@$&'()*,=:", `back\slash`,
		"emoji 😀", strings.Repeat("k", 1024), "<xml>&amp;",
	}
	for i, k := range keys {
		e.put("keys", k, []byte(fmt.Sprint(i)))
	}
	for i, k := range keys {
		if got := string(e.get("keys", k)); got != fmt.Sprint(i) {
			t.Errorf("key %q: got %q", k, got)
		}
	}
	// Listing (the SDK does not ask for URL encoding, so XML escaping carries them).
	out, err := e.alice.ListObjectsV2(tctx, &s3.ListObjectsV2Input{Bucket: aws.String("keys")})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range out.Contents {
		seen[aws.ToString(o.Key)] = true
	}
	for _, k := range keys {
		if !seen[k] {
			t.Errorf("key %q missing from listing", k)
		}
	}
	if len(out.Contents) != len(keys) {
		t.Errorf("listing has %d keys, want %d", len(out.Contents), len(keys))
	}
	// encoding-type=url, decoded as botocore does (unquote_plus).
	out, err = e.alice.ListObjectsV2(tctx, &s3.ListObjectsV2Input{Bucket: aws.String("keys"), EncodingType: types.EncodingTypeUrl})
	if err != nil {
		t.Fatal(err)
	}
	seen = map[string]bool{}
	for _, o := range out.Contents {
		k, err := url.QueryUnescape(aws.ToString(o.Key))
		if err != nil {
			t.Fatalf("undecodable key %q", aws.ToString(o.Key))
		}
		seen[k] = true
	}
	for _, k := range keys {
		if !seen[k] {
			t.Errorf("key %q missing from url-encoded listing", k)
		}
	}
	// Copy with a special source key.
	for _, k := range []string{"a b", "a+b", "100%", "ünïcødé/日本語.txt", "../x"} {
		src := "keys/" + url.PathEscape(k)
		if _, err := e.alice.CopyObject(tctx, &s3.CopyObjectInput{
			Bucket: aws.String("keys"), Key: aws.String("copy/" + k), CopySource: aws.String(src),
		}); err != nil {
			t.Fatalf("copy %q: %v", k, err)
		}
		if string(e.get("keys", "copy/"+k)) != string(e.get("keys", k)) {
			t.Errorf("copy of %q differs", k)
		}
	}
	// Too long and invalid keys.
	_, err = e.alice.PutObject(tctx, &s3.PutObjectInput{
		Bucket: aws.String("keys"), Key: aws.String(strings.Repeat("k", 1025)), Body: bytes.NewReader(nil),
	})
	wantErr(t, err, "KeyTooLongError", 400)
	resp := e.raw("AKIDALICE", "PUT", "/keys/bad%FFutf8", []byte("x"), nil)
	if body := readAll(t, resp); resp.StatusCode != 400 || !bytes.Contains(body, []byte("InvalidArgument")) {
		t.Fatalf("invalid UTF-8: %d %s", resp.StatusCode, body)
	}
	resp = e.raw("AKIDALICE", "PUT", "/keys/nul%00byte", []byte("x"), nil)
	if body := readAll(t, resp); resp.StatusCode != 400 || !bytes.Contains(body, []byte("InvalidArgument")) {
		t.Fatalf("NUL: %d %s", resp.StatusCode, body)
	}
}

func TestRangeReads(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("bkt")
	data := []byte("0123456789abcdefghij") // 20 bytes
	e.put("bkt", "r", data)
	e.put("bkt", "empty", nil)
	cases := []struct {
		rng, want, contentRange string
		status                  int
	}{
		{"bytes=0-4", "01234", "bytes 0-4/20", 206},
		{"bytes=5-", "56789abcdefghij", "bytes 5-19/20", 206},
		{"bytes=-3", "hij", "bytes 17-19/20", 206},
		{"bytes=-100", string(data), "bytes 0-19/20", 206},
		{"bytes=18-100", "ij", "bytes 18-19/20", 206},
		{"bytes=19-19", "j", "bytes 19-19/20", 206},
		{"bytes=20-", "", "", 416},
		{"bytes=-0", "", "", 416},
		{"bytes=5-2", string(data), "", 200},     // invalid: ignored
		{"bytes=0-1,4-5", string(data), "", 200}, // multiple ranges: whole object
		{"items=0-1", string(data), "", 200},
	}
	for _, c := range cases {
		resp := e.raw("AKIDALICE", "GET", "/bkt/r", nil, map[string]string{"Range": c.rng})
		body := readAll(t, resp)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.rng, resp.StatusCode, c.status, body)
			continue
		}
		if c.status == 416 {
			if !bytes.Contains(body, []byte("<Code>InvalidRange</Code>")) || resp.Header.Get("Content-Range") != "bytes */20" {
				t.Errorf("%s: %s %v", c.rng, body, resp.Header)
			}
			continue
		}
		if string(body) != c.want || resp.Header.Get("Content-Range") != c.contentRange {
			t.Errorf("%s: body %q range %q", c.rng, body, resp.Header.Get("Content-Range"))
		}
	}
	// Through the SDK, and on an empty object.
	g, err := e.alice.GetObject(tctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("r"), Range: aws.String("bytes=-5")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if string(b) != "fghij" || aws.ToString(g.ContentRange) != "bytes 15-19/20" || aws.ToInt64(g.ContentLength) != 5 {
		t.Fatalf("SDK range: %q %+v", b, g)
	}
	_, err = e.alice.GetObject(tctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("empty"), Range: aws.String("bytes=0-")})
	wantErr(t, err, "InvalidRange", 416)
	h, err := e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("r"), Range: aws.String("bytes=2-5")})
	if err != nil || aws.ToInt64(h.ContentLength) != 4 || aws.ToString(h.ContentRange) != "bytes 2-5/20" {
		t.Fatalf("HEAD range: %+v %v", h, err)
	}
	// partNumber on a single-part object.
	g, err = e.alice.GetObject(tctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("r"), PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(b, data) {
		t.Fatalf("partNumber=1: %q", b)
	}
	_, err = e.alice.GetObject(tctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("r"), PartNumber: aws.Int32(2)})
	wantErr(t, err, "InvalidPartNumber", 416)
	_, err = e.alice.GetObject(tctx, &s3.GetObjectInput{
		Bucket: aws.String("bkt"), Key: aws.String("r"), PartNumber: aws.Int32(1), Range: aws.String("bytes=0-1"),
	})
	wantErr(t, err, "InvalidRequest", 400)
}

func TestConditionalGet(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("bkt")
	po := e.put("bkt", "c", []byte("conditional"))
	etag := aws.ToString(po.ETag)
	h, err := e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	mod := *h.LastModified
	before, after := mod.Add(-time.Hour), mod.Add(time.Hour)
	const other = `"00000000000000000000000000000000"`

	type c struct {
		name                     string
		ifMatch, ifNoneMatch     string
		ifModSince, ifUnmodSince *time.Time
		code                     string
		status                   int
	}
	cases := []c{
		{name: "if-match ok", ifMatch: etag},
		{name: "if-match star", ifMatch: "*"},
		{name: "if-match list", ifMatch: other + ", " + etag},
		{name: "if-match fails", ifMatch: other, code: "PreconditionFailed", status: 412},
		{name: "if-none-match matches", ifNoneMatch: etag, code: "NotModified", status: 304},
		{name: "if-none-match star", ifNoneMatch: "*", code: "NotModified", status: 304},
		{name: "if-none-match other", ifNoneMatch: other},
		{name: "if-modified-since before", ifModSince: &before},
		{name: "if-modified-since after", ifModSince: &after, code: "NotModified", status: 304},
		{name: "if-modified-since equal", ifModSince: &mod, code: "NotModified", status: 304},
		{name: "if-unmodified-since after", ifUnmodSince: &after},
		{name: "if-unmodified-since before", ifUnmodSince: &before, code: "PreconditionFailed", status: 412},
		// S3 precedence: If-Match true wins over If-Unmodified-Since false.
		{name: "match+unmodified", ifMatch: etag, ifUnmodSince: &before},
		// If-None-Match false (matches) with If-Modified-Since true: 304.
		{name: "none-match+modified", ifNoneMatch: etag, ifModSince: &before, code: "NotModified", status: 304},
		// If-None-Match true wins over If-Modified-Since false.
		{name: "none-match other+not modified", ifNoneMatch: other, ifModSince: &after},
		// 412 takes precedence over 304.
		{name: "match fails+none-match", ifMatch: other, ifNoneMatch: etag, code: "PreconditionFailed", status: 412},
	}
	for _, tc := range cases {
		in := &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("c"), IfModifiedSince: tc.ifModSince, IfUnmodifiedSince: tc.ifUnmodSince}
		if tc.ifMatch != "" {
			in.IfMatch = aws.String(tc.ifMatch)
		}
		if tc.ifNoneMatch != "" {
			in.IfNoneMatch = aws.String(tc.ifNoneMatch)
		}
		out, err := e.alice.GetObject(tctx, in)
		if tc.status == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			b, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if string(b) != "conditional" {
				t.Errorf("%s: body %q", tc.name, b)
			}
		} else if errStatus(err) != tc.status || errCode(err) != tc.code {
			t.Errorf("%s: got %v (%d %s), want %d %s", tc.name, err, errStatus(err), errCode(err), tc.status, tc.code)
		}
		hin := &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("c"), IfMatch: in.IfMatch, IfNoneMatch: in.IfNoneMatch,
			IfModifiedSince: in.IfModifiedSince, IfUnmodifiedSince: in.IfUnmodifiedSince}
		_, err = e.alice.HeadObject(tctx, hin)
		if (tc.status == 0) != (err == nil) || (tc.status != 0 && errStatus(err) != tc.status) {
			t.Errorf("HEAD %s: %v", tc.name, err)
		}
	}
	// 304 carries the ETag.
	resp := e.raw("AKIDALICE", "GET", "/bkt/c", nil, map[string]string{"If-None-Match": etag})
	readAll(t, resp)
	if resp.StatusCode != 304 || resp.Header.Get("ETag") != etag || resp.Header.Get("X-Amz-Request-Id") == "" {
		t.Fatalf("304: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestCopyObject(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("src")
	e.mkBucket("dst")
	data := []byte("copy me please")
	if _, err := e.alice.PutObject(tctx, &s3.PutObjectInput{
		Bucket: aws.String("src"), Key: aws.String("o"), Body: bytes.NewReader(data), ContentType: aws.String("text/x-src"),
		Metadata: map[string]string{"a": "1"}, ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	}); err != nil {
		t.Fatal(err)
	}
	// COPY directive keeps metadata and checksum.
	co, err := e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c1"), CopySource: aws.String("src/o")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(co.CopyObjectResult.ETag) != `"`+md5hex(data)+`"` || co.CopyObjectResult.LastModified == nil ||
		co.CopyObjectResult.ChecksumSHA256 == nil {
		t.Fatalf("copy result %+v", co.CopyObjectResult)
	}
	h, err := e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("c1")})
	if err != nil || aws.ToString(h.ContentType) != "text/x-src" || h.Metadata["a"] != "1" {
		t.Fatalf("COPY metadata %+v %v", h, err)
	}
	// REPLACE directive takes the request's.
	if _, err := e.alice.CopyObject(tctx, &s3.CopyObjectInput{
		Bucket: aws.String("dst"), Key: aws.String("c2"), CopySource: aws.String("/src/o"),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/x-new"),
		Metadata: map[string]string{"b": "2"},
	}); err != nil {
		t.Fatal(err)
	}
	h, err = e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("c2")})
	if err != nil || aws.ToString(h.ContentType) != "text/x-new" || h.Metadata["b"] != "2" || h.Metadata["a"] != "" {
		t.Fatalf("REPLACE metadata %+v %v", h, err)
	}
	if !bytes.Equal(e.get("dst", "c2"), data) {
		t.Fatal("copied data differs")
	}
	// Onto itself: illegal without REPLACE, fine with it.
	_, err = e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("o"), CopySource: aws.String("src/o")})
	wantErr(t, err, "InvalidRequest", 400)
	if _, err := e.alice.CopyObject(tctx, &s3.CopyObjectInput{
		Bucket: aws.String("src"), Key: aws.String("o"), CopySource: aws.String("src/o"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"c": "3"},
	}); err != nil {
		t.Fatal(err)
	}
	h, err = e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("o")})
	if err != nil || h.Metadata["c"] != "3" || aws.ToString(h.ContentType) != "binary/octet-stream" {
		t.Fatalf("self copy %+v %v", h, err)
	}
	if !bytes.Equal(e.get("src", "o"), data) {
		t.Fatal("self copy changed data")
	}
	// Copy-source conditionals.
	etag := `"` + md5hex(data) + `"`
	_, err = e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c3"), CopySource: aws.String("src/o"),
		CopySourceIfMatch: aws.String(`"nope"`)})
	wantErr(t, err, "PreconditionFailed", 412)
	_, err = e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c3"), CopySource: aws.String("src/o"),
		CopySourceIfNoneMatch: aws.String(etag)})
	wantErr(t, err, "PreconditionFailed", 412)
	_, err = e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c3"), CopySource: aws.String("src/o"),
		CopySourceIfModifiedSince: aws.Time(time.Now().Add(time.Hour))})
	wantErr(t, err, "PreconditionFailed", 412)
	if _, err := e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c3"), CopySource: aws.String("src/o"),
		CopySourceIfMatch: aws.String(etag), CopySourceIfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))}); err != nil {
		t.Fatalf("if-match true wins over if-unmodified-since false: %v", err)
	}
	// Missing source, bad source, versions.
	_, err = e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/missing")})
	wantErr(t, err, "NoSuchKey", 404)
	_, err = e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("nosrcbucket/o")})
	wantErr(t, err, "NoSuchBucket", 404)
	_, err = e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src")})
	wantErr(t, err, "InvalidArgument", 400)
	_, err = e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/o?versionId=abc")})
	wantErr(t, err, "NoSuchVersion", 404)
	if _, err := e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"),
		CopySource: aws.String("src/o?versionId=null")}); err != nil {
		t.Fatalf("versionId=null: %v", err)
	}
	_, err = e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/o"),
		MetadataDirective: "MOVE"})
	wantErr(t, err, "InvalidArgument", 400)
}

func TestDeleteObjects(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("bkt")
	for _, k := range []string{"a", "b", "c d", "keep"} {
		e.put("bkt", k, []byte(k))
	}
	out, err := e.alice.DeleteObjects(tctx, &s3.DeleteObjectsInput{
		Bucket: aws.String("bkt"),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{
			{Key: aws.String("a")}, {Key: aws.String("missing")}, {Key: aws.String("c d")}, {Key: aws.String("b"), VersionId: aws.String("v1")},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	deleted := map[string]bool{}
	for _, d := range out.Deleted {
		deleted[aws.ToString(d.Key)] = true
	}
	if len(deleted) != 3 || !deleted["a"] || !deleted["missing"] || !deleted["c d"] {
		t.Fatalf("deleted %v", deleted)
	}
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "b" || aws.ToString(out.Errors[0].Code) != "NoSuchVersion" {
		t.Fatalf("errors %+v", out.Errors)
	}
	lo, err := e.alice.ListObjectsV2(tctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
	if err != nil || len(lo.Contents) != 2 {
		t.Fatalf("after delete: %+v %v", lo.Contents, err)
	}
	// Quiet: only errors are reported.
	out, err = e.alice.DeleteObjects(tctx, &s3.DeleteObjectsInput{
		Bucket: aws.String("bkt"),
		Delete: &types.Delete{Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{{Key: aws.String("b")}, {Key: aws.String("zzz")}}},
	})
	if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Fatalf("quiet: %+v %v", out, err)
	}
	// More than 1000 keys.
	var many []types.ObjectIdentifier
	for i := 0; i < 1001; i++ {
		many = append(many, types.ObjectIdentifier{Key: aws.String(fmt.Sprint(i))})
	}
	_, err = e.alice.DeleteObjects(tctx, &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{Objects: many}})
	wantErr(t, err, "MalformedXML", 400)

	// Malformed XML, no body, oversized body, bad Content-MD5 (raw requests).
	for name, c := range map[string]struct {
		body []byte
		hdr  map[string]string
		code string
	}{
		"malformed":  {body: []byte("<Delete><Object><Key>a</Key></Obj"), code: "MalformedXML"},
		"empty":      {body: nil, code: "MalformedXML"},
		"no objects": {body: []byte("<Delete></Delete>"), code: "MalformedXML"},
		"no key":     {body: []byte("<Delete><Object></Object></Delete>"), code: "MalformedXML"},
		"oversized":  {body: bytes.Repeat([]byte(" "), maxXMLBody+1), code: "MaxMessageLengthExceeded"},
		"bad md5": {body: []byte("<Delete><Object><Key>keep</Key></Object></Delete>"),
			hdr: map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, code: "BadDigest"},
		"bad crc32": {body: []byte("<Delete><Object><Key>keep</Key></Object></Delete>"),
			hdr: map[string]string{"X-Amz-Checksum-Crc32": "AAAAAA=="}, code: "BadDigest"},
	} {
		resp := e.raw("AKIDALICE", "POST", "/bkt?delete", c.body, c.hdr)
		body := readAll(t, resp)
		if resp.StatusCode != 400 || !bytes.Contains(body, []byte("<Code>"+c.code+"</Code>")) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	if string(e.get("bkt", "keep")) != "keep" {
		t.Fatal("keep was deleted")
	}
	// A body without Content-MD5 or checksum is accepted (leniency).
	resp := e.raw("AKIDALICE", "POST", "/bkt?delete", []byte(`<?xml version="1.0"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>keep</Key></Object></Delete>`), nil)
	body := readAll(t, resp)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<Deleted><Key>keep</Key></Deleted>")) {
		t.Fatalf("plain DeleteObjects: %d %s", resp.StatusCode, body)
	}
}
