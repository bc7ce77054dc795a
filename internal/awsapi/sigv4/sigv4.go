// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests
// for every AWS protocol Wharf serves on one listener: S3 (REST-XML, with
// presigned URLs and aws-chunked uploads), the JSON 1.1 services
// (SageMaker, CloudWatch Logs, ECR) and STS (query).
//
// Verification is by recomputation: the canonical request is rebuilt from
// the request as it arrived on the wire and signed with the caller's secret,
// and the result is compared in constant time. The body is authenticated as
// it is read: Verify replaces r.Body with a reader that checks the declared
// payload hash, chunk signatures and trailing checksums, and that reports a
// mismatch as an error before io.EOF, so a handler that streams to a
// temporary file and commits on EOF never commits unverified data.
package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wharfml/wharf/internal/awsapi"
)

// Payload hash values of X-Amz-Content-Sha256 other than a hex digest.
const (
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

const (
	// DefaultMaxSkew is AWS's clock skew limit.
	DefaultMaxSkew = 15 * time.Minute
	// DefaultMaxBody is the default Verifier.MaxBody.
	DefaultMaxBody = 16 << 20
	// eagerLimit: an S3 body with a signed hex hash up to this size is read
	// and checked inside Verify, so even a handler that never reads to EOF
	// (an XML decoder stops at the closing tag) only sees verified bytes.
	// Larger bodies are verified as they stream.
	eagerLimit = 1 << 20
	// maxDecodedLength bounds x-amz-decoded-content-length (S3's 5 TiB
	// object limit).
	maxDecodedLength = 5 << 40

	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Lookup returns the secret and identity for an access key id, or an error
// wrapping ErrUnknownKey if there is no such key.
type Lookup func(ctx context.Context, accessKeyID string) (secret string, id awsapi.Identity, err error)

// Verifier authenticates requests. The zero value with Lookup set is ready
// to use; it is safe for concurrent use and must not be copied after first
// use (it holds the signing-key cache).
type Verifier struct {
	Lookup  Lookup
	Now     func() time.Time // nil = time.Now
	MaxSkew time.Duration    // 0 = DefaultMaxSkew (15 minutes)
	// MaxBody caps how much of a body Verify buffers in memory: a non-S3
	// body is always hashed before the handler sees it (JSON and query
	// bodies are small, and their decoders do not read to EOF), and a body
	// without X-Amz-Content-Sha256 must be hashed before the signature can
	// be checked at all. A body without that header above the cap is
	// refused (BadEncoding, HTTP 413); one with the header is verified as it
	// streams instead. 0 = DefaultMaxBody (16 MiB).
	MaxBody int64

	keys keyCache
}

// request is everything parsed from a request before the secret is known.
type request struct {
	authorization
	presigned bool
	t         time.Time // request time (X-Amz-Date or Date)
	amzDate   string    // t in the string-to-sign format
	expires   time.Duration
	query     []queryPair
	payload   string // X-Amz-Content-Sha256 as declared, "" if none
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

func (v *Verifier) maxBody() int64 {
	if v.MaxBody > 0 {
		return v.MaxBody
	}
	return DefaultMaxBody
}

// Verify authenticates r and returns the caller.
//
// On success it replaces r.Body with a reader of the decoded, verified
// payload:
//   - aws-chunked bodies (STREAMING-*): the de-chunked data, verifying each
//     chunk signature and the trailing checksum while it is read;
//     r.ContentLength and the Content-Length header become
//     x-amz-decoded-content-length (-1 and no header if absent),
//     "aws-chunked" is removed from Content-Encoding, and the trailer
//     names declared in X-Amz-Trailer are put in r.Trailer, whose values
//     (like Trailers(r.Body)) are filled in once the body reached io.EOF;
//   - a signed hex payload hash: the body, failing with a BadDigest *Error
//     (S3 code XAmzContentSHA256Mismatch) instead of io.EOF if its SHA-256
//     differs. Small and non-S3 bodies are checked inside Verify;
//   - UNSIGNED-PAYLOAD: the body untouched.
//
// Failures are *Error values, except a Lookup error other than
// ErrUnknownKey, which is returned wrapped (a server fault). Header checksums
// (x-amz-checksum-*, Content-MD5) are not checked here: their meaning
// depends on the S3 operation (CompleteMultipartUpload's describes the whole
// object, not the body).
func (v *Verifier) Verify(r *http.Request) (awsapi.Identity, error) {
	if v.Lookup == nil {
		return awsapi.Identity{}, errors.New("sigv4: Verifier.Lookup is nil")
	}
	req, e := parseRequest(r)
	if e != nil {
		return awsapi.Identity{}, e
	}
	if e := v.checkTime(req); e != nil {
		return awsapi.Identity{}, e
	}
	secret, id, err := v.Lookup(r.Context(), req.cred.accessKeyID)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return awsapi.Identity{}, &Error{Kind: UnknownKey, Message: "The AWS Access Key Id you provided does not exist in our records.", presigned: req.presigned}
		}
		return awsapi.Identity{}, fmt.Errorf("sigv4: looking up access key: %w", err)
	}
	if id.AccessKeyID == "" {
		id.AccessKeyID = req.cred.accessKeyID
	}
	s3 := req.cred.service == "s3"

	payloadHash, mode, err := v.payloadHash(r, req, s3)
	if err != nil {
		return awsapi.Identity{}, err
	}
	key := v.keys.get(secret, req.cred)
	if e := checkSignature(r, req, key, payloadHash, s3); e != nil {
		return awsapi.Identity{}, e
	}
	if err := v.installBody(r, req, key, mode, s3); err != nil {
		return awsapi.Identity{}, err
	}
	return id, nil
}

// parseRequest extracts the authentication from the Authorization header
// or the presigned query.
func parseRequest(r *http.Request) (*request, *Error) {
	req := &request{query: parseQuery(r.URL.RawQuery)}
	presign := map[string]string{}
	dup := ""
	for _, p := range req.query {
		switch p.key {
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Content-Sha256":
			if _, ok := presign[p.key]; ok {
				dup = p.key
			}
			presign[p.key] = p.value
		}
	}
	_, hasAlg := presign["X-Amz-Algorithm"]
	_, hasCred := presign["X-Amz-Credential"]
	_, hasSig := presign["X-Amz-Signature"]
	auth := r.Header.Values("Authorization")
	req.presigned = hasAlg || hasCred || hasSig
	if req.presigned && len(auth) == 0 && dup != "" {
		return nil, &Error{Kind: Incomplete, Message: dup + " appears more than once", presigned: true}
	}
	switch {
	case len(auth) > 0 && req.presigned:
		e := newErr(Incomplete, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
		e.s3Code = "InvalidArgument"
		return nil, e
	case len(auth) > 1:
		return nil, newErr(Incomplete, "more than one Authorization header")
	case len(auth) == 1:
		return req, req.parseHeaderAuth(r, auth[0])
	case req.presigned:
		return req, req.parsePresigned(r, presign)
	}
	return nil, newErr(Missing, "Request is missing Authentication Token")
}

func (req *request) parseHeaderAuth(r *http.Request, h string) *Error {
	a, e := parseAuthorization(h)
	if e != nil {
		return e
	}
	req.authorization = a
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		t, ok := parseAmzTime(d)
		if !ok {
			return newErr(Incomplete, "X-Amz-Date %q is not in the format YYYYMMDD'T'HHMMSS'Z'", clip(d))
		}
		req.t = t
	} else if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return newErr(Incomplete, "Date header %q is not a valid HTTP date", clip(d))
		}
		req.t = t.UTC()
	} else {
		return newErr(Incomplete, "AWS authentication requires a valid Date or x-amz-date header")
	}
	req.amzDate = req.t.Format(timeFormat)
	if req.cred.date != req.t.Format(dateFormat) {
		return newErr(Incomplete, "Invalid credential date %q: it is not the same as the request date %s", req.cred.date, req.amzDate)
	}
	req.payload = r.Header.Get("X-Amz-Content-Sha256")
	return nil
}

