package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Container paths of the training layout (§2.2).
const (
	ContainerConfigDir         = "/opt/ml/input/config"
	ContainerDataDir           = "/opt/ml/input/data"
	ContainerModelDir          = "/opt/ml/model"
	ContainerOutputDir         = "/opt/ml/output"
	DefaultCheckpointLocalPath = "/opt/ml/checkpoints"
)

// Owner is a numeric user and group.
type Owner struct{ UID, GID int }

// HostConfig describes one training host for PrepareHost.
type HostConfig struct {
	// HyperParameters after algorithm defaults were filled in.
	HyperParameters map[string]string
	// Channels in request order, each with its effective InputMode.
	Channels []Channel
	// Hosts are all host names (algo-1 … algo-N); CurrentHost is one of them.
	Hosts        []string
	CurrentHost  string
	InstanceType string
	// CheckpointS3Uri enables checkpointing; CheckpointLocalPath defaults to
	// /opt/ml/checkpoints.
	CheckpointS3Uri     string
	CheckpointLocalPath string
	// Owner, if set, becomes the owner of the container-writable
	// directories (mode 0755), which needs privileges. If nil they are
	// world-writable (0777) so that any container user can write.
	Owner *Owner
}

// HostPaths are one host's directories on the host side.
type HostPaths struct {
	Root        string
	Config      string // mounted read-only at /opt/ml/input/config
	Data        string // /opt/ml/input/data: channel dirs and Pipe FIFOs; not container-writable
	Model       string // /opt/ml/model
	Output      string // /opt/ml/output (failure file)
	OutputData  string // /opt/ml/output/data
	Checkpoints string // mounted at CheckpointTarget when checkpointing
	// Tmp is mounted at /tmp so that scratch files count against
	// VolumeSizeInGB like everything else the host writes.
	Tmp string
	// CheckpointTarget is the container path of Checkpoints, "" without checkpointing.
	CheckpointTarget string
	// FastFileChannels are mounted read-only over their data directories.
	FastFileChannels []string
}

// ChannelDir is the host directory of a File or FastFile channel.
func (p HostPaths) ChannelDir(name string) string { return filepath.Join(p.Data, name) }

// Mount binds a host directory into a container (same shape as runtime.Mount).
type Mount struct {
	Source   string // absolute host path
	Target   string // absolute container path
	ReadOnly bool
}

// Mounts returns the bind mounts of the host's layout, parents before children.
func (p HostPaths) Mounts() []Mount {
	m := []Mount{
		{Source: p.Config, Target: ContainerConfigDir, ReadOnly: true},
		{Source: p.Data, Target: ContainerDataDir},
		{Source: p.Model, Target: ContainerModelDir},
		{Source: p.Output, Target: ContainerOutputDir},
		{Source: p.Tmp, Target: "/tmp"},
	}
	for _, ch := range p.FastFileChannels {
		m = append(m, Mount{Source: p.ChannelDir(ch), Target: ContainerDataDir + "/" + ch, ReadOnly: true})
	}
	if p.CheckpointTarget != "" {
		m = append(m, Mount{Source: p.Checkpoints, Target: p.CheckpointTarget})
	}
	slices.SortStableFunc(m, func(a, b Mount) int { return strings.Compare(a.Target, b.Target) })
	return m
}

// PrepareHost creates a host's layout under root (which must be absent or
// empty) and writes its config files (§2.2, §2.3):
//
//	root/input/config/{hyperparameters,inputdataconfig,resourceconfig}.json (+ checkpointconfig.json)
//	root/input/data/<channel>/   for File and FastFile channels
//	root/input/data/<channel>_0  FIFO of each Pipe channel (fed by ServePipe)
//	root/model/, root/output/data/, root/checkpoints/, root/tmp/ (/tmp, mode 1777)
//
// Config files are 0644; input/config and input/data are 0755 and not
// container-writable; the channel, model, output and checkpoint directories
// are container-writable according to cfg.Owner. StageFile and SyncDown give
// new entries the permissions and owner of the directory they fill.
func PrepareHost(root string, cfg HostConfig) (HostPaths, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return HostPaths{}, err
	}
	files, paths, err := hostFiles(root, &cfg) // normalizes a copy of cfg.Channels
	if err != nil {
		return HostPaths{}, fmt.Errorf("prepare host: %w", err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return HostPaths{}, fmt.Errorf("prepare host: %w", err)
	}
	if ents, err := os.ReadDir(root); err != nil || len(ents) > 0 {
		if err == nil {
			err = errors.New("directory is not empty")
		}
		return HostPaths{}, fmt.Errorf("prepare host %s: %w", root, err)
	}
	// mk makes a directory; writable ones are for the container user.
	mk := func(dir string, writable bool) error {
		if err := os.Mkdir(dir, 0o755); err != nil && dir != root {
			return err
		}
		switch {
		case !writable:
			return os.Chmod(dir, 0o755)
		case cfg.Owner == nil:
			return os.Chmod(dir, 0o777)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		return os.Lchown(dir, cfg.Owner.UID, cfg.Owner.GID)
	}
	mkAll := func(writable bool, dirs ...string) error {
		for _, d := range dirs {
			if err := mk(d, writable); err != nil {
				return fmt.Errorf("prepare host: %w", err)
			}
		}
		return nil
	}
	if err := mkAll(false, root, filepath.Join(root, "input"), paths.Config, paths.Data); err != nil {
		return HostPaths{}, err
	}
	if err := mkAll(true, paths.Model, paths.Output, paths.OutputData, paths.Checkpoints); err != nil {
		return HostPaths{}, err
	}
	// /tmp is world-writable and sticky whoever the container user is.
	if err := os.Mkdir(paths.Tmp, 0o755); err != nil {
		return HostPaths{}, fmt.Errorf("prepare host: %w", err)
	}
	if err := os.Chmod(paths.Tmp, 0o777|os.ModeSticky); err != nil {
		return HostPaths{}, fmt.Errorf("prepare host: %w", err)
	}
	for _, ch := range cfg.Channels {
		if ch.InputMode == ModePipe {
			// Epoch 0 exists when the container starts; ServePipe feeds it.
			if err := makeFIFO(filepath.Join(paths.Data, FIFOName(ch.Name, 0))); err != nil {
				return HostPaths{}, fmt.Errorf("prepare host: %w", err)
			}
			continue
		}
		// FastFile directories are mounted read-only anyway.
		if err := mkAll(ch.InputMode == ModeFile, paths.ChannelDir(ch.Name)); err != nil {
			return HostPaths{}, err
		}
	}
	for _, f := range files {
		p := filepath.Join(paths.Config, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return HostPaths{}, fmt.Errorf("prepare host: %w", err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			return HostPaths{}, fmt.Errorf("prepare host: %w", err)
		}
	}
	return paths, nil
}

// HostLayout returns the HostPaths PrepareHost makes for root and cfg
// without touching the filesystem (for a controller adopting a running job).
func HostLayout(root string, cfg HostConfig) (HostPaths, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return HostPaths{}, err
	}
	_, paths, err := hostFiles(root, &cfg)
	if err != nil {
		return HostPaths{}, fmt.Errorf("host layout: %w", err)
	}
	return paths, nil
}

type configFile struct {
	name string
	data []byte
}

// hostFiles validates cfg and renders its config files.
func hostFiles(root string, cfg *HostConfig) ([]configFile, HostPaths, error) {
	p := HostPaths{
		Root:        root,
		Config:      filepath.Join(root, "input", "config"),
		Data:        filepath.Join(root, "input", "data"),
		Model:       filepath.Join(root, "model"),
		Output:      filepath.Join(root, "output"),
		OutputData:  filepath.Join(root, "output", "data"),
		Checkpoints: filepath.Join(root, "checkpoints"),
		Tmp:         filepath.Join(root, "tmp"),
	}
	hp := cfg.HyperParameters
	if hp == nil {
		hp = map[string]string{}
	}
	hyper, err := pyJSON(hp)
	if err != nil {
		return nil, p, err
	}

	// inputdataconfig.json keeps request order, so it is assembled by hand.
	type channelConfig struct {
		ContentType        string `json:"ContentType,omitempty"`
		TrainingInputMode  string `json:"TrainingInputMode"`
		S3DistributionType string `json:"S3DistributionType"`
		RecordWrapperType  string `json:"RecordWrapperType"`
	}
	names := map[string]bool{}
	cfg.Channels = slices.Clone(cfg.Channels)
	var input bytes.Buffer
	input.WriteByte('{')
	for i, ch := range cfg.Channels {
		ch, err := ch.normalize()
		if err != nil {
			return nil, p, err
		}
		if names[ch.Name] {
			return nil, p, fmt.Errorf("duplicate channel %q", ch.Name)
		}
		names[ch.Name] = true
		cfg.Channels[i] = ch
		if ch.InputMode == ModeFastFile {
			p.FastFileChannels = append(p.FastFileChannels, ch.Name)
		}
		k, _ := pyJSON(ch.Name)
		v, err := pyJSON(channelConfig{ch.ContentType, ch.InputMode, ch.Distribution, ch.RecordWrapperType})
		if err != nil {
			return nil, p, err
		}
		if i > 0 {
			input.WriteString(", ")
		}
		input.Write(k)
		input.WriteString(": ")
		input.Write(v)
	}
	input.WriteByte('}')
	// A directory channel must not take the name of another channel's FIFO.
	for _, ch := range cfg.Channels {
		if ch.InputMode == ModePipe {
			continue
		}
		for _, other := range cfg.Channels {
			if rest, ok := strings.CutPrefix(ch.Name, other.Name+"_"); ok && other.InputMode == ModePipe && rest != "" && strings.Trim(rest, "0123456789") == "" {
				return nil, p, fmt.Errorf("channel %q clashes with the FIFOs of Pipe channel %q", ch.Name, other.Name)
			}
		}
	}

	hosts := slices.Clone(cfg.Hosts)
	slices.Sort(hosts)
	if len(hosts) == 0 || len(slices.Compact(slices.Clone(hosts))) != len(hosts) {
		return nil, p, errors.New("hosts must be non-empty and unique")
	}
	if !slices.Contains(hosts, cfg.CurrentHost) {
		return nil, p, fmt.Errorf("current host %q is not in hosts", cfg.CurrentHost)
	}
	type instanceGroup struct {
		InstanceGroupName string   `json:"instance_group_name"`
		InstanceType      string   `json:"instance_type"`
		Hosts             []string `json:"hosts"`
	}
	resource, err := pyJSON(struct {
		CurrentHost          string          `json:"current_host"`
		CurrentInstanceType  string          `json:"current_instance_type"`
		CurrentGroupName     string          `json:"current_group_name"`
		Hosts                []string        `json:"hosts"`
		InstanceGroups       []instanceGroup `json:"instance_groups"`
		NetworkInterfaceName string          `json:"network_interface_name"`
	}{cfg.CurrentHost, cfg.InstanceType, "homogeneousCluster", hosts,
		[]instanceGroup{{"homogeneousCluster", cfg.InstanceType, hosts}}, "eth0"})
	if err != nil {
		return nil, p, err
	}
	files := []configFile{
		{"hyperparameters.json", hyper},
		{"inputdataconfig.json", input.Bytes()},
		{"resourceconfig.json", resource},
	}

	if cfg.CheckpointS3Uri != "" {
		if _, _, err := ParseS3URI(cfg.CheckpointS3Uri); err != nil {
			return nil, p, fmt.Errorf("checkpoint: %w", err)
		}
		local := cfg.CheckpointLocalPath
		if local == "" {
			local = DefaultCheckpointLocalPath
		}
		if err := checkCheckpointPath(local); err != nil {
			return nil, p, err
		}
		p.CheckpointTarget = local
		ckpt, err := pyJSON(struct {
			LocalPath string `json:"LocalPath"`
			S3Uri     string `json:"S3Uri"`
		}{local, cfg.CheckpointS3Uri})
		if err != nil {
			return nil, p, err
		}
		files = append(files, configFile{"checkpointconfig.json", ckpt})
	}
	return files, p, nil
}

// checkCheckpointPath rejects local checkpoint paths that are relative,
// unclean, or equal to, inside or above another mount.
func checkCheckpointPath(local string) error {
	if !path.IsAbs(local) || path.Clean(local) != local || local == "/" {
		return fmt.Errorf("checkpoint LocalPath %q must be a clean absolute path", local)
	}
	for _, t := range []string{ContainerConfigDir, ContainerDataDir, ContainerModelDir, ContainerOutputDir} {
		if local == t || strings.HasPrefix(local, t+"/") || strings.HasPrefix(t, local+"/") {
			return fmt.Errorf("checkpoint LocalPath %q overlaps %s", local, t)
		}
	}
	return nil
}

// pyJSON encodes v like Python's json.dumps (", " and ": " separators),
// which is what the service writes, without HTML escaping.
func pyJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	compact := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	out := make([]byte, 0, len(compact)+len(compact)/8)
	inString, escaped := false, false
	for _, c := range compact {
		out = append(out, c)
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == ',' || c == ':'):
			out = append(out, ' ')
		}
	}
	return out, nil
}

// DirSize returns the disk space used under dir (allocated blocks of every
// entry, hard links counted once), without following symlinks. Entries that
// vanish meanwhile are ignored.
func DirSize(dir string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var total int64
	add := func(st os.FileInfo) {
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			total += st.Size()
			return
		}
		if sys.Nlink > 1 && !st.IsDir() {
			k := inode{uint64(sys.Dev), sys.Ino}
			if seen[k] {
				return
			}
			seen[k] = true
		}
		total += sys.Blocks * 512
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return 0, fmt.Errorf("dir size: %w", err)
	}
	add(st)
	err = walkPath(context.Background(), dir, func(e fileEntry) error {
		add(e.info)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("dir size: %w", err)
	}
	return total, nil
}

// ReservedTrainingEnv are the variables TrainingEnv sets; a request's
// Environment must not contain them (§2.5, checked at create time).
var ReservedTrainingEnv = []string{"TRAINING_JOB_NAME", "TRAINING_JOB_ARN", "AWS_REGION", "AWS_DEFAULT_REGION"}

// TrainingEnv returns a training container's environment (§2.5): the
// request's Environment plus the platform variables, which win.
func TrainingEnv(jobName, jobARN, region string, env map[string]string) map[string]string {
	out := make(map[string]string, len(env)+4)
	for k, v := range env {
		out[k] = v
	}
	out["TRAINING_JOB_NAME"] = jobName
	out["TRAINING_JOB_ARN"] = jobARN
	out["AWS_REGION"] = region
	out["AWS_DEFAULT_REGION"] = region
	return out
}

// TrainingCommand maps ContainerEntrypoint and ContainerArguments to the
// container's entrypoint and command (§2.1). A nil entrypoint keeps the
// image's ENTRYPOINT; cmd always replaces the image's CMD (empty: none).
func TrainingCommand(entrypoint, args []string) (ep, cmd []string) {
	switch {
	case len(entrypoint) == 0 && len(args) == 0:
		return nil, []string{"train"}
	case len(entrypoint) == 0:
		return nil, slices.Clone(args)
	}
	return slices.Clone(entrypoint), append([]string{}, args...)
}
