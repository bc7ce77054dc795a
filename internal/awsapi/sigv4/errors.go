package sigv4

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrUnknownKey is what a Lookup returns (possibly wrapped) when the access
// key id does not exist. Verify turns it into an *Error of Kind UnknownKey;
// any other Lookup error is passed through, because it is a server fault
// (database down), not the caller's.
var ErrUnknownKey = errors.New("sigv4: unknown access key id")

// Kind classifies a verification failure independently of the protocol, so
// each front (S3 XML, JSON 1.1, query XML) can render it its own way.
type Kind int

const (
	// Missing: the request carries no SigV4 authentication at all.
	Missing Kind = iota + 1
	// Incomplete: an Authorization header or presigned query that cannot be
	// parsed, lacks a component, or uses an unsupported algorithm.
	Incomplete
	// UnknownKey: the access key id is not known to Lookup.
	UnknownKey
	// BadSignature: a request, chunk or trailer signature does not match.
	BadSignature
	// Skewed: the request time is more than MaxSkew away from the server's clock.
	Skewed
	// Expired: a presigned URL is past X-Amz-Date + X-Amz-Expires.
	Expired
	// BadDigest: the body does not match x-amz-content-sha256 or a trailing
	// checksum.
	BadDigest
	// BadEncoding: the body framing is wrong: malformed aws-chunked data, a
	// body shorter or longer than declared, or a body too large to hash.
	BadEncoding
)

func (k Kind) String() string {
	switch k {
	case Missing:
		return "Missing"
	case Incomplete:
		return "Incomplete"
	case UnknownKey:
		return "UnknownKey"
	case BadSignature:
		return "BadSignature"
	case Skewed:
		return "Skewed"
	case Expired:
		return "Expired"
	case BadDigest:
		return "BadDigest"
	case BadEncoding:
		return "BadEncoding"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is an authentication failure. It never contains a secret. Fronts map
// it to their protocol with S3Code/JSONCode/QueryCode and HTTPStatus.
type Error struct {
	Kind    Kind
	Message string
	// RequestTime and ServerTime are set for Skewed and Expired (for S3's
	// RequestTimeTooSkewed body, which reports both). For Expired,
	// RequestTime is the expiry instant.
	RequestTime, ServerTime time.Time

	presigned bool   // failure came from a presigned query (S3 code differs)
	s3Code    string // overrides the S3 code derived from Kind
	status    int    // overrides the HTTP status derived from Kind

	canonicalRequest, stringToSign string // for BadSignature, for debugging
}

func (e *Error) Error() string { return "sigv4: " + e.Kind.String() + ": " + e.Message }

// Debug returns, for a request-signature mismatch, the canonical request and
// string to sign the server computed (what real S3 puts in its
// SignatureDoesNotMatch body). They contain no secret and help a client
// author find a canonicalisation difference; log them at debug level only,
// as they echo request headers.
func (e *Error) Debug() (canonicalRequest, stringToSign string) {
	return e.canonicalRequest, e.stringToSign
}

// S3Code is the S3 REST error code.
func (e *Error) S3Code() string {
	if e.s3Code != "" {
		return e.s3Code
	}
	switch e.Kind {
	case Missing, Expired:
		return "AccessDenied"
	case Incomplete:
		if e.presigned {
			return "AuthorizationQueryParametersError"
		}
		return "AuthorizationHeaderMalformed"
	case UnknownKey:
		return "InvalidAccessKeyId"
	case BadSignature:
		return "SignatureDoesNotMatch"
	case Skewed:
		return "RequestTimeTooSkewed"
	case BadDigest:
		return "BadDigest"
	case BadEncoding:
		return "IncompleteBody"
	}
	return "AccessDenied"
}

// S3Message is the message S3 uses for this failure where S3 has a fixed
// text, else Message.
func (e *Error) S3Message() string {
	switch e.Kind {
	case Missing:
		return "Access Denied"
	case Expired:
		return "Request has expired"
	case UnknownKey:
		return "The AWS Access Key Id you provided does not exist in our records."
	case Skewed:
		return "The difference between the request time and the current time is too large."
	case BadSignature:
		if e.canonicalRequest != "" {
			return "The request signature we calculated does not match the signature you provided. Check your key and signing method."
		}
	}
	return e.Message
}

// JSONCode is the error type for the AWS JSON 1.1 protocol (SageMaker,
// CloudWatch Logs, ECR), as the Coral-based services return it.
func (e *Error) JSONCode() string {
	switch e.Kind {
	case Missing:
		return "MissingAuthenticationTokenException"
	case Incomplete:
		return "IncompleteSignatureException"
	case UnknownKey:
		return "UnrecognizedClientException"
	case BadSignature, Skewed, Expired, BadDigest:
		// A JSON service hashes the body itself, so a body that does not
		// match its declared hash shows up there as a signature mismatch.
		return "InvalidSignatureException"
	case BadEncoding:
		if e.status == http.StatusRequestEntityTooLarge {
			return "RequestEntityTooLargeException"
		}
		return "SerializationException"
	}
	return "InvalidSignatureException"
}

// JSONMessage is the message the JSON services use for this failure.
func (e *Error) JSONMessage() string {
	switch e.Kind {
	case Missing:
		return "Missing Authentication Token"
	case UnknownKey:
		return "The security token included in the request is invalid."
	case BadSignature, BadDigest:
		return "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	}
	return e.Message
}

// QueryCode is the error code for the AWS query protocol (STS).
func (e *Error) QueryCode() string {
	switch e.Kind {
	case Missing:
		return "MissingAuthenticationToken"
	case Incomplete:
		return "IncompleteSignature"
	case UnknownKey:
		return "InvalidClientTokenId"
	case BadSignature, Skewed, Expired, BadDigest:
		// STS reports clock skew as SignatureDoesNotMatch with a
		// "Signature expired: ..." message.
		return "SignatureDoesNotMatch"
	case BadEncoding:
		if e.status == http.StatusRequestEntityTooLarge {
			return "RequestEntityTooLarge"
		}
		return "MalformedInput"
	}
	return "SignatureDoesNotMatch"
}

// QueryHTTPStatus is the HTTP status for the query protocol (STS).
func (e *Error) QueryHTTPStatus() int {
	if e.status != 0 {
		return e.status
	}
	switch e.Kind {
	case Incomplete, BadEncoding:
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

// HTTPStatus is the HTTP status real AWS uses: for S3 403 for
// authentication failures and 400 for malformed requests and bodies; for the
// Coral JSON services (SageMaker, Logs, ECR) 400 for every authentication
// error (e.g. "Status Code: 400; Error Code: UnrecognizedClientException"),
// except 413 for a body too large to hash.
func (e *Error) HTTPStatus(s3 bool) int {
	if e.status != 0 {
		return e.status
	}
	if !s3 {
		return http.StatusBadRequest
	}
	switch e.Kind {
	case Incomplete, BadDigest, BadEncoding:
		return http.StatusBadRequest
	}
	return http.StatusForbidden
}

func newErr(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}
