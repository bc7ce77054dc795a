// Package awsjson serves AWS JSON 1.1 APIs (SageMaker, CloudWatch Logs, ECR,
// Wharf's admin API) using the aws-sdk-go-v2 input/output structs as the API
// model.
//
// Marshal and Unmarshal convert between those structs and the wire format
// (epoch-second timestamps, exact member names, never null). Router
// dispatches POST / requests on X-Amz-Target to typed handlers registered with
// Handle, validating each body against the service's botocore model (package
// shapes) first, and writes responses and errors the way AWS does:
//
//	HTTP 200, Content-Type: application/x-amz-json-1.1, x-amzn-RequestId: <id>, body <output JSON or {}>
//	HTTP 4xx/5xx, X-Amzn-ErrorType: <Code>, body {"__type": "<Code>", "message": "<text>"}
//
// Authentication is another layer: wrap the Router with it.
package awsjson

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/aws/smithy-go"
	"github.com/wharfml/wharf/internal/awsapi"

	"github.com/wharfml/wharf/internal/awsapi/shapes"
)

// ContentType is the media type of AWS JSON 1.1 requests and responses.
const ContentType = "application/x-amz-json-1.1"

// DefaultMaxBodyBytes caps request bodies when Router.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 16 << 20

// Error is an AWS error response: HTTP Status, X-Amzn-ErrorType Code, and
// body {"__type": Code, "message": Message}. Handlers return it (possibly
// wrapped) to answer with a modeled error.
type Error struct {
	Code    string // e.g. "ValidationException", "ResourceNotFound"
	Status  int    // HTTP status, e.g. 400
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// internalMessage is what clients see for unexpected handler errors.
const internalMessage = "We encountered an internal error. Please try again."

type opFunc func(ctx context.Context, body []byte) (any, error)

// Router is an http.Handler for one AWS JSON 1.1 service. Configure the
// fields and register operations with Handle before serving; it is then safe
// for concurrent use.
type Router struct {
	// TargetPrefix is the X-Amz-Target prefix, with or without the final
	// dot: "SageMaker.", "Logs_20140328.", "AmazonEC2ContainerRegistry_V20150921.",
	// "WharfAdmin.".
	TargetPrefix string
	// Model validates request bodies. Nil, or an operation the model does not
	// hold, skips validation (Unmarshal still rejects wrong JSON types).
	Model *shapes.Model
	// MaxBodyBytes caps request bodies (after gzip decoding); 0 means
	// DefaultMaxBodyBytes. Larger bodies get 413 SerializationException.
	MaxBodyBytes int64
	// Logger receives handler failures and panics; nil means slog.Default().
	Logger *slog.Logger

	ops map[string]opFunc
}

// Handle registers operation op (the part of X-Amz-Target after the prefix)
// on r. The router validates the body, unmarshals it into a new In, calls fn
// and marshals its *Out (nil Out writes {}). fn's error becomes the response:
// an *Error (also wrapped) as is; *shapes.ValidationError and
// *shapes.SerializationError as ValidationException / SerializationException;
// a modeled SDK error value (smithy.APIError not coming from an SDK client
// call, e.g. &types.ResourceNotFound{...}) with its code; anything else as
// 500 InternalFailure with a generic message, the real error being logged.
// Handle panics if op is registered twice.
func Handle[In, Out any](r *Router, op string, fn func(ctx context.Context, in *In) (*Out, error)) {
	if r.ops == nil {
		r.ops = map[string]opFunc{}
	}
	if _, dup := r.ops[op]; dup {
		panic("awsjson: operation " + op + " registered twice")
	}
	r.ops[op] = func(ctx context.Context, body []byte) (any, error) {
		in := new(In)
		if err := Unmarshal(body, in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		if out == nil {
			return nil, nil
		}
		return out, nil
	}
}

func (r *Router) prefix() string {
	return strings.TrimSuffix(r.TargetPrefix, ".") + "."
}

// target returns the operation named by X-Amz-Target, if it has the
// router's prefix (registered or not).
func (r *Router) target(req *http.Request) (string, bool) {
	t := req.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(t, r.prefix())
	return op, ok && op != ""
}

// OperationName returns the registered operation a request targets, or ""
// (for metrics labels: only registered names, so cardinality stays bounded).
func (r *Router) OperationName(req *http.Request) string {
	if op, ok := r.target(req); ok {
		if _, known := r.ops[op]; known {
			return op
		}
	}
	return ""
}

// Operations lists the registered operations, sorted.
func (r *Router) Operations() []string {
	out := make([]string, 0, len(r.ops))
	for op := range r.ops {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

type requestIDKey struct{}

// RequestID returns the request id the Router assigned to the request whose
// context this is (also sent as x-amzn-RequestId), or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func (r *Router) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// ServeHTTP implements http.Handler.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	id := awsapi.NewRequestID()
	w.Header().Set("x-amzn-RequestId", id)
	ctx := context.WithValue(req.Context(), requestIDKey{}, id)

	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &Error{Code: "UnknownOperationException", Status: http.StatusMethodNotAllowed,
			Message: "AWS JSON requests must use POST, not " + req.Method})
		return
	}
	op, ok := r.target(req)
	if !ok {
		msg := "Missing or malformed X-Amz-Target header; expected " + r.prefix() + "<Operation>"
		if req.Header.Get("X-Amz-Target") == "" {
			msg = "Missing X-Amz-Target header"
		}
		writeError(w, &Error{Code: "UnknownOperationException", Status: http.StatusBadRequest, Message: msg})
		return
	}
	h, ok := r.ops[op]
	if !ok {
		writeError(w, &Error{Code: "UnknownOperationException", Status: http.StatusBadRequest,
			Message: "Unknown operation " + r.prefix() + op})
		return
	}

	body, aerr := r.readBody(w, req)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if r.Model != nil && r.Model.HasOperation(op) {
		if err := r.Model.Validate(op, body); err != nil {
			writeError(w, r.toError(ctx, op, err))
			return
		}
	}

	out, err := r.call(ctx, op, h, body)
	if err != nil {
		writeError(w, r.toError(ctx, op, err))
		return
	}
	resp, err := Marshal(out)
	if err != nil {
		r.logger().ErrorContext(ctx, "awsjson: cannot encode response", "requestId", id, "operation", r.prefix()+op, "err", err)
		writeError(w, &Error{Code: "InternalFailure", Status: http.StatusInternalServerError, Message: internalMessage})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (r *Router) call(ctx context.Context, op string, h opFunc, body []byte) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.logger().ErrorContext(ctx, "awsjson: handler panic", "requestId", RequestID(ctx),
				"operation", r.prefix()+op, "panic", p, "stack", string(debug.Stack()))
			out, err = nil, &Error{Code: "InternalFailure", Status: http.StatusInternalServerError, Message: internalMessage}
		}
	}()
	return h(ctx, body)
}

