package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/wharfml/wharf/internal/blob"
)

// apiError is an S3 error response: an error code, an HTTP status and a
// message, plus the optional detail elements some codes carry.
type apiError struct {
	Code    string
	Status  int
	Message string

	// Optional elements echoed in the error document.
	BucketName string
	Key        string
	UploadID   string
	// Extra headers set on the response (for example Content-Range on 416).
	Header http.Header
	// Cause is an underlying error, logged but never shown to the client.
	Cause error
}

func (e *apiError) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *apiError) Unwrap() error { return e.Cause }

// newError returns an apiError with a formatted message.
func newError(code string, status int, format string, args ...any) *apiError {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &apiError{Code: code, Status: status, Message: msg}
}

// Constructors for the errors used in more than one place.

func errAccessDenied() *apiError {
	return newError("AccessDenied", http.StatusForbidden, "Access Denied")
}

func errNoSuchBucket(bucket string) *apiError {
	e := newError("NoSuchBucket", http.StatusNotFound, "The specified bucket does not exist")
	e.BucketName = bucket
	return e
}

func errNoSuchKey(key string) *apiError {
	e := newError("NoSuchKey", http.StatusNotFound, "The specified key does not exist.")
	e.Key = key
	return e
}

func errNoSuchUpload(id string) *apiError {
	e := newError("NoSuchUpload", http.StatusNotFound,
		"The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
	e.UploadID = id
	return e
}

func errInvalidArgument(format string, args ...any) *apiError {
	return newError("InvalidArgument", http.StatusBadRequest, format, args...)
}

func errInvalidRequest(format string, args ...any) *apiError {
	return newError("InvalidRequest", http.StatusBadRequest, format, args...)
}

func errMalformedXML() *apiError {
	return newError("MalformedXML", http.StatusBadRequest,
		"The XML you provided was not well-formed or did not validate against our published schema")
}

func errPrecondition() *apiError {
	return newError("PreconditionFailed", http.StatusPreconditionFailed,
		"At least one of the pre-conditions you specified did not hold")
}

func errBadDigest() *apiError {
	return newError("BadDigest", http.StatusBadRequest,
		"The Content-MD5 or checksum you specified did not match what we received.")
}

func errEntityTooLarge() *apiError {
	return newError("EntityTooLarge", http.StatusBadRequest,
		"Your proposed upload exceeds the maximum allowed size")
}

func errNotImplemented(op string) *apiError {
	return newError("NotImplemented", http.StatusNotImplemented,
		"%s is not implemented by this server", op)
}

func errInvalidRange(size int64) *apiError {
	e := newError("InvalidRange", http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable")
	e.Header = http.Header{"Content-Range": {"bytes */" + strconv.FormatInt(size, 10)}}
	return e
}

func errInternal(cause error) *apiError {
	e := newError("InternalError", http.StatusInternalServerError,
		"We encountered an internal error. Please try again.")
	e.Cause = cause
	return e
}

// errBodyTooLarge is returned by the body limiter when an upload of unknown
// length runs past the maximum object size.
var errBodyTooLarge = errors.New("s3api: body exceeds maximum size")

// errResponseStarted is returned by handlers that failed after they had
// already written a response; the dispatcher then only logs it.
var errResponseStarted = errors.New("s3api: response already started")

// joinStarted marks err as having happened after the response started.
func joinStarted(err error) error {
	return &startedError{err}
}

type startedError struct{ err error }

func (e *startedError) Error() string { return "response already started: " + e.err.Error() }
func (e *startedError) Unwrap() []error {
	return []error{errResponseStarted, e.err}
}

// deleteObject serves DeleteObject (204 whether or not the key existed).
func (h *Handler) deleteObject(q *request) error {
	if _, err := h.ownBucket(q, q.bucket); err != nil {
		return err
	}
	if err := checkVersionID(q); err != nil {
		return err
	}
	if err := h.deleteKey(q, q.key); err != nil {
		return blobError(err, q.key, "")
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// blobError maps an error from blob.Store to an S3 error. key and uploadID
// name the object or upload the failed call was about (for NotFound).
func blobError(err error, key, uploadID string) *apiError {
	var ae *apiError
	var ce s3CodedError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ce):
		// A failure of the authentication layer's body reader (chunk
		// signature, trailing checksum, payload hash), met while streaming.
		e := newError(ce.S3Code(), ce.HTTPStatus(true), "%s", ce.S3Message())
		e.Cause = err
		return e
	case errors.Is(err, errBodyTooLarge):
		return errEntityTooLarge()
	case errors.Is(err, blob.ErrNotFound):
		if uploadID != "" {
			return errNoSuchUpload(uploadID)
		}
		return errNoSuchKey(key)
	case errors.Is(err, blob.ErrInvalidKey):
		return errInvalidArgument("Invalid object key")
	case errors.Is(err, blob.ErrInvalidArgument):
		e := errInvalidArgument("Invalid argument")
		e.Cause = err
		return e
	case errors.Is(err, blob.ErrPrecondition):
		return errPrecondition()
	case errors.Is(err, blob.ErrBadDigest):
		return errBadDigest()
	case errors.Is(err, blob.ErrInvalidPart):
		return newError("InvalidPart", http.StatusBadRequest,
			"One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
	case errors.Is(err, blob.ErrInvalidPartOrder):
		return newError("InvalidPartOrder", http.StatusBadRequest,
			"The list of parts was not in ascending order. Parts must be ordered by part number.")
	case errors.Is(err, blob.ErrEntityTooSmall):
		return newError("EntityTooSmall", http.StatusBadRequest,
			"Your proposed upload is smaller than the minimum allowed object size.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newError("IncompleteBody", http.StatusBadRequest,
			"You did not provide the number of bytes specified by the Content-Length HTTP header.")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		e := newError("RequestTimeout", http.StatusBadRequest,
			"Your socket connection to the server was not read from or written to within the timeout period.")
		e.Cause = err
		return e
	default:
		return errInternal(err)
	}
}

// s3CodedError is an error that knows its S3 rendering, as the SigV4
// verifier's errors do (matched by method set, not by import).
type s3CodedError interface {
	error
	S3Code() string
	S3Message() string
	HTTPStatus(s3 bool) int
}

// WriteError writes an S3 error document (no body for HEAD) with fresh
// request ids, for failures that happen before the Handler runs, such as
// authentication in the server's middleware.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	id := w.Header().Get("X-Amz-Request-Id")
	if id == "" {
		id = newRequestID()
		w.Header().Set("X-Amz-Request-Id", id)
	}
	host := newHostID()
	w.Header().Set("X-Amz-Id-2", host)
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	e := newError(code, status, "%s", message)
	_ = writeXML(w, status, e.doc(r.URL.EscapedPath(), id, host))
}

// errorDoc is the XML body of an error response.
type errorDoc struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	BucketName string   `xml:"BucketName,omitempty"`
	Key        string   `xml:"Key,omitempty"`
	UploadID   string   `xml:"UploadId,omitempty"`
	Resource   string   `xml:"Resource,omitempty"`
	RequestID  string   `xml:"RequestId"`
	HostID     string   `xml:"HostId,omitempty"`
}

func (e *apiError) doc(resource, requestID, hostID string) errorDoc {
	return errorDoc{
		Code: e.Code, Message: e.Message,
		BucketName: e.BucketName, Key: e.Key, UploadID: e.UploadID,
		Resource: resource, RequestID: requestID, HostID: hostID,
	}
}
