package awsapi

import "github.com/google/uuid"

// NewRequestID returns a request id in the UUID layout AWS uses.
func NewRequestID() string { return uuid.NewString() }
