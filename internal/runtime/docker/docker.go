// Package docker implements runtime.Runtime on the Docker Engine API with the
// moby client. It negotiates the API version, so it works with engines from
// API 1.41 (Docker 20.10) on.
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/wharfml/wharf/internal/runtime"
)

// Runtime runs containers on a Docker Engine. It is safe for concurrent use.
type Runtime struct {
	c *client.Client
	// routableOnce decides isRoutable: whether container addresses can be
	// reached from this process (see routable).
	routableOnce sync.Once
	isRoutable   bool
}

var _ runtime.Runtime = (*Runtime)(nil)

// New connects to the engine named by the environment (DOCKER_HOST,
// DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY; default the local
// socket). The connection is made lazily; use Ping to check it.
func New() (*Runtime, error) {
	c, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	return &Runtime{c: c}, nil
}

// NewFromClient wraps an existing client.
func NewFromClient(c *client.Client) *Runtime { return &Runtime{c: c} }

// Client returns the underlying Docker client.
func (r *Runtime) Client() *client.Client { return r.c }

// Close releases the client's connections.
func (r *Runtime) Close() error { return r.c.Close() }

// Ping checks that the engine answers and negotiates the API version.
func (r *Runtime) Ping(ctx context.Context) error {
	if _, err := r.c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("docker: ping: %w", err)
	}
	return nil
}

// ------------------------------------------------------------------ images

// InspectImage implements runtime.Runtime.
func (r *Runtime) InspectImage(ctx context.Context, ref string) (runtime.ImageInfo, error) {
	res, err := r.c.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return runtime.ImageInfo{}, fmt.Errorf("docker: image %q: %w", ref, runtime.ErrImageNotFound)
		}
		return runtime.ImageInfo{}, fmt.Errorf("docker: inspect image %q: %w", ref, err)
	}
	info := runtime.ImageInfo{
		ID:          res.ID,
		RepoDigests: res.RepoDigests,
		Size:        res.Size,
	}
	if cfg := res.Config; cfg != nil {
		info.Entrypoint = cfg.Entrypoint
		info.Cmd = cfg.Cmd
		info.Env = cfg.Env
		info.User = cfg.User
		info.WorkingDir = cfg.WorkingDir
		info.Labels = cfg.Labels
		for p := range cfg.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			info.ExposedPorts = append(info.ExposedPorts, p)
		}
		sort.Strings(info.ExposedPorts)
	}
	return info, nil
}

// LoadImage implements runtime.Runtime: it streams a `docker save` archive
// to the engine and fails on an error reported in the progress stream.
func (r *Runtime) LoadImage(ctx context.Context, tar io.Reader) error {
	res, err := r.c.ImageLoad(ctx, tar, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("docker: load image: %w", err)
	}
	defer res.Close()
	dec := json.NewDecoder(res)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("docker: load image: reading progress: %w", err)
		}
		if m.Error != nil {
			return fmt.Errorf("docker: load image: %s", m.Error.Message)
		}
	}
}

// PullImage implements runtime.Runtime: pulls ref with the given registry
// credential, failing on an error reported in the progress stream.
func (r *Runtime) PullImage(ctx context.Context, ref, auth string) error {
	res, err := r.c.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("docker: pull %s: %w", ref, err)
	}
	defer res.Close()
	for m, err := range res.JSONMessages(ctx) {
		if err != nil {
			return fmt.Errorf("docker: pull %s: reading progress: %w", ref, err)
		}
		if m.Error != nil {
			return fmt.Errorf("docker: pull %s: %s", ref, m.Error.Message)
		}
	}
	return nil
}

// ---------------------------------------------------------------- networks

