package s3api

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// route is what a request addresses: the operation, bucket and key.
type route struct {
	op     string
	bucket string
	key    string
	// virtual reports a virtual-hosted–style request (bucket from the Host).
	virtual bool
	err     *apiError
}

// splitPath splits an escaped path-style request path "/bucket/key..." into
// bucket and key, unescaping each exactly once (so "%2F", "+", "%25" and
// non-ASCII round-trip as the SDKs send them). "/" yields no bucket; a key is
// everything after the first slash following the bucket, including further
// slashes, dots and empty segments.
func splitPath(escaped string) (bucket, key string, err *apiError) {
	if !strings.HasPrefix(escaped, "/") {
		return "", "", errInvalidURI()
	}
	rest := escaped[1:]
	bucketEsc, keyEsc, _ := strings.Cut(rest, "/")
	if bucket, err = unescape(bucketEsc); err != nil {
		return "", "", err
	}
	if key, err = unescape(keyEsc); err != nil {
		return "", "", err
	}
	if strings.Contains(bucket, "/") {
		// An escaped slash inside the bucket segment.
		return "", "", errInvalidURI()
	}
	return bucket, key, nil
}

func unescape(s string) (string, *apiError) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	u, err := url.PathUnescape(s)
	if err != nil {
		return "", errInvalidURI()
	}
	return u, nil
}

func errInvalidURI() *apiError {
	return newError("InvalidURI", http.StatusBadRequest, "Couldn't parse the specified URI.")
}

