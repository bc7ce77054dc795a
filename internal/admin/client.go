package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Client calls the admin API, signing with SigV4 like any AWS SDK.
type Client struct {
	Endpoint    string // e.g. http://127.0.0.1:8080
	Region      string
	Credentials aws.CredentialsProvider
	HTTP        *http.Client
}

// APIError is an error answered by the server.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// Call invokes operation op with input in and decodes the answer into out.
func (c *Client) Call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.Endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", TargetPrefix+op)
	creds, err := c.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("load AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), SigningName, c.Region, time.Now()); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		json.Unmarshal(data, &e)
		if e.Type == "" {
			e.Type, e.Message = resp.Status, strings.TrimSpace(string(data))
		}
		return &APIError{Status: resp.StatusCode, Code: e.Type, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	// Timestamps arrive as epoch seconds; the CLI prints the raw JSON, so
	// callers decode into their own shapes.
	return json.Unmarshal(data, out)
}
