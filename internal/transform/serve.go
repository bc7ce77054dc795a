package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/wharfml/wharf/internal/access"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/contract"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/store"
)

// Serve starts serve containers (container-contract.md §3.1, §4.1): it is
// shared by the transform controller and the endpoint controller. Every
// error it returns is a FailureReason text ("ClientError: …" or
// "InternalServerError: …").
type Serve struct {
	Store   store.Store
	Blobs   blob.Store
	Runtime runtime.Runtime
	Images  ImageResolver
	// MaxModelBytes caps extracted model data per host.
	MaxModelBytes int64
}

func (c *Controller) serve() *Serve {
	return &Serve{Store: c.Store, Blobs: c.Blobs, Runtime: c.Runtime, Images: c.Images, MaxModelBytes: c.MaxModelBytes}
}

// PrepareImage makes image present in the engine (pulling it from Wharf's
// registry if it is one of ours) and returns its image id.
func (s *Serve) PrepareImage(ctx context.Context, account, image string) (string, error) {
	if s.Images != nil {
		ours, auth, err := s.Images.Resolve(ctx, account, image)
		if err != nil {
			return "", fmt.Errorf("ClientError: %v", err)
		}
		if ours {
			if err := s.Runtime.PullImage(ctx, image, auth); err != nil {
				return "", fmt.Errorf("ClientError: pulling %s from Wharf's registry: %v", image, err)
			}
		}
	}
	img, err := s.Runtime.InspectImage(ctx, image)
	if errors.Is(err, runtime.ErrImageNotFound) {
		return "", fmt.Errorf("ClientError: image %s was not found: push it to Wharf's registry or load it into the Docker Engine", image)
	}
	if err != nil {
		return "", fmt.Errorf("InternalServerError: inspecting the image: %v", err)
	}
	return img.ID, nil
}

// PrepareModelDir creates dir holding the extracted model archive url of
// account ("" = an empty directory). dir's parent must exist.
func (s *Serve) PrepareModelDir(ctx context.Context, account, url, dir string) error {
	if url == "" {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("InternalServerError: %v", err)
		}
		return nil
	}
	bucket, key, err := contract.ParseS3URI(url)
	if err != nil {
		return fmt.Errorf("ClientError: ModelDataUrl: %v", err)
	}
	src := &access.Objects{Store: s.Store, Blobs: s.Blobs, Account: account}
	rc, _, err := src.Open(ctx, bucket, key)
	if err != nil {
		return errors.New(clientError(err))
	}
	defer rc.Close()
	if err := contract.ExtractTarGz(ctx, rc, dir, s.MaxModelBytes); err != nil {
		if contract.IsClientError(err) {
			return fmt.Errorf("ClientError: model data %s: %v", url, err)
		}
		return fmt.Errorf("InternalServerError: extracting model data %s: %v", url, err)
	}
	return nil
}

// StartContainer starts spec as a serve container (Cmd serve, port 8080
// published on 127.0.0.1) and returns its id and base URL. On error the id
// may be set (the container exists and must be removed).
func (s *Serve) StartContainer(ctx context.Context, spec runtime.ContainerSpec) (id, url string, err error) {
	spec.Cmd, spec.PublishPort = []string{"serve"}, 8080
	id, err = s.Runtime.Start(ctx, spec)
	if err != nil {
		return "", "", fmt.Errorf("ClientError: starting the container: %v", err)
	}
	info, err := s.Runtime.Inspect(ctx, id)
	if err != nil || info.HostPort == 0 {
		return id, "", fmt.Errorf("InternalServerError: the container's port 8080 was not published: %v", err)
	}
	return id, "http://127.0.0.1:" + strconv.Itoa(info.HostPort), nil
}

// Ping reports whether GET url/ping answers 200 within 2 s.
func Ping(ctx context.Context, url string) bool {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(pctx, http.MethodGet, url+"/ping", nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// WaitHealthy polls GET /ping every second until it answers 200, the
// container exits or timeout passes. name names the host in errors.
func (s *Serve) WaitHealthy(ctx context.Context, id, url, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if Ping(ctx, url) {
			return nil
		}
		if ctx.Err() != nil {
			return errors.New("stopped")
		}
		if info, err := s.Runtime.Inspect(ctx, id); err == nil && !info.Running {
			return fmt.Errorf("ClientError: the serve container of %s exited with code %d before passing /ping health checks; see the logs", name, info.ExitCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ClientError: the serve container of %s did not pass /ping health checks within %s", name, timeout)
		}
		select {
		case <-ctx.Done():
			return errors.New("stopped")
		case <-time.After(time.Second):
		}
	}
}
