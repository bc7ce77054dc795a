package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// queryPair is one decoded query parameter, in wire order.
type queryPair struct{ key, value string }

// parseQuery splits a raw query on '&' only (not ';', which AWS treats as
// data) and decodes each side the way the application will see it
// (url.QueryUnescape: "+" is a space). A component whose escapes are invalid
// is kept verbatim, so it is still covered by the signature exactly as sent.
func parseQuery(raw string) []queryPair {
	if raw == "" {
		return nil
	}
	pairs := make([]queryPair, 0, strings.Count(raw, "&")+1)
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		pairs = append(pairs, queryPair{unescapeQuery(k), unescapeQuery(v)})
	}
	return pairs
}

func unescapeQuery(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// canonicalQuery encodes every name and value with the RFC 3986 unreserved
// set, sorts by encoded name then encoded value (the spec sorts after
// encoding) and joins them; X-Amz-Signature is left out for presigned URLs.
func canonicalQuery(pairs []queryPair, presigned bool) string {
	enc := make([]queryPair, 0, len(pairs))
	for _, p := range pairs {
		if presigned && p.key == "X-Amz-Signature" {
			continue
		}
		enc = append(enc, queryPair{uriEncode(p.key, true), uriEncode(p.value, true)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].key != enc[j].key {
			return enc[i].key < enc[j].key
		}
		return enc[i].value < enc[j].value
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// uriEncode percent-encodes everything but A-Z a-z 0-9 - _ . ~ with
// upper-case hex, and '/' too when encodeSlash is set: SigV4's UriEncode.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && (encodeSlash || s[i] != '/') {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (!encodeSlash && c == '/') {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// rawPath returns the request path exactly as it came over the wire: from
// r.RequestURI on a server request, because r.URL.EscapedPath() is Go's
// re-encoding and may differ from what the client signed.
func rawPath(r *http.Request) string {
	p := r.RequestURI
	if p == "" {
		// A client-side request (tests, in-process calls): the path Go
		// would send, as the SDK's own signer computes it.
		if r.URL.Opaque != "" {
			p = r.URL.Opaque
			if i := strings.IndexByte(p, '?'); i >= 0 {
				p = p[:i]
			}
			if strings.HasPrefix(p, "//") {
				p = p[2:]
			}
			if i := strings.IndexByte(p, '/'); i >= 0 {
				return p[i:]
			}
			return "/"
		}
		p = r.URL.EscapedPath()
	} else {
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		// Absolute form (GET http://host/path HTTP/1.1): drop scheme and
		// authority.
		if !strings.HasPrefix(p, "/") {
			if i := strings.Index(p, "://"); i >= 0 {
				p = p[i+3:]
				if j := strings.IndexByte(p, '/'); j >= 0 {
					p = p[j:]
				} else {
					p = ""
				}
			}
		}
	}
	if p == "" {
		return "/"
	}
	return p
}

// canonicalURI returns the canonical URI for r, and for S3 a second
// candidate to try if the first does not verify (alt is "" if there is
// none).
//
// For S3 the first candidate is the path exactly as sent (botocore and the
// Go SDK sign the already-encoded path and S3 does not normalise). The
// second re-encodes each segment after decoding it, which is how AWS's own
// examples canonicalise a path a hand-written client sent without encoding
// ("/test$file.text" is signed as "/test%24file.text", "/Key+" as
// "/Key%2B"). Both candidates decode to the same object key, so accepting
// either does not let a signature move to another resource.
//
// For every other service the path is URI-encoded once more (each '%'
// becomes "%25"), which is the SDKs' default (non-S3) behaviour.
func canonicalURI(r *http.Request, s3 bool) (uri string, alt func() string) {
	p := rawPath(r)
	if !s3 {
		return uriEncode(p, false), nil
	}
	return p, func() string {
		if a, ok := reencodePath(p); ok && a != p {
			return a
		}
		return ""
	}
}

// reencodePath decodes and re-encodes each '/'-separated segment of p, so
// "%2F" inside a segment stays encoded.
func reencodePath(p string) (string, bool) {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			return "", false
		}
		segs[i] = uriEncode(d, true)
	}
	return strings.Join(segs, "/"), true
}

// canonicalHeaders renders the signed headers "name:value\n" in the order of
// SignedHeaders. Go's server moves Host to r.Host and Transfer-Encoding to
// r.TransferEncoding, so those are read from there; Content-Length is kept
// in r.Header by the server, but may be signed by the Go SDK and not by
// botocore, so it is taken from the header as sent or else r.ContentLength.
func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(':')
		switch name {
		case "host":
			h := r.Host
			if h == "" {
				h = r.URL.Host
			}
			b.WriteString(canonicalValue(h))
		case "content-length":
			if vs := r.Header["Content-Length"]; len(vs) > 0 {
				writeValues(&b, vs)
			} else if r.ContentLength >= 0 {
				b.WriteString(strconv.FormatInt(r.ContentLength, 10))
			}
		case "transfer-encoding":
			if vs := r.Header["Transfer-Encoding"]; len(vs) > 0 {
				writeValues(&b, vs)
			} else {
				writeValues(&b, r.TransferEncoding)
			}
		default:
			writeValues(&b, r.Header[textproto.CanonicalMIMEHeaderKey(name)])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func writeValues(b *strings.Builder, vs []string) {
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(canonicalValue(v))
	}
}

// canonicalValue trims the value and collapses runs of spaces, as the spec
// (and the SDK's StripExcessSpaces) does.
func canonicalValue(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b = append(b, v[i])
	}
	return string(b)
}

// canonicalRequest joins the parts as the spec defines.
func canonicalRequest(method, uri, query, headers string, signedHeaders []string, payloadHash string) string {
	var b strings.Builder
	b.Grow(len(method) + len(uri) + len(query) + len(headers) + 64*2 + 8)
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	b.WriteString(headers)
	b.WriteByte('\n')
	for i, n := range signedHeaders {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(n)
	}
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