// CreateNetwork implements runtime.Runtime: an attachable bridge network.
// Internal networks are created with the host holding no address on the
// bridge: Docker still gives their containers a default route via that
// address and does not filter traffic to the host itself, so otherwise they
// could reach services listening on the host. The price: the host cannot
// reach containers on internal networks either, and Start refuses to publish
// ports on them (the engine would silently ignore the binding). Names must be unique; Docker 20.10 does not check that itself (API < 1.44
// without CheckDuplicate), so an existing network of the same name is an error.
func (r *Runtime) CreateNetwork(ctx context.Context, spec runtime.NetworkSpec) (string, error) {
	if spec.Name != "" {
		existing, err := r.c.NetworkList(ctx, client.NetworkListOptions{
			Filters: make(client.Filters).Add("name", spec.Name),
		})
		if err != nil {
			return "", fmt.Errorf("docker: create network %q: %w", spec.Name, err)
		}
		for _, n := range existing.Items {
			if n.Name == spec.Name {
				return "", fmt.Errorf("docker: create network %q: a network with that name exists (%s)", spec.Name, n.ID)
			}
		}
	}
	opts := client.NetworkCreateOptions{
		Driver:     "bridge",
		Internal:   spec.Internal,
		Attachable: true,
		Labels:     managedLabels(spec.Labels),
	}
	var bridge string
	if spec.Internal && spec.HostAccess && !r.routable(ctx) {
		// Docker Desktop and remote engines: container addresses cannot be
		// reached from here, so use an ordinary bridge and published ports.
		spec.Internal = false
		opts.Internal = false
		routableWarn.Do(func() {
			slog.Warn("docker: container addresses are not reachable from this host (Docker Desktop or a remote engine); " +
				"serve containers get ordinary bridge networks with published ports, without egress blocking")
		})
	}
	switch {
	case spec.Internal && spec.HostAccess:
		// The host keeps its address on the bridge (that is how it reaches
		// the containers); a firewall rule on a bridge named by us stops
		// the containers from opening connections to the host.
		bridge = hostAccessBridgePrefix + randomHex(6)
		opts.Options = map[string]string{bridgeName: bridge}
	case spec.Internal:
		opts.Options = map[string]string{inhibitIPv4: "true"}
	}
	res, err := r.c.NetworkCreate(ctx, spec.Name, opts)
	if err != nil {
		return "", fmt.Errorf("docker: create network %q: %w", spec.Name, err)
	}
	if bridge != "" {
		firewall.dropInbound(ctx, bridge)
	}
	return res.ID, nil
}

// inhibitIPv4 is the bridge driver option that leaves the host without an
// address on the bridge.
const inhibitIPv4 = "com.docker.network.bridge.inhibit_ipv4"

// RemoveNetwork implements runtime.Runtime, with the firewall rule of a
// HostAccess network.
func (r *Runtime) RemoveNetwork(ctx context.Context, id string) error {
	var bridge string
	if n, err := r.c.NetworkInspect(ctx, id, client.NetworkInspectOptions{}); err == nil {
		bridge = n.Network.Options[bridgeName]
	}
	if _, err := r.c.NetworkRemove(ctx, id, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove network %s: %w", id, err)
	}
	if strings.HasPrefix(bridge, hostAccessBridgePrefix) {
		firewall.removeDropInbound(ctx, bridge)
	}
	return nil
}

// ListNetworks implements runtime.Runtime.
func (r *Runtime) ListNetworks(ctx context.Context, labels map[string]string) ([]string, error) {
	res, err := r.c.NetworkList(ctx, client.NetworkListOptions{Filters: labelFilters(labels)})
	if err != nil {
		return nil, fmt.Errorf("docker: list networks: %w", err)
	}
	ids := make([]string, 0, len(res.Items))
	for _, n := range res.Items {
		if hasLabels(n.Labels, labels) {
			ids = append(ids, n.ID)
		}
	}
	return ids, nil
}

// -------------------------------------------------------------- containers