func (req *request) parsePresigned(r *http.Request, q map[string]string) *Error {
	fail := func(format string, args ...any) *Error {
		e := newErr(Incomplete, format, args...)
		e.presigned = true
		return e
	}
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if _, ok := q[k]; !ok {
			return fail("Query-string authentication requires the %s parameter", k)
		}
	}
	if q["X-Amz-Algorithm"] != algorithm {
		return fail("X-Amz-Algorithm only supports %q", algorithm)
	}
	var e *Error
	if req.cred, e = parseCredential(q["X-Amz-Credential"]); e != nil {
		e.presigned = true
		return e
	}
	t, ok := parseAmzTime(q["X-Amz-Date"])
	if !ok {
		return fail("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	req.t, req.amzDate = t, q["X-Amz-Date"]
	if req.cred.date != t.Format(dateFormat) {
		return fail("Invalid credential date %q: it is not the same as X-Amz-Date %s", req.cred.date, req.amzDate)
	}
	if req.expires, e = parseExpires(q["X-Amz-Expires"]); e != nil {
		e.presigned = true
		return e
	}
	if req.signedHeaders, e = parseSignedHeaders(q["X-Amz-SignedHeaders"]); e != nil {
		e.presigned = true
		return e
	}
	if req.signature, e = parseSignature(q["X-Amz-Signature"]); e != nil {
		e.presigned = true
		return e
	}
	// A presigned request has no payload hash of its own; a header (or a
	// hoisted query parameter) may still declare one.
	req.payload = r.Header.Get("X-Amz-Content-Sha256")
	if req.payload == "" {
		req.payload = q["X-Amz-Content-Sha256"]
	}
	return nil
}

func (v *Verifier) checkTime(req *request) *Error {
	now := v.now().UTC()
	skew := v.maxSkew()
	if req.presigned {
		if req.t.After(now.Add(skew)) {
			return skewErr(req.t, now, skew, true)
		}
		if exp := req.t.Add(req.expires); now.After(exp) {
			return &Error{
				Kind:        Expired,
				Message:     fmt.Sprintf("Signature expired: %s is now earlier than %s (request has expired: X-Amz-Date %s + X-Amz-Expires %d)", exp.Format(timeFormat), now.Format(timeFormat), req.amzDate, int(req.expires/time.Second)),
				RequestTime: exp, ServerTime: now, presigned: true,
			}
		}
		return nil
	}
	if d := now.Sub(req.t); d > skew || d < -skew {
		return skewErr(req.t, now, skew, false)
	}
	return nil
}

// skewErr words the message as the JSON and query services do; S3Message
// gives S3's fixed text.
func skewErr(t, now time.Time, skew time.Duration, presigned bool) *Error {
	mins := int(skew / time.Minute)
	var msg string
	if t.Before(now) {
		msg = fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.)",
			t.Format(timeFormat), now.Add(-skew).Format(timeFormat), now.Format(timeFormat), mins)
	} else {
		msg = fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)",
			t.Format(timeFormat), now.Add(skew).Format(timeFormat), now.Format(timeFormat), mins)
	}
	return &Error{Kind: Skewed, Message: msg, RequestTime: t, ServerTime: now, presigned: presigned}
}

