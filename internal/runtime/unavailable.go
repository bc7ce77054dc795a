package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Unavailable is the Runtime of a server with no container engine: every
// call fails with Reason, so jobs fail with a clear message instead of the
// server refusing to start.
type Unavailable struct{ Reason string }

func (u Unavailable) err() error { return errors.New("container runtime unavailable: " + u.Reason) }

func (u Unavailable) InspectImage(context.Context, string) (ImageInfo, error) {
	return ImageInfo{}, u.err()
}
func (u Unavailable) LoadImage(context.Context, io.Reader) error { return u.err() }
func (u Unavailable) PullImage(context.Context, string, string) error {
	return u.err()
}
func (u Unavailable) CreateNetwork(context.Context, NetworkSpec) (string, error) {
	return "", u.err()
}
func (u Unavailable) RemoveNetwork(context.Context, string) error { return nil }
func (u Unavailable) Start(context.Context, ContainerSpec) (string, error) {
	return "", u.err()
}
func (u Unavailable) Inspect(context.Context, string) (ContainerInfo, error) {
	return ContainerInfo{}, ErrContainerNotFound
}
func (u Unavailable) Wait(context.Context, string) (ExitStatus, error) { return ExitStatus{}, u.err() }
func (u Unavailable) Logs(context.Context, string, bool, func(LogLine) error) error {
	return u.err()
}
func (u Unavailable) Stop(context.Context, string, time.Duration) error { return nil }
func (u Unavailable) Remove(context.Context, string) error              { return nil }
func (u Unavailable) List(context.Context, map[string]string) ([]ContainerInfo, error) {
	return nil, nil
}
func (u Unavailable) ListNetworks(context.Context, map[string]string) ([]string, error) {
	return nil, nil
}
