package s3api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

func TestSplitPath(t *testing.T) {
	cases := []struct {
		path, bucket, key string
		bad               bool
	}{
		{path: "/"},
		{path: "/b", bucket: "b"},
		{path: "/b/", bucket: "b"},
		{path: "/b/k", bucket: "b", key: "k"},
		{path: "/b/a/b/c", bucket: "b", key: "a/b/c"},
		{path: "/b//k", bucket: "b", key: "/k"},
		{path: "/b/a%2Fb", bucket: "b", key: "a/b"},
		{path: "/b/a+b", bucket: "b", key: "a+b"},
		{path: "/b/a%2Bb", bucket: "b", key: "a+b"},
		{path: "/b/a%20b", bucket: "b", key: "a b"},
		{path: "/b/100%25", bucket: "b", key: "100%"},
		{path: "/b/%C3%BC", bucket: "b", key: "ü"},
		{path: "/b/ü", bucket: "b", key: "ü"},
		{path: "/b/../x", bucket: "b", key: "../x"},
		{path: "/b/./", bucket: "b", key: "./"},
		{path: "/b/a%2", bad: true},
		{path: "/b/%zz", bad: true},
		{path: "/b%2Fc/k", bad: true},
		{path: "b/k", bad: true},
		{path: "", bad: true},
	}
	for _, c := range cases {
		b, k, err := splitPath(c.path)
		if (err != nil) != c.bad || b != c.bucket || k != c.key {
			t.Errorf("splitPath(%q) = %q, %q, %v", c.path, b, k, err)
		}
	}
}

// botoQuote escapes a key as botocore does (quote with safe "/~").
func botoQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
		}
	}
	return b.String()
}

// FuzzObjectKeyFromPath checks the path → (bucket, key) parsing: it never
// panics, a parsed bucket has no slash, keys escaped as the Go SDK and
// botocore escape them round-trip exactly, and parsing through net/http's
// URL handling gives the same result as parsing the raw path.
func FuzzObjectKeyFromPath(f *testing.F) {
	for _, s := range []string{"/", "/b/k", "/b/a%2Fb", "/b/a+b", "/b/100%25", "/b//x", "/b/../x", "/b/%C3%BC%20x", "/b/%", "/b/%zz",
		"/bucket/dir/file name+1.txt", "/b%2F/k", "/b/k?x", "/b/\x00", "/b/\xff"} {
		f.Add(s, "key")
	}
	f.Add("/b/k", "a b+c%d/ü/../日本")
	f.Add("/b/k", "//x//")
	f.Add("/b/k", "~!@#$&'()*,;=:?[]")
	h := &Handler{}
	f.Fuzz(func(t *testing.T, raw, key string) {
		bucket, k, err := splitPath(raw)
		if err == nil {
			if strings.Contains(bucket, "/") {
				t.Fatalf("bucket %q from %q contains a slash", bucket, raw)
			}
			// Through net/http's request URL parsing.
			if !strings.ContainsAny(raw, "?#") {
				if u, perr := url.ParseRequestURI(raw); perr == nil {
					rt := h.route(&http.Request{Method: "GET", URL: u, Header: http.Header{}})
					if rt.err != nil || rt.bucket != bucket || rt.key != k {
						t.Fatalf("route(%q) = %q, %q, %v; splitPath = %q, %q", raw, rt.bucket, rt.key, rt.err, bucket, k)
					}
				}
			}
		}
		if key == "" || !utf8.ValidString(key) {
			return
		}
		for _, esc := range []string{httpbinding.EscapePath(key, false), botoQuote(key), url.PathEscape(key)} {
			b, got, err := splitPath("/bucket/" + esc)
			if err != nil || b != "bucket" || got != key {
				t.Fatalf("key %q escaped as %q parsed as %q, %q, %v", key, esc, b, got, err)
			}
		}
	})
}