func (r *Router) readBody(w http.ResponseWriter, req *http.Request) ([]byte, *Error) {
	limit := r.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	tooLarge := &Error{Code: "SerializationException", Status: http.StatusRequestEntityTooLarge,
		Message: fmt.Sprintf("Request body is larger than %d bytes", limit)}
	if req.ContentLength > limit {
		return nil, tooLarge
	}
	var src io.Reader = http.MaxBytesReader(w, req.Body, limit)
	if strings.EqualFold(req.Header.Get("Content-Encoding"), "gzip") {
		gz, err := gzip.NewReader(src)
		if err != nil {
			return nil, &Error{Code: "SerializationException", Status: http.StatusBadRequest, Message: "Invalid gzip request body: " + err.Error()}
		}
		src = gz
	}
	body, err := io.ReadAll(io.LimitReader(src, limit+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || int64(len(body)) > limit:
		return nil, tooLarge
	case err != nil:
		return nil, &Error{Code: "SerializationException", Status: http.StatusBadRequest, Message: "Cannot read request body: " + err.Error()}
	}
	return body, nil
}

// toError maps a handler or validation error to the response error.
func (r *Router) toError(ctx context.Context, op string, err error) *Error {
	var e *Error
	var ve *shapes.ValidationError
	var se *shapes.SerializationError
	var opErr *smithy.OperationError
	var api smithy.APIError
	switch {
	case errors.As(err, &e):
		if e.Status == 0 {
			c := *e
			c.Status = http.StatusBadRequest
			return &c
		}
		return e
	case errors.As(err, &ve):
		return &Error{Code: "ValidationException", Status: http.StatusBadRequest, Message: ve.Message}
	case errors.As(err, &se):
		return &Error{Code: "SerializationException", Status: http.StatusBadRequest, Message: se.Message}
	case !errors.As(err, &opErr) && errors.As(err, &api):
		status := http.StatusBadRequest
		if api.ErrorFault() == smithy.FaultServer {
			status = http.StatusInternalServerError
		}
		return &Error{Code: api.ErrorCode(), Status: status, Message: api.ErrorMessage()}
	}
	r.logger().ErrorContext(ctx, "awsjson: operation failed", "requestId", RequestID(ctx), "operation", r.prefix()+op, "err", err)
	return &Error{Code: "InternalFailure", Status: http.StatusInternalServerError, Message: internalMessage}
}

func writeError(w http.ResponseWriter, e *Error) {
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	body := appendString([]byte(`{"__type":`), e.Code)
	body = append(body, `,"message":`...)
	body = appendString(body, e.Message)
	body = append(body, '}')
	writeJSON(w, e.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteError writes e as an AWS JSON error response with a fresh request id.
// It is for layers in front of a Router, such as authentication.
func WriteError(w http.ResponseWriter, e *Error) {
	w.Header().Set("x-amzn-RequestId", awsapi.NewRequestID())
	writeError(w, e)
}
