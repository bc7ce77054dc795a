package sigv4

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm      = "AWS4-HMAC-SHA256"
	timeFormat     = "20060102T150405Z"
	dateFormat     = "20060102"
	scopeTerminal  = "aws4_request"
	maxExpires     = 604800 // one week, the SigV4 presign maximum
	maxAccessKeyID = 128
	// maxSignedHeaders bounds the header list of a fuzzed or hostile
	// Authorization header; real clients sign fewer than 20.
	maxSignedHeaders = 128
)

// credential is the parsed Credential / X-Amz-Credential value.
type credential struct {
	accessKeyID, date, region, service string
}

func (c credential) scope() string {
	return c.date + "/" + c.region + "/" + c.service + "/" + scopeTerminal
}

// authorization is the parsed Authorization header (or presigned query).
type authorization struct {
	cred          credential
	signedHeaders []string
	signature     []byte // 32 bytes
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// accepting any amount of spaces around the commas (clients differ) but
// requiring each component exactly once.
func parseAuthorization(h string) (authorization, *Error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, algorithm)
	if !ok || (rest != "" && rest[0] != ' ') {
		switch {
		case strings.HasPrefix(h, "AWS4-"):
			return a, newErr(Incomplete, "unsupported signing algorithm; only %s is supported", algorithm)
		case strings.HasPrefix(h, "AWS "):
			return a, newErr(Incomplete, "AWS Signature Version 2 is not supported; use %s", algorithm)
		}
		return a, newErr(Incomplete, "Authorization header must start with %q", algorithm+" ")
	}
	var haveCred, haveHeaders, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.Trim(part, " ")
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			return a, newErr(Incomplete, "Authorization header component %q is not key=value", clip(part))
		}
		var err *Error
		switch key {
		case "Credential":
			if haveCred {
				return a, newErr(Incomplete, "Authorization header has Credential twice")
			}
			haveCred = true
			a.cred, err = parseCredential(val)
		case "SignedHeaders":
			if haveHeaders {
				return a, newErr(Incomplete, "Authorization header has SignedHeaders twice")
			}
			haveHeaders = true
			a.signedHeaders, err = parseSignedHeaders(val)
		case "Signature":
			if haveSig {
				return a, newErr(Incomplete, "Authorization header has Signature twice")
			}
			haveSig = true
			a.signature, err = parseSignature(val)
		default:
			return a, newErr(Incomplete, "Authorization header has unknown component %q", clip(key))
		}
		if err != nil {
			return a, err
		}
	}
	switch {
	case !haveCred:
		return a, newErr(Incomplete, "Authorization header requires a Credential parameter")
	case !haveHeaders:
		return a, newErr(Incomplete, "Authorization header requires a SignedHeaders parameter")
	case !haveSig:
		return a, newErr(Incomplete, "Authorization header requires a Signature parameter")
	}
	return a, nil
}

// parseCredential parses AKID/YYYYMMDD/region/service/aws4_request.
func parseCredential(s string) (credential, *Error) {
	var c credential
	parts := strings.SplitN(s, "/", 6)
	if len(parts) != 5 {
		return c, newErr(Incomplete, "credential %q must have the form <key>/<YYYYMMDD>/<region>/<service>/aws4_request", clip(s))
	}
	c = credential{accessKeyID: parts[0], date: parts[1], region: parts[2], service: parts[3]}
	switch {
	case c.accessKeyID == "" || len(c.accessKeyID) > maxAccessKeyID || !isToken(c.accessKeyID):
		return c, newErr(Incomplete, "credential has an invalid access key id")
	case len(c.date) != 8 || !isDigits(c.date):
		return c, newErr(Incomplete, "credential date %q is not YYYYMMDD", clip(c.date))
	case c.region == "" || !isToken(c.region):
		return c, newErr(Incomplete, "credential has an invalid region")
	case c.service == "" || !isToken(c.service):
		return c, newErr(Incomplete, "credential has an invalid service")
	case parts[4] != scopeTerminal:
		return c, newErr(Incomplete, "credential must end with %q, not %q", scopeTerminal, clip(parts[4]))
	}
	if _, err := time.Parse(dateFormat, c.date); err != nil {
		return c, newErr(Incomplete, "credential date %q is not a valid date", c.date)
	}
	return c, nil
}

// parseSignedHeaders parses "host;x-amz-date": lower-case header names,
// no duplicates, host included (SigV4 requires it, and without it a
// signature could be replayed against another virtual host).
func parseSignedHeaders(s string) ([]string, *Error) {
	if s == "" {
		return nil, newErr(Incomplete, "SignedHeaders is empty")
	}
	if strings.Count(s, ";") >= maxSignedHeaders {
		return nil, newErr(Incomplete, "SignedHeaders lists more than %d headers", maxSignedHeaders)
	}
	names := strings.Split(s, ";")
	host := false
	for i, n := range names {
		if n == "" || !isToken(n) || strings.ToLower(n) != n {
			return nil, newErr(Incomplete, "SignedHeaders entry %q is not a lower-case header name", clip(n))
		}
		for _, m := range names[:i] {
			if m == n {
				return nil, newErr(Incomplete, "SignedHeaders lists %q twice", clip(n))
			}
		}
		if n == "host" {
			host = true
		}
	}
	if !host {
		return nil, newErr(Incomplete, "SignedHeaders must include host")
	}
	return names, nil
}

func parseSignature(s string) ([]byte, *Error) {
	if len(s) != 64 {
		return nil, newErr(Incomplete, "signature must be 64 hexadecimal characters")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, newErr(Incomplete, "signature must be 64 hexadecimal characters")
	}
	return b, nil
}

// Scope parses the credential scope of r (Authorization header or
// X-Amz-Credential query parameter) WITHOUT verifying anything, so a
// dispatcher can pick the protocol front (s3, sagemaker, sts, ...) before
// calling Verify. After a successful Verify the same values are
// authenticated: the service and region are part of the signing key.
func Scope(r *http.Request) (service, region string, ok bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		a, err := parseAuthorization(h)
		if err != nil {
			return "", "", false
		}
		return a.cred.service, a.cred.region, true
	}
	for _, p := range parseQuery(r.URL.RawQuery) {
		if p.key == "X-Amz-Credential" {
			c, err := parseCredential(p.value)
			if err != nil {
				return "", "", false
			}
			return c.service, c.region, true
		}
	}
	return "", "", false
}

// isToken reports whether s consists of HTTP token characters (RFC 9110),
// which covers access key ids, regions, services and header names while
// rejecting separators that would make the credential ambiguous.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip shortens attacker-controlled text quoted in error messages.
func clip(s string) string {
	const n = 64
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// parseAmzTime parses an X-Amz-Date value.
func parseAmzTime(s string) (time.Time, bool) {
	t, err := time.Parse(timeFormat, s)
	return t, err == nil
}

// parseExpires parses X-Amz-Expires: whole seconds, 1..604800.
func parseExpires(s string) (time.Duration, *Error) {
	n, err := strconv.Atoi(s)
	if err != nil || !isDigits(s) {
		return 0, newErr(Incomplete, "X-Amz-Expires should be a number")
	}
	if n < 1 {
		return 0, newErr(Incomplete, "X-Amz-Expires must be positive")
	}
	if n > maxExpires {
		return 0, newErr(Incomplete, "X-Amz-Expires must be less than a week (in seconds) that is %d", maxExpires)
	}
	return time.Duration(n) * time.Second, nil
}
