package s3api

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/wharfml/wharf/internal/blob"
)

// uploadParam returns the uploadId query parameter.
func uploadParam(q *request) (string, error) {
	id := q.r.URL.Query().Get("uploadId")
	if id == "" {
		return "", errNoSuchUpload("")
	}
	return id, nil
}

// getUpload loads the upload named by the request (NoSuchUpload if unknown).
func (h *Handler) getUpload(q *request) (blob.Upload, error) {
	id, err := uploadParam(q)
	if err != nil {
		return blob.Upload{}, err
	}
	up, err := h.blobs.GetUpload(q.ctx, q.bucket, q.key, id)
	if err != nil {
		return blob.Upload{}, blobError(err, q.key, id)
	}
	return up, nil
}

// createMultipartUpload serves CreateMultipartUpload (POST ?uploads).
func (h *Handler) createMultipartUpload(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	hdr := q.r.Header
	attrs, err := attrsFromHeaders(hdr)
	if err != nil {
		return err
	}
	algo := ""
	if v := hdr.Get("X-Amz-Checksum-Algorithm"); v != "" {
		a, ok := normalizeAlgorithm(v)
		if !ok {
			return errInvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		algo = a
	}
	up, err := h.blobs.CreateUpload(q.ctx, q.bucket, q.key, attrs, algo)
	if err != nil {
		return blobError(err, q.key, "")
	}
	if algo != "" {
		q.w.Header().Set("X-Amz-Checksum-Algorithm", algo)
		q.w.Header().Set("X-Amz-Checksum-Type", "COMPOSITE")
	}
	return writeXML(q.w, http.StatusOK, initiateMultipartUploadResult{Bucket: q.bucket, Key: q.key, UploadID: up.ID})
}

// uploadPart serves UploadPart, streaming the body to the blob store.
func (h *Handler) uploadPart(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	n, err := partNumberParam(q.r.URL.Query().Get("partNumber"))
	if err != nil {
		return err
	}
	up, err := h.getUpload(q)
	if err != nil {
		return err
	}
	hdr := q.r.Header
	body, size, err := h.writeBody(q.r)
	if err != nil {
		return err
	}
	opts := blob.PutOptions{Size: size}
	if opts.ContentMD5, err = contentMD5(hdr); err != nil {
		return err
	}
	if opts.Checksums, err = requestChecksums(hdr, q.r.Trailer, up.ChecksumAlgorithm); err != nil {
		return err
	}
	pi, err := h.blobs.PutPart(q.ctx, q.bucket, q.key, up.ID, n, body, opts)
	if err != nil {
		return blobError(err, q.key, up.ID)
	}
	out := q.w.Header()
	out.Set("ETag", quoteETag(pi.ETag))
	setChecksumHeaders(out, pi.Checksums)
	out.Del("X-Amz-Checksum-Type")
	out.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// uploadPartCopy serves UploadPartCopy: a part from (a range of) an object.
func (h *Handler) uploadPartCopy(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	n, err := partNumberParam(q.r.URL.Query().Get("partNumber"))
	if err != nil {
		return err
	}
	up, err := h.getUpload(q)
	if err != nil {
		return err
	}
	srcBucket, srcKey, err := h.copySource(q)
	if err != nil {
		return err
	}
	rangeSpec := q.r.Header.Get("X-Amz-Copy-Source-Range")
	return h.respondSlow(q, func() (any, error) {
		rc, src, rng, err := h.openSource(q, srcBucket, srcKey, func(info blob.ObjectInfo) (*byteRange, error) {
			if rangeSpec == "" {
				if info.Size > h.maxObject {
					return nil, errInvalidRequest("The specified copy source is larger than the maximum allowable size for a copy source: %d", h.maxObject)
				}
				return nil, nil
			}
			r, err := parseCopySourceRange(rangeSpec, info.Size)
			if err != nil {
				return nil, err
			}
			if r.length > h.maxObject {
				return nil, errInvalidRequest("The specified copy range is larger than the maximum allowable size: %d", h.maxObject)
			}
			return &r, nil
		})
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		opts := blob.PutOptions{Size: src.Size}
		if rng != nil {
			opts.Size = rng.length
		} else {
			opts.ContentMD5 = sourceMD5(src)
		}
		if up.ChecksumAlgorithm != "" {
			opts.Checksums = map[string]string{up.ChecksumAlgorithm: ""}
		}
		pi, err := h.blobs.PutPart(q.ctx, q.bucket, q.key, up.ID, n, rc, opts)
		if err != nil {
			return nil, blobError(err, q.key, up.ID)
		}
		f := checksumXML(pi.Checksums)
		f.ChecksumType = ""
		return copyPartResult{ETag: quoteETag(pi.ETag), LastModified: isoTime(pi.ModTime), checksumFields: f}, nil
	})
}

// allParts lists every part of an upload.
func (h *Handler) allParts(q *request, up blob.Upload) (map[int]blob.PartInfo, error) {
	parts := map[int]blob.PartInfo{}
	after := 0
	for {
		page, more, err := h.blobs.ListParts(q.ctx, q.bucket, q.key, up.ID, after, 1000)
		if err != nil {
			return nil, blobError(err, q.key, up.ID)
		}
		for _, p := range page {
			parts[p.Number] = p
			after = p.Number
		}
		if !more || len(page) == 0 {
			return parts, nil
		}
	}
}

// completeMultipartUpload serves CompleteMultipartUpload.
func (h *Handler) completeMultipartUpload(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	up, err := h.getUpload(q)
	if err != nil {
		return err
	}
	var req completeMultipartUpload
	body, err := readXMLBody(q.r, maxXMLBody, &req)
	if err != nil {
		return err
	}
	// x-amz-checksum-* on this request describe the object, not the body:
	// only Content-MD5 covers the XML.
	if md, err := contentMD5(q.r.Header); err != nil {
		return err
	} else if md != nil {
		if err := verifyBodyChecksums(http.Header{"Content-Md5": {q.r.Header.Get("Content-Md5")}}, body); err != nil {
			return err
		}
	}
	if len(req.Parts) == 0 || len(req.Parts) > 10000 {
		return errMalformedXML()
	}
	stored, err := h.allParts(q, up)
	if err != nil {
		return err
	}
	invalidPart := blobError(blob.ErrInvalidPart, q.key, up.ID)
	parts := make([]blob.CompletedPart, len(req.Parts))
	sizes := make([]int64, len(req.Parts))
	for i, p := range req.Parts {
		parts[i] = blob.CompletedPart{Number: p.PartNumber, ETag: p.ETag}
		sp, ok := stored[p.PartNumber]
		if !ok {
			continue // the blob store reports it, in order with the other checks
		}
		sizes[i] = sp.Size
		for algo, v := range map[string]string{
			blob.CRC32: p.ChecksumCRC32, blob.CRC32C: p.ChecksumCRC32C, blob.CRC64NVME: p.ChecksumCRC64NVME,
			blob.SHA1: p.ChecksumSHA1, blob.SHA256: p.ChecksumSHA256,
		} {
			if v != "" && sp.Checksums[algo] != "" && sp.Checksums[algo] != v {
				return invalidPart
			}
		}
	}
	if inm := q.r.Header.Get("If-None-Match"); inm != "" {
		// Best effort: blob.Store cannot make completion conditional.
		if cur, err := h.blobs.Head(q.ctx, q.bucket, q.key); err == nil && etagMatches(inm, cur.ETag) {
			return errPrecondition()
		}
	}
	if im := q.r.Header.Get("If-Match"); im != "" {
		cur, err := h.blobs.Head(q.ctx, q.bucket, q.key)
		if err != nil || !etagMatches(im, cur.ETag) {
			return errPrecondition()
		}
	}
	location := objectURL(q)
	return h.respondSlow(q, func() (any, error) {
		info, err := h.blobs.CompleteUpload(q.ctx, q.bucket, q.key, up.ID, parts)
		if err != nil {
			return nil, blobError(err, q.key, up.ID)
		}
		if info.PartCount == len(sizes) {
			if err := h.saveLayout(q.ctx, q.bucket, q.key, info.ETag, sizes); err != nil {
				h.log.Error("s3api: saving part layout failed", "bucket", q.bucket, "key", q.key, "err", err)
			}
		}
		return completeMultipartUploadResult{
			Location: location, Bucket: q.bucket, Key: q.key, ETag: quoteETag(info.ETag),
			checksumFields: checksumXML(info.Checksums),
		}, nil
	})
}

// objectURL is the path-style URL of the request's object.
func objectURL(q *request) string {
	scheme := "http"
	if q.r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: q.r.Host, Path: "/" + q.bucket + "/" + q.key}
	return u.String()
}

// abortMultipartUpload serves AbortMultipartUpload (204).
func (h *Handler) abortMultipartUpload(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	id, err := uploadParam(q)
	if err != nil {
		return err
	}
	if _, err := h.blobs.GetUpload(q.ctx, q.bucket, q.key, id); err != nil {
		return blobError(err, q.key, id)
	}
	if err := h.blobs.AbortUpload(q.ctx, q.bucket, q.key, id); err != nil {
		return blobError(err, q.key, id)
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// intParam parses an optional non-negative integer query parameter.
func intParam(s string, def int, name string) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errInvalidArgument("Provided %s not an integer or within integer range", name)
	}
	return n, nil
}

// listParts serves ListParts (part-number-marker, max-parts).
func (h *Handler) listParts(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	up, err := h.getUpload(q)
	if err != nil {
		return err
	}
	qv := q.r.URL.Query()
	marker, err := intParam(qv.Get("part-number-marker"), 0, "part-number-marker")
	if err != nil {
		return err
	}
	maxParts, err := intParam(qv.Get("max-parts"), 1000, "max-parts")
	if err != nil {
		return err
	}
	maxParts = min(maxParts, 1000)
	res := listPartsResult{
		Bucket: q.bucket, Key: q.key, UploadID: up.ID, PartNumberMarker: marker, MaxParts: maxParts,
		Initiator: accountOwner(q.account), Owner: accountOwner(q.account), StorageClass: "STANDARD",
		ChecksumAlgorithm: up.ChecksumAlgorithm,
	}
	if up.ChecksumAlgorithm != "" {
		res.ChecksumType = "COMPOSITE"
	}
	if maxParts == 0 {
		page, _, err := h.blobs.ListParts(q.ctx, q.bucket, q.key, up.ID, marker, 1)
		if err != nil {
			return blobError(err, q.key, up.ID)
		}
		res.IsTruncated = len(page) > 0
		res.NextPartNumberMarker = marker
		return writeXML(q.w, http.StatusOK, res)
	}
	parts, more, err := h.blobs.ListParts(q.ctx, q.bucket, q.key, up.ID, marker, maxParts)
	if err != nil {
		return blobError(err, q.key, up.ID)
	}
	res.IsTruncated = more
	for _, p := range parts {
		f := checksumXML(p.Checksums)
		f.ChecksumType = ""
		res.Parts = append(res.Parts, partEntry{
			PartNumber: p.Number, LastModified: isoTime(p.ModTime), ETag: quoteETag(p.ETag), Size: p.Size,
			checksumFields: f,
		})
		res.NextPartNumberMarker = p.Number
	}
	return writeXML(q.w, http.StatusOK, res)
}

// listMultipartUploads serves ListMultipartUploads (prefix, delimiter,
// key-marker, upload-id-marker, max-uploads, encoding-type).
func (h *Handler) listMultipartUploads(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	qv := q.r.URL.Query()
	enc, err := encodingTypeParam(qv)
	if err != nil {
		return err
	}
	maxUploads, err := intParam(qv.Get("max-uploads"), 1000, "max-uploads")
	if err != nil {
		return err
	}
	maxUploads = min(maxUploads, 1000)
	prefix, delim := qv.Get("prefix"), qv.Get("delimiter")
	keyMarker, idMarker := qv.Get("key-marker"), qv.Get("upload-id-marker")
	if keyMarker == "" {
		idMarker = ""
	}
	uploads, err := h.blobs.ListUploads(q.ctx, q.bucket, prefix)
	if err != nil {
		return errInternal(err)
	}
	sort.SliceStable(uploads, func(i, j int) bool { return uploads[i].Key < uploads[j].Key })

	e := func(s string) string { return maybeEncode(s, enc) }
	res := listMultipartUploadsResult{
		Bucket: q.bucket, KeyMarker: e(keyMarker), UploadIDMarker: idMarker,
		Prefix: e(prefix), Delimiter: e(delim), MaxUploads: maxUploads,
	}
	if enc {
		res.EncodingType = "url"
	}
	// Skip what the markers say was already returned.
	start := 0
	if keyMarker != "" {
		start = len(uploads)
		for i, u := range uploads {
			if u.Key > keyMarker {
				start = i
				break
			}
		}
		if idMarker != "" {
			for i, u := range uploads {
				if u.Key == keyMarker && u.ID == idMarker {
					start = i + 1
					break
				}
			}
		}
	}
	count := 0
	lastCP := ""
	var nextKey, nextID string
	for _, u := range uploads[start:] {
		cp := ""
		if delim != "" {
			if i := strings.Index(u.Key[len(prefix):], delim); i >= 0 {
				cp = u.Key[:len(prefix)+i+len(delim)]
			}
		}
		if cp != "" && (cp == lastCP || (keyMarker != "" && strings.HasPrefix(keyMarker, cp))) {
			continue
		}
		if count == maxUploads {
			res.IsTruncated = true
			break
		}
		count++
		if cp != "" {
			lastCP = cp
			res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: e(cp)})
			nextKey, nextID = cp, ""
			continue
		}
		res.Uploads = append(res.Uploads, uploadEntry{
			Key: e(u.Key), UploadID: u.ID, Initiator: accountOwner(q.account), Owner: accountOwner(q.account),
			StorageClass: "STANDARD", Initiated: isoTime(u.Initiated), ChecksumAlgorithm: u.ChecksumAlgorithm,
		})
		nextKey, nextID = u.Key, u.ID
	}
	if res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = e(nextKey), nextID
	}
	return writeXML(q.w, http.StatusOK, res)
}