// payload modes: how the body is authenticated.
type payloadMode int

const (
	modeUnsigned payloadMode = iota // UNSIGNED-PAYLOAD: nothing to check
	modeHex                         // declared hex SHA-256, checked against the body
	modeBuffered                    // hashed by Verify; r.Body already replaced
	modeStreamSigned
	modeStreamSignedTrailer
	modeStreamUnsignedTrailer
)

// payloadHash decides the payload hash of the canonical request.
func (v *Verifier) payloadHash(r *http.Request, req *request, s3 bool) (string, payloadMode, error) {
	switch p := req.payload; p {
	case "":
		if req.presigned && s3 {
			return UnsignedPayload, modeUnsigned, nil
		}
		// No declared hash (JSON/query clients never send one): the body
		// is part of the signature, so it has to be read first.
		buf, err := v.bufferBody(r)
		if err != nil {
			return "", 0, err
		}
		sum := sha256.Sum256(buf)
		return hex.EncodeToString(sum[:]), modeBuffered, nil
	case UnsignedPayload:
		return p, modeUnsigned, nil
	case StreamingSigned, StreamingSignedTrailer, StreamingUnsignedTrailer:
		if req.presigned {
			e := newErr(Incomplete, "X-Amz-Content-Sha256 %s cannot be used with a presigned URL", p)
			e.presigned, e.s3Code = true, "InvalidRequest"
			return "", 0, e
		}
		switch p {
		case StreamingSigned:
			return p, modeStreamSigned, nil
		case StreamingSignedTrailer:
			return p, modeStreamSignedTrailer, nil
		}
		return p, modeStreamUnsignedTrailer, nil
	default:
		if len(p) == 64 {
			if _, err := hex.DecodeString(p); err == nil {
				return p, modeHex, nil
			}
		}
		e := newErr(Incomplete, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value")
		e.presigned, e.s3Code = req.presigned, "InvalidArgument"
		return "", 0, e
	}
}

// bufferBody reads the whole body (up to MaxBody) and puts it back as an
// in-memory reader.
func (v *Verifier) bufferBody(r *http.Request) ([]byte, error) {
	limit := v.maxBody()
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	buf, complete, err := readUpTo(r.Body, r.ContentLength, limit)
	if err != nil {
		return nil, bodyReadErr(err)
	}
	if !complete {
		return nil, tooLarge(limit)
	}
	r.Body = &bufferedBody{Reader: bytes.NewReader(buf), closer: r.Body}
	r.ContentLength = int64(len(buf))
	return buf, nil
}

func tooLarge(limit int64) *Error {
	e := newErr(BadEncoding, "the request body is larger than %d bytes; send X-Amz-Content-Sha256 to have it verified while streaming", limit)
	e.status, e.s3Code = http.StatusRequestEntityTooLarge, "EntityTooLarge"
	return e
}

// bodyReadErr maps a failure to read the body: a short body is the
// client's fault (IncompleteBody); anything else (connection gone, a
// MaxBytesReader limit) is passed through for the server to handle.
func bodyReadErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return truncated()
	}
	return fmt.Errorf("sigv4: reading the request body: %w", err)
}

