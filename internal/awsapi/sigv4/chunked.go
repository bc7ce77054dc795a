package sigv4

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Limits of the aws-chunked decoder. None of them sizes an allocation by
// attacker input: chunk data is streamed through, never buffered, so the
// chunk size limit only has to admit what clients send. The Go SDK sends a
// body of known length as ONE chunk (up to S3's 5 GiB single-request
// maximum); the others use 8-128 KiB chunks.
const (
	// maxChunkLine bounds a chunk header line ("<hex size>;chunk-signature=<64 hex>"
	// is under 100 bytes) and each trailer line.
	maxChunkLine = 4 << 10
	// maxChunkSize is S3's maximum single PUT / part size.
	maxChunkSize = 5 << 30
	// maxTrailers bounds the trailer section; clients send one checksum.
	maxTrailers = 16
	// maxTrailerPadding is how many stray CR/LF bytes are tolerated after
	// the final chunk or trailer (some clients end a trailer line with
	// "\n\r\n" before the closing CRLF).
	maxTrailerPadding = 8
	// readBufferSize is the decoder's bufio size (> maxChunkLine).
	readBufferSize = 32 << 10

	trailerSignatureName = "x-amz-trailer-signature"
)

var (
	crc32cTable    = crc32.MakeTable(crc32.Castagnoli)
	crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5) // reflected NVMe polynomial, as the SDKs use
)

// checksumAlgorithms maps the trailer / header name to its display name and
// hash constructor.
var checksumAlgorithms = map[string]struct {
	name string
	new  func() hash.Hash
}{
	"x-amz-checksum-crc32":     {"CRC32", func() hash.Hash { return crc32.NewIEEE() }},
	"x-amz-checksum-crc32c":    {"CRC32C", func() hash.Hash { return crc32.New(crc32cTable) }},
	"x-amz-checksum-crc64nvme": {"CRC64NVME", func() hash.Hash { return crc64.New(crc64NVMETable) }},
	"x-amz-checksum-sha1":      {"SHA1", sha1.New},
	"x-amz-checksum-sha256":    {"SHA256", sha256.New},
}

// Checksum returns the base64 checksum of data for an x-amz-checksum-*
// header name ("x-amz-checksum-crc32c"), as S3 and the SDKs encode it, and
// false for an unknown name. Fronts use it to check header checksums.
func Checksum(name string, data []byte) (string, bool) {
	alg, ok := checksumAlgorithms[strings.ToLower(name)]
	if !ok {
		return "", false
	}
	h := alg.new()
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil)), true
}

// chunkSigner computes the chained chunk and trailer signatures.
type chunkSigner struct {
	key     []byte
	amzDate string
	scope   string
	prev    []byte // previous signature (the seed for the first chunk)
}

func (s *chunkSigner) chunk(dataSHA256 []byte) []byte {
	return hmacSHA256(s.key, "AWS4-HMAC-SHA256-PAYLOAD\n"+s.amzDate+"\n"+s.scope+"\n"+
		hex.EncodeToString(s.prev)+"\n"+emptySHA256+"\n"+hex.EncodeToString(dataSHA256))
}

func (s *chunkSigner) trailer(trailerSHA256 []byte) []byte {
	return hmacSHA256(s.key, "AWS4-HMAC-SHA256-TRAILER\n"+s.amzDate+"\n"+s.scope+"\n"+
		hex.EncodeToString(s.prev)+"\n"+hex.EncodeToString(trailerSHA256))
}

type chunkConfig struct {
	signer        *chunkSigner // nil: STREAMING-UNSIGNED-PAYLOAD-TRAILER
	trailer       bool         // a trailer section follows the final chunk
	declared      []string     // lower-case names from X-Amz-Trailer
	decodedLength int64        // x-amz-decoded-content-length, -1 if absent
}

type namedHash struct {
	name, alg string
	h         hash.Hash
}

// chunkedReader decodes an aws-chunked body, verifying as it goes. Bytes of
// a chunk are handed out as they arrive; the chunk's signature is checked
// when its last byte is read (that Read fails instead), and the trailer
// signature, trailing checksums and total length are checked before io.EOF
// is returned. Any failure is sticky.
type chunkedReader struct {
	src io.Closer
	br  *bufio.Reader
	cfg chunkConfig

	chunkHash hash.Hash // SHA-256 of the current chunk (signed modes)
	wantSig   []byte
	sums      []namedHash // trailing checksums being computed
	remaining int64       // bytes left in the current chunk
	total     int64       // decoded bytes so far

	trailers   http.Header // set at EOF
	reqTrailer http.Header // r.Trailer, filled at EOF
	err        error
}

