package s3api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wharfml/wharf/internal/blob"
)

// condResult is the outcome of evaluating conditional request headers.
type condResult int

const (
	condOK          condResult = iota
	condNotModified            // 304 for GET/HEAD
	condFailed                 // 412
)

// conditions are the four HTTP preconditions, from plain headers (GET/HEAD)
// or from their x-amz-copy-source-if-* forms (copies).
type conditions struct {
	ifMatch, ifNoneMatch               string
	ifModifiedSince, ifUnmodifiedSince string
}

func getConditions(h http.Header) conditions {
	return conditions{
		ifMatch: h.Get("If-Match"), ifNoneMatch: h.Get("If-None-Match"),
		ifModifiedSince: h.Get("If-Modified-Since"), ifUnmodifiedSince: h.Get("If-Unmodified-Since"),
	}
}

func copySourceConditions(h http.Header) conditions {
	return conditions{
		ifMatch:           h.Get("X-Amz-Copy-Source-If-Match"),
		ifNoneMatch:       h.Get("X-Amz-Copy-Source-If-None-Match"),
		ifModifiedSince:   h.Get("X-Amz-Copy-Source-If-Modified-Since"),
		ifUnmodifiedSince: h.Get("X-Amz-Copy-Source-If-Unmodified-Since"),
	}
}

// eval applies the conditions to an object with RFC 9110 precedence, which
// is also S3's: If-Match decides alone when present (If-Unmodified-Since is
// then ignored), and If-None-Match decides alone over If-Modified-Since.
// A failed If-Match/If-Unmodified-Since is condFailed; a failed
// If-None-Match/If-Modified-Since is condNotModified.
func (c conditions) eval(info blob.ObjectInfo) condResult {
	mod := info.ModTime.UTC().Truncate(time.Second)
	if c.ifMatch != "" {
		if !etagMatches(c.ifMatch, info.ETag) {
			return condFailed
		}
	} else if t, ok := parseHTTPTime(c.ifUnmodifiedSince); ok && mod.After(t) {
		return condFailed
	}
	if c.ifNoneMatch != "" {
		if etagMatches(c.ifNoneMatch, info.ETag) {
			return condNotModified
		}
	} else if t, ok := parseHTTPTime(c.ifModifiedSince); ok && !mod.After(t) {
		return condNotModified
	}
	return condOK
}

// etagMatches reports whether a comma-separated If-Match style list
// contains etag (or "*"). Quotes and weak prefixes are ignored.
func etagMatches(list, etag string) bool {
	etag = unquoteETag(etag)
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "*" {
			return true
		}
		if unquoteETag(v) == etag {
			return true
		}
	}
	return false
}

// unquoteETag strips a weak prefix and surrounding quotes from an ETag.
func unquoteETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}

func quoteETag(s string) string { return `"` + s + `"` }

// parseHTTPTime parses an HTTP date (any of the three RFC 9110 forms) or an
// ISO 8601 timestamp. Invalid dates are ignored, as RFC 9110 requires.
func parseHTTPTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if t, err := http.ParseTime(s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// byteRange is a resolved, satisfiable range [start, start+length).
type byteRange struct {
	start, length int64
}

func (r byteRange) contentRange(size int64) string {
	return "bytes " + strconv.FormatInt(r.start, 10) + "-" +
		strconv.FormatInt(r.start+r.length-1, 10) + "/" + strconv.FormatInt(size, 10)
}

// parseRange resolves a Range header against an object size. ok is false
// when the header is absent or is to be ignored (syntactically invalid or
// several ranges: S3 then returns the whole object); err is InvalidRange
// (416) when it is valid but unsatisfiable.
func parseRange(spec string, size int64) (r byteRange, ok bool, err error) {
	spec = strings.TrimSpace(spec)
	rest, found := strings.CutPrefix(spec, "bytes=")
	if !found || strings.Contains(rest, ",") {
		return byteRange{}, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(rest), "-")
	if !found {
		return byteRange{}, false, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		// Suffix range: the last n bytes.
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n < 0 {
			return byteRange{}, false, nil
		}
		if n == 0 || size == 0 {
			return byteRange{}, false, errInvalidRange(size)
		}
		n = min(n, size)
		return byteRange{start: size - n, length: n}, true, nil
	}
	start, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || start < 0 {
		return byteRange{}, false, nil
	}
	end := size - 1
	if last != "" {
		e, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || e < start {
			return byteRange{}, false, nil
		}
		end = min(e, size-1)
	}
	if start >= size {
		return byteRange{}, false, errInvalidRange(size)
	}
	return byteRange{start: start, length: end - start + 1}, true, nil
}

// parseCopySourceRange parses x-amz-copy-source-range, which must be the
// full "bytes=first-last" form within the source object.
func parseCopySourceRange(spec string, size int64) (byteRange, error) {
	bad := errInvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	rest, ok := strings.CutPrefix(strings.TrimSpace(spec), "bytes=")
	if !ok {
		return byteRange{}, bad
	}
	a, b, ok := strings.Cut(rest, "-")
	if !ok {
		return byteRange{}, bad
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return byteRange{}, bad
	}
	if end >= size {
		return byteRange{}, errInvalidArgument("Range specified is not valid for source object of size: %d", size)
	}
	return byteRange{start: start, length: end - start + 1}, nil
}
