package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signCase is a request signed by the AWS SDK's own signer
// (aws/signer/v4), with the options its service clients use.
type signCase struct {
	name    string
	service string
	method  string
	url     string
	body    []byte
	headers [][2]string
	payload string // "" = SHA-256 of the body
	presign time.Duration
	// chunkedTE sends the body with Transfer-Encoding: chunked, so
	// content-length is not signed (as with botocore).
	chunkedTE bool
}

var sdkTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func (c signCase) sign(t testing.TB, akid, secret string, at time.Time) []byte {
	t.Helper()
	req, err := http.NewRequest(c.method, c.url, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range c.headers {
		req.Header.Add(h[0], h[1])
	}
	if c.chunkedTE {
		req.ContentLength = -1
	}
	ph := c.payload
	if ph == "" {
		ph = hexs(sha256Sum(c.body))
	}
	// The S3 client sends the payload hash header and signs the path as is.
	if c.service == "s3" && c.presign == 0 {
		req.Header.Set("X-Amz-Content-Sha256", ph)
	}
	s3Opts := func(o *v4.SignerOptions) { o.DisableURIPathEscaping = c.service == "s3" }
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	signer := v4.NewSigner()
	if c.presign == 0 {
		if err := signer.SignHTTP(context.Background(), creds, req, ph, c.service, "us-east-1", at, s3Opts); err != nil {
			t.Fatal(err)
		}
		return wire(t, req)
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.Itoa(int(c.presign/time.Second)))
	req.URL.RawQuery = q.Encode()
	u, hdr, err := signer.PresignHTTP(context.Background(), creds, req, ph, c.service, "us-east-1", at, s3Opts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(c.method, u, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		if k != "Host" {
			out.Header[k] = vs
		}
	}
	return wire(t, out)
}

var (
	smallBody = []byte(`{"MaxResults":10,"NameContains":"wharf"}`)
	bigBody   = bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16) // 3 MiB: verified while streaming
)

// s3Key is an object key with every character class the SDK escapes.
const s3Key = "dir/a b+c!*'()$&=;:@,~ü.txt"

var signCases = []signCase{
	{name: "s3 GetObject", service: "s3", method: "GET",
		url:     "http://127.0.0.1:9000/bucket/" + uriEncode(s3Key, false) + "?versionId=abc%2Fdef&response-content-type=text%2Fplain%3B%20charset%3Dutf-8",
		headers: [][2]string{{"Range", "bytes=0-9"}}},
	{name: "s3 ListObjectsV2", service: "s3", method: "GET",
		url: "http://localhost:9000/bucket?list-type=2&prefix=a%2Fb%20c&delimiter=%2F&encoding-type=url&start-after=~x"},
	{name: "s3 PutObject", service: "s3", method: "PUT", url: "http://s3.local/bucket/key.bin", body: smallBody,
		headers: [][2]string{{"Content-Type", "application/json"}, {"X-Amz-Meta-Spaces", "a   b  c"}, {"X-Amz-Meta-Multi", "one"}, {"X-Amz-Meta-Multi", "two"}}},
	{name: "s3 PutObject unsigned", service: "s3", method: "PUT", url: "http://s3.local/bucket/key.bin", body: smallBody, payload: UnsignedPayload},
	{name: "s3 PutObject 3MiB", service: "s3", method: "PUT", url: "http://s3.local/bucket/big", body: bigBody},
	{name: "s3 PutObject chunked TE", service: "s3", method: "PUT", url: "http://s3.local/bucket/te", body: bigBody[:70000], chunkedTE: true},
	{name: "s3 DeleteObjects", service: "s3", method: "POST", url: "http://s3.local/bucket?delete", body: []byte("<Delete><Object><Key>k</Key></Object></Delete>")},
	{name: "sagemaker ListModels", service: "sagemaker", method: "POST", url: "http://127.0.0.1:8080/", body: smallBody,
		headers: [][2]string{{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", "SageMaker.ListModels"}}},
	{name: "sagemaker InvokeEndpoint", service: "sagemaker", method: "POST", url: "http://127.0.0.1:8080/endpoints/my-endpoint/invocations", body: []byte("1,2,3\n"),
		headers: [][2]string{{"Content-Type", "text/csv"}, {"Accept", "application/json"}}},
	// Non-S3 paths are encoded a second time: %20 is signed as %2520.
	{name: "sagemaker encoded path", service: "sagemaker", method: "GET", url: "http://127.0.0.1:8080/a%20b/c%2Fd"},
	{name: "sts form", service: "sts", method: "POST", url: "http://127.0.0.1:8080/", body: []byte("Action=GetCallerIdentity&Version=2011-06-15"),
		headers: [][2]string{{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}}},
	{name: "sts query", service: "sts", method: "GET", url: "http://127.0.0.1:8080/?Action=GetCallerIdentity&Version=2011-06-15"},
	{name: "logs PutLogEvents", service: "logs", method: "POST", url: "http://127.0.0.1:8080/", body: smallBody,
		headers: [][2]string{{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", "Logs_20140328.PutLogEvents"}}},
	{name: "ecr GetAuthorizationToken", service: "ecr", method: "POST", url: "http://127.0.0.1:8080/", body: []byte("{}"),
		headers: [][2]string{{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"}}},
	{name: "s3 presigned GET", service: "s3", method: "GET", url: "http://s3.local/bucket/" + uriEncode(s3Key, false), payload: UnsignedPayload, presign: 15 * time.Minute},
	{name: "s3 presigned PUT", service: "s3", method: "PUT", url: "http://s3.local/bucket/upload?x-id=PutObject", body: smallBody, payload: UnsignedPayload, presign: time.Hour,
		headers: [][2]string{{"X-Amz-Meta-Owner", "alice"}, {"Content-Type", "application/json"}}},
	// EKS-style presigned GetCallerIdentity: signs the empty-body hash and a custom header.
	{name: "sts presigned", service: "sts", method: "GET", url: "http://127.0.0.1:8080/?Action=GetCallerIdentity&Version=2011-06-15", presign: 60 * time.Second,
		headers: [][2]string{{"X-K8s-Aws-Id", "my-cluster"}}},
}

func TestSDKSignedRequests(t *testing.T) {
	for _, c := range signCases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.sign(t, testAKID, testSecret, sdkTime)
			r := serverRequest(t, raw)
			if svc, region, ok := Scope(r); !ok || svc != c.service || region != "us-east-1" {
				t.Fatalf("Scope = %q %q %v", svc, region, ok)
			}
			id, err := verifierAt(sdkTime.Add(time.Second)).Verify(r)
			if err != nil {
				var e *Error
				if errors.As(err, &e) {
					cr, sts := e.Debug()
					t.Logf("canonical request:\n%s\nstring to sign:\n%s", cr, sts)
				}
				t.Fatalf("Verify: %v\n%s", err, raw[:min(len(raw), 800)])
			}
			if id != testIdentity {
				t.Fatalf("identity %+v", id)
			}
			got, err := readSmall(r.Body, 1000)
			if err != nil || !bytes.Equal(got, c.body) {
				t.Fatalf("body: %d bytes (want %d), %v", len(got), len(c.body), err)
			}
		})
	}
}

func TestSDKSignedFailures(t *testing.T) {
	for _, c := range signCases {
		t.Run(c.name, func(t *testing.T) {
			v := verifierAt(sdkTime)
			_, err := v.Verify(serverRequest(t, c.sign(t, testAKID, "not the secret", sdkTime)))
			wantKind(t, err, BadSignature)

			_, err = v.Verify(serverRequest(t, c.sign(t, "AKIDUNKNOWN000000000", testSecret, sdkTime)))
			e := wantKind(t, err, UnknownKey)
			if e.S3Code() != "InvalidAccessKeyId" || e.JSONCode() != "UnrecognizedClientException" ||
				e.JSONMessage() != "The security token included in the request is invalid." {
				t.Fatalf("unknown key maps to %s / %s %q", e.S3Code(), e.JSONCode(), e.JSONMessage())
			}

			_, err = v.Verify(serverRequest(t, c.sign(t, "BROKEN", testSecret, sdkTime)))
			if err == nil || kindOf(err) != 0 || !strings.Contains(err.Error(), "database is down") || errors.Is(err, ErrUnknownKey) {
				t.Fatalf("lookup fault: %v", err)
			}

			if c.presign == 0 {
				for _, d := range []time.Duration{-14 * time.Minute, 14 * time.Minute} {
					if _, err := v.Verify(serverRequest(t, c.sign(t, testAKID, testSecret, sdkTime.Add(d)))); err != nil {
						t.Fatalf("skew %v: %v", d, err)
					}
				}
				for _, d := range []time.Duration{-16 * time.Minute, 16 * time.Minute} {
					_, err := v.Verify(serverRequest(t, c.sign(t, testAKID, testSecret, sdkTime.Add(d))))
					e := wantKind(t, err, Skewed)
					if !strings.HasPrefix(e.Message, map[bool]string{true: "Signature expired: ", false: "Signature not yet current: "}[d < 0]) ||
						e.S3Code() != "RequestTimeTooSkewed" || e.JSONCode() != "InvalidSignatureException" {
						t.Fatalf("skew %v: %v %s", d, e, e.S3Code())
					}
				}
				return
			}
			// Presigned: valid until X-Amz-Date + X-Amz-Expires, then Expired.
			raw := c.sign(t, testAKID, testSecret, sdkTime)
			if _, err := verifierAt(sdkTime.Add(c.presign)).Verify(serverRequest(t, raw)); err != nil {
				t.Fatalf("at expiry: %v", err)
			}
			_, err = verifierAt(sdkTime.Add(c.presign + time.Second)).Verify(serverRequest(t, raw))
			wantKind(t, err, Expired)
			_, err = verifierAt(sdkTime.Add(-16 * time.Minute)).Verify(serverRequest(t, raw))
			wantKind(t, err, Skewed)
		})
	}
}

func findCase(name string) signCase {
	for _, c := range signCases {
		if c.name == name {
			return c
		}
	}
	panic("no case " + name)
}

// TestSDKTampering changes one thing on the wire of a valid request.
func TestSDKTampering(t *testing.T) {
	for _, tc := range []struct {
		cas, from, to string
		kind          Kind // 0: still valid
		atRead        bool // the failure shows when the body is read
	}{
		{"s3 GetObject", "/bucket/dir", "/bucket/dis", BadSignature, false},
		{"s3 GetObject", "GET ", "HEAD ", BadSignature, false},
		{"s3 GetObject", "versionId=abc", "versionId=abd", BadSignature, false},
		{"s3 GetObject", "?response", "?extra=1&response", BadSignature, false},
		{"s3 GetObject", "Host: 127.0.0.1:9000", "Host: 127.0.0.1:9001", BadSignature, false},
		{"s3 GetObject", "Range: bytes=0-9", "Range: bytes=0-8", BadSignature, false},
		{"s3 GetObject", "Range: bytes=0-9\r\n", "Range: bytes=0-9\r\nX-Unsigned: fine\r\n", 0, false},
		{"s3 ListObjectsV2", "prefix=a%2Fb%20c", "prefix=a%2Fb+c", 0, false}, // same decoded value
		{"s3 ListObjectsV2", "prefix=a%2Fb%20c", "prefix=a%2Fb%20d", BadSignature, false},
		{"s3 PutObject", "X-Amz-Meta-Multi: two", "X-Amz-Meta-Multi: twO", BadSignature, false},
		{"s3 PutObject", "a   b  c", "a b c", 0, false}, // canonicalisation collapses runs of spaces
		{"s3 PutObject", "a   b  c", "a   b  d", BadSignature, false},
		{"s3 PutObject", "NameContains", "NameContainz", BadDigest, false},
		{"s3 PutObject unsigned", "NameContains", "NameContainz", 0, false},
		{"s3 PutObject 3MiB", "0123456789abcdef0123", "0123456789abcdef0124", BadDigest, true},
		{"s3 PutObject chunked TE", "0123456789abcdef0123", "0123456789abcdef0124", BadDigest, true},
		{"sagemaker ListModels", "NameContains", "NameContainz", BadSignature, false},
		{"sagemaker ListModels", "SageMaker.ListModels", "SageMaker.ListModelz", BadSignature, false},
		{"sagemaker InvokeEndpoint", "my-endpoint", "my-endpoinu", BadSignature, false},
		{"sagemaker encoded path", "a%20b", "a%21b", BadSignature, false},
		{"sts form", "GetCallerIdentity", "GetCallerIdentitx", BadSignature, false},
		{"sts query", "GetCallerIdentity", "GetCallerIdentitx", BadSignature, false},
		{"s3 presigned GET", "X-Amz-Expires=900", "X-Amz-Expires=901", BadSignature, false},
		{"s3 presigned GET", "us-east-1", "us-east-2", BadSignature, false},
		{"s3 presigned PUT", "X-Amz-Meta-Owner: alice", "X-Amz-Meta-Owner: mallory", BadSignature, false},
		{"sts presigned", "X-K8s-Aws-Id: my-cluster", "X-K8s-Aws-Id: my-clustes", BadSignature, false},
	} {
		t.Run(tc.cas+": "+tc.from+" -> "+tc.to, func(t *testing.T) {
			raw := findCase(tc.cas).sign(t, testAKID, testSecret, sdkTime)
			if !bytes.Contains(raw, []byte(tc.from)) {
				t.Fatalf("%q not in request", tc.from)
			}
			raw = bytes.Replace(raw, []byte(tc.from), []byte(tc.to), 1)
			r := serverRequest(t, raw)
			_, err := verifierAt(sdkTime).Verify(r)
			if tc.atRead {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				_, err = io.ReadAll(r.Body)
			}
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			e := wantKind(t, err, tc.kind)
			if tc.kind == BadDigest && e.S3Code() != "XAmzContentSHA256Mismatch" {
				t.Fatalf("S3 code %s", e.S3Code())
			}
		})
	}
}

func TestMalformedAuthentication(t *testing.T) {
	const goodCred = "Credential=AKIDWHARFTEST0000001/20260314/us-east-1/s3/aws4_request"
	const goodSig = "Signature=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dateHdr := "X-Amz-Date: 20260314T150926Z"
	for _, tc := range []struct {
		name    string
		line    string
		headers []string
		kind    Kind
		s3      string
	}{
		{"no auth", "GET /b/k HTTP/1.1", nil, Missing, "AccessDenied"},
		{"bare algorithm", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256", dateHdr}, Incomplete, "AuthorizationHeaderMalformed"},
		{"sigv2", "GET / HTTP/1.1", []string{"Authorization: AWS AKIDWHARFTEST0000001:c2lnbmF0dXJl", dateHdr}, Incomplete, ""},
		{"sigv4a", "GET / HTTP/1.1", []string{"Authorization: AWS4-ECDSA-P256-SHA256 " + goodCred + ", SignedHeaders=host, " + goodSig, dateHdr}, Incomplete, ""},
		{"bearer", "GET / HTTP/1.1", []string{"Authorization: Bearer abc", dateHdr}, Incomplete, ""},
		{"glued algorithm", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256Credential=x", dateHdr}, Incomplete, ""},
		{"no signature", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host", dateHdr}, Incomplete, ""},
		{"no signed headers", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", " + goodSig, dateHdr}, Incomplete, ""},
		{"no credential", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 SignedHeaders=host, " + goodSig, dateHdr}, Incomplete, ""},
		{"host not signed", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=x-amz-date, " + goodSig, dateHdr}, Incomplete, ""},
		{"upper-case signed header", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=Host, " + goodSig, dateHdr}, Incomplete, ""},
		{"duplicate signed header", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host;host, " + goodSig, dateHdr}, Incomplete, ""},
		{"duplicate credential", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", " + goodCred + ", SignedHeaders=host, " + goodSig, dateHdr}, Incomplete, ""},
		{"unknown component", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host, " + goodSig + ", Extra=1", dateHdr}, Incomplete, ""},
		{"short signature", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host, Signature=abc", dateHdr}, Incomplete, ""},
		{"non-hex signature", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host, Signature=" + strings.Repeat("z", 64), dateHdr}, Incomplete, ""},
		{"four-part credential", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260314/us-east-1/aws4_request, SignedHeaders=host, " + goodSig, dateHdr}, Incomplete, ""},
		{"bad terminator", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260314/us-east-1/s3/aws5_request, SignedHeaders=host, " + goodSig, dateHdr}, Incomplete, ""},
		{"bad credential date", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261399/us-east-1/s3/aws4_request, SignedHeaders=host, " + goodSig, dateHdr}, Incomplete, ""},
		{"credential date differs", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260313/us-east-1/s3/aws4_request, SignedHeaders=host, " + goodSig, dateHdr}, Incomplete, ""},
		{"no date", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host, " + goodSig}, Incomplete, ""},
		{"bad x-amz-date", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host, " + goodSig, "X-Amz-Date: 2026-03-14T15:09:26Z"}, Incomplete, ""},
		{"two authorization headers", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host, " + goodSig, "Authorization: x", dateHdr}, Incomplete, ""},
		{"bad content sha256", "GET / HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host, " + goodSig, dateHdr, "X-Amz-Content-Sha256: nope"}, Incomplete, "InvalidArgument"},
		{"header and query", "GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256 HTTP/1.1", []string{"Authorization: AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host, " + goodSig, dateHdr}, Incomplete, "InvalidArgument"},
		{"presign without expires", "GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDWHARFTEST0000001%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T150926Z&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef HTTP/1.1", nil, Incomplete, "AuthorizationQueryParametersError"},
		{"presign expires 0", "GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDWHARFTEST0000001%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T150926Z&X-Amz-Expires=0&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef HTTP/1.1", nil, Incomplete, "AuthorizationQueryParametersError"},
		{"presign expires too long", "GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDWHARFTEST0000001%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T150926Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef HTTP/1.1", nil, Incomplete, ""},
		{"presign expires text", "GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDWHARFTEST0000001%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T150926Z&X-Amz-Expires=+60&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef HTTP/1.1", nil, Incomplete, ""},
		{"presign wrong algorithm", "GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA1&X-Amz-Credential=AKIDWHARFTEST0000001%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T150926Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef HTTP/1.1", nil, Incomplete, ""},
		{"presign signature only", "GET /b/k?X-Amz-Signature=0123 HTTP/1.1", nil, Incomplete, ""},
		{"presign twice", "GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Algorithm=AWS4-HMAC-SHA256 HTTP/1.1", nil, Incomplete, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := serverRequest(t, rawRequest(tc.line, append([]string{"Host: s3.local"}, tc.headers...), nil))
			_, err := verifierAt(sdkTime).Verify(r)
			e := wantKind(t, err, tc.kind)
			if tc.s3 != "" && e.S3Code() != tc.s3 {
				t.Fatalf("S3 code %s, want %s", e.S3Code(), tc.s3)
			}
		})
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		e           *Error
		s3          string
		s3Status    int
		json        string
		jsonStatus  int
		query       string
		queryStatus int
	}{
		{&Error{Kind: Missing}, "AccessDenied", 403, "MissingAuthenticationTokenException", 400, "MissingAuthenticationToken", 403},
		{&Error{Kind: Incomplete}, "AuthorizationHeaderMalformed", 400, "IncompleteSignatureException", 400, "IncompleteSignature", 400},
		{&Error{Kind: Incomplete, presigned: true}, "AuthorizationQueryParametersError", 400, "IncompleteSignatureException", 400, "IncompleteSignature", 400},
		{&Error{Kind: UnknownKey}, "InvalidAccessKeyId", 403, "UnrecognizedClientException", 400, "InvalidClientTokenId", 403},
		{&Error{Kind: BadSignature}, "SignatureDoesNotMatch", 403, "InvalidSignatureException", 400, "SignatureDoesNotMatch", 403},
		{&Error{Kind: Skewed}, "RequestTimeTooSkewed", 403, "InvalidSignatureException", 400, "SignatureDoesNotMatch", 403},
		{&Error{Kind: Expired}, "AccessDenied", 403, "InvalidSignatureException", 400, "SignatureDoesNotMatch", 403},
		{shaMismatch(), "XAmzContentSHA256Mismatch", 400, "InvalidSignatureException", 400, "SignatureDoesNotMatch", 403},
		{&Error{Kind: BadDigest, s3Code: "BadDigest"}, "BadDigest", 400, "InvalidSignatureException", 400, "SignatureDoesNotMatch", 403},
		{truncated(), "IncompleteBody", 400, "SerializationException", 400, "MalformedInput", 400},
		{tooLarge(1), "EntityTooLarge", 413, "RequestEntityTooLargeException", 413, "RequestEntityTooLarge", 413},
	} {
		e := tc.e
		if e.S3Code() != tc.s3 || e.HTTPStatus(true) != tc.s3Status || e.JSONCode() != tc.json || e.HTTPStatus(false) != tc.jsonStatus ||
			e.QueryCode() != tc.query || e.QueryHTTPStatus() != tc.queryStatus {
			t.Errorf("%v: got %s %d / %s %d / %s %d", e.Kind, e.S3Code(), e.HTTPStatus(true), e.JSONCode(), e.HTTPStatus(false), e.QueryCode(), e.QueryHTTPStatus())
		}
	}
}

func TestScope(t *testing.T) {
	for _, tc := range []struct {
		raw             []byte
		service, region string
		ok              bool
	}{
		{rawRequest("GET / HTTP/1.1", []string{"Host: h", "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260314/eu-west-1/sagemaker/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("0", 64)}, nil), "sagemaker", "eu-west-1", true},
		{rawRequest("GET /b?X-Amz-Credential=AKID%2F20260314%2Fus-east-1%2Fs3%2Faws4_request HTTP/1.1", []string{"Host: h"}, nil), "s3", "us-east-1", true},
		{rawRequest("GET / HTTP/1.1", []string{"Host: h", "Authorization: garbage"}, nil), "", "", false},
		{rawRequest("GET / HTTP/1.1", []string{"Host: h"}, nil), "", "", false},
	} {
		s, reg, ok := Scope(serverRequest(t, tc.raw))
		if s != tc.service || reg != tc.region || ok != tc.ok {
			t.Errorf("Scope = %q %q %v, want %q %q %v", s, reg, ok, tc.service, tc.region, tc.ok)
		}
	}
}

// TestBodyLimits: a non-S3 body is hashed by Verify up to MaxBody; beyond,
// it must declare its hash and is then verified while it streams.
func TestBodyLimits(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 4096)
	c := signCase{service: "sagemaker", method: "POST", url: "http://127.0.0.1/endpoints/e/invocations", body: body}
	v := verifierAt(sdkTime)
	v.MaxBody = 1024
	_, err := v.Verify(serverRequest(t, c.sign(t, testAKID, testSecret, sdkTime)))
	e := wantKind(t, err, BadEncoding)
	if e.HTTPStatus(false) != 413 {
		t.Fatalf("status %d", e.HTTPStatus(false))
	}

	c.headers = [][2]string{{"X-Amz-Content-Sha256", hexs(sha256Sum(body))}}
	r := serverRequest(t, c.sign(t, testAKID, testSecret, sdkTime))
	if _, err := v.Verify(r); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r.Body); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}

	raw := bytes.Replace(c.sign(t, testAKID, testSecret, sdkTime), []byte("xxxxx\r\n"), []byte("xxxxy\r\n"), 1)
	raw = append(raw[:len(raw)-1], 'y')
	r = serverRequest(t, raw)
	if _, err := v.Verify(r); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r.Body)
	wantKind(t, err, BadDigest)
}

func TestKeyCacheBounded(t *testing.T) {
	var c keyCache
	for i := range maxCachedKeys + 50 {
		c.get("s", credential{"AKID", "20260314", "region-" + strconv.Itoa(i), "s3"})
	}
	if len(c.keys) > maxCachedKeys {
		t.Fatalf("%d keys cached", len(c.keys))
	}
	cr := credential{"AKID", "20130524", "us-east-1", "s3"}
	if !bytes.Equal(c.get(docSecret, cr), deriveKey(docSecret, cr)) || !bytes.Equal(c.get(docSecret, cr), deriveKey(docSecret, cr)) {
		t.Fatal("cached key differs")
	}
}

// BenchmarkVerifyGet measures the per-request cost of a header-signed S3
// GET (the signing key comes from the cache after the first request).
func BenchmarkVerifyGet(b *testing.B) {
	raw := findCase("s3 GetObject").sign(b, testAKID, testSecret, sdkTime)
	v := verifierAt(sdkTime)
	r := serverRequest(b, raw)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRemoveAWSChunked(t *testing.T) {
	for in, want := range map[string]string{
		"aws-chunked":        "",
		"gzip,aws-chunked":   "gzip", // botocore appends aws-chunked to an existing coding
		"aws-chunked, gzip":  "gzip",
		"gzip":               "gzip",
		"br, AWS-CHUNKED, x": "br,x",
	} {
		h := http.Header{"Content-Encoding": {in}}
		removeAWSChunked(h)
		if got := h.Get("Content-Encoding"); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
		if _, ok := h["Content-Encoding"]; want == "" && ok {
			t.Errorf("%q: header kept", in)
		}
	}
}
