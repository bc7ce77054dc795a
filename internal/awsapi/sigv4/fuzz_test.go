package sigv4

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzParseAuthorization: the header parser never panics, and whatever it
// accepts is well-formed.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
		"AWS4-HMAC-SHA256   Credential=a/20130524/r/s/aws4_request ,  SignedHeaders=host ,Signature=" + strings.Repeat("0", 64),
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=, Signature=",
		"AWS4-HMAC-SHA256 Credential==, =, ,,,",
		"AWS4-HMAC-SHA256",
		"AWS AKID:sig",
		"AWS4-ECDSA-P256-SHA256 Credential=x",
		"",
		"AWS4-HMAC-SHA256 SignedHeaders=" + strings.Repeat("a;", 200) + "host",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			if err.Kind != Incomplete {
				t.Fatalf("kind %v", err.Kind)
			}
			return
		}
		if len(a.signature) != 32 || a.cred.accessKeyID == "" || len(a.cred.date) != 8 ||
			a.cred.region == "" || a.cred.service == "" || len(a.signedHeaders) == 0 || len(a.signedHeaders) > maxSignedHeaders {
			t.Fatalf("accepted malformed header %q: %+v", h, a)
		}
		host := false
		for _, n := range a.signedHeaders {
			host = host || n == "host"
			if n == "" || strings.ToLower(n) != n {
				t.Fatalf("bad signed header %q", n)
			}
		}
		if !host {
			t.Fatal("host not signed")
		}
		// The scope rebuilt from the parts parses back to the same parts.
		c, err := parseCredential(a.cred.accessKeyID + "/" + a.cred.scope())
		if err != nil || c != a.cred {
			t.Fatalf("credential round trip: %+v %v", c, err)
		}
	})
}

// fuzzSigner is a fixed chunk-signing context for the fuzzer's seeds.
func fuzzSigner() *chunkSigner {
	return &chunkSigner{
		key:     deriveKey(testSecret, credential{testAKID, "20260314", "us-east-1", "s3"}),
		amzDate: "20260314T150926Z",
		scope:   "20260314/us-east-1/s3/aws4_request",
		prev:    bytes.Repeat([]byte{7}, 32),
	}
}

// FuzzChunkedReader feeds arbitrary bytes through the de-chunker in each
// mode: no panic, never more output than input, failures are *Error (or
// the underlying reader's error), and the reader's memory does not grow
// with the input (lines and trailers are bounded, data is streamed).
func FuzzChunkedReader(f *testing.F) {
	// Seeds are kept small: the fuzzer minimises every new input, which
	// takes minutes for inputs of tens of KiB. The large documented bodies
	// are exercised by TestDocChunkedUploads.
	payload := bytes.Repeat([]byte("wharf"), 40) // 200 bytes
	crc, _ := Checksum("x-amz-checksum-crc32", payload)
	trailer := [][2]string{{"x-amz-checksum-crc32", crc}}
	f.Add(encodeChunked(payload, 64, fuzzSigner(), nil), uint8(0), int64(len(payload)))
	f.Add(encodeChunked(payload, 128, fuzzSigner(), trailer), uint8(1), int64(len(payload)))
	f.Add(encodeChunked(payload, 50, nil, trailer), uint8(2), int64(len(payload)))
	f.Add(encodeChunked(payload, len(payload), nil, trailer), uint8(2), int64(-1))
	f.Add(encodeChunked(nil, 1, nil, trailer[:0]), uint8(2), int64(0))
	f.Add([]byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\n\r\n\r\n"), uint8(2), int64(3))
	f.Add([]byte("ffffffffffffffff\r\n"), uint8(2), int64(-1))
	f.Add([]byte("1;chunk-signature=zz\r\na\r\n"), uint8(0), int64(-1))
	f.Add([]byte("0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), uint8(2), int64(-1))
	f.Add([]byte(strings.Repeat("0", 5000)+"\r\n"), uint8(2), int64(-1))

	f.Fuzz(func(t *testing.T, data []byte, mode uint8, decoded int64) {
		if decoded < -1 {
			decoded = -1
		}
		cfg := chunkConfig{decodedLength: decoded}
		switch mode % 3 {
		case 0:
			cfg.signer = fuzzSigner()
		case 1:
			cfg.signer = fuzzSigner()
			cfg.trailer, cfg.declared = true, []string{"x-amz-checksum-crc32"}
		case 2:
			cfg.trailer, cfg.declared = true, []string{"x-amz-checksum-crc32"}
		}
		cr, e := newChunkedReader(io.NopCloser(bytes.NewReader(data)), cfg)
		if e != nil {
			t.Fatal(e)
		}
		out, err := readSmall(cr, 1+int(mode)%97)
		if len(out) > len(data) {
			t.Fatalf("decoded %d bytes from %d", len(out), len(data))
		}
		if err != nil {
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("non-*Error failure %T %v", err, err)
			}
			if Trailers(cr) != nil {
				t.Fatal("trailers after failure")
			}
			return
		}
		if decoded >= 0 && int64(len(out)) != decoded {
			t.Fatalf("accepted %d bytes, declared %d", len(out), decoded)
		}
		if cfg.trailer {
			got := Trailers(cr).Get("x-amz-checksum-crc32")
			want, _ := Checksum("x-amz-checksum-crc32", out)
			if got != want {
				t.Fatalf("accepted checksum %q for data with %q", got, want)
			}
		}
	})
}