func newChunkedReader(body io.ReadCloser, cfg chunkConfig) (*chunkedReader, *Error) {
	c := &chunkedReader{src: body, br: bufio.NewReaderSize(body, readBufferSize), cfg: cfg}
	if cfg.signer != nil {
		c.chunkHash = sha256.New()
		// Copy: prev is advanced per chunk and must not alias the request's
		// signature slice.
		s := *cfg.signer
		s.prev = append([]byte(nil), s.prev...)
		c.cfg.signer = &s
	}
	for _, name := range cfg.declared {
		if name == trailerSignatureName {
			continue
		}
		if alg, ok := checksumAlgorithms[name]; ok {
			c.sums = append(c.sums, namedHash{name, alg.name, alg.new()})
		} else if strings.HasPrefix(name, "x-amz-checksum-") {
			e := newErr(Incomplete, "unsupported checksum algorithm in X-Amz-Trailer: %q", clip(name))
			e.s3Code = "InvalidRequest"
			return nil, e
		}
	}
	return c, nil
}

// Trailers returns the trailing headers once the body has been read to
// io.EOF (and so verified), else nil.
func (c *chunkedReader) Trailers() http.Header {
	if c.err != io.EOF {
		return nil
	}
	return c.trailers.Clone()
}

func (c *chunkedReader) Close() error { return c.src.Close() }

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.remaining == 0 {
		if err := c.nextChunk(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	if n > 0 {
		if c.chunkHash != nil {
			c.chunkHash.Write(p[:n])
		}
		for _, s := range c.sums {
			s.h.Write(p[:n])
		}
		c.remaining -= int64(n)
		c.total += int64(n)
	}
	if err != nil {
		c.err = readErr(err)
		return n, c.err
	}
	if c.remaining == 0 {
		if err := c.endChunk(); err != nil {
			// Withhold the chunk's last bytes: they failed verification.
			c.err = err
			return 0, err
		}
	}
	return n, nil
}

// endChunk consumes the CRLF after chunk data and checks the chunk
// signature.
func (c *chunkedReader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.br, crlf[:]); err != nil {
		return readErr(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return encodingErr("chunk data is not followed by CRLF")
	}
	if s := c.cfg.signer; s != nil {
		sig := s.chunk(c.chunkHash.Sum(nil))
		if !hmac.Equal(sig, c.wantSig) {
			return chunkSigErr()
		}
		s.prev = sig
	}
	return nil
}

// nextChunk reads a chunk header; at the final (zero-size) chunk it reads
// and verifies the rest of the body and returns io.EOF.
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine(true)
	if err != nil {
		if err == io.EOF {
			return truncated()
		}
		return err
	}
	sizeStr, ext, hasExt := strings.Cut(line, ";")
	if sizeStr == "" || len(sizeStr) > 16 {
		return encodingErr("invalid chunk size %q", clip(sizeStr))
	}
	size, err := strconv.ParseUint(sizeStr, 16, 64)
	if err != nil {
		return encodingErr("invalid chunk size %q", clip(sizeStr))
	}
	if size > maxChunkSize {
		return encodingErr("chunk size %d exceeds the limit of %d bytes", size, int64(maxChunkSize))
	}
	if c.cfg.signer != nil {
		k, v, _ := strings.Cut(ext, "=")
		if !hasExt || k != "chunk-signature" || len(v) != 64 {
			return encodingErr("chunk header must be <hex size>;chunk-signature=<signature>")
		}
		sig, err := hex.DecodeString(v)
		if err != nil {
			return encodingErr("chunk signature is not hexadecimal")
		}
		c.wantSig = sig
		c.chunkHash.Reset()
	}
	// Unsigned chunks carry no extensions; anything after ';' is ignored
	// as HTTP/1.1 chunk extensions are.
	if size == 0 {
		return c.finish()
	}
	if d := c.cfg.decodedLength; d >= 0 && c.total+int64(size) > d {
		return encodingErr("chunks exceed x-amz-decoded-content-length %d", d)
	}
	c.remaining = int64(size)
	return nil
}

// finish handles everything after the final chunk header.
func (c *chunkedReader) finish() error {
	if s := c.cfg.signer; s != nil {
		sig := s.chunk(c.chunkHash.Sum(nil)) // empty chunk: SHA-256 of ""
		if !hmac.Equal(sig, c.wantSig) {
			return chunkSigErr()
		}
		s.prev = sig
	}
	trailers := http.Header{}
	if c.cfg.trailer {
		if err := c.readTrailers(trailers); err != nil {
			return err
		}
	}
	if err := c.drain(); err != nil {
		return err
	}
	if d := c.cfg.decodedLength; d >= 0 && c.total != d {
		return truncated()
	}
	// Every declared trailer must arrive and nothing undeclared may: a
	// missing checksum would otherwise silently skip the integrity check.
	for _, name := range c.cfg.declared {
		if _, ok := trailers[http.CanonicalHeaderKey(name)]; !ok {
			return encodingErr("trailer %q declared in X-Amz-Trailer is missing", clip(name))
		}
	}
	for k := range trailers {
		found := false
		for _, name := range c.cfg.declared {
			if http.CanonicalHeaderKey(name) == k {
				found = true
				break
			}
		}
		if !found {
			return encodingErr("trailer %q was not declared in X-Amz-Trailer", clip(k))
		}
	}
	for _, s := range c.sums {
		got := trailers.Get(s.name)
		want := base64.StdEncoding.EncodeToString(s.h.Sum(nil))
		if got != want {
			e := newErr(BadDigest, "The %s you specified did not match the calculated checksum.", s.alg)
			e.s3Code = "BadDigest"
			return e
		}
	}
	c.trailers = trailers
	for k, v := range trailers {
		if c.reqTrailer != nil {
			c.reqTrailer[k] = append([]string(nil), v...)
		}
	}
	return io.EOF
}

