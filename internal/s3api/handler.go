// Package s3api is Wharf's S3-compatible REST-XML front: it serves the bucket,
// object, listing and multipart operations the AWS CLI, boto3 and
// aws-sdk-go-v2 use, over a blob.Store for data and a BucketStore for bucket
// ownership.
//
// Authentication is not done here: a middleware in front verifies SigV4,
// decodes aws-chunked bodies and puts the caller's awsapi.Identity into the
// request context. A request without one is denied.
package s3api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/store"
)

// BucketStore is the part of store.Store that records bucket ownership.
type BucketStore interface {
	// CreateBucket returns store.ErrExists if the name is taken by anyone.
	CreateBucket(ctx context.Context, b store.Bucket) error
	// GetBucket returns store.ErrNotFound for an unknown name.
	GetBucket(ctx context.Context, name string) (store.Bucket, error)
	ListBuckets(ctx context.Context, owner string) ([]store.Bucket, error)
	DeleteBucket(ctx context.Context, name string) error
}

// DefaultMaxObjectSize is the largest single PutObject, UploadPart or
// CopyObject body, as in S3.
const DefaultMaxObjectSize = 5 << 30

// Config configures a Handler.
type Config struct {
	Blobs   blob.Store
	Buckets BucketStore
	// Region is reported by GetBucketLocation and HeadBucket and recorded
	// with new buckets; "" means us-east-1.
	Region string
	// Logger receives internal errors; nil discards.
	Logger *slog.Logger
	// MaxObjectSize bounds a single PutObject, UploadPart or CopyObject body;
	// 0 means DefaultMaxObjectSize (5 GiB).
	MaxObjectSize int64
	// VirtualHosts are base host names (no port) under which
	// virtual-hosted–style requests are accepted: a request for
	// "mybucket.s3.example.com" with VirtualHosts ["s3.example.com"]
	// addresses bucket "mybucket". Empty: path-style only.
	VirtualHosts []string
}

// Handler serves the S3 API. It implements http.Handler and is safe for
// concurrent use.
type Handler struct {
	blobs        blob.Store
	buckets      BucketStore
	region       string
	log          *slog.Logger
	maxObject    int64
	virtualHosts []string

	// slowAfter is how long a copy or multipart completion may run before
	// the response is committed as 200 and kept alive with whitespace;
	// keepAlive is the interval between those whitespace writes.
	slowAfter time.Duration
	keepAlive time.Duration
}

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	h := &Handler{
		blobs:        cfg.Blobs,
		buckets:      cfg.Buckets,
		region:       cfg.Region,
		log:          cfg.Logger,
		maxObject:    cfg.MaxObjectSize,
		virtualHosts: cfg.VirtualHosts,
		slowAfter:    3 * time.Second,
		keepAlive:    5 * time.Second,
	}
	if h.region == "" {
		h.region = "us-east-1"
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxObject <= 0 {
		h.maxObject = DefaultMaxObjectSize
	}
	return h
}

// request is the state of one request as the operation handlers see it.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context
	id      string // x-amz-request-id
	hostID  string // x-amz-id-2
	op      string
	bucket  string
	key     string
	account string // caller's account id
}

type opFunc func(h *Handler, q *request) error

// operations maps implemented operation names to their handlers. Operations
// resolveOp can name but that are missing here answer 501 NotImplemented.
var operations map[string]opFunc

