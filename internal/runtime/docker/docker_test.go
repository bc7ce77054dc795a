package docker_test

import (
	"context"
	"testing"
	"time"

	"github.com/wharfml/wharf/internal/runtime/docker"
	"github.com/wharfml/wharf/internal/runtime/runtimetest"
	"github.com/wharfml/wharf/internal/testimage"
)

func TestConformance(t *testing.T) {
	testimage.Client(t) // skips without a Docker daemon
	rt, err := docker.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	runtimetest.Run(t, rt)
}
