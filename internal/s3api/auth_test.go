package s3api

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/wharfml/wharf/internal/awsapi"
)

// TestOtherAccountDenied checks that a second account gets AccessDenied on
// every operation against the first account's bucket and objects.
func TestOtherAccountDenied(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("alices")
	if _, err := e.bob.CreateBucket(tctx, &s3.CreateBucketInput{Bucket: aws.String("bobs")}); err != nil {
		t.Fatal(err)
	}
	e.put("alices", "secret", []byte("top secret"))
	if _, err := e.bob.PutObject(tctx, &s3.PutObjectInput{Bucket: aws.String("bobs"), Key: aws.String("mine"), Body: bytes.NewReader([]byte("b"))}); err != nil {
		t.Fatal(err)
	}
	cmu, err := e.alice.CreateMultipartUpload(tctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("alices"), Key: aws.String("up")})
	if err != nil {
		t.Fatal(err)
	}
	b, k, id := aws.String("alices"), aws.String("secret"), cmu.UploadId
	body := func() *bytes.Reader { return bytes.NewReader([]byte("evil")) }
	ops := map[string]func() error{
		"HeadBucket": func() error { _, err := e.bob.HeadBucket(tctx, &s3.HeadBucketInput{Bucket: b}); return err },
		"GetBucketLocation": func() error {
			_, err := e.bob.GetBucketLocation(tctx, &s3.GetBucketLocationInput{Bucket: b})
			return err
		},
		"GetBucketVersioning": func() error {
			_, err := e.bob.GetBucketVersioning(tctx, &s3.GetBucketVersioningInput{Bucket: b})
			return err
		},
		"GetBucketAcl":    func() error { _, err := e.bob.GetBucketAcl(tctx, &s3.GetBucketAclInput{Bucket: b}); return err },
		"GetBucketPolicy": func() error { _, err := e.bob.GetBucketPolicy(tctx, &s3.GetBucketPolicyInput{Bucket: b}); return err },
		"DeleteBucket":    func() error { _, err := e.bob.DeleteBucket(tctx, &s3.DeleteBucketInput{Bucket: b}); return err },
		"ListObjects":     func() error { _, err := e.bob.ListObjects(tctx, &s3.ListObjectsInput{Bucket: b}); return err },
		"ListObjectsV2":   func() error { _, err := e.bob.ListObjectsV2(tctx, &s3.ListObjectsV2Input{Bucket: b}); return err },
		"ListMultipartUploads": func() error {
			_, err := e.bob.ListMultipartUploads(tctx, &s3.ListMultipartUploadsInput{Bucket: b})
			return err
		},
		"PutObject": func() error {
			_, err := e.bob.PutObject(tctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: body()})
			return err
		},
		"GetObject":  func() error { _, err := e.bob.GetObject(tctx, &s3.GetObjectInput{Bucket: b, Key: k}); return err },
		"HeadObject": func() error { _, err := e.bob.HeadObject(tctx, &s3.HeadObjectInput{Bucket: b, Key: k}); return err },
		"GetObjectRange": func() error {
			_, err := e.bob.GetObject(tctx, &s3.GetObjectInput{Bucket: b, Key: k, Range: aws.String("bytes=0-1")})
			return err
		},
		"GetObjectAcl": func() error { _, err := e.bob.GetObjectAcl(tctx, &s3.GetObjectAclInput{Bucket: b, Key: k}); return err },
		"GetObjectTagging": func() error {
			_, err := e.bob.GetObjectTagging(tctx, &s3.GetObjectTaggingInput{Bucket: b, Key: k})
			return err
		},
		"DeleteObject": func() error { _, err := e.bob.DeleteObject(tctx, &s3.DeleteObjectInput{Bucket: b, Key: k}); return err },
		"DeleteObjects": func() error {
			_, err := e.bob.DeleteObjects(tctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: k}}}})
			return err
		},
		"CopyObjectFrom": func() error {
			_, err := e.bob.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("bobs"), Key: aws.String("stolen"), CopySource: aws.String("alices/secret")})
			return err
		},
		"CopyObjectInto": func() error {
			_, err := e.bob.CopyObject(tctx, &s3.CopyObjectInput{Bucket: b, Key: k, CopySource: aws.String("bobs/mine")})
			return err
		},
		"CreateMultipartUpload": func() error {
			_, err := e.bob.CreateMultipartUpload(tctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k})
			return err
		},
		"UploadPart": func() error {
			_, err := e.bob.UploadPart(tctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("up"), UploadId: id, PartNumber: aws.Int32(1), Body: body()})
			return err
		},
		"UploadPartCopy": func() error {
			_, err := e.bob.UploadPartCopy(tctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("up"), UploadId: id, PartNumber: aws.Int32(1),
				CopySource: aws.String("bobs/mine")})
			return err
		},
		"ListParts": func() error {
			_, err := e.bob.ListParts(tctx, &s3.ListPartsInput{Bucket: b, Key: aws.String("up"), UploadId: id})
			return err
		},
		"CompleteMultipartUpload": func() error {
			_, err := e.bob.CompleteMultipartUpload(tctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("up"), UploadId: id,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"x"`)}}}})
			return err
		},
		"AbortMultipartUpload": func() error {
			_, err := e.bob.AbortMultipartUpload(tctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("up"), UploadId: id})
			return err
		},
	}
	for name, op := range ops {
		err := op()
		if errStatus(err) != http.StatusForbidden {
			t.Errorf("%s: want 403, got %v", name, err)
			continue
		}
		if strings.HasPrefix(name, "Head") {
			continue // no body: the SDK reports "Forbidden"
		}
		if errCode(err) != "AccessDenied" {
			t.Errorf("%s: want AccessDenied, got %v", name, errCode(err))
		}
	}
	// Bucket names are global: taking alice's name is BucketAlreadyExists.
	_, err = e.bob.CreateBucket(tctx, &s3.CreateBucketInput{Bucket: b})
	wantErr(t, err, "BucketAlreadyExists", 409)
	// UploadPartCopy from alice's bucket into bob's upload.
	bcmu, err := e.bob.CreateMultipartUpload(tctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bobs"), Key: aws.String("u")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.bob.UploadPartCopy(tctx, &s3.UploadPartCopyInput{Bucket: aws.String("bobs"), Key: aws.String("u"), UploadId: bcmu.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("alices/secret")})
	wantErr(t, err, "AccessDenied", 403)

	// Nothing changed for alice; bob sees only his bucket.
	if string(e.get("alices", "secret")) != "top secret" {
		t.Fatal("alice's object changed")
	}
	if _, err := e.alice.ListParts(tctx, &s3.ListPartsInput{Bucket: b, Key: aws.String("up"), UploadId: id}); err != nil {
		t.Fatalf("alice's upload: %v", err)
	}
	lb, err := e.bob.ListBuckets(tctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != "bobs" {
		t.Fatalf("bob's buckets: %+v %v", lb, err)
	}
	if _, err := e.bob.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("bobs"), Key: aws.String("stolen")}); err == nil {
		t.Fatal("copy from alice's bucket happened")
	}
}

// TestProtocol covers what the SDK cannot send: anonymous requests,
// unsupported subresources and methods, request ids and error documents.
func TestProtocol(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("proto")
	e.put("proto", "k", []byte("v"))

	type errDoc struct {
		Code, Message, Resource, RequestId string
	}
	check := func(name string, resp *http.Response, status int, code string) {
		t.Helper()
		body := readAll(t, resp)
		if resp.StatusCode != status {
			t.Errorf("%s: status %d, want %d: %s", name, resp.StatusCode, status, body)
			return
		}
		if resp.Header.Get("X-Amz-Request-Id") == "" || resp.Header.Get("X-Amz-Id-2") == "" {
			t.Errorf("%s: no request id headers", name)
		}
		if code == "" {
			return
		}
		var d errDoc
		if err := xml.Unmarshal(body, &d); err != nil || d.Code != code || d.Message == "" ||
			d.RequestId != resp.Header.Get("X-Amz-Request-Id") || d.Resource == "" {
			t.Errorf("%s: error document %s (%v)", name, body, err)
		}
		if !strings.HasPrefix(string(body), "<?xml") || resp.Header.Get("Content-Type") != "application/xml" {
			t.Errorf("%s: not an XML document: %s", name, body)
		}
	}
	check("anonymous", e.raw("", "GET", "/proto/k", nil, nil), 403, "AccessDenied")
	check("anonymous list buckets", e.raw("", "GET", "/", nil, nil), 403, "AccessDenied")
	check("unknown key id", e.raw("AKIDNOBODY", "GET", "/proto", nil, nil), 403, "InvalidAccessKeyId")
	check("policy", e.raw("AKIDALICE", "PUT", "/proto?policy", []byte("{}"), nil), 501, "NotImplemented")
	check("lifecycle", e.raw("AKIDALICE", "GET", "/proto?lifecycle", nil, nil), 501, "NotImplemented")
	check("object tagging put", e.raw("AKIDALICE", "PUT", "/proto/k?tagging", []byte("<Tagging/>"), nil), 501, "NotImplemented")
	check("versions", e.raw("AKIDALICE", "GET", "/proto?versions", nil, nil), 501, "NotImplemented")
	check("post object", e.raw("AKIDALICE", "POST", "/proto", nil, nil), 501, "NotImplemented")
	check("restore", e.raw("AKIDALICE", "POST", "/proto/k?restore", nil, nil), 501, "NotImplemented")
	check("patch", e.raw("AKIDALICE", "PATCH", "/proto/k", nil, nil), 405, "MethodNotAllowed")
	check("put root", e.raw("AKIDALICE", "PUT", "/", nil, nil), 405, "MethodNotAllowed")
	check("post object no subresource", e.raw("AKIDALICE", "POST", "/proto/k", nil, nil), 405, "MethodNotAllowed")
	check("version id", e.raw("AKIDALICE", "GET", "/proto/k?versionId=123", nil, nil), 400, "InvalidArgument")
	check("null version id", e.raw("AKIDALICE", "GET", "/proto/k?versionId=null", nil, nil), 200, "")
	check("invalid bucket name", e.raw("AKIDALICE", "GET", "/_registry/k", nil, nil), 404, "NoSuchBucket")
	check("no such key", e.raw("AKIDALICE", "GET", "/proto/nokey", nil, nil), 404, "NoSuchKey")
	check("head no such key", e.raw("AKIDALICE", "HEAD", "/proto/nokey", nil, nil), 404, "")
	check("bad part number", e.raw("AKIDALICE", "GET", "/proto/k?partNumber=0", nil, nil), 400, "InvalidArgument")
	check("upload part without upload id", e.raw("AKIDALICE", "PUT", "/proto/k?partNumber=1", []byte("x"), nil), 404, "NoSuchUpload")

	// Successful responses carry the ids and S3 headers too.
	resp := e.raw("AKIDALICE", "GET", "/proto/k", nil, nil)
	check("get", resp, 200, "")
	if resp.Header.Get("Last-Modified") == "" || !strings.HasSuffix(resp.Header.Get("Last-Modified"), "GMT") ||
		resp.Header.Get("ETag") != `"`+md5hex([]byte("v"))+`"` || resp.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("object headers: %v", resp.Header)
	}
	resp = e.raw("AKIDALICE", "GET", "/proto?location", nil, nil)
	body := readAll(t, resp)
	if !bytes.Contains(body, []byte(`<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`)) {
		t.Errorf("location: %s", body)
	}
}

func TestVirtualHostStyle(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.VirtualHosts = []string{"s3.wharf.test"} }})
	e.mkBucket("vhost.bucket")
	e.put("vhost.bucket", "dir/a b", []byte("virtual"))
	serve := func(method, host, target string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, nil)
		r.Host = host
		r = r.WithContext(awsapi.WithIdentity(r.Context(), awsapi.Identity{AccountID: "111111111111"}))
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		return w
	}
	w := serve("GET", "vhost.bucket.s3.wharf.test:9000", "/dir/a%20b")
	if w.Code != 200 || w.Body.String() != "virtual" {
		t.Fatalf("virtual GET: %d %s", w.Code, w.Body)
	}
	w = serve("GET", "vhost.bucket.s3.wharf.test", "/?list-type=2")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "<Key>dir/a b</Key>") {
		t.Fatalf("virtual list: %d %s", w.Code, w.Body)
	}
	// The base host itself is path-style.
	w = serve("GET", "s3.wharf.test", "/vhost.bucket/dir/a%20b")
	if w.Code != 200 || w.Body.String() != "virtual" {
		t.Fatalf("path-style on base host: %d %s", w.Code, w.Body)
	}
	r := httptest.NewRequest("PUT", "/dir/x?partNumber=2&uploadId=u", nil)
	r.Host = "vhost.bucket.s3.wharf.test"
	if op := e.h.OperationName(r); op != "UploadPart" {
		t.Fatalf("OperationName: %s", op)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Host = "vhost.bucket.s3.wharf.test"
	if op := e.h.OperationName(r); op != "ListObjects" {
		t.Fatalf("OperationName: %s", op)
	}
	if op := OperationName(r); op != "ListBuckets" {
		t.Fatalf("path-style OperationName: %s", op)
	}
}

func TestOperationName(t *testing.T) {
	cases := []struct {
		method, target string
		hdr            map[string]string
		want           string
	}{
		{"GET", "/", nil, "ListBuckets"},
		{"PUT", "/b", nil, "CreateBucket"},
		{"PUT", "/b/", nil, "CreateBucket"},
		{"HEAD", "/b", nil, "HeadBucket"},
		{"DELETE", "/b", nil, "DeleteBucket"},
		{"GET", "/b?location", nil, "GetBucketLocation"},
		{"GET", "/b?versioning", nil, "GetBucketVersioning"},
		{"PUT", "/b?policy", nil, "PutBucketPolicy"},
		{"GET", "/b", nil, "ListObjects"},
		{"GET", "/b?list-type=2&prefix=x", nil, "ListObjectsV2"},
		{"GET", "/b?uploads", nil, "ListMultipartUploads"},
		{"POST", "/b?delete", nil, "DeleteObjects"},
		{"PUT", "/b/k?x-id=PutObject", nil, "PutObject"},
		{"PUT", "/b/k", map[string]string{"X-Amz-Copy-Source": "/s/k"}, "CopyObject"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", nil, "UploadPart"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", map[string]string{"X-Amz-Copy-Source": "/s/k"}, "UploadPartCopy"},
		{"GET", "/b/k", nil, "GetObject"},
		{"GET", "/b/k?partNumber=2", nil, "GetObject"},
		{"HEAD", "/b/k", nil, "HeadObject"},
		{"DELETE", "/b/k", nil, "DeleteObject"},
		{"POST", "/b/k?uploads", nil, "CreateMultipartUpload"},
		{"POST", "/b/k?uploadId=u", nil, "CompleteMultipartUpload"},
		{"DELETE", "/b/k?uploadId=u", nil, "AbortMultipartUpload"},
		{"GET", "/b/k?uploadId=u", nil, "ListParts"},
		{"GET", "/b/k?acl", nil, "GetObjectAcl"},
		{"GET", "/b/k?tagging", nil, "GetObjectTagging"},
		{"PATCH", "/b/k", nil, "Unknown"},
		{"PUT", "/", nil, "Unknown"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.target, nil)
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		if got := OperationName(r); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.target, got, c.want)
		}
	}
}
