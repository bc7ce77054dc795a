package s3api

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/wharfml/wharf/internal/blob"
)

// defaultContentType is what S3 reports for objects stored without one.
const defaultContentType = "binary/octet-stream"

// maxMetadataSize bounds the user metadata of an object (names and values), as in S3.
const maxMetadataSize = 2 << 10

// attrsFromHeaders reads the stored attributes of a new object from a request.
func attrsFromHeaders(h http.Header) (blob.Attrs, error) {
	a := blob.Attrs{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    stripAWSChunked(h.Get("Content-Encoding")),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
	}
	if a.ContentType == "" {
		a.ContentType = defaultContentType
	}
	total := 0
	for name, vals := range h {
		m, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-meta-")
		if !ok || m == "" {
			continue
		}
		if a.Metadata == nil {
			a.Metadata = map[string]string{}
		}
		v := strings.Join(vals, ",")
		a.Metadata[m] = v
		total += len(m) + len(v)
	}
	if total > maxMetadataSize {
		return a, newError("MetadataTooLarge", http.StatusBadRequest,
			"Your metadata headers exceed the maximum allowed metadata size.")
	}
	return a, nil
}

// stripAWSChunked removes the aws-chunked transfer coding, which is never
// part of the stored Content-Encoding.
func stripAWSChunked(v string) string {
	if !strings.Contains(v, "aws-chunked") {
		return v
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && p != "aws-chunked" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// setObjectHeaders sets the representation headers of an object on a GET or HEAD response.
func setObjectHeaders(h http.Header, info blob.ObjectInfo) {
	ct := info.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	h.Set("Content-Type", ct)
	h.Set("ETag", quoteETag(info.ETag))
	h.Set("Last-Modified", httpTime(info.ModTime))
	h.Set("Accept-Ranges", "bytes")
	for name, v := range map[string]string{
		"Content-Encoding":    info.ContentEncoding,
		"Content-Disposition": info.ContentDisposition,
		"Content-Language":    info.ContentLanguage,
		"Cache-Control":       info.CacheControl,
		"Expires":             info.Expires,
	} {
		if v != "" {
			h.Set(name, v)
		}
	}
	for k, v := range info.Metadata {
		// Lower-case, as S3 sends them; set directly to avoid canonicalising.
		h["x-amz-meta-"+k] = []string{v}
	}
}

// responseOverrides are the query parameters that override GET response headers.
var responseOverrides = []struct{ param, header string }{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// checkVersionID accepts only the "null" version of an unversioned bucket.
func checkVersionID(q *request) error {
	qv := q.r.URL.Query()
	if qv.Has("versionId") && qv.Get("versionId") != "null" {
		return errInvalidArgument("Invalid version id specified")
	}
	return nil
}

// partNumberParam parses a partNumber query parameter (1..10000).
func partNumberParam(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 10000 {
		return 0, errInvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

// writeBody prepares a request body for a write: the declared size (or -1)
// and a reader that fails with errBodyTooLarge past the maximum size when
// the length is unknown.
func (h *Handler) writeBody(r *http.Request) (io.Reader, int64, error) {
	size := r.ContentLength
	if size > h.maxObject {
		return nil, 0, errEntityTooLarge()
	}
	var body io.Reader = r.Body
	if body == nil {
		body = http.NoBody
	}
	if size < 0 {
		body = &maxReader{r: body, left: h.maxObject}
	}
	return body, size, nil
}

// maxReader fails with errBodyTooLarge once more than left bytes are read.
type maxReader struct {
	r    io.Reader
	left int64
}

func (m *maxReader) Read(p []byte) (int, error) {
	if m.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > m.left+1 {
		p = p[:m.left+1]
	}
	n, err := m.r.Read(p)
	m.left -= int64(n)
	if m.left < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}

// putObject serves PutObject, streaming the body to the blob store.
func (h *Handler) putObject(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	hdr := q.r.Header
	attrs, err := attrsFromHeaders(hdr)
	if err != nil {
		return err
	}
	body, size, err := h.writeBody(q.r)
	if err != nil {
		return err
	}
	opts := blob.PutOptions{Attrs: attrs, Size: size, IfMatch: hdr.Get("If-Match"), IfNoneMatch: hdr.Get("If-None-Match")}
	if opts.ContentMD5, err = contentMD5(hdr); err != nil {
		return err
	}
	if opts.Checksums, err = requestChecksums(hdr, q.r.Trailer, ""); err != nil {
		return err
	}
	wasMultipart := h.isMultipart(q.ctx, q.bucket, q.key)
	info, err := h.blobs.Put(q.ctx, q.bucket, q.key, body, opts)
	if err != nil {
		return blobError(err, q.key, "")
	}
	if wasMultipart {
		h.dropLayout(q.ctx, q.bucket, q.key)
	}
	out := q.w.Header()
	out.Set("ETag", quoteETag(info.ETag))
	setChecksumHeaders(out, info.Checksums)
	out.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// getObject serves GetObject and HeadObject: conditionals, Range,
// partNumber, response-* overrides and checksums on request.
func (h *Handler) getObject(q *request) error {
	head := q.r.Method == http.MethodHead
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	if err := checkVersionID(q); err != nil {
		return err
	}
	qv := q.r.URL.Query()
	hdr := q.r.Header
	partNumber := 0
	if qv.Has("partNumber") {
		n, err := partNumberParam(qv.Get("partNumber"))
		if err != nil {
			return err
		}
		partNumber = n
	}
	rangeSpec := hdr.Get("Range")
	if partNumber > 0 && rangeSpec != "" {
		return errInvalidRequest("Cannot specify both Range header and partNumber query parameter")
	}
	conds := getConditions(hdr)

	for attempt := 0; ; attempt++ {
		info, err := h.blobs.Head(q.ctx, q.bucket, q.key)
		if err != nil {
			return blobError(err, q.key, "")
		}
		switch conds.eval(info) {
		case condFailed:
			return errPrecondition()
		case condNotModified:
			out := q.w.Header()
			out.Set("ETag", quoteETag(info.ETag))
			out.Set("Last-Modified", httpTime(info.ModTime))
			q.w.WriteHeader(http.StatusNotModified)
			return nil
		}

		var rng *byteRange
		switch {
		case partNumber > 0:
			r, err := h.partRange(q.ctx, q.bucket, q.key, info, partNumber)
			if err != nil {
				return err
			}
			if r.length > 0 {
				rng = &r
			}
		case rangeSpec != "":
			r, ok, err := parseRange(rangeSpec, info.Size)
			if err != nil {
				return err
			}
			if ok {
				rng = &r
			}
		}

		var rc io.ReadCloser
		if !head && (rng == nil || rng.length > 0) {
			var br *blob.Range
			if rng != nil {
				br = &blob.Range{Start: rng.start, Length: rng.length}
			}
			var ginfo blob.ObjectInfo
			rc, ginfo, err = h.blobs.Get(q.ctx, q.bucket, q.key, br)
			if err != nil {
				return blobError(err, q.key, "")
			}
			if ginfo.ETag != info.ETag || ginfo.Size != info.Size {
				// Replaced between Head and Get: evaluate again.
				rc.Close()
				if attempt < 2 {
					continue
				}
				e := newError("SlowDown", http.StatusServiceUnavailable, "The object changed while it was being read. Please retry.")
				return e
			}
			info = ginfo
		}
		if rc != nil {
			defer rc.Close()
		}

		out := q.w.Header()
		setObjectHeaders(out, info)
		whole := rng == nil || (partNumber > 0 && info.PartCount == 0)
		if whole && strings.EqualFold(hdr.Get("X-Amz-Checksum-Mode"), "ENABLED") {
			setChecksumHeaders(out, info.Checksums)
		}
		if partNumber > 0 && info.PartCount > 0 {
			out.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(info.PartCount))
		}
		for _, o := range responseOverrides {
			if v := qv.Get(o.param); v != "" {
				out.Set(o.header, v)
			}
		}
		status, length := http.StatusOK, info.Size
		if rng != nil {
			status, length = http.StatusPartialContent, rng.length
			out.Set("Content-Range", rng.contentRange(info.Size))
		}
		out.Set("Content-Length", strconv.FormatInt(length, 10))
		q.w.WriteHeader(status)
		if rc == nil {
			return nil
		}
		if _, err := io.Copy(q.w, rc); err != nil {
			return joinStarted(err)
		}
		return nil
	}
}

// deleteKey deletes an object of the request's bucket, and the part layout
// kept for it if it is a multipart object.
func (h *Handler) deleteKey(q *request, key string) error {
	wasMultipart := h.isMultipart(q.ctx, q.bucket, key)
	if err := h.blobs.Delete(q.ctx, q.bucket, key); err != nil {
		return err
	}
	if wasMultipart {
		h.dropLayout(q.ctx, q.bucket, key)
	}
	return nil
}

// deleteObjects serves DeleteObjects (POST ?delete): up to 1000 keys, with
// per-key results; missing keys count as deleted, as in S3.
func (h *Handler) deleteObjects(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	var req deleteRequest
	body, err := readXMLBody(q.r, maxXMLBody, &req)
	if err != nil {
		return err
	}
	if err := verifyBodyChecksums(q.r.Header, body); err != nil {
		return err
	}
	if len(req.Objects) == 0 || len(req.Objects) > 1000 {
		return errMalformedXML()
	}
	for _, o := range req.Objects {
		if o.Key == nil {
			return errMalformedXML()
		}
	}
	var res deleteResult
	for _, o := range req.Objects {
		key := *o.Key
		fail := func(e *apiError) {
			res.Errors = append(res.Errors, deleteError{Key: key, VersionID: o.VersionID, Code: e.Code, Message: e.Message})
		}
		if e := checkKey(key); e != nil {
			fail(e)
			continue
		}
		if o.VersionID != "" && o.VersionID != "null" {
			fail(newError("NoSuchVersion", http.StatusNotFound, "The specified version does not exist."))
			continue
		}
		if err := h.deleteKey(q, key); err != nil {
			ae := blobError(err, key, "")
			h.log.Error("s3api: DeleteObjects: delete failed", "bucket", q.bucket, "key", key, "request_id", q.id, "err", err)
			fail(ae)
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedEntry{Key: key, VersionID: o.VersionID})
		}
	}
	return writeXML(q.w, http.StatusOK, res)
}

// headForSubresource checks bucket ownership and that the object exists.
func (h *Handler) headForSubresource(q *request) (blob.ObjectInfo, error) {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return blob.ObjectInfo{}, err
	}
	if err := checkVersionID(q); err != nil {
		return blob.ObjectInfo{}, err
	}
	info, err := h.blobs.Head(q.ctx, q.bucket, q.key)
	if err != nil {
		return blob.ObjectInfo{}, blobError(err, q.key, "")
	}
	return info, nil
}

// getObjectACL serves GetObjectAcl: the bucket owner has FULL_CONTROL.
func (h *Handler) getObjectACL(q *request) error {
	if _, err := h.headForSubresource(q); err != nil {
		return err
	}
	return writeXML(q.w, http.StatusOK, ownerACL(q.account))
}

// getObjectTagging serves GetObjectTagging: objects carry no tags.
func (h *Handler) getObjectTagging(q *request) error {
	if _, err := h.headForSubresource(q); err != nil {
		return err
	}
	return writeXML(q.w, http.StatusOK, tagging{})
}