// readTrailers reads "name:value" lines up to a blank line (or, for signed
// trailers, up to the x-amz-trailer-signature line) and verifies the trailer
// signature over the lines as sent, each terminated by "\n".
func (c *chunkedReader) readTrailers(trailers http.Header) error {
	var signed strings.Builder
	var sig []byte
	for n := 0; ; n++ {
		if n > maxTrailers+maxTrailerPadding {
			return encodingErr("too many trailer lines")
		}
		line, err := c.readLine(false)
		if err == io.EOF {
			break // tolerate a body that ends without the closing blank line
		}
		if err != nil {
			return err
		}
		if line == "" {
			if c.cfg.signer != nil && sig == nil {
				continue // some clients put a blank line before the signature
			}
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return encodingErr("trailer line is not name:value")
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if name == "" || !isToken(name) {
			return encodingErr("invalid trailer name")
		}
		if name == trailerSignatureName {
			if c.cfg.signer == nil || sig != nil {
				return encodingErr("unexpected x-amz-trailer-signature")
			}
			if len(value) != 64 {
				return encodingErr("trailer signature must be 64 hexadecimal characters")
			}
			if sig, err = hex.DecodeString(value); err != nil {
				return encodingErr("trailer signature is not hexadecimal")
			}
			// The signature closes the section; a closing blank line, if
			// any, is consumed by drain.
			break
		}
		if sig != nil {
			return encodingErr("trailer after x-amz-trailer-signature")
		}
		if len(trailers) >= maxTrailers {
			return encodingErr("more than %d trailers", maxTrailers)
		}
		signed.WriteString(line)
		signed.WriteByte('\n')
		trailers.Add(name, value)
	}
	if s := c.cfg.signer; s != nil {
		if sig == nil {
			return encodingErr("signed trailer is missing x-amz-trailer-signature")
		}
		sum := sha256.Sum256([]byte(signed.String()))
		want := s.trailer(sum[:])
		if !hmac.Equal(want, sig) {
			e := newErr(BadSignature, "The trailer signature we calculated does not match the signature you provided.")
			return e
		}
	}
	return nil
}

// drain accepts only a few CR/LF bytes and then EOF after the body proper.
func (c *chunkedReader) drain() error {
	for n := 0; ; n++ {
		b, err := c.br.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if (b != '\r' && b != '\n') || n >= maxTrailerPadding {
			return encodingErr("unexpected data after the final chunk")
		}
	}
}

// readLine reads a line of at most maxChunkLine bytes without its line
// ending. strict requires CRLF (chunk headers); trailer lines may end in a
// bare LF. It returns io.EOF only at a clean end of input.
func (c *chunkedReader) readLine(strict bool) (string, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxChunkLine+2 {
		return "", encodingErr("chunk header or trailer line longer than %d bytes", maxChunkLine)
	}
	if err != nil {
		if err == io.EOF {
			if len(line) == 0 {
				return "", io.EOF
			}
			return "", truncated()
		}
		return "", err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	} else if strict {
		return "", encodingErr("chunk header is not terminated by CRLF")
	}
	return string(line), nil
}

func encodingErr(format string, args ...any) *Error {
	e := newErr(BadEncoding, "malformed aws-chunked body: "+format, args...)
	e.s3Code = "InvalidRequest"
	return e
}

func truncated() *Error {
	e := newErr(BadEncoding, "You did not provide the number of bytes specified by the Content-Length HTTP header or x-amz-decoded-content-length.")
	e.s3Code = "IncompleteBody"
	return e
}

func chunkSigErr() *Error {
	return newErr(BadSignature, "The chunk signature we calculated does not match the signature you provided.")
}

// readErr maps a read failure: a clean or unexpected EOF is a truncated
// body; anything else (client gone, server limits) is passed through.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return truncated()
	}
	return err
}

// Trailers returns the trailing headers (x-amz-checksum-* and the like,
// with canonical keys, without x-amz-trailer-signature) of a body that Verify
// installed, once it has been read to io.EOF and verified. It returns nil
// before that, and for bodies without trailers. r.Trailer carries the same
// values.
func Trailers(body io.Reader) http.Header {
	if t, ok := body.(interface{ Trailers() http.Header }); ok {
		return t.Trailers()
	}
	return nil
}
