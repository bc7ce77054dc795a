// Package benchserver starts an in-process Wharf on a loopback port for the
// benchmarks, with fixed root keys and the Docker Engine as runtime.
package benchserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/wharfml/wharf/internal/runtime/docker"
	"github.com/wharfml/wharf/internal/server"
)

// Root keys of the benchmark server.
const (
	AccessKeyID     = "AKIABENCHROOT0000001"
	SecretAccessKey = "bench-secret-0123456789abcdef"
)

// Server is a running benchmark server.
type Server struct {
	URL     string
	Creds   aws.CredentialsProvider
	Runtime *docker.Runtime
}

// Start runs Wharf with the Docker runtime until the benchmark ends; it
// skips the benchmark without a Docker Engine.
func Start(tb testing.TB) *Server {
	tb.Helper()
	rt, err := docker.New()
	if err != nil {
		tb.Skip(err)
	}
	tb.Cleanup(func() { rt.Close() })
	srv, err := server.Open(context.Background(), server.Config{
		DataDir: filepath.Join(tb.TempDir(), "data"), Region: "us-east-1", Runtime: rt,
		RootAccessKeyID: AccessKeyID, RootSecretAccessKey: SecretAccessKey,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := srv.Start(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	tb.Cleanup(func() { hs.Close(); cancel(); <-done; srv.Close() })
	return &Server{URL: "http://" + ln.Addr().String(), Runtime: rt,
		Creds: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")}
}
