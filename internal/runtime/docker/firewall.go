package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"

	"github.com/moby/moby/client"
)

// Bridge driver option naming the Linux bridge of a network, and the prefix
// of the names Wharf gives HostAccess bridges (15 bytes at most in all).
const (
	bridgeName             = "com.docker.network.bridge.name"
	hostAccessBridgePrefix = "whf"
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// firewall keeps containers on HostAccess bridges from opening connections
// to the host: Docker filters forwarded traffic of internal networks but not
// traffic addressed to the host itself, so a server listening on all
// addresses (Wharf's own API, sshd, ...) would be reachable otherwise.
// Replies to connections the host opens are unaffected.
var firewall = &iptables{}

type iptables struct {
	warnOnce sync.Once
}

func (f *iptables) rule(bridge string) []string {
	return []string{"INPUT", "-i", bridge, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP",
		"-m", "comment", "--comment", "wharf: isolated serve containers"}
}

// dropInbound installs the rule for bridge. Without iptables or the
// privilege to change it (Wharf not running as root), isolation of serve
// containers still holds for everything but the host's own services; that
// is logged once rather than refusing to run endpoints at all.
func (f *iptables) dropInbound(ctx context.Context, bridge string) {
	f.prune(ctx)
	if err := f.run(ctx, append([]string{"-w", "-I"}, f.rule(bridge)...)...); err != nil {
		f.warnOnce.Do(func() {
			slog.Warn("docker: cannot firewall isolated serve containers from the host; they cannot reach other networks, "+
				"but can connect to services listening on the host's bridge addresses (run Wharf as root to close this)", "err", err)
		})
	}
}

// prune removes rules of bridges that no longer exist (their network was
// removed behind Wharf's back, e.g. by docker network prune).
func (f *iptables) prune(ctx context.Context) {
	out, err := exec.CommandContext(ctx, "iptables", "-w", "-S", "INPUT").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		for i := 0; i+1 < len(fields); i++ {
			if fields[i] != "-i" || !strings.HasPrefix(fields[i+1], hostAccessBridgePrefix) {
				continue
			}
			if _, err := os.Stat(filepath.Join("/sys/class/net", fields[i+1])); errors.Is(err, fs.ErrNotExist) {
				f.removeDropInbound(ctx, fields[i+1])
			}
		}
	}
}

// removeDropInbound removes the rule of bridge, if there is one.
func (f *iptables) removeDropInbound(ctx context.Context, bridge string) {
	for f.run(ctx, append([]string{"-w", "-D"}, f.rule(bridge)...)...) == nil {
	}
}

func (f *iptables) run(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "iptables", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

var routableWarn sync.Once

// routable reports whether this process can reach container addresses on
// the engine's bridges directly: a Linux engine on this machine (reached by
// its unix socket), not Docker Desktop's VM or a remote engine.
func (r *Runtime) routable(ctx context.Context) bool {
	r.routableOnce.Do(func() {
		if goruntime.GOOS != "linux" || !strings.HasPrefix(r.c.DaemonHost(), "unix://") {
			return
		}
		info, err := r.c.Info(ctx, client.InfoOptions{})
		r.isRoutable = err == nil && !strings.Contains(info.Info.OperatingSystem, "Docker Desktop")
	})
	return r.isRoutable
}