// Start implements runtime.Runtime. Memory limits disable swap
// (MemorySwap = Memory); no init process is injected; the container is not
// auto-removed and never restarted; PublishPort binds 127.0.0.1 on an
// ephemeral port.
func (r *Runtime) Start(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	cfg := &container.Config{
		Image:      spec.Image,
		Entrypoint: spec.Entrypoint,
		Cmd:        spec.Cmd,
		Env:        envList(spec.Env),
		Labels:     managedLabels(spec.Labels),
		Hostname:   spec.Hostname,
		User:       spec.User,
	}
	noInit := false
	hc := &container.HostConfig{
		Tmpfs: spec.Tmpfs,
		Init:  &noInit,
		Resources: container.Resources{
			NanoCPUs: spec.NanoCPUs,
			Memory:   spec.MemoryBytes,
		},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
	}
	if spec.MemoryBytes > 0 {
		hc.MemorySwap = spec.MemoryBytes // no swap
	}
	if spec.PidsLimit > 0 {
		hc.PidsLimit = &spec.PidsLimit
	}
	for _, m := range spec.Mounts {
		hc.Mounts = append(hc.Mounts, mount.Mount{
			Type:     mount.TypeBind,
			Source:   m.Source,
			Target:   m.Target,
			ReadOnly: m.ReadOnly,
		})
	}
	var nc *network.NetworkingConfig
	switch spec.Network {
	case "":
		if len(spec.Aliases) > 0 {
			return "", fmt.Errorf("docker: start %q: aliases need a user-defined network", spec.Name)
		}
	case network.NetworkNone:
		if len(spec.Aliases) > 0 || spec.PublishPort != 0 {
			return "", fmt.Errorf("docker: start %q: network none takes no aliases or published port", spec.Name)
		}
		hc.NetworkMode = container.NetworkMode(network.NetworkNone)
	default:
		if spec.PublishPort != 0 {
			// The engine silently ignores port bindings on internal networks.
			n, err := r.c.NetworkInspect(ctx, spec.Network, client.NetworkInspectOptions{})
			if err != nil {
				return "", fmt.Errorf("docker: start %q: network %q: %w", spec.Name, spec.Network, err)
			}
			switch {
			case n.Network.Internal && strings.HasPrefix(n.Network.Options[bridgeName], hostAccessBridgePrefix):
				spec.PublishPort = 0 // the host reaches the container at its address
			case n.Network.Internal:
				return "", fmt.Errorf("docker: start %q: cannot publish a port on internal network %q", spec.Name, spec.Network)
			}
		}
		hc.NetworkMode = container.NetworkMode(spec.Network)
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			spec.Network: {Aliases: spec.Aliases},
		}}
	}
	if spec.PublishPort != 0 {
		if spec.PublishPort < 0 || spec.PublishPort > 65535 {
			return "", fmt.Errorf("docker: start %q: bad port %d", spec.Name, spec.PublishPort)
		}
		p, _ := network.PortFrom(uint16(spec.PublishPort), network.TCP)
		cfg.ExposedPorts = network.PortSet{p: {}}
		hc.PortBindings = network.PortMap{p: {{HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1})}}}
	}

	created, err := r.c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:             spec.Name,
		Config:           cfg,
		HostConfig:       hc,
		NetworkingConfig: nc,
	})
	if err != nil {
		if ctx.Err() != nil {
			// The engine may still finish a create whose request was
			// abandoned; do not leave that container behind.
			rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = r.Remove(rmCtx, spec.Name)
		}
		if cerrdefs.IsNotFound(err) {
			// The network or the image is missing; say which.
			if _, ierr := r.c.ImageInspect(ctx, spec.Image); cerrdefs.IsNotFound(ierr) {
				return "", fmt.Errorf("docker: create %q: image %q: %w", spec.Name, spec.Image, runtime.ErrImageNotFound)
			}
		}
		return "", fmt.Errorf("docker: create %q: %w", spec.Name, err)
	}
	if _, err := r.c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = r.Remove(rmCtx, created.ID)
		return "", fmt.Errorf("docker: start %q: %w", spec.Name, err)
	}
	return created.ID, nil
}

// Inspect implements runtime.Runtime.
func (r *Runtime) Inspect(ctx context.Context, id string) (runtime.ContainerInfo, error) {
	res, err := r.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return runtime.ContainerInfo{}, containerErr("inspect", id, err)
	}
	c := res.Container
	info := runtime.ContainerInfo{
		ID:   c.ID,
		Name: strings.TrimPrefix(c.Name, "/"),
	}
	if c.Config != nil {
		info.Labels = c.Config.Labels
	}
	if s := c.State; s != nil {
		info.Running = s.Running
		info.ExitCode = s.ExitCode
		info.OOMKilled = s.OOMKilled
		if t, err := time.Parse(time.RFC3339Nano, s.StartedAt); err == nil && t.Year() > 1 {
			info.StartedAt = t
		}
	}
	if ns := c.NetworkSettings; ns != nil {
		mode := ""
		if c.HostConfig != nil {
			mode = string(c.HostConfig.NetworkMode)
		}
		info.IP = containerIP(ns.Networks, mode)
		info.HostPort = hostPort(ns.Ports)
	}
	return info, nil
}