// virtualBucket returns the bucket named by a virtual-hosted–style Host
// ("bucket.base[:port]") for one of the configured base hosts, if any.
func virtualBucket(host string, bases []string) (string, bool) {
	if len(bases) == 0 || host == "" {
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, base := range bases {
		base = strings.ToLower(strings.TrimSuffix(base, "."))
		if base == "" {
			continue
		}
		if b, ok := strings.CutSuffix(host, "."+base); ok && b != "" {
			return b, true
		}
	}
	return "", false
}

// route resolves the bucket, key and operation of r.
func (h *Handler) route(r *http.Request) route {
	escaped := r.URL.EscapedPath()
	if escaped == "" {
		escaped = "/"
	}
	var rt route
	if b, ok := virtualBucket(r.Host, h.virtualHosts); ok {
		rt.bucket, rt.virtual = b, true
		if !strings.HasPrefix(escaped, "/") {
			rt.err = errInvalidURI()
			return rt
		}
		key, err := unescape(escaped[1:])
		if err != nil {
			rt.err = err
			return rt
		}
		rt.key = key
	} else {
		b, k, err := splitPath(escaped)
		if err != nil {
			rt.err = err
			return rt
		}
		rt.bucket, rt.key = b, k
	}
	rt.op = resolveOp(r.Method, rt.bucket, rt.key, r.URL.Query(), r.Header)
	return rt
}

// OperationName returns the S3 operation a path-style request maps to (for
// example "PutObject"), or "Unknown". It has no side effects; use
// Handler.OperationName when virtual-hosted–style requests are configured.
func OperationName(r *http.Request) string {
	return (&Handler{}).OperationName(r)
}

// OperationName returns the S3 operation r maps to, taking the handler's
// virtual hosts into account, or "Unknown".
func (h *Handler) OperationName(r *http.Request) string {
	rt := h.route(r)
	if rt.err != nil || rt.op == "" {
		return "Unknown"
	}
	return rt.op
}

// Subresources that select a configuration operation rather than the plain
// bucket or object operation, with the name used after Get/Put/Delete.
// Checked in this order.
var bucketSubresources = []struct{ query, name string }{
	{"location", "BucketLocation"},
	{"versioning", "BucketVersioning"},
	{"acl", "BucketAcl"},
	{"policy", "BucketPolicy"},
	{"policyStatus", "BucketPolicyStatus"},
	{"tagging", "BucketTagging"},
	{"lifecycle", "BucketLifecycleConfiguration"},
	{"cors", "BucketCors"},
	{"website", "BucketWebsite"},
	{"logging", "BucketLogging"},
	{"notification", "BucketNotificationConfiguration"},
	{"replication", "BucketReplication"},
	{"encryption", "BucketEncryption"},
	{"object-lock", "ObjectLockConfiguration"},
	{"accelerate", "BucketAccelerateConfiguration"},
	{"requestPayment", "BucketRequestPayment"},
	{"ownershipControls", "BucketOwnershipControls"},
	{"publicAccessBlock", "PublicAccessBlock"},
	{"analytics", "BucketAnalyticsConfiguration"},
	{"metrics", "BucketMetricsConfiguration"},
	{"inventory", "BucketInventoryConfiguration"},
	{"intelligent-tiering", "BucketIntelligentTieringConfiguration"},
	{"metadataTable", "BucketMetadataTableConfiguration"},
	{"metadataConfiguration", "BucketMetadataConfiguration"},
	{"abac", "BucketAbac"},
}

var objectSubresources = []struct{ query, name string }{
	{"acl", "ObjectAcl"},
	{"tagging", "ObjectTagging"},
	{"retention", "ObjectRetention"},
	{"legal-hold", "ObjectLegalHold"},
	{"torrent", "ObjectTorrent"},
	{"attributes", "ObjectAttributes"},
	{"annotation", "ObjectAnnotation"},
	{"encryption", "ObjectEncryption"},
}

func subresource(q url.Values, table []struct{ query, name string }) string {
	for _, s := range table {
		if q.Has(s.query) {
			return s.name
		}
	}
	return ""
}

var methodVerb = map[string]string{
	http.MethodGet: "Get", http.MethodHead: "Get", http.MethodPut: "Put", http.MethodDelete: "Delete",
}

// resolveOp names the S3 operation for a method, target and query. It
// returns "" when the method is not allowed on the target.
func resolveOp(method, bucket, key string, q url.Values, hdr http.Header) string {
	if bucket == "" {
		if method == http.MethodGet {
			return "ListBuckets"
		}
		return ""
	}
	if key == "" {
		return resolveBucketOp(method, q)
	}
	return resolveObjectOp(method, q, hdr)
}

func resolveBucketOp(method string, q url.Values) string {
	if sub := subresource(q, bucketSubresources); sub != "" {
		if verb, ok := methodVerb[method]; ok {
			return verb + sub
		}
		return ""
	}
	switch method {
	case http.MethodGet:
		switch {
		case q.Has("uploads"):
			return "ListMultipartUploads"
		case q.Has("versions"):
			return "ListObjectVersions"
		case q.Has("session"):
			return "CreateSession"
		case q.Has("list-type"):
			return "ListObjectsV2"
		}
		return "ListObjects"
	case http.MethodPut:
		return "CreateBucket"
	case http.MethodHead:
		return "HeadBucket"
	case http.MethodDelete:
		return "DeleteBucket"
	case http.MethodPost:
		if q.Has("delete") {
			return "DeleteObjects"
		}
		return "PostObject"
	}
	return ""
}

func resolveObjectOp(method string, q url.Values, hdr http.Header) string {
	copySource := hdr.Get("X-Amz-Copy-Source") != ""
	switch method {
	case http.MethodGet:
		if q.Has("uploadId") {
			return "ListParts"
		}
		if sub := subresource(q, objectSubresources); sub != "" {
			return "Get" + sub
		}
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodPut:
		if q.Has("uploadId") || q.Has("partNumber") {
			if copySource {
				return "UploadPartCopy"
			}
			return "UploadPart"
		}
		if sub := subresource(q, objectSubresources); sub != "" {
			return "Put" + sub
		}
		if q.Has("renameObject") {
			return "RenameObject"
		}
		if copySource {
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodDelete:
		if q.Has("uploadId") {
			return "AbortMultipartUpload"
		}
		if sub := subresource(q, objectSubresources); sub != "" {
			return "Delete" + sub
		}
		return "DeleteObject"
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			return "CreateMultipartUpload"
		case q.Has("uploadId"):
			return "CompleteMultipartUpload"
		case q.Has("restore"):
			return "RestoreObject"
		case q.Has("select"):
			return "SelectObjectContent"
		}
	}
	return ""
}
