// Package runtime is Wharf's view of a container engine: just enough to run
// SageMaker-contract containers for training jobs, transform jobs and
// endpoints. The Docker Engine implementation is runtime/docker; a
// Kubernetes one can follow. Every implementation passes runtimetest.
package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors returned by every implementation; test with errors.Is.
var (
	ErrImageNotFound     = errors.New("runtime: image not found")
	ErrContainerNotFound = errors.New("runtime: container not found")
)

// Label keys Wharf puts on every container and network it creates, so a
// restarted server can find its work again (List).
const (
	LabelManaged  = "wharf.managed"  // "true"
	LabelKind     = "wharf.kind"     // "training-job", "transform-job", "endpoint"
	LabelAccount  = "wharf.account"  // owner account id
	LabelResource = "wharf.resource" // resource name (lower case)
	LabelHost     = "wharf.host"     // "algo-1", ...
)

// MaxLogLine is the longest log line delivered; longer output is split.
const MaxLogLine = 256 << 10

// ImageInfo is what Wharf needs from an image's config.
type ImageInfo struct {
	ID           string // content-addressed id ("sha256:...")
	RepoDigests  []string
	Entrypoint   []string
	Cmd          []string
	Env          []string
	User         string
	WorkingDir   string
	Labels       map[string]string
	ExposedPorts []string // "8080/tcp"
	Size         int64
}

// Mount binds a host path into a container.
type Mount struct {
	Source   string // absolute host path
	Target   string // absolute container path
	ReadOnly bool
}

// NetworkSpec describes a private network for one job.
type NetworkSpec struct {
	Name string
	// Internal networks have no route out of the host: containers on them
	// reach only each other.
	Internal bool
	// HostAccess (with Internal) lets the host open connections to the
	// containers at their network address (ContainerInfo.IP) while the
	// containers still cannot open connections to anything outside the
	// network, the host included where the runtime can enforce it. Ports
	// are not published on such networks. Used for isolated serve
	// containers, which only Wharf's gateway and batch driver may reach.
	HostAccess bool
	Labels     map[string]string
}

// ContainerSpec describes a container to create and start.
type ContainerSpec struct {
	Name  string
	Image string // image id or reference, already present locally
	// Entrypoint nil keeps the image's ENTRYPOINT; non-nil replaces it.
	Entrypoint []string
	// Cmd replaces the image's CMD (e.g. ["train"] or ["serve"]).
	Cmd      []string
	Env      map[string]string
	Labels   map[string]string
	Hostname string
	// Network is a network id/name from CreateNetwork, or "none" for no
	// network at all, or "" for the engine's default bridge.
	Network string
	// Aliases are extra DNS names on Network (e.g. "algo-1").
	Aliases []string
	Mounts  []Mount
	// Tmpfs maps a container path to tmpfs options ("size=64m").
	Tmpfs map[string]string
	// User overrides the image's user if set ("1000:1000").
	User string
	// NanoCPUs (1e9 = one CPU) and MemoryBytes limit the container; 0 = unlimited.
	NanoCPUs    int64
	MemoryBytes int64
	// PidsLimit caps processes; 0 = engine default.
	PidsLimit int64
	// PublishPort, if non-zero, publishes that container TCP port on
	// 127.0.0.1 at a random host port (see ContainerInfo.HostPort). Used
	// for endpoints and transform jobs. On a HostAccess network nothing is
	// published (HostPort stays 0): the host reaches the container at IP.
	PublishPort int
}

// ContainerInfo describes an existing container.
type ContainerInfo struct {
	ID      string
	Name    string
	Labels  map[string]string
	Running bool
	// ExitCode and OOMKilled are meaningful once Running is false.
	ExitCode  int
	OOMKilled bool
	StartedAt time.Time
	// IP is the container's address on its network ("" with no network).
	IP string
	// HostPort is the 127.0.0.1 port publishing ContainerSpec.PublishPort.
	HostPort int
}

// ExitStatus is how a container ended.
type ExitStatus struct {
	Code      int
	OOMKilled bool
}

// LogLine is one line of a container's output.
type LogLine struct {
	Time   time.Time
	Stderr bool
	Text   string // without the trailing newline
}

// Runtime runs containers. Implementations are safe for concurrent use.
type Runtime interface {
	// InspectImage describes a local image, or returns ErrImageNotFound.
	InspectImage(ctx context.Context, ref string) (ImageInfo, error)
	// LoadImage loads a `docker save`-format tar stream.
	LoadImage(ctx context.Context, tar io.Reader) error
	// PullImage pulls ref from its registry; auth is the engine's
	// base64-encoded registry credential ("" for none).
	PullImage(ctx context.Context, ref, auth string) error

	CreateNetwork(ctx context.Context, spec NetworkSpec) (id string, err error)
	// RemoveNetwork removes a network; a missing one is not an error.
	RemoveNetwork(ctx context.Context, id string) error

	// Start creates and starts a container and returns its id.
	Start(ctx context.Context, spec ContainerSpec) (id string, err error)
	// Inspect describes a container, or returns ErrContainerNotFound.
	Inspect(ctx context.Context, id string) (ContainerInfo, error)
	// Wait blocks until the container exits (or ctx ends).
	Wait(ctx context.Context, id string) (ExitStatus, error)
	// Logs streams the container's output lines from the start, following
	// until it exits when follow is set. Lines longer than MaxLogLine bytes
	// are split. It returns when the stream ends or fn returns an error.
	Logs(ctx context.Context, id string, follow bool, fn func(LogLine) error) error
	// Stop sends SIGTERM, then SIGKILL after grace if still running.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove deletes a container (killing it if running); a missing one is not an error.
	Remove(ctx context.Context, id string) error
	// List returns the containers (running or not) carrying all the given labels.
	List(ctx context.Context, labels map[string]string) ([]ContainerInfo, error)
	// ListNetworks returns ids of the networks carrying all the given labels.
	ListNetworks(ctx context.Context, labels map[string]string) ([]string, error)
}