// containerIP picks the address on the container's own network.
func containerIP(nets map[string]*network.EndpointSettings, mode string) string {
	if ep := nets[mode]; ep != nil && ep.IPAddress.IsValid() {
		return ep.IPAddress.String()
	}
	names := slices.Sorted(maps.Keys(nets))
	for _, n := range names {
		if ep := nets[n]; ep != nil && (ep.NetworkID == mode || mode == "default") && ep.IPAddress.IsValid() {
			return ep.IPAddress.String()
		}
	}
	for _, n := range names {
		if ep := nets[n]; ep != nil && ep.IPAddress.IsValid() {
			return ep.IPAddress.String()
		}
	}
	return ""
}

// hostPort returns the 127.0.0.1 port of the first published TCP port.
func hostPort(ports network.PortMap) int {
	keys := slices.SortedFunc(maps.Keys(ports), func(a, b network.Port) int { return int(a.Num()) - int(b.Num()) })
	for _, p := range keys {
		if p.Proto() != network.TCP {
			continue
		}
		for _, b := range ports[p] {
			if b.HostPort == "" {
				continue
			}
			if b.HostIP.IsValid() && !b.HostIP.IsLoopback() && !b.HostIP.IsUnspecified() {
				continue
			}
			if n, err := strconv.Atoi(b.HostPort); err == nil {
				return n
			}
		}
	}
	return 0
}

// Wait implements runtime.Runtime. A container that has already exited
// returns at once.
func (r *Runtime) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	res := r.c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var code int
	select {
	case w := <-res.Result:
		if w.Error != nil && w.Error.Message != "" {
			return runtime.ExitStatus{}, fmt.Errorf("docker: wait %s: %s", id, w.Error.Message)
		}
		code = int(w.StatusCode)
	case err := <-res.Error:
		return runtime.ExitStatus{}, containerErr("wait", id, err)
	case <-ctx.Done():
		return runtime.ExitStatus{}, ctx.Err()
	}
	st := runtime.ExitStatus{Code: code}
	// The wait response lacks OOMKilled; the container may be gone already.
	if info, err := r.Inspect(ctx, id); err == nil {
		st.OOMKilled = info.OOMKilled
	}
	return st, nil
}

// Stop implements runtime.Runtime: SIGTERM, then SIGKILL after grace
// (rounded up to whole seconds, the engine's resolution).
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := int((max(grace, 0) + time.Second - 1) / time.Second)
	if _, err := r.c.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs}); err != nil {
		return containerErr("stop", id, err)
	}
	return nil
}

// Remove implements runtime.Runtime: force-removes the container and its
// anonymous volumes.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	_, err := r.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress"):
		return nil
	}
	return fmt.Errorf("docker: remove %s: %w", id, err)
}

// List implements runtime.Runtime.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]runtime.ContainerInfo, error) {
	res, err := r.c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labelFilters(labels)})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	out := make([]runtime.ContainerInfo, 0, len(res.Items))
	for _, s := range res.Items {
		if !hasLabels(s.Labels, labels) {
			continue
		}
		info, err := r.Inspect(ctx, s.ID)
		if errors.Is(err, runtime.ErrContainerNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// ----------------------------------------------------------------- helpers

func containerErr(op, id string, err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: %s %s: %w (%v)", op, id, runtime.ErrContainerNotFound, err)
	}
	return fmt.Errorf("docker: %s %s: %w", op, id, err)
}

func managedLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in)+1)
	maps.Copy(out, in)
	out[runtime.LabelManaged] = "true"
	return out
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func labelFilters(labels map[string]string) client.Filters {
	f := make(client.Filters)
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	return f
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
