package s3api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/store"
)

// listBuckets serves ListBuckets: only the caller's buckets, by name, with the
// optional prefix, max-buckets and continuation-token parameters.
func (h *Handler) listBuckets(q *request) error {
	buckets, err := h.buckets.ListBuckets(q.ctx, q.account)
	if err != nil {
		return errInternal(err)
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].Name < buckets[j].Name })
	qv := q.r.URL.Query()
	prefix := qv.Get("prefix")
	max := 10000
	if s := qv.Get("max-buckets"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return errInvalidArgument("max-buckets must be an integer between 1 and 10000")
		}
		max = n
	}
	after := ""
	if tok := qv.Get("continuation-token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return errInvalidArgument("The continuation token provided is incorrect")
		}
		after = string(b)
	}
	res := listAllMyBucketsResult{Owner: accountOwner(q.account), Prefix: prefix}
	for _, b := range buckets {
		if !strings.HasPrefix(b.Name, prefix) || (after != "" && b.Name <= after) {
			continue
		}
		if len(res.Buckets) == max {
			res.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.Buckets[max-1].Name))
			break
		}
		res.Buckets = append(res.Buckets, bucketEntry{
			Name: b.Name, CreationDate: isoTime(b.Created), BucketRegion: h.bucketRegion(b),
		})
	}
	return writeXML(q.w, http.StatusOK, res)
}

func (h *Handler) bucketRegion(b store.Bucket) string {
	if b.Region != "" {
		return b.Region
	}
	return h.region
}

// createBucket serves CreateBucket. Re-creating one's own bucket succeeds in
// us-east-1 and is BucketAlreadyOwnedByYou elsewhere, as in AWS.
func (h *Handler) createBucket(q *request) error {
	if !validBucketName(q.bucket) {
		e := newError("InvalidBucketName", http.StatusBadRequest, "The specified bucket is not valid.")
		e.BucketName = q.bucket
		return e
	}
	if q.r.ContentLength != 0 && q.r.Body != nil && q.r.Body != http.NoBody {
		var cfg createBucketConfiguration
		data, err := readXMLBody(q.r, maxSmallXMLBody, &cfg)
		// An empty body is allowed; anything else must be well-formed.
		if err != nil && (!isMalformed(err) || strings.TrimSpace(string(data)) != "") {
			return err
		}
		if lc := cfg.LocationConstraint; lc != "" && lc != h.region &&
			!(h.region == "us-east-1" && (lc == "US" || lc == "us-east-1")) &&
			!(h.region == "eu-west-1" && lc == "EU") {
			return newError("IllegalLocationConstraintException", http.StatusBadRequest,
				"The %s location constraint is incompatible for the region specific endpoint this request was sent to.", lc)
		}
	}
	b := store.Bucket{Name: q.bucket, Owner: q.account, Region: h.region, Created: time.Now().UTC()}
	err := h.buckets.CreateBucket(q.ctx, b)
	if errors.Is(err, store.ErrExists) {
		cur, gerr := h.buckets.GetBucket(q.ctx, q.bucket)
		if gerr != nil && !errors.Is(gerr, store.ErrNotFound) {
			return errInternal(gerr)
		}
		switch {
		case gerr == nil && cur.Owner == q.account && h.region == "us-east-1":
			// Legacy us-east-1 behaviour: succeed.
		case gerr == nil && cur.Owner == q.account:
			e := newError("BucketAlreadyOwnedByYou", http.StatusConflict,
				"Your previous request to create the named bucket succeeded and you already own it.")
			e.BucketName = q.bucket
			return e
		default:
			e := newError("BucketAlreadyExists", http.StatusConflict,
				"The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
			e.BucketName = q.bucket
			return e
		}
	} else if err != nil {
		return errInternal(err)
	}
	q.w.Header().Set("Location", "/"+q.bucket)
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func isMalformed(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Code == "MalformedXML"
}

// headBucket serves HeadBucket.
func (h *Handler) headBucket(q *request) error {
	b, err := h.ownBucket(q, q.bucket)
	if err != nil {
		return err
	}
	q.w.Header().Set("X-Amz-Bucket-Region", h.bucketRegion(b))
	q.w.Header().Set("X-Amz-Access-Point-Alias", "false")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// getBucketLocation serves GetBucketLocation (empty for us-east-1, as S3).
func (h *Handler) getBucketLocation(q *request) error {
	b, err := h.ownBucket(q, q.bucket)
	if err != nil {
		return err
	}
	region := h.bucketRegion(b)
	if region == "us-east-1" {
		region = ""
	}
	return writeXML(q.w, http.StatusOK, locationConstraint{Value: region})
}

// getBucketVersioning serves GetBucketVersioning: versioning is never enabled.
func (h *Handler) getBucketVersioning(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	return writeXML(q.w, http.StatusOK, versioningConfiguration{})
}

// getBucketACL serves GetBucketAcl: the owner has FULL_CONTROL.
func (h *Handler) getBucketACL(q *request) error {
	b, err := h.ownBucket(q, q.bucket)
	if err != nil {
		return err
	}
	return writeXML(q.w, http.StatusOK, ownerACL(b.Owner))
}

func ownerACL(account string) accessControlPolicy {
	return accessControlPolicy{
		Owner: accountOwner(account),
		Grants: []grant{{
			Grantee: grantee{
				XMLNSXSI: "http://www.w3.org/2001/XMLSchema-instance", XSIType: "CanonicalUser",
				ID: account, DisplayName: account,
			},
			Permission: "FULL_CONTROL",
		}},
	}
}

// deleteBucket serves DeleteBucket: only an empty bucket with no multipart
// uploads in progress can be deleted.
func (h *Handler) deleteBucket(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	res, err := h.blobs.List(q.ctx, q.bucket, blob.ListOptions{MaxKeys: 1})
	if err != nil {
		return errInternal(err)
	}
	uploads, err := h.blobs.ListUploads(q.ctx, q.bucket, "")
	if err != nil {
		return errInternal(err)
	}
	if len(res.Objects) > 0 || len(uploads) > 0 {
		e := newError("BucketNotEmpty", http.StatusConflict, "The bucket you tried to delete is not empty")
		e.BucketName = q.bucket
		return e
	}
	if err := h.buckets.DeleteBucket(q.ctx, q.bucket); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNoSuchBucket(q.bucket)
		}
		return errInternal(err)
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
