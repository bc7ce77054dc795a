package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfml/wharf/internal/awsapi"
)

// Test credentials. The AKIDs and secrets of the AWS documentation examples
// are public test values.
const (
	docAKID    = "AKIAIOSFODNN7EXAMPLE"
	docSecret  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testAKID   = "AKIDWHARFTEST0000001"
	testSecret = "wharf/test+secret/0123456789abcdefghijklmn"
)

var testIdentity = awsapi.Identity{AccountID: "123456789012", AccessKeyID: testAKID}

// lookup knows the documentation key and the test key; "BROKEN" fails with
// a server fault.
func lookup(_ context.Context, akid string) (string, awsapi.Identity, error) {
	switch akid {
	case docAKID:
		return docSecret, awsapi.Identity{AccountID: "111122223333"}, nil
	case testAKID:
		return testSecret, testIdentity, nil
	case "BROKEN":
		return "", awsapi.Identity{}, errors.New("database is down")
	}
	return "", awsapi.Identity{}, fmt.Errorf("key %s: %w", akid, ErrUnknownKey)
}

func verifierAt(t time.Time) *Verifier {
	return &Verifier{Lookup: lookup, Now: func() time.Time { return t }}
}

// serverRequest parses raw HTTP/1.1 bytes the way net/http's server does
// (Host moved to r.Host, RequestURI set, body framed by Content-Length or
// chunked), so Verify sees exactly what a handler would.
func serverRequest(t testing.TB, raw []byte) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("parsing request: %v", err)
	}
	return r
}

// wire serialises a client request as Go's transport would send it.
func wire(t testing.TB, r *http.Request) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.Write(&b); err != nil {
		t.Fatalf("writing request: %v", err)
	}
	return b.Bytes()
}

// rawRequest builds wire bytes from a request line, header lines and a body.
// Content-Length is added when the body is not empty and none is given.
func rawRequest(line string, headers []string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(line + "\r\n")
	hasCL := false
	for _, h := range headers {
		if strings.HasPrefix(strings.ToLower(h), "content-length:") {
			hasCL = true
		}
		b.WriteString(h + "\r\n")
	}
	if !hasCL && len(body) > 0 {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func wantKind(t testing.TB, err error, k Kind) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error of kind %v", err, err, k)
	}
	if e.Kind != k {
		t.Fatalf("got %v, want kind %v", e, k)
	}
	cr, sts := e.Debug()
	for _, s := range []string{e.Error(), e.S3Message(), e.JSONMessage(), cr, sts} {
		if strings.Contains(s, testSecret) || strings.Contains(s, docSecret) {
			t.Fatalf("error text contains a secret: %q", s)
		}
	}
	return e
}

// readSmall reads r in small pieces, so chunk boundaries fall inside reads.
func readSmall(r io.Reader, n int) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, n)
	for {
		k, err := r.Read(buf)
		out.Write(buf[:k])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

// encodeChunked builds an aws-chunked body. With a signer the chunks (and
// trailer) are signed, chained from s.prev; without, it is the unsigned
// form. There is no real client in Go that sends signed chunks, so these
// bodies come from the package's own signer, which TestDocChunkSignatures
// checks against the AWS documentation's published signatures.
func encodeChunked(payload []byte, chunkSize int, s *chunkSigner, trailers [][2]string) []byte {
	var b bytes.Buffer
	if s != nil {
		cp := *s
		cp.prev = append([]byte(nil), s.prev...)
		s = &cp
	}
	emit := func(data []byte) {
		b.WriteString(strconv.FormatInt(int64(len(data)), 16))
		if s != nil {
			h := sha256Sum(data)
			sig := s.chunk(h)
			s.prev = sig
			b.WriteString(";chunk-signature=" + hexs(sig))
		}
		b.WriteString("\r\n")
		b.Write(data)
	}
	for off := 0; off < len(payload); off += chunkSize {
		end := min(off+chunkSize, len(payload))
		emit(payload[off:end])
		b.WriteString("\r\n")
	}
	emit(nil)
	if trailers == nil {
		b.WriteString("\r\n")
		return b.Bytes()
	}
	var signed strings.Builder
	for _, kv := range trailers {
		b.WriteString(kv[0] + ":" + kv[1] + "\r\n")
		signed.WriteString(kv[0] + ":" + kv[1] + "\n")
	}
	if s != nil {
		sig := s.trailer(sha256Sum([]byte(signed.String())))
		b.WriteString("x-amz-trailer-signature:" + hexs(sig) + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func hexs(b []byte) string { return hex.EncodeToString(b) }

func hexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }
