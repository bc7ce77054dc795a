package scan

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The contract check answers, from the image config and the merged
// filesystem the inventory walked, whether SageMaker can start the image:
// it runs `docker run IMAGE train` (training) or `docker run IMAGE serve`
// (inference), so with an ENTRYPOINT the argument is appended to it, and
// without one the runtime looks the argument up on PATH like exec(3) does
// (shared/spec/container-contract.md §2.1, §3.1). Nothing is executed and
// nothing outside the image is ever looked at: symlinks resolve inside the
// image root, with ".." at the root staying at the root, as in the container.

// BindToPortLabel declares that a serving image honours SAGEMAKER_BIND_TO_PORT.
const BindToPortLabel = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"

// DefaultPath is the PATH Docker gives a Linux container whose image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Values of Contract.AcceptBindToPort.
const (
	LabelTrue   = "true"
	LabelFalse  = "false"
	LabelAbsent = "absent"
)

// Contract is the contract check of one image, stored with its scan result.
type Contract struct {
	// TrainInvocable reports whether `docker run IMAGE train` starts a
	// program that receives "train" (or is the program named train);
	// TrainReason says why or why not. Serve* likewise for "serve".
	TrainInvocable bool   `json:"trainInvocable"`
	TrainReason    string `json:"trainReason"`
	ServeInvocable bool   `json:"serveInvocable"`
	ServeReason    string `json:"serveReason"`

	Entrypoint []string `json:"entrypoint"`
	Cmd        []string `json:"cmd"`
	WorkingDir string   `json:"workingDir,omitempty"`
	// Path is the PATH executables are looked up on: the image's, else DefaultPath.
	Path string `json:"path"`
	// ExposedPorts as the config lists them ("8080/tcp"), sorted.
	ExposedPorts []string `json:"exposedPorts"`
	// AcceptBindToPort is LabelTrue, LabelFalse or LabelAbsent (BindToPortLabel).
	AcceptBindToPort string `json:"acceptBindToPort"`
	// User is the config's USER ("" means root); UserIsRoot is resolved
	// through the image's /etc/passwd for names.
	User       string `json:"user"`
	UserIsRoot bool   `json:"userIsRoot"`
	// CompressedSize sums the layer blobs as stored; UncompressedSize sums
	// the layers' tar streams.
	CompressedSize   int64 `json:"compressedSize"`
	UncompressedSize int64 `json:"uncompressedSize"`
	// Warnings are problems worth a seller's attention that do not by
	// themselves stop the image from starting.
	Warnings []string `json:"warnings"`
}

// contract checks img's config against the filesystem w walked.
func (w *walker) contract(img v1.Image) *Contract {
	c := &Contract{Entrypoint: []string{}, Cmd: []string{}, ExposedPorts: []string{}, Warnings: []string{},
		AcceptBindToPort: LabelAbsent, UserIsRoot: true, UncompressedSize: w.counter.n}
	if layers, err := img.Layers(); err == nil {
		for _, l := range layers {
			if n, err := l.Size(); err == nil {
				c.CompressedSize += n
			}
		}
	}
	cf, err := img.ConfigFile()
	if err != nil || cf == nil {
		msg := "the image config could not be read"
		if err != nil {
			msg += ": " + err.Error()
		}
		c.TrainReason, c.ServeReason = msg, msg
		c.Warnings = append(c.Warnings, msg)
		return c
	}
	cfg := cf.Config
	if cfg.Entrypoint != nil {
		c.Entrypoint = cfg.Entrypoint
	}
	if cfg.Cmd != nil {
		c.Cmd = cfg.Cmd
	}
	c.WorkingDir = cfg.WorkingDir
	c.Path = DefaultPath
	for _, kv := range cfg.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			c.Path = v // the last one wins, as in the environment
		}
	}
	for p := range cfg.ExposedPorts {
		c.ExposedPorts = append(c.ExposedPorts, p)
	}
	sort.Strings(c.ExposedPorts)
	if v, ok := cfg.Labels[BindToPortLabel]; ok {
		c.AcceptBindToPort = LabelFalse
		if strings.EqualFold(strings.TrimSpace(v), "true") {
			c.AcceptBindToPort = LabelTrue
		} else if !strings.EqualFold(strings.TrimSpace(v), "false") {
			c.Warnings = append(c.Warnings, fmt.Sprintf("label %s is %q; only \"true\" declares support", BindToPortLabel, v))
		}
	}
	c.User = cfg.User
	var warn string
	c.UserIsRoot, warn = w.userIsRoot(cfg.User)
	if warn != "" {
		c.Warnings = append(c.Warnings, warn)
	}

	fs := &imageFS{w: w, path: c.Path, workdir: cfg.WorkingDir}
	c.TrainInvocable, c.TrainReason = fs.invocable(c.Entrypoint, "train")
	c.ServeInvocable, c.ServeReason = fs.invocable(c.Entrypoint, "serve")

	if len(c.Entrypoint) >= 3 && isShell(path.Base(c.Entrypoint[0])) && c.Entrypoint[1] == "-c" {
		c.Warnings = append(c.Warnings, "ENTRYPOINT is in shell form: PID 1 is the shell, which does not pass SIGTERM on to the program; use the exec form")
	}
	if !c.TrainInvocable && !c.ServeInvocable {
		c.Warnings = append(c.Warnings, "neither 'train' nor 'serve' can be invoked: SageMaker cannot run this image")
	}
	if c.ServeInvocable && !contains(c.ExposedPorts, "8080/tcp") && c.AcceptBindToPort != LabelTrue {
		c.Warnings = append(c.Warnings, "serve: the image neither exposes 8080/tcp nor sets "+BindToPortLabel+"=true; the server must listen on port 8080")
	}
	if limit := w.opts.WarnImageSize; c.UncompressedSize > limit {
		c.Warnings = append(c.Warnings, fmt.Sprintf("the image is %d bytes uncompressed, more than the %d bytes this installation recommends", c.UncompressedSize, limit))
	}
	for _, l := range fs.climbed {
		c.Warnings = append(c.Warnings, fmt.Sprintf("symlink /%s climbs above the image root; it resolves inside the image, as in the container", l))
	}
	return c
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// userIsRoot tells whether USER (name or uid, optionally ":group") is uid 0.
func (w *walker) userIsRoot(user string) (bool, string) {
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" {
		return true, ""
	}
	if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uid == 0, ""
	}
	if w.passwd == nil {
		return false, fmt.Sprintf("USER %s: the image has no /etc/passwd, so the container cannot start as that user (use a numeric uid)", name)
	}
	for _, line := range strings.Split(string(w.passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			return f[2] == "0", ""
		}
	}
	return false, fmt.Sprintf("USER %s is not in /etc/passwd, so the container cannot start as that user", name)
}

// hardLinkExecutable: a hard link shares its target's inode, and writers
// put that inode's mode in the header; if a writer left it out, use the
// target's (earlier in the same layer, as tar requires).
func (w *walker) hardLinkExecutable(hdr *tar.Header) bool {
	if hdr.Mode&0o7777 != 0 {
		return hdr.Mode&0o111 != 0
	}
	h := w.hash(cleanName(hdr.Linkname))
	return (w.cur[h]|w.upper[h])&flagExec != 0
}

// fileState is what a path resolves to.
type fileState int

const (
	stMissing fileState = iota
	stNotExecutable
	stDirectory
	stLoop
	stExecutable
)

// lookup is the outcome of resolving one path.
type lookup struct {
	path  string // as tried, absolute
	final string // after symlinks, absolute
	state fileState
	// dangling: path itself is a symlink whose target does not exist.
	dangling bool
}

// imageFS resolves paths in the merged filesystem the walker recorded.
type imageFS struct {
	w       *walker
	path    string // PATH
	workdir string
	climbed []string // symlinks whose ".." went above the root
}

// maxSymlinks is the kernel's limit on symlinks followed in one lookup.
const maxSymlinks = 40

// resolve follows symlinks in every component of p (absolute, or relative
// to the working directory) without ever leaving the image root.
func (fs *imageFS) resolve(p string) lookup {
	if !strings.HasPrefix(p, "/") {
		p = path.Join("/", fs.workdir, p)
	}
	l := lookup{path: path.Clean(p)}
	rest := strings.Split(p, "/")
	cur := "" // relative to the root; "" is the root
	hops := 0
	for len(rest) > 0 {
		comp := rest[0]
		rest = rest[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			cur = parentDir(cur)
			continue
		}
		next := comp
		if cur != "" {
			next = cur + "/" + comp
		}
		h := fs.w.hash(next)
		f := fs.w.upper[h]
		if f&flagLink != 0 {
			if hops++; hops > maxSymlinks {
				l.state, l.final = stLoop, "/"+next
				return l
			}
			target := fs.w.links[h]
			if strings.HasPrefix(target, "/") {
				cur = "" // absolute targets start at the image root
			}
			if climbsAboveRoot(cur, target) && !contains(fs.climbed, next) {
				fs.climbed = append(fs.climbed, next)
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		if f&flagFile != 0 && hasComponent(rest) {
			l.state, l.final = stMissing, "/"+next // not a directory
			return l
		}
		cur = next
	}
	l.final = "/" + cur
	f := fs.w.upper[fs.w.hash(cur)]
	switch {
	case cur == "" || f&flagFile == 0 && f&flagDir != 0:
		l.state = stDirectory
	case f&flagFile == 0:
		l.state = stMissing
		if l.final != l.path {
			l.dangling = fs.isSymlink(l.path)
		}
	case f&flagExec != 0:
		l.state = stExecutable
	default:
		l.state = stNotExecutable
	}
	return l
}

// isSymlink reports whether the last component of p (absolute, clean) is a
// symlink, resolving the directories above it.
func (fs *imageFS) isSymlink(p string) bool {
	dir, base := path.Split(p)
	if base == "" {
		return false
	}
	d := strings.TrimPrefix(fs.resolve(dir).final, "/")
	if d != "" {
		base = d + "/" + base
	}
	return fs.w.upper[fs.w.hash(base)]&flagLink != 0
}

func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func hasComponent(rest []string) bool {
	for _, c := range rest {
		if c != "" && c != "." {
			return true
		}
	}
	return false
}

// climbsAboveRoot reports whether target, read from directory base
// ("" = root), has more ".." than there are directories above it.
func climbsAboveRoot(base, target string) bool {
	depth := 0
	if base != "" {
		depth = strings.Count(base, "/") + 1
	}
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth == 0 {
				return true
			}
			depth--
		default:
			depth++
		}
	}
	return false
}

// command finds what the runtime would exec for name: a path if it has a
// slash, else the first executable match on PATH (exec(3) skips matches
// that are not executable). With no executable match it reports the first
// match, so the reason can say what is wrong with it.
func (fs *imageFS) command(name string) lookup {
	if name == "" {
		return lookup{path: name, state: stMissing}
	}
	if strings.Contains(name, "/") {
		return fs.resolve(name)
	}
	var first *lookup
	for _, dir := range strings.Split(fs.path, ":") {
		if dir == "" {
			dir = "." // an empty PATH entry is the working directory
		}
		l := fs.resolve(path.Join(dir, name))
		if l.state == stExecutable {
			return l
		}
		if first == nil && (l.state != stMissing || l.dangling) {
			first = &l
		}
	}
	if first != nil {
		return *first
	}
	return lookup{path: name, state: stMissing}
}

// describe says what l resolved to, or why it cannot be executed.
func (fs *imageFS) describe(l lookup) string {
	if !strings.HasPrefix(l.path, "/") {
		return fmt.Sprintf("no executable %q on PATH %s", l.path, fs.path)
	}
	switch l.state {
	case stExecutable:
		return l.path + " is executable" + via(l)
	case stNotExecutable:
		return l.path + via(l) + " is not executable"
	case stDirectory:
		return l.path + via(l) + " is a directory"
	case stLoop:
		return l.path + " has too many levels of symlinks"
	}
	if l.dangling {
		return l.path + " is a dangling symlink (to " + l.final + ")"
	}
	return l.path + " does not exist in the image"
}

// via names the file a path reached through symlinks, if another.
func via(l lookup) string {
	if l.final == "" || l.final == l.path {
		return ""
	}
	return " (resolves to " + l.final + ")"
}

// invocable answers whether `docker run IMAGE <arg>` reaches a program.
func (fs *imageFS) invocable(entrypoint []string, arg string) (bool, string) {
	if len(entrypoint) == 0 {
		l := fs.command(arg)
		if l.state == stExecutable {
			return true, l.path + " is executable on PATH" + via(l)
		}
		return false, "no ENTRYPOINT, and " + fs.describe(l)
	}
	return fs.viaEntrypoint(entrypoint, entrypoint, arg, 0)
}

// viaEntrypoint analyses ep (a suffix of the full ENTRYPOINT once init
// wrappers are peeled off) receiving arg as its last argument.
func (fs *imageFS) viaEntrypoint(full, ep []string, arg string, depth int) (bool, string) {
	desc := "ENTRYPOINT " + jsonList(full)
	l := fs.command(ep[0])
	if l.state != stExecutable {
		return false, desc + " cannot start: " + fs.describe(l)
	}
	base := path.Base(ep[0])
	switch {
	case isShell(base) && len(ep) >= 3 && ep[1] == "-c":
		// sh -c SCRIPT [ARG0 [ARGS...]]: the appended argument becomes $0
		// with no extra arguments, else the next positional parameter.
		pos := len(ep) - 3
		if shellUses(ep[2], pos) {
			return true, fmt.Sprintf("%s is in shell form and hands '%s' to its script as $%d", desc, arg, pos)
		}
		return false, fmt.Sprintf("%s is in shell form: '%s' becomes $%d of the shell and never reaches the command; use the exec form", desc, arg, pos)
	case depth < 4:
		if rest, ok := unwrapInit(base, ep[1:]); ok {
			if len(rest) > 0 {
				return fs.viaEntrypoint(full, rest, arg, depth+1)
			}
			// The wrapper execs its first argument: the PATH lookup decides.
			c := fs.command(arg)
			if c.state == stExecutable {
				return true, fmt.Sprintf("%s runs '%s' as a command: %s is executable on PATH%s", desc, arg, c.path, via(c))
			}
			return false, fmt.Sprintf("%s runs '%s' as a command, but %s", desc, arg, fs.describe(c))
		}
	}
	return true, fmt.Sprintf("%s receives '%s'", desc, arg)
}

func jsonList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func isShell(base string) bool {
	switch base {
	case "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh":
		return true
	}
	return false
}

// shellUses reports whether script reads positional parameter pos (0 = $0)
// or, for pos > 0, all of them.
func shellUses(script string, pos int) bool {
	n := strconv.Itoa(pos)
	if strings.Contains(script, "${"+n+"}") || strings.Contains(script, "${"+n+":") {
		return true
	}
	if i := strings.Index(script, "$"+n); i >= 0 && pos < 10 {
		if j := i + 1 + len(n); j >= len(script) || script[j] < '0' || script[j] > '9' || pos == 0 {
			return true
		}
	}
	if pos > 0 {
		for _, s := range []string{"$@", "${@", "$*", "${*"} {
			if strings.Contains(script, s) {
				return true
			}
		}
	}
	return false
}

// unwrapInit peels an init wrapper (tini, dumb-init, catatonit, env) and its
// options off args, returning the command it runs; ok is false if base is
// no wrapper or its options are not understood.
func unwrapInit(base string, args []string) (rest []string, ok bool) {
	var withValue map[string]bool
	switch base {
	case "tini", "tini-static", "catatonit":
		withValue = map[string]bool{"-e": true, "-p": true}
	case "dumb-init":
		withValue = map[string]bool{"-r": true, "--rewrite": true}
	case "env":
		withValue = map[string]bool{"-u": true, "--unset": true, "-C": true, "--chdir": true}
	default:
		return nil, false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return args[i+1:], true
		case base == "env" && (a == "-S" || strings.HasPrefix(a, "--split-string")):
			return nil, false // env re-splits a string: too clever to follow
		case base == "env" && strings.Contains(a, "=") && !strings.HasPrefix(a, "-"):
			continue // NAME=VALUE
		case strings.HasPrefix(a, "-") && len(a) > 1:
			if withValue[a] {
				i++
			}
		default:
			return args[i:], true
		}
	}
	return nil, true
}
