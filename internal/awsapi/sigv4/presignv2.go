package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/wharfml/wharf/internal/awsapi"
)

// S3 presigned URLs in the legacy SigV2 query form (AWSAccessKeyId, Expires,
// Signature) are still what `aws s3 presign` (AWS CLI v1) and boto3 produce
// by default for S3, so the S3 front accepts them for reads and writes.

// v2SubResources are the query parameters that take part in a SigV2
// canonical resource, as S3 defines them.
var v2SubResources = map[string]bool{
	"acl": true, "cors": true, "delete": true, "lifecycle": true, "location": true, "logging": true,
	"notification": true, "partNumber": true, "policy": true, "requestPayment": true, "restore": true,
	"tagging": true, "torrent": true, "uploadId": true, "uploads": true, "versionId": true,
	"versioning": true, "versions": true, "website": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"response-content-language": true, "response-content-type": true, "response-expires": true,
}

// IsPresignedV2 reports whether r carries a SigV2 presigned query string.
func IsPresignedV2(r *http.Request) bool {
	q := r.URL.Query()
	return q.Has("AWSAccessKeyId") && q.Has("Signature") && q.Has("Expires") && r.Header.Get("Authorization") == ""
}

// VerifyPresignedV2 authenticates an S3 request presigned with SigV2. The
// body is left untouched (presigned uploads are unsigned payloads).
func (v *Verifier) VerifyPresignedV2(r *http.Request) (awsapi.Identity, error) {
	if v.Lookup == nil {
		return awsapi.Identity{}, errors.New("sigv4: Verifier.Lookup is nil")
	}
	q := r.URL.Query()
	keyID, sig64, expires := q.Get("AWSAccessKeyId"), q.Get("Signature"), q.Get("Expires")
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || exp < 0 {
		e := newErr(Incomplete, "Invalid date (should be seconds since epoch): %s", clip(expires))
		e.presigned = true
		return awsapi.Identity{}, e
	}
	if v.now().Unix() > exp {
		e := newErr(Expired, "Request has expired")
		e.presigned = true
		return awsapi.Identity{}, e
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		e := newErr(BadSignature, "The request signature is not valid base64.")
		e.presigned = true
		return awsapi.Identity{}, e
	}
	secret, id, err := v.Lookup(r.Context(), keyID)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return awsapi.Identity{}, &Error{Kind: UnknownKey, Message: "The AWS Access Key Id you provided does not exist in our records.", presigned: true}
		}
		return awsapi.Identity{}, fmt.Errorf("sigv4: looking up access key: %w", err)
	}
	if id.AccessKeyID == "" {
		id.AccessKeyID = keyID
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(stringToSignV2(r, expires)))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		e := newErr(BadSignature, "The request signature we calculated does not match the signature you provided.")
		e.presigned = true
		return awsapi.Identity{}, e
	}
	return id, nil
}

// stringToSignV2 builds the SigV2 string to sign: method, Content-MD5,
// Content-Type, expiry, x-amz-* headers and the canonical resource.
func stringToSignV2(r *http.Request, expires string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(r.Header.Get("Content-MD5") + "\n")
	b.WriteString(r.Header.Get("Content-Type") + "\n")
	b.WriteString(expires + "\n")
	var amz []string
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-amz-") {
			amz = append(amz, l)
		}
	}
	sort.Strings(amz)
	for _, name := range amz {
		vals := r.Header.Values(name)
		for i := range vals {
			vals[i] = strings.TrimSpace(vals[i])
		}
		b.WriteString(name + ":" + strings.Join(vals, ",") + "\n")
	}
	b.WriteString(rawPath(r))
	var subs []queryPair
	for _, p := range parseQuery(r.URL.RawQuery) {
		if v2SubResources[p.key] {
			subs = append(subs, p)
		}
	}
	sort.SliceStable(subs, func(i, j int) bool { return subs[i].key < subs[j].key })
	for i, p := range subs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		if p.value != "" {
			b.WriteString("=" + p.value)
		}
	}
	return b.String()
}
