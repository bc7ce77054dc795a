package contract

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readJSONFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("%s is not valid JSON: %s", p, b)
	}
	return string(b)
}

func TestPrepareHostSpecExamples(t *testing.T) {
	root := filepath.Join(t.TempDir(), "algo-2")
	p, err := PrepareHost(root, HostConfig{
		HyperParameters: map[string]string{"max_leaf_nodes": "100", "criterion": "gini"},
		Channels:        []Channel{{Name: "training", S3Uri: "s3://b/train/", ContentType: "text/csv", InputMode: ModeFile}},
		Hosts:           []string{"algo-2", "algo-1"},
		CurrentHost:     "algo-2",
		InstanceType:    "ml.m5.xlarge",
	})
	if err != nil {
		t.Fatal(err)
	}
	// The spec examples, with their line breaks removed.
	for name, want := range map[string]string{
		"inputdataconfig.json": `{"training": {"ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}`,
		"resourceconfig.json":  `{"current_host": "algo-2", "current_instance_type": "ml.m5.xlarge", "current_group_name": "homogeneousCluster", "hosts": ["algo-1", "algo-2"], "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": "ml.m5.xlarge", "hosts": ["algo-1", "algo-2"]}], "network_interface_name": "eth0"}`,
		// Keys sorted; the spec example lists the same object.
		"hyperparameters.json": `{"criterion": "gini", "max_leaf_nodes": "100"}`,
	} {
		if got := readJSONFile(t, filepath.Join(p.Config, name)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	var hp map[string]string
	json.Unmarshal([]byte(readJSONFile(t, filepath.Join(p.Config, "hyperparameters.json"))), &hp)
	if !reflect.DeepEqual(hp, map[string]string{"max_leaf_nodes": "100", "criterion": "gini"}) {
		t.Errorf("hyperparameters = %v", hp)
	}
	if _, err := os.Stat(filepath.Join(p.Config, "checkpointconfig.json")); !os.IsNotExist(err) {
		t.Errorf("checkpointconfig.json without checkpointing: %v", err)
	}
	for dir, mode := range map[string]os.FileMode{
		p.Root: 0o755, p.Config: 0o755, p.Data: 0o755, p.ChannelDir("training"): 0o777,
		p.Model: 0o777, p.Output: 0o777, p.OutputData: 0o777, p.Checkpoints: 0o777,
	} {
		st, err := os.Lstat(dir)
		if err != nil || !st.IsDir() || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want dir %v", dir, st.Mode(), err, mode)
		}
	}
	st, _ := os.Stat(filepath.Join(p.Config, "resourceconfig.json"))
	if st.Mode().Perm() != 0o644 {
		t.Errorf("config file mode %v", st.Mode())
	}
	wantMounts := []Mount{
		{Source: p.Config, Target: "/opt/ml/input/config", ReadOnly: true},
		{Source: p.Data, Target: "/opt/ml/input/data"},
		{Source: p.Model, Target: "/opt/ml/model"},
		{Source: p.Output, Target: "/opt/ml/output"},
		{Source: p.Tmp, Target: "/tmp"},
	}
	if st, err := os.Stat(p.Tmp); err != nil || st.Mode().Perm() != 0o777 || st.Mode()&os.ModeSticky == 0 {
		t.Errorf("tmp: %v %v, want 1777", st.Mode(), err)
	}
	if got := p.Mounts(); !reflect.DeepEqual(got, wantMounts) {
		t.Errorf("Mounts = %+v", got)
	}
}

func TestPrepareHostVariants(t *testing.T) {
	seed := int64(3)
	hosts := []string{"algo-1", "algo-2", "algo-10", "algo-3"}
	p, err := PrepareHost(filepath.Join(t.TempDir(), "h"), HostConfig{
		Channels: []Channel{
			{Name: "train", S3Uri: "s3://b/t/", InputMode: ModePipe, CompressionType: CompressionGzip, RecordWrapperType: RecordIO, Distribution: ShardedByS3Key, ShuffleSeed: &seed},
			{Name: "fast", S3Uri: "s3://b/f/", InputMode: ModeFastFile},
			{Name: "validation", S3Uri: "s3://b/v/"},
		},
		Hosts: hosts, CurrentHost: "algo-10", InstanceType: "ml.c5.2xlarge",
		CheckpointS3Uri: "s3://b/ckpt", CheckpointLocalPath: "/opt/ml/ckpt",
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"hyperparameters.json": `{}`,
		"inputdataconfig.json": `{"train": {"TrainingInputMode": "Pipe", "S3DistributionType": "ShardedByS3Key", "RecordWrapperType": "RecordIO"}, ` +
			`"fast": {"TrainingInputMode": "FastFile", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}, ` +
			`"validation": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}`,
		"checkpointconfig.json": `{"LocalPath": "/opt/ml/ckpt", "S3Uri": "s3://b/ckpt"}`,
	} {
		if got := readJSONFile(t, filepath.Join(p.Config, name)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	var rc struct {
		CurrentHost string   `json:"current_host"`
		Hosts       []string `json:"hosts"`
	}
	json.Unmarshal([]byte(readJSONFile(t, filepath.Join(p.Config, "resourceconfig.json"))), &rc)
	if rc.CurrentHost != "algo-10" || !reflect.DeepEqual(rc.Hosts, []string{"algo-1", "algo-10", "algo-2", "algo-3"}) {
		t.Errorf("resourceconfig = %+v", rc)
	}
	if _, err := os.Lstat(filepath.Join(p.Data, "train")); !os.IsNotExist(err) {
		t.Errorf("Pipe channel got a directory: %v", err)
	}
	if st, err := os.Lstat(filepath.Join(p.Data, "train_0")); err != nil || st.Mode() != os.ModeNamedPipe|0o644 {
		t.Errorf("Pipe channel FIFO: %v %v", st, err)
	}
	if st, _ := os.Lstat(p.ChannelDir("fast")); st.Mode().Perm() != 0o755 {
		t.Errorf("FastFile dir mode %v", st.Mode())
	}
	wantMounts := []Mount{
		{Source: p.Checkpoints, Target: "/opt/ml/ckpt"},
		{Source: p.Config, Target: "/opt/ml/input/config", ReadOnly: true},
		{Source: p.Data, Target: "/opt/ml/input/data"},
		{Source: p.ChannelDir("fast"), Target: "/opt/ml/input/data/fast", ReadOnly: true},
		{Source: p.Model, Target: "/opt/ml/model"},
		{Source: p.Output, Target: "/opt/ml/output"},
		{Source: p.Tmp, Target: "/tmp"},
	}
	if got := p.Mounts(); !reflect.DeepEqual(got, wantMounts) {
		t.Errorf("Mounts = %+v\nwant %+v", got, wantMounts)
	}
	if again, err := HostLayout(p.Root, HostConfig{
		Channels: []Channel{{Name: "train", S3Uri: "s3://b/t/", InputMode: ModePipe}, {Name: "fast", S3Uri: "s3://b/f/", InputMode: ModeFastFile}},
		Hosts:    hosts, CurrentHost: "algo-10", CheckpointS3Uri: "s3://b/ckpt", CheckpointLocalPath: "/opt/ml/ckpt",
	}); err != nil || !reflect.DeepEqual(again, p) {
		t.Errorf("HostLayout = %+v, %v\nwant %+v", again, err, p)
	}
	if !filepath.IsAbs(p.Root) {
		t.Errorf("root %q not absolute", p.Root)
	}
}

func TestPrepareHostErrors(t *testing.T) {
	base := HostConfig{Hosts: []string{"algo-1"}, CurrentHost: "algo-1", InstanceType: "ml.m5.large"}
	for name, mod := range map[string]func(*HostConfig){
		"dot-dot channel": func(c *HostConfig) { c.Channels = []Channel{{Name: "..", S3Uri: "s3://b/x"}} },
		"dup channel": func(c *HostConfig) {
			c.Channels = []Channel{{Name: "a", S3Uri: "s3://b/x"}, {Name: "a", S3Uri: "s3://b/y"}}
		},
		"fifo clash": func(c *HostConfig) {
			c.Channels = []Channel{{Name: "t", S3Uri: "s3://b/x", InputMode: ModePipe}, {Name: "t_1", S3Uri: "s3://b/y"}}
		},
		"unknown host":     func(c *HostConfig) { c.CurrentHost = "algo-2" },
		"dup host":         func(c *HostConfig) { c.Hosts = []string{"algo-1", "algo-1"} },
		"relative ckpt":    func(c *HostConfig) { c.CheckpointS3Uri, c.CheckpointLocalPath = "s3://b/c", "ckpt" },
		"ckpt over model":  func(c *HostConfig) { c.CheckpointS3Uri, c.CheckpointLocalPath = "s3://b/c", "/opt/ml/model" },
		"ckpt above input": func(c *HostConfig) { c.CheckpointS3Uri, c.CheckpointLocalPath = "s3://b/c", "/opt/ml" },
		"bad ckpt uri":     func(c *HostConfig) { c.CheckpointS3Uri = "b/c" },
	} {
		cfg := base
		mod(&cfg)
		if _, err := PrepareHost(filepath.Join(t.TempDir(), "h"), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stale"), nil, 0o644)
	if _, err := PrepareHost(dir, base); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty root: %v", err)
	}
}

func TestPrepareHostOwner(t *testing.T) {
	me := Owner{UID: os.Getuid(), GID: os.Getgid()}
	p, err := PrepareHost(filepath.Join(t.TempDir(), "h"), HostConfig{
		Hosts: []string{"algo-1"}, CurrentHost: "algo-1", Owner: &me,
		Channels: []Channel{{Name: "train", S3Uri: "s3://b/t/"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{p.Model, p.ChannelDir("train"), p.OutputData} {
		if st, _ := os.Lstat(d); st.Mode().Perm() != 0o755 {
			t.Errorf("%s mode %v", d, st.Mode())
		}
	}
}

func TestDirSize(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i)
	}
	os.WriteFile(filepath.Join(dir, "a"), data, 0o644)
	os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "hard"))
	outside := filepath.Join(t.TempDir(), "big")
	os.WriteFile(outside, make([]byte, 1<<20), 0o644)
	os.Symlink(outside, filepath.Join(dir, "link"))
	n, err := DirSize(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n < 100000 || n > 100000+64<<10 {
		t.Errorf("DirSize = %d, want about 100000", n)
	}
}

func TestTrainingCommandAndEnv(t *testing.T) {
	for _, tc := range []struct{ ep, args, wantEP, wantCmd []string }{
		{nil, nil, nil, []string{"train"}},
		{nil, []string{"--x"}, nil, []string{"--x"}},
		{[]string{"python", "t.py"}, nil, []string{"python", "t.py"}, []string{}},
		{[]string{"python"}, []string{"t.py"}, []string{"python"}, []string{"t.py"}},
	} {
		ep, cmd := TrainingCommand(tc.ep, tc.args)
		if !reflect.DeepEqual(ep, tc.wantEP) || !reflect.DeepEqual(cmd, tc.wantCmd) {
			t.Errorf("TrainingCommand(%q, %q) = %q, %q", tc.ep, tc.args, ep, cmd)
		}
	}
	env := TrainingEnv("job", "arn:aws:sagemaker:r:123456789012:training-job/job", "r", map[string]string{"A": "1", "AWS_REGION": "x"})
	if env["A"] != "1" || env["AWS_REGION"] != "r" || env["AWS_DEFAULT_REGION"] != "r" || env["TRAINING_JOB_NAME"] != "job" || len(env) != 5 {
		t.Errorf("TrainingEnv = %v", env)
	}
}