func init() {
	operations = map[string]opFunc{
		"ListBuckets":             (*Handler).listBuckets,
		"CreateBucket":            (*Handler).createBucket,
		"HeadBucket":              (*Handler).headBucket,
		"DeleteBucket":            (*Handler).deleteBucket,
		"GetBucketLocation":       (*Handler).getBucketLocation,
		"GetBucketVersioning":     (*Handler).getBucketVersioning,
		"GetBucketAcl":            (*Handler).getBucketACL,
		"GetBucketTagging":        noSuchConfig("NoSuchTagSet", "The TagSet does not exist"),
		"GetBucketPolicy":         noSuchConfig("NoSuchBucketPolicy", "The bucket policy does not exist"),
		"GetBucketCors":           noSuchConfig("NoSuchCORSConfiguration", "The CORS configuration does not exist"),
		"GetBucketWebsite":        noSuchConfig("NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration"),
		"ListObjects":             (*Handler).listObjectsV1,
		"ListObjectsV2":           (*Handler).listObjectsV2,
		"PutObject":               (*Handler).putObject,
		"GetObject":               (*Handler).getObject,
		"HeadObject":              (*Handler).getObject,
		"DeleteObject":            (*Handler).deleteObject,
		"DeleteObjects":           (*Handler).deleteObjects,
		"CopyObject":              (*Handler).copyObject,
		"GetObjectAcl":            (*Handler).getObjectACL,
		"GetObjectTagging":        (*Handler).getObjectTagging,
		"CreateMultipartUpload":   (*Handler).createMultipartUpload,
		"UploadPart":              (*Handler).uploadPart,
		"UploadPartCopy":          (*Handler).uploadPartCopy,
		"CompleteMultipartUpload": (*Handler).completeMultipartUpload,
		"AbortMultipartUpload":    (*Handler).abortMultipartUpload,
		"ListParts":               (*Handler).listParts,
		"ListMultipartUploads":    (*Handler).listMultipartUploads,
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, ctx: r.Context(), id: w.Header().Get("X-Amz-Request-Id"), hostID: newHostID()}
	if q.id == "" {
		// Unless a middleware already assigned one.
		q.id = newRequestID()
	}
	w.Header().Set("X-Amz-Request-Id", q.id)
	w.Header().Set("X-Amz-Id-2", q.hostID)
	w.Header().Set("Server", "Wharf")

	rt := h.route(r)
	q.op, q.bucket, q.key = rt.op, rt.bucket, rt.key

	id, ok := awsapi.IdentityFrom(r.Context())
	if !ok || id.AccountID == "" {
		h.writeError(q, errAccessDenied())
		return
	}
	q.account = id.AccountID

	if rt.err != nil {
		h.writeError(q, rt.err)
		return
	}
	if rt.op == "" {
		e := newError("MethodNotAllowed", http.StatusMethodNotAllowed,
			"The specified method is not allowed against this resource.")
		w.Header().Set("Allow", "GET, HEAD, PUT, POST, DELETE")
		h.writeError(q, e)
		return
	}
	if q.key != "" {
		if err := checkKey(q.key); err != nil {
			h.writeError(q, err)
			return
		}
	}
	if q.bucket != "" && q.op != "CreateBucket" && !validBucketName(q.bucket) {
		// Buckets are only ever created with valid names; never let an
		// invalid one reach the blob store, whose internal namespaces
		// deliberately use invalid names.
		h.writeError(q, errNoSuchBucket(q.bucket))
		return
	}
	fn := operations[rt.op]
	if fn == nil {
		h.writeError(q, errNotImplemented(rt.op))
		return
	}
	if err := fn(h, q); err != nil {
		h.writeError(q, err)
	}
}

// writeError sends err as an S3 error response (no body for HEAD).
func (h *Handler) writeError(q *request, err error) {
	if errors.Is(err, errResponseStarted) {
		h.log.Debug("s3api: request failed after response started",
			"op", q.op, "bucket", q.bucket, "key", q.key, "request_id", q.id, "err", err)
		return
	}
	ae := blobError(err, q.key, "")
	if ae.Status >= 500 && ae.Status != http.StatusNotImplemented {
		h.log.Error("s3api: request failed", "op", q.op, "bucket", q.bucket, "key", q.key,
			"request_id", q.id, "code", ae.Code, "err", err)
	} else {
		h.log.Debug("s3api: request rejected", "op", q.op, "bucket", q.bucket, "key", q.key,
			"request_id", q.id, "code", ae.Code, "err", err)
	}
	hdr := q.w.Header()
	for k, v := range ae.Header {
		hdr[k] = v
	}
	if q.r.Method == http.MethodHead {
		hdr.Del("Content-Length")
		q.w.WriteHeader(ae.Status)
		return
	}
	_ = writeXML(q.w, ae.Status, ae.doc(q.resource(), q.id, q.hostID))
}

// resource is the Resource element of error documents.
func (q *request) resource() string {
	switch {
	case q.bucket == "":
		return "/"
	case q.key == "":
		return "/" + q.bucket
	default:
		return "/" + q.bucket + "/" + q.key
	}
}

// ownBucket loads a bucket and checks that the caller owns it.
func (h *Handler) ownBucket(q *request, name string) (store.Bucket, error) {
	if !validBucketName(name) {
		return store.Bucket{}, errNoSuchBucket(name)
	}
	b, err := h.buckets.GetBucket(q.ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Bucket{}, errNoSuchBucket(name)
	}
	if err != nil {
		return store.Bucket{}, errInternal(err)
	}
	if b.Owner != q.account {
		return store.Bucket{}, errAccessDenied()
	}
	// x-amz-expected-bucket-owner guards the target bucket,
	// x-amz-source-expected-bucket-owner the source of a copy.
	hdr := "X-Amz-Expected-Bucket-Owner"
	if name != q.bucket {
		hdr = "X-Amz-Source-Expected-Bucket-Owner"
	}
	if exp := q.r.Header.Get(hdr); exp != "" && exp != b.Owner {
		return store.Bucket{}, errAccessDenied()
	}
	return b, nil
}

// noSuchConfig answers a configuration read for a bucket that never has that
// configuration: the owner gets the S3 "not found" error for it.
func noSuchConfig(code, msg string) opFunc {
	return func(h *Handler, q *request) error {
		if _, err := h.ownBucket(q, q.bucket); err != nil {
			return err
		}
		e := newError(code, http.StatusNotFound, "%s", msg)
		e.BucketName = q.bucket
		return e
	}
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func newHostID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// accountOwner returns the Owner element for an account.
func accountOwner(account string) owner {
	return owner{ID: account, DisplayName: account}
}