// readUpTo reads body until EOF or until more than limit bytes arrived;
// complete reports EOF within the limit. size is the declared length (-1 if
// unknown) and only sizes the first allocation.
func readUpTo(body io.Reader, size, limit int64) (buf []byte, complete bool, err error) {
	if body == nil || body == http.NoBody {
		return nil, true, nil
	}
	if size >= 0 && size <= limit {
		buf = make([]byte, 0, size+1) // +1 so EOF needs no growth
	}
	w := bytes.NewBuffer(buf)
	n, err := w.ReadFrom(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, false, err
	}
	return w.Bytes(), n <= limit, nil
}

// checkSignature recomputes the request signature.
func checkSignature(r *http.Request, req *request, key []byte, payloadHash string, s3 bool) *Error {
	query := canonicalQuery(req.query, req.presigned)
	headers := canonicalHeaders(r, req.signedHeaders)
	scope := req.cred.scope()
	try := func(uri string) (cr, sts string, ok bool) {
		cr = canonicalRequest(r.Method, uri, query, headers, req.signedHeaders, payloadHash)
		sts = stringToSign(req.amzDate, scope, cr)
		return cr, sts, hmac.Equal(hmacSHA256(key, sts), req.signature)
	}
	uri, alt := canonicalURI(r, s3)
	cr, sts, ok := try(uri)
	if ok {
		return nil
	}
	if alt != nil {
		if a := alt(); a != "" {
			if _, _, ok := try(a); ok {
				return nil
			}
		}
	}
	return &Error{
		Kind:             BadSignature,
		Message:          "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
		presigned:        req.presigned,
		canonicalRequest: cr,
		stringToSign:     sts,
	}
}

