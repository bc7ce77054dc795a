package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/wharfml/wharf/internal/admin"
	"github.com/wharfml/wharf/internal/server"
)

const (
	rootKey    = "AKIATESTROOT00000001"
	rootSecret = "test-root-secret-0123456789"
)

// startServer runs the whole Wharf server in-process on a loopback port.
func startServer(t *testing.T) string {
	t.Helper()
	srv, err := server.Open(context.Background(), server.Config{
		DataDir: filepath.Join(t.TempDir(), "data"), Region: "us-east-1",
		RootAccessKeyID: rootKey, RootSecretAccessKey: rootSecret,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := srv.Start(ctx)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); cancel(); <-done; srv.Close() })
	return hs.URL
}

func adminClient(url, key, secret string) *admin.Client {
	return &admin.Client{Endpoint: url, Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")}
}

// registryDo makes a /v2/ request with an access key as Basic credentials.
func registryDo(t *testing.T, method, url, user, pass string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func sha(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// pushBlob uploads data to repo (POST, then PUT with the data).
func pushBlob(t *testing.T, base, user, pass, repo string, data []byte) {
	t.Helper()
	r := registryDo(t, "POST", base+"/v2/"+repo+"/blobs/uploads/", user, pass, nil)
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("POST upload: %s", r.Status)
	}
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = base + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	if r := registryDo(t, "PUT", loc+sep+"digest="+sha(data), user, pass, data, "Content-Type", "application/octet-stream"); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT upload: %s", r.Status)
	}
}

// TestGarbageCollectRegistry runs the admin operation end to end: a tenant
// pushes an image and a stray blob to the server's registry; only root may
// collect; a dry run reports what the real run removes; the image stays.
func TestGarbageCollectRegistry(t *testing.T) {
	url := startServer(t)
	ctx := context.Background()
	root := adminClient(url, rootKey, rootSecret)
	var acme admin.Credentials
	if err := root.Call(ctx, "CreateAccount", admin.CreateAccountInput{Name: aws.String("acme")}, &acme); err != nil {
		t.Fatal(err)
	}
	user, pass := *acme.AccessKeyId, *acme.SecretAccessKey

	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := []byte("a layer")
	stray := []byte("a blob no manifest references")
	for _, b := range [][]byte{config, layer, stray} {
		pushBlob(t, url, user, pass, "acme/app", b)
	}
	manifest := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		sha(config), len(config), sha(layer), len(layer)))
	if r := registryDo(t, "PUT", url+"/v2/acme/app/manifests/v1", user, pass, manifest,
		"Content-Type", "application/vnd.oci.image.manifest.v1+json"); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest: %s", r.Status)
	}

	// Not for tenants.
	var ae *admin.APIError
	err := adminClient(url, user, pass).Call(ctx, "GarbageCollectRegistry", admin.GarbageCollectRegistryInput{}, nil)
	if !errors.As(err, &ae) || ae.Code != "AccessDeniedException" || ae.Status != http.StatusBadRequest {
		t.Fatalf("tenant GC: %v", err)
	}
	err = root.Call(ctx, "GarbageCollectRegistry", admin.GarbageCollectRegistryInput{GracePeriodSeconds: aws.Int64(-1)}, nil)
	if !errors.As(err, &ae) || ae.Code != "ValidationException" {
		t.Fatalf("negative grace: %v", err)
	}

	gc := func(in admin.GarbageCollectRegistryInput) admin.GarbageCollectRegistryOutput {
		t.Helper()
		var out admin.GarbageCollectRegistryOutput
		if err := root.Call(ctx, "GarbageCollectRegistry", in, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// The default grace period (an hour) keeps everything just pushed.
	if out := gc(admin.GarbageCollectRegistryInput{}); out.BlobsDeleted != 0 || out.BlobsMarked != 3 || out.DryRun {
		t.Fatalf("default grace: %+v", out)
	}
	zero := aws.Int64(0)
	dry := gc(admin.GarbageCollectRegistryInput{DryRun: aws.Bool(true), GracePeriodSeconds: zero})
	if !dry.DryRun || dry.BlobsDeleted != 1 || dry.BytesFreed != int64(len(stray)) || dry.LinksDeleted != 1 {
		t.Fatalf("dry run: %+v", dry)
	}
	if r := registryDo(t, "HEAD", url+"/v2/acme/app/blobs/"+sha(stray), user, pass, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("dry run removed the blob: %s", r.Status)
	}
	real := gc(admin.GarbageCollectRegistryInput{GracePeriodSeconds: zero})
	dry.DryRun, dry.DurationSeconds, real.DurationSeconds = false, 0, 0
	if real != dry {
		t.Fatalf("real run %+v differs from the dry run %+v", real, dry)
	}
	if r := registryDo(t, "HEAD", url+"/v2/acme/app/blobs/"+sha(stray), user, pass, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("stray blob after GC: %s", r.Status)
	}
	for _, b := range [][]byte{config, layer} {
		if r := registryDo(t, "GET", url+"/v2/acme/app/blobs/"+sha(b), user, pass, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("image blob after GC: %s", r.Status)
		}
	}
	if r := registryDo(t, "GET", url+"/v2/acme/app/manifests/v1", user, pass, nil,
		"Accept", "application/vnd.oci.image.manifest.v1+json"); r.StatusCode != http.StatusOK {
		t.Fatalf("manifest after GC: %s", r.Status)
	}
}
