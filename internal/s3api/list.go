package s3api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wharfml/wharf/internal/blob"
)

// maxKeysParam parses max-keys: an integer >= 0, capped at 1000 as S3 does.
func maxKeysParam(qv url.Values) (int, error) {
	s := qv.Get("max-keys")
	if s == "" {
		return 1000, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errInvalidArgument("Provided max-keys not an integer or within integer range")
	}
	return min(n, 1000), nil
}

// encodingTypeParam reports whether encoding-type=url was asked for.
func encodingTypeParam(qv url.Values) (bool, error) {
	switch v := qv.Get("encoding-type"); {
	case v == "":
		return false, nil
	case strings.EqualFold(v, "url"):
		return true, nil
	default:
		return false, errInvalidArgument("Invalid Encoding Method specified in Request")
	}
}

// s3URLEncode encodes a key or prefix for encoding-type=url responses as S3
// does: form encoding (space as "+") with "/" left as is. Clients decode it
// with unquote_plus (botocore) or url.QueryUnescape.
func s3URLEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

func maybeEncode(s string, enc bool) string {
	if enc {
		return s3URLEncode(s)
	}
	return s
}

// continuationToken is the opaque NextContinuationToken for a start-after key.
func continuationToken(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(after))
}

func parseContinuationToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || tok == "" {
		return "", errInvalidArgument("The continuation token provided is incorrect")
	}
	return string(b), nil
}

// listing is the result of one blob listing in S3 terms.
type listing struct {
	contents []objectEntry
	prefixes []commonPrefix
	res      blob.ListResult
}

func (h *Handler) list(q *request, opts blob.ListOptions, enc, withOwner bool) (listing, error) {
	var l listing
	if opts.MaxKeys == 0 {
		// blob treats 0 as the default page size; S3 returns nothing.
		return l, nil
	}
	res, err := h.blobs.List(q.ctx, q.bucket, opts)
	if err != nil {
		return l, errInternal(err)
	}
	l.res = res
	for _, o := range res.Objects {
		e := objectEntry{
			Key: maybeEncode(o.Key, enc), LastModified: isoTime(o.ModTime), ETag: quoteETag(o.ETag),
			Size: o.Size, StorageClass: "STANDARD",
		}
		if a := firstChecksumAlgorithm(o.Checksums); a != "" {
			e.ChecksumAlgorithm = a
			e.ChecksumType = checksumType(o.Checksums[a])
		}
		if withOwner {
			ow := accountOwner(q.account)
			e.Owner = &ow
		}
		l.contents = append(l.contents, e)
	}
	for _, p := range res.CommonPrefixes {
		l.prefixes = append(l.prefixes, commonPrefix{Prefix: maybeEncode(p, enc)})
	}
	return l, nil
}

// listObjectsV2 serves ListObjectsV2 (GET ?list-type=2).
func (h *Handler) listObjectsV2(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	qv := q.r.URL.Query()
	if qv.Get("list-type") != "2" {
		return errInvalidArgument("Invalid List Type specified in Request")
	}
	maxKeys, err := maxKeysParam(qv)
	if err != nil {
		return err
	}
	enc, err := encodingTypeParam(qv)
	if err != nil {
		return err
	}
	prefix, delim, startAfter := qv.Get("prefix"), qv.Get("delimiter"), qv.Get("start-after")
	after := startAfter
	if qv.Has("continuation-token") {
		if after, err = parseContinuationToken(qv.Get("continuation-token")); err != nil {
			return err
		}
	}
	l, err := h.list(q, blob.ListOptions{Prefix: prefix, Delimiter: delim, StartAfter: after, MaxKeys: maxKeys},
		enc, qv.Get("fetch-owner") == "true")
	if err != nil {
		return err
	}
	res := listBucketResultV2{
		Name: q.bucket, Prefix: maybeEncode(prefix, enc), Delimiter: maybeEncode(delim, enc),
		MaxKeys: maxKeys, KeyCount: len(l.contents) + len(l.prefixes), IsTruncated: l.res.IsTruncated,
		ContinuationToken: qv.Get("continuation-token"), StartAfter: maybeEncode(startAfter, enc),
		Contents: l.contents, CommonPrefixes: l.prefixes,
	}
	if enc {
		res.EncodingType = "url"
	}
	if l.res.IsTruncated {
		res.NextContinuationToken = continuationToken(l.res.NextStartAfter)
	}
	return writeXML(q.w, http.StatusOK, res)
}

// listObjectsV1 serves ListObjects (marker; NextMarker only with a delimiter, as S3).
func (h *Handler) listObjectsV1(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	qv := q.r.URL.Query()
	maxKeys, err := maxKeysParam(qv)
	if err != nil {
		return err
	}
	enc, err := encodingTypeParam(qv)
	if err != nil {
		return err
	}
	prefix, delim, marker := qv.Get("prefix"), qv.Get("delimiter"), qv.Get("marker")
	l, err := h.list(q, blob.ListOptions{Prefix: prefix, Delimiter: delim, StartAfter: marker, MaxKeys: maxKeys}, enc, true)
	if err != nil {
		return err
	}
	res := listBucketResultV1{
		Name: q.bucket, Prefix: maybeEncode(prefix, enc), Marker: maybeEncode(marker, enc),
		MaxKeys: maxKeys, Delimiter: maybeEncode(delim, enc), IsTruncated: l.res.IsTruncated,
		Contents: l.contents, CommonPrefixes: l.prefixes,
	}
	if enc {
		res.EncodingType = "url"
	}
	if l.res.IsTruncated && delim != "" {
		res.NextMarker = maybeEncode(l.res.NextStartAfter, enc)
	}
	return writeXML(q.w, http.StatusOK, res)
}