// installBody replaces r.Body with the verifying reader for mode.
func (v *Verifier) installBody(r *http.Request, req *request, key []byte, mode payloadMode, s3 bool) error {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	switch mode {
	case modeUnsigned, modeBuffered:
		return nil
	case modeHex:
		want, _ := hex.DecodeString(req.payload)
		limit := int64(eagerLimit)
		if !s3 {
			limit = v.maxBody()
		}
		if !s3 || (r.ContentLength >= 0 && r.ContentLength <= limit) {
			buf, complete, err := readUpTo(r.Body, r.ContentLength, limit)
			if err != nil {
				return bodyReadErr(err)
			}
			if complete {
				if sum := sha256.Sum256(buf); !hmac.Equal(sum[:], want) {
					return shaMismatch()
				}
				r.Body = &bufferedBody{Reader: bytes.NewReader(buf), closer: r.Body}
				r.ContentLength = int64(len(buf))
				return nil
			}
			r.Body = newHashReader(r.Body, io.MultiReader(bytes.NewReader(buf), r.Body), want)
			return nil
		}
		r.Body = newHashReader(r.Body, r.Body, want)
		return nil
	}

	// aws-chunked.
	decoded := int64(-1)
	if d := r.Header.Get("X-Amz-Decoded-Content-Length"); d != "" {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 || n > maxDecodedLength || !isDigits(d) {
			e := newErr(BadEncoding, "x-amz-decoded-content-length %q is not a valid length", clip(d))
			e.s3Code = "InvalidArgument"
			return e
		}
		decoded = n
	}
	var declared []string
	if mode != modeStreamSigned {
		for _, v := range r.Header.Values("X-Amz-Trailer") {
			for name := range strings.SplitSeq(v, ",") {
				if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
					declared = append(declared, name)
				}
			}
		}
		if len(declared) > maxTrailers {
			e := newErr(BadEncoding, "X-Amz-Trailer declares more than %d trailers", maxTrailers)
			e.s3Code = "InvalidRequest"
			return e
		}
	}
	cfg := chunkConfig{
		decodedLength: decoded,
		trailer:       mode != modeStreamSigned,
		declared:      declared,
	}
	if mode != modeStreamUnsignedTrailer {
		cfg.signer = &chunkSigner{key: key, amzDate: req.amzDate, scope: req.cred.scope(), prev: req.signature}
	}
	cr, e := newChunkedReader(r.Body, cfg)
	if e != nil {
		return e
	}
	r.Body = cr

	if len(declared) > 0 {
		if r.Trailer == nil {
			r.Trailer = make(http.Header)
		}
		for _, name := range declared {
			k := http.CanonicalHeaderKey(name)
			if _, ok := r.Trailer[k]; !ok {
				r.Trailer[k] = nil
			}
		}
		cr.reqTrailer = r.Trailer
	}
	removeAWSChunked(r.Header)
	r.ContentLength = decoded
	if decoded >= 0 {
		r.Header.Set("Content-Length", strconv.FormatInt(decoded, 10))
		// The outer HTTP framing no longer describes r.Body.
		r.TransferEncoding = nil
	} else {
		r.Header.Del("Content-Length")
	}
	return nil
}

// removeAWSChunked drops the aws-chunked coding from Content-Encoding (botocore
// appends it to an existing coding: "gzip,aws-chunked"), because r.Body is
// now de-chunked and whatever stores Content-Encoding as object metadata must
// not see it.
func removeAWSChunked(h http.Header) {
	vals := h.Values("Content-Encoding")
	if len(vals) == 0 {
		return
	}
	var keep []string
	for _, v := range vals {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "aws-chunked") {
				keep = append(keep, c)
			}
		}
	}
	if len(keep) == 0 {
		h.Del("Content-Encoding")
		return
	}
	h.Set("Content-Encoding", strings.Join(keep, ","))
}

func shaMismatch() *Error {
	e := newErr(BadDigest, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	e.s3Code = "XAmzContentSHA256Mismatch"
	return e
}

// bufferedBody is a body already read into memory; Close still closes the
// connection's body.
type bufferedBody struct {
	*bytes.Reader
	closer io.Closer
}

func (b *bufferedBody) Close() error { return b.closer.Close() }

// hashReader checks a declared SHA-256 while the body streams, and reports
// a mismatch in place of io.EOF.
type hashReader struct {
	src  io.Closer
	r    io.Reader
	want []byte
	h    interface {
		io.Writer
		Sum([]byte) []byte
	}
	err error
}

func newHashReader(src io.Closer, r io.Reader, want []byte) *hashReader {
	return &hashReader{src: src, r: r, want: want, h: sha256.New()}
}

func (h *hashReader) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	if err == io.EOF {
		if !hmac.Equal(h.h.Sum(nil), h.want) {
			h.err = shaMismatch()
			return 0, h.err
		}
		h.err = io.EOF
	} else if err != nil {
		h.err = err
	}
	return n, err
}

func (h *hashReader) Close() error { return h.src.Close() }
