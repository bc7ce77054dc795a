package sigv4

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The requests and signatures below are the worked examples of the Amazon
// S3 API reference ("Signature Calculations for the Authorization Header",
// "Transferring Payload in Multiple Chunks", "Signature calculations for
// trailing headers", "Query string authentication"): independent vectors
// for the canonicalisation and the chunk/trailer signature chains.

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

const (
	docSeed        = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	docTrailerSeed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
)

func docAuth(signed, sig string) string {
	return "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=" + signed + ",Signature=" + sig
}

func TestDocSingleChunkExamples(t *testing.T) {
	v := verifierAt(docTime)
	for _, tc := range []struct {
		name string
		raw  []byte
		body string
	}{
		{"GetObject", rawRequest("GET /test.txt HTTP/1.1", []string{
			"Host: examplebucket.s3.amazonaws.com",
			docAuth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
			"Range: bytes=0-9",
			"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"x-amz-date: 20130524T000000Z",
		}, nil), ""},
		// The path is sent with '$' unencoded; AWS canonicalises it as %24.
		{"PutObject", rawRequest("PUT /test$file.text HTTP/1.1", []string{
			"Host: examplebucket.s3.amazonaws.com",
			"Date: Fri, 24 May 2013 00:00:00 GMT",
			docAuth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
			"x-amz-date: 20130524T000000Z",
			"x-amz-storage-class: REDUCED_REDUNDANCY",
			"x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		}, []byte("Welcome to Amazon S3.")), "Welcome to Amazon S3."},
		{"GetBucketLifecycle", rawRequest("GET /?lifecycle HTTP/1.1", []string{
			"Host: examplebucket.s3.amazonaws.com",
			docAuth("host;x-amz-content-sha256;x-amz-date", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
			"x-amz-date: 20130524T000000Z",
			"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		}, nil), ""},
		{"ListObjects", rawRequest("GET /?max-keys=2&prefix=J HTTP/1.1", []string{
			"Host: examplebucket.s3.amazonaws.com",
			docAuth("host;x-amz-content-sha256;x-amz-date", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
			"x-amz-date: 20130524T000000Z",
			"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		}, nil), ""},
		{"PresignedGet", rawRequest("GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1", []string{
			"Host: examplebucket.s3.amazonaws.com",
		}, nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := serverRequest(t, tc.raw)
			id, err := v.Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.AccessKeyID != docAKID || id.AccountID != "111122223333" {
				t.Fatalf("identity %+v", id)
			}
			got, err := io.ReadAll(r.Body)
			if err != nil || string(got) != tc.body {
				t.Fatalf("body %q, %v", got, err)
			}
			// One more byte of the body, header or path breaks it.
			bad := bytes.Replace(tc.raw, []byte("examplebucket"), []byte("examplebucker"), 1)
			if _, err := v.Verify(serverRequest(t, bad)); kindOf(err) != BadSignature {
				t.Fatalf("tampered host: %v", err)
			}
		})
	}
}

func TestDocPresignedExpiry(t *testing.T) {
	raw := rawRequest("GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1",
		[]string{"Host: examplebucket.s3.amazonaws.com"}, nil)
	if _, err := verifierAt(docTime.Add(86400 * time.Second)).Verify(serverRequest(t, raw)); err != nil {
		t.Fatalf("at the expiry instant: %v", err)
	}
	_, err := verifierAt(docTime.Add(86401 * time.Second)).Verify(serverRequest(t, raw))
	e := wantKind(t, err, Expired)
	if e.S3Code() != "AccessDenied" || e.S3Message() != "Request has expired" || e.HTTPStatus(true) != 403 {
		t.Fatalf("expired maps to %s %q %d", e.S3Code(), e.S3Message(), e.HTTPStatus(true))
	}
	_, err = verifierAt(docTime.Add(-16 * time.Minute)).Verify(serverRequest(t, raw))
	wantKind(t, err, Skewed)
}

// docChunkBody is the 66560-byte 'a' object in 64 KiB chunks.
func docChunkBody(sigs [3]string, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=" + sigs[0] + "\r\n")
	b.Write(bytes.Repeat([]byte{'a'}, 65536))
	b.WriteString("\r\n400;chunk-signature=" + sigs[1] + "\r\n")
	b.Write(bytes.Repeat([]byte{'a'}, 1024))
	b.WriteString("\r\n0;chunk-signature=" + sigs[2] + "\r\n")
	b.WriteString(trailer)
	return b.Bytes()
}

var (
	docChunkSigs   = [3]string{"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648", "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497", "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"}
	docTrailerSigs = [3]string{"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2", "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7", "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"}
)

const docTrailer = "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"

func docSignedChunkRequest(body []byte) []byte {
	return rawRequest("PUT /examplebucket/chunkObject.txt HTTP/1.1", []string{
		"Host: s3.amazonaws.com",
		"x-amz-date: 20130524T000000Z",
		"x-amz-storage-class: REDUCED_REDUNDANCY",
		docAuth("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class", docSeed),
		"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
		"Content-Encoding: aws-chunked",
		"x-amz-decoded-content-length: 66560",
		"Content-Length: " + strconv.Itoa(len(body)),
	}, body)
}

func docSignedTrailerRequest(body []byte) []byte {
	return rawRequest("PUT /examplebucket/chunkObject.txt HTTP/1.1", []string{
		"Host: s3.amazonaws.com",
		"x-amz-date: 20130524T000000Z",
		"x-amz-storage-class: REDUCED_REDUNDANCY",
		docAuth("content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer", docTrailerSeed),
		"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
		"Content-Encoding: aws-chunked",
		"x-amz-decoded-content-length: 66560",
		"x-amz-trailer: x-amz-checksum-crc32c",
	}, body)
}

// docUnsignedTrailerBody is the documentation's STREAMING-UNSIGNED-PAYLOAD-TRAILER
// example, including its odd "\n\r\n\r\n" ending.
func docUnsignedTrailerBody(checksum string) []byte {
	var b bytes.Buffer
	for _, n := range []int{0x2000, 0x2000, 0x400} {
		b.WriteString(strconv.FormatInt(int64(n), 16) + "\r\n")
		b.Write(bytes.Repeat([]byte{'a'}, n))
		b.WriteString("\r\n")
	}
	b.WriteString("0\r\nx-amz-checksum-crc32:" + checksum + "\n\r\n\r\n")
	return b.Bytes()
}

func docUnsignedTrailerRequest(body []byte) []byte {
	return rawRequest("PUT /Key+ HTTP/1.1", []string{
		"Host: amzn-s3-demo-bucket.s3.amazonaws.com",
		"Content-Encoding: aws-chunked",
		"x-amz-decoded-content-length: 17408",
		"x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER",
		"x-amz-trailer: x-amz-checksum-crc32",
		docAuth("content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-trailer", "8fdf2b7a7005b82789d2a9cec832705457298e8a6a908f8c85f17e44c707aa64"),
		"x-amz-date: 20130524T000000Z",
	}, body)
}

// TestDocChunkSignatures checks the chunk signer against the published
// chain: seed -> chunk 1 -> chunk 2 -> final chunk (-> trailer).
func TestDocChunkSignatures(t *testing.T) {
	key := deriveKey(docSecret, credential{docAKID, "20130524", "us-east-1", "s3"})
	for _, tc := range []struct {
		seed    string
		sigs    [3]string
		trailer string
	}{
		{docSeed, docChunkSigs, ""},
		{docTrailerSeed, docTrailerSigs, "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"},
	} {
		s := &chunkSigner{key: key, amzDate: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request", prev: mustHex(tc.seed)}
		for i, data := range [][]byte{bytes.Repeat([]byte{'a'}, 65536), bytes.Repeat([]byte{'a'}, 1024), nil} {
			got := hexs(s.chunk(sha256Sum(data)))
			if got != tc.sigs[i] {
				t.Fatalf("seed %s chunk %d: got %s want %s", tc.seed[:8], i, got, tc.sigs[i])
			}
			s.prev = mustHex(got)
		}
		if tc.trailer != "" {
			got := hexs(s.trailer(sha256Sum([]byte("x-amz-checksum-crc32c:sOO8/Q==\n"))))
			if got != tc.trailer {
				t.Fatalf("trailer signature %s want %s", got, tc.trailer)
			}
		}
	}
	if got, _ := Checksum("x-amz-checksum-crc32c", bytes.Repeat([]byte{'a'}, 66560)); got != "sOO8/Q==" {
		t.Fatalf("crc32c of the example = %s", got)
	}
	if got, _ := Checksum("x-amz-checksum-crc32", bytes.Repeat([]byte{'a'}, 17408)); got != "s3SFCQ==" {
		t.Fatalf("crc32 of the example = %s", got)
	}
}

func TestDocChunkedUploads(t *testing.T) {
	want := bytes.Repeat([]byte{'a'}, 66560)
	for _, tc := range []struct {
		name     string
		raw      []byte
		want     []byte
		trailers map[string]string
	}{
		{"signed", docSignedChunkRequest(docChunkBody(docChunkSigs, "\r\n")), want, nil},
		{"signed trailer", docSignedTrailerRequest(docChunkBody(docTrailerSigs, docTrailer+"\r\n")), want, map[string]string{"X-Amz-Checksum-Crc32c": "sOO8/Q=="}},
		// The documentation's trailer example ends right after the signature line.
		{"signed trailer without final CRLF", docSignedTrailerRequest(docChunkBody(docTrailerSigs, docTrailer)), want, map[string]string{"X-Amz-Checksum-Crc32c": "sOO8/Q=="}},
		{"unsigned trailer", docUnsignedTrailerRequest(docUnsignedTrailerBody("s3SFCQ==")), bytes.Repeat([]byte{'a'}, 17408), map[string]string{"X-Amz-Checksum-Crc32": "s3SFCQ=="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, bufSize := range []int{1, 7, 4096, 1 << 20} {
				r := serverRequest(t, tc.raw)
				if _, err := verifierAt(docTime).Verify(r); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if r.ContentLength != int64(len(tc.want)) || r.Header.Get("Content-Length") != strconv.Itoa(len(tc.want)) {
					t.Fatalf("ContentLength %d / %q", r.ContentLength, r.Header.Get("Content-Length"))
				}
				if r.Header.Get("Content-Encoding") != "" {
					t.Fatalf("Content-Encoding still %q", r.Header.Get("Content-Encoding"))
				}
				if Trailers(r.Body) != nil {
					t.Fatal("trailers before EOF")
				}
				got, err := readSmall(r.Body, bufSize)
				if err != nil {
					t.Fatalf("read (buf %d): %v", bufSize, err)
				}
				if !bytes.Equal(got, tc.want) {
					t.Fatalf("decoded %d bytes, want %d", len(got), len(tc.want))
				}
				tr := Trailers(r.Body)
				if len(tr) != len(tc.trailers) {
					t.Fatalf("trailers %v want %v", tr, tc.trailers)
				}
				for k, v := range tc.trailers {
					if tr.Get(k) != v || r.Trailer.Get(k) != v {
						t.Fatalf("trailer %s = %q / r.Trailer %q, want %q", k, tr.Get(k), r.Trailer.Get(k), v)
					}
				}
			}
		})
	}
}

// TestDocChunkedTampering: any change to the body must fail before io.EOF.
func TestDocChunkedTampering(t *testing.T) {
	signed := docChunkBody(docChunkSigs, "\r\n")
	trailer := docChunkBody(docTrailerSigs, docTrailer+"\r\n")
	flip := func(b []byte, at int) []byte {
		c := bytes.Clone(b)
		c[at] ^= 1
		return c
	}
	dataStart := bytes.Index(signed, []byte("\r\n")) + 2
	for _, tc := range []struct {
		name string
		raw  []byte
		kind Kind
	}{
		{"first chunk byte", docSignedChunkRequest(flip(signed, dataStart)), BadSignature},
		{"last byte of first chunk", docSignedChunkRequest(flip(signed, dataStart+65535)), BadSignature},
		{"second chunk byte", docSignedChunkRequest(flip(signed, dataStart+65536+2+86+10)), BadSignature},
		{"chunk signature", docSignedChunkRequest(bytes.Replace(signed, []byte("ad80c7"), []byte("ad80c8"), 1)), BadSignature},
		{"final chunk signature", docSignedChunkRequest(bytes.Replace(signed, []byte("b6c6ea"), []byte("b6c6eb"), 1)), BadSignature},
		{"chunks swapped size", docSignedChunkRequest(bytes.Replace(signed, []byte("\r\n400;"), []byte("\r\n3ff;"), 1)), BadEncoding},
		// Content-Length is signed in this example: keep it, send less.
		{"truncated", bytes.TrimSuffix(docSignedChunkRequest(signed), signed[len(signed)-100:]), BadEncoding},
		{"garbage after final chunk", docSignedTrailerRequest(append(bytes.Clone(trailer), "junk"...)), BadEncoding},
		{"trailer checksum value", docSignedTrailerRequest(bytes.Replace(trailer, []byte("sOO8/Q=="), []byte("sOO8/R=="), 1)), BadSignature},
		{"trailer signature", docSignedTrailerRequest(bytes.Replace(trailer, []byte("d81f82"), []byte("d81f83"), 1)), BadSignature},
		{"trailer data byte", docSignedTrailerRequest(flip(trailer, dataStart+100)), BadSignature},
		{"unsigned trailer wrong checksum", docUnsignedTrailerRequest(docUnsignedTrailerBody("s3SFCA==")), BadDigest},
		{"unsigned trailer data byte", docUnsignedTrailerRequest(flip(docUnsignedTrailerBody("s3SFCQ=="), 10)), BadDigest},
		{"unsigned trailer missing", docUnsignedTrailerRequest(bytes.Replace(docUnsignedTrailerBody("s3SFCQ=="), []byte("x-amz-checksum-crc32:s3SFCQ==\n"), nil, 1)), BadEncoding},
		{"unsigned trailer undeclared", docUnsignedTrailerRequest(bytes.Replace(docUnsignedTrailerBody("s3SFCQ=="), []byte("x-amz-checksum-crc32:"), []byte("x-amz-checksum-crc32c:"), 1)), BadEncoding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := serverRequest(t, tc.raw)
			if _, err := verifierAt(docTime).Verify(r); err != nil {
				t.Fatalf("Verify (headers are intact): %v", err)
			}
			got, err := readSmall(r.Body, 4096)
			e := wantKind(t, err, tc.kind)
			if len(got) > 66560 {
				t.Fatalf("handed out %d bytes", len(got))
			}
			// The failure is sticky.
			if _, again := r.Body.Read(make([]byte, 10)); again != error(e) {
				t.Fatalf("second read: %v", again)
			}
			if Trailers(r.Body) != nil {
				t.Fatal("trailers exposed after a failure")
			}
		})
	}
}

func TestDocChunkedHeaderTampering(t *testing.T) {
	raw := docSignedChunkRequest(docChunkBody(docChunkSigs, "\r\n"))
	for _, tc := range []struct{ from, to string }{
		{"x-amz-decoded-content-length: 66560", "x-amz-decoded-content-length: 66561"},
		{"REDUCED_REDUNDANCY", "STANDARD"},
		{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
	} {
		bad := []byte(strings.Replace(string(raw), tc.from, tc.to, 1))
		if _, err := verifierAt(docTime).Verify(serverRequest(t, bad)); kindOf(err) != BadSignature {
			t.Fatalf("%s -> %s: %v", tc.from, tc.to, err)
		}
	}
}

func mustHex(s string) []byte {
	b, err := hexDecode(s)
	if err != nil {
		panic(err)
	}
	return b
}
