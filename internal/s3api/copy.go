package s3api

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/wharfml/wharf/internal/blob"
)

// parseCopySource parses x-amz-copy-source: "[/]bucket/key[?versionId=v]",
// URL-encoded. Only the "null" version of an unversioned object exists.
func parseCopySource(v string) (bucket, key string, err error) {
	bad := errInvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	if i := strings.LastIndex(v, "?"); i >= 0 {
		if qv, perr := url.ParseQuery(v[i+1:]); perr == nil && qv.Has("versionId") {
			if vid := qv.Get("versionId"); vid != "null" {
				return "", "", newError("NoSuchVersion", http.StatusNotFound,
					"The specified version does not exist. Versioning is not supported.")
			}
			v = v[:i]
		}
	}
	v = strings.TrimPrefix(v, "/")
	b, k, ok := strings.Cut(v, "/")
	if !ok || b == "" || k == "" {
		return "", "", bad
	}
	var perr error
	if bucket, perr = url.PathUnescape(b); perr != nil {
		return "", "", bad
	}
	if key, perr = url.PathUnescape(k); perr != nil {
		return "", "", bad
	}
	if e := checkKey(key); e != nil {
		return "", "", e
	}
	return bucket, key, nil
}

// copySource resolves and authorises the source of a copy.
func (h *Handler) copySource(q *request) (bucket, key string, err error) {
	bucket, key, err = parseCopySource(q.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return "", "", err
	}
	if _, err := h.ownBucket(q, bucket); err != nil {
		return "", "", err
	}
	return bucket, key, nil
}

// openSource opens a copy source after checking the copy-source conditions.
// pick chooses the range to read from the current object info (nil: all).
// The object is re-read if it changes between the check and the open.
func (h *Handler) openSource(q *request, bucket, key string,
	pick func(blob.ObjectInfo) (*byteRange, error)) (io.ReadCloser, blob.ObjectInfo, *byteRange, error) {
	conds := copySourceConditions(q.r.Header)
	for attempt := 0; ; attempt++ {
		info, err := h.blobs.Head(q.ctx, bucket, key)
		if err != nil {
			return nil, info, nil, blobError(err, key, "")
		}
		if conds.eval(info) != condOK {
			return nil, info, nil, errPrecondition()
		}
		rng, err := pick(info)
		if err != nil {
			return nil, info, nil, err
		}
		var br *blob.Range
		if rng != nil {
			br = &blob.Range{Start: rng.start, Length: rng.length}
		}
		rc, ginfo, err := h.blobs.Get(q.ctx, bucket, key, br)
		if err != nil {
			return nil, info, nil, blobError(err, key, "")
		}
		if ginfo.ETag == info.ETag && ginfo.Size == info.Size {
			return rc, ginfo, rng, nil
		}
		rc.Close()
		if attempt == 2 {
			return nil, info, nil, newError("SlowDown", http.StatusServiceUnavailable,
				"The copy source changed while it was being read. Please retry.")
		}
	}
}

// sourceChecksums are the checksums to verify (full-object values of the
// source) or compute (composite source values, or a newly requested
// algorithm) when the data of src is written again.
func sourceChecksums(src map[string]string, algo string) map[string]string {
	out := map[string]string{}
	if algo != "" {
		v := src[algo]
		if checksumType(v) == "COMPOSITE" {
			v = ""
		}
		out[algo] = v
		return out
	}
	for a, v := range src {
		if checksumType(v) == "COMPOSITE" {
			v = ""
		}
		out[a] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// sourceMD5 is the MD5 of a single-part object (its ETag), to verify a full copy.
func sourceMD5(info blob.ObjectInfo) []byte {
	if info.PartCount != 0 {
		return nil
	}
	b, err := hex.DecodeString(info.ETag)
	if err != nil || len(b) != 16 {
		return nil
	}
	return b
}

// copyObject serves CopyObject. The caller must own both buckets; metadata
// is copied (COPY, the default) or taken from the request (REPLACE).
func (h *Handler) copyObject(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	srcBucket, srcKey, err := h.copySource(q)
	if err != nil {
		return err
	}
	hdr := q.r.Header
	directive := strings.ToUpper(hdr.Get("X-Amz-Metadata-Directive"))
	switch directive {
	case "":
		directive = "COPY"
	case "COPY", "REPLACE":
	default:
		return errInvalidArgument("Unknown metadata directive.")
	}
	algo := ""
	if v := hdr.Get("X-Amz-Checksum-Algorithm"); v != "" {
		a, ok := normalizeAlgorithm(v)
		if !ok {
			return errInvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		algo = a
	}
	if srcBucket == q.bucket && srcKey == q.key && directive == "COPY" && algo == "" &&
		hdr.Get("X-Amz-Storage-Class") == "" && hdr.Get("X-Amz-Website-Redirect-Location") == "" &&
		hdr.Get("X-Amz-Server-Side-Encryption") == "" {
		return errInvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	var attrs blob.Attrs
	if directive == "REPLACE" {
		if attrs, err = attrsFromHeaders(hdr); err != nil {
			return err
		}
	}
	ifMatch, ifNoneMatch := hdr.Get("If-Match"), hdr.Get("If-None-Match")

	return h.respondSlow(q, func() (any, error) {
		rc, src, _, err := h.openSource(q, srcBucket, srcKey, func(info blob.ObjectInfo) (*byteRange, error) {
			if info.Size > h.maxObject {
				return nil, errInvalidRequest("The specified copy source is larger than the maximum allowable size for a copy source: %d", h.maxObject)
			}
			return nil, nil
		})
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		if directive == "COPY" {
			attrs = src.Attrs
		}
		opts := blob.PutOptions{
			Attrs: attrs, Size: src.Size, ContentMD5: sourceMD5(src),
			Checksums: sourceChecksums(src.Checksums, algo),
			IfMatch:   ifMatch, IfNoneMatch: ifNoneMatch,
		}
		wasMultipart := h.isMultipart(q.ctx, q.bucket, q.key)
		info, err := h.blobs.Put(q.ctx, q.bucket, q.key, rc, opts)
		if err != nil {
			return nil, blobError(err, q.key, "")
		}
		if wasMultipart {
			h.dropLayout(q.ctx, q.bucket, q.key)
		}
		return copyObjectResult{
			ETag: quoteETag(info.ETag), LastModified: isoTime(info.ModTime),
			checksumFields: checksumXML(info.Checksums),
		}, nil
	})
}
