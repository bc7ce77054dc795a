// Package contract implements the engine-independent part of Wharf's SageMaker
// container contract (container-contract.md §2 and §3.1): S3 URIs, channel
// resolution and staging, Pipe-mode FIFOs, the /opt/ml host layout and its
// config files, output archives, model-data extraction, failure reasons,
// metric extraction and checkpoint sync. Everything works on host directories
// that a controller bind-mounts into containers; nothing here talks to a
// container engine.
package contract

import (
	"errors"
	"fmt"
)

// ErrAccessDenied is returned (wrapped) by ObjectSource and ObjectSink
// implementations when the job owner may not read or write an object.
// Together with blob.ErrNotFound it turns into a ClientError.
var ErrAccessDenied = errors.New("access denied")

// ClientError is a caller-fixable problem (container-contract.md §2.7). Its
// text starts with "ClientError: " and is meant for FailureReason, so it
// names S3 URIs and relative paths but never host paths.
type ClientError struct {
	Msg string
	Err error // optional cause, appended to the text
}

func (e *ClientError) Error() string {
	if e.Err != nil {
		return "ClientError: " + e.Msg + ": " + e.Err.Error()
	}
	return "ClientError: " + e.Msg
}

func (e *ClientError) Unwrap() error { return e.Err }

// IsClientError reports whether err is or wraps a *ClientError.
func IsClientError(err error) bool {
	var ce *ClientError
	return errors.As(err, &ce)
}

func clientErrorf(format string, args ...any) error {
	return &ClientError{Msg: fmt.Sprintf(format, args...)}
}

// withContext prefixes err's text with a formatted context, keeping
// "ClientError: " first when err is or wraps a *ClientError.
func withContext(err error, format string, args ...any) error {
	prefix := fmt.Sprintf(format, args...)
	var ce *ClientError
	if errors.As(err, &ce) {
		return &ClientError{Msg: prefix + ": " + ce.Msg, Err: ce.Err}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
