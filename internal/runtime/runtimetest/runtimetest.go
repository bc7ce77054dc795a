// Package runtimetest is the conformance suite every runtime.Runtime
// implementation must pass. It runs the contract test image
// (internal/testimage) in the modes Wharf relies on: command resolution,
// exit codes, logs, stop with grace, OOM, network isolation, multi-host
// networks, published ports, mounts, labels and image loading.
//
// Images are built in the local Docker Engine, so the runtime under test
// must see that engine's images. Everything the suite creates carries the
// labels wharf.kind=runtimetest and wharf.resource=<run id> and is removed
// when the test ends.
package runtimetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/testimage"
)

// Kind is the wharf.kind label value of everything the suite creates.
const Kind = "runtimetest"

// Run runs the conformance suite against rt.
func Run(t *testing.T, rt runtime.Runtime) {
	s := &suite{
		rt:    rt,
		img:   testimage.Build(t, testimage.Contract),
		epImg: testimage.Build(t, testimage.ContractEntrypoint),
		run:   randomID(),
	}
	start := time.Now()
	t.Cleanup(func() { s.sweep(t) })

	t.Run("InspectImage", s.testInspectImage)
	t.Run("LoadImage", s.testLoadImage)
	t.Run("Containers", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			fn   func(*testing.T)
		}{
			{"Train", s.testTrain},
			{"Commands", s.testCommands},
			{"ExitCode", s.testExitCode},
			{"StopGraceful", s.testStopGraceful},
			{"StopKill", s.testStopKill},
			{"OOM", s.testOOM},
			{"NetworkNone", s.testNetworkNone},
			{"InternalNetwork", s.testInternalNetwork},
			{"HostAccessNetwork", s.testHostAccessNetwork},
			{"Serve", s.testServe},
			{"List", s.testList},
			{"Remove", s.testRemove},
			{"Mounts", s.testMounts},
			{"LongLines", s.testLongLines},
			{"ManyLines", s.testManyLines},
			{"StartErrors", s.testStartErrors},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t)
			})
		}
	})

	// Every subtest removed what it created: nothing may be left.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if left, err := rt.List(ctx, s.labels()); err != nil || len(left) > 0 {
		t.Errorf("containers left after the suite: %d (%v)", len(left), err)
	}
	if left, err := rt.ListNetworks(ctx, s.labels()); err != nil || len(left) > 0 {
		t.Errorf("networks left after the suite: %d (%v)", len(left), err)
	}
	t.Logf("runtimetest %s: %s", s.run, time.Since(start).Round(time.Millisecond))
}

type suite struct {
	rt         runtime.Runtime
	img, epImg string
	run        string
}

// ---------------------------------------------------------------- helpers

func randomID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *suite) labels() map[string]string {
	return map[string]string{runtime.LabelKind: Kind, runtime.LabelResource: s.run}
}

func (s *suite) name(t *testing.T, suffix string) string {
	n := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	n = "wharf-rtt-" + s.run + "-" + n
	if suffix != "" {
		n += "-" + suffix
	}
	return n
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sweep removes anything left behind by a failed test.
func (s *suite) sweep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, _ := s.rt.List(ctx, s.labels())
	for _, c := range cs {
		_ = s.rt.Remove(ctx, c.ID)
	}
	ns, _ := s.rt.ListNetworks(ctx, s.labels())
	for _, n := range ns {
		_ = s.rt.RemoveNetwork(ctx, n)
	}
	if len(cs)+len(ns) > 0 {
		t.Logf("swept %d containers, %d networks", len(cs), len(ns))
	}
}

// job is a training host's /opt/ml layout on the host side.
type job struct {
	dir                         string
	config, data, model, output string
}

// newJob writes the config files and returns the directories; resource may be nil.
func newJob(t *testing.T, hps map[string]string, channels map[string]any, resource any) *job {
	t.Helper()
	d := t.TempDir()
	j := &job{dir: d, config: filepath.Join(d, "config"), data: filepath.Join(d, "data"),
		model: filepath.Join(d, "model"), output: filepath.Join(d, "output")}
	for _, p := range []string{j.config, j.data, j.model, filepath.Join(j.output, "data")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if hps == nil {
		hps = map[string]string{}
	}
	if channels == nil {
		channels = map[string]any{}
	}
	writeJSON(t, filepath.Join(j.config, "hyperparameters.json"), hps)
	writeJSON(t, filepath.Join(j.config, "inputdataconfig.json"), channels)
	if resource != nil {
		writeJSON(t, filepath.Join(j.config, "resourceconfig.json"), resource)
	}
	return j
}

func (j *job) mounts() []runtime.Mount {
	return []runtime.Mount{
		{Source: j.config, Target: "/opt/ml/input/config", ReadOnly: true},
		{Source: j.data, Target: "/opt/ml/input/data"},
		{Source: j.model, Target: "/opt/ml/model"},
		{Source: j.output, Target: "/opt/ml/output"},
	}
}

func writeJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func resourceConfig(current string, hosts ...string) map[string]any {
	return map[string]any{"current_host": current, "hosts": hosts, "network_interface_name": "eth0"}
}

// trainSpec is a training container for the contract image on no network.
func (s *suite) trainSpec(t *testing.T, suffix string, j *job) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:    s.name(t, suffix),
		Image:   s.img,
		Cmd:     []string{"train"},
		Labels:  s.labels(),
		Network: "none",
		Mounts:  j.mounts(),
		User:    fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()),
	}
}

// start starts spec and removes the container when the test ends.
func (s *suite) start(t *testing.T, spec runtime.ContainerSpec) string {
	t.Helper()
	id, err := s.rt.Start(ctxFor(t, time.Minute), spec)
	if err != nil {
		t.Fatalf("Start(%s): %v", spec.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.rt.Remove(ctx, id); err != nil {
			t.Errorf("Remove(%s): %v", spec.Name, err)
		}
	})
	return id
}

func (s *suite) wait(t *testing.T, id string) runtime.ExitStatus {
	t.Helper()
	st, err := s.rt.Wait(ctxFor(t, 90*time.Second), id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// run starts spec, waits for it and returns its status and logs.
func (s *suite) runToEnd(t *testing.T, spec runtime.ContainerSpec) (runtime.ExitStatus, []runtime.LogLine) {
	t.Helper()
	id := s.start(t, spec)
	st := s.wait(t, id)
	return st, s.logs(t, id)
}

func (s *suite) logs(t *testing.T, id string) []runtime.LogLine {
	t.Helper()
	var lines []runtime.LogLine
	err := s.rt.Logs(ctxFor(t, time.Minute), id, false, func(l runtime.LogLine) error {
		lines = append(lines, l)
		return nil
	})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	return lines
}

var errFound = errors.New("found")

// waitForLine follows the logs until a line equal to want appears.
func (s *suite) waitForLine(t *testing.T, id, want string) {
	t.Helper()
	err := s.rt.Logs(ctxFor(t, time.Minute), id, true, func(l runtime.LogLine) error {
		if l.Text == want {
			return errFound
		}
		return nil
	})
	if !errors.Is(err, errFound) {
		t.Fatalf("waiting for log line %q: %v", want, err)
	}
}

func texts(lines []runtime.LogLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

// expectLines checks that want appears in lines in order (other lines may be
// interleaved). A want ending in "*" matches by prefix.
func expectLines(t *testing.T, lines []runtime.LogLine, want ...string) {
	t.Helper()
	i := 0
	for _, l := range lines {
		if i == len(want) {
			break
		}
		w := want[i]
		if l.Text == w || (strings.HasSuffix(w, "*") && strings.HasPrefix(l.Text, strings.TrimSuffix(w, "*"))) {
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("log line %q missing or out of order; got:\n%s", want[i], strings.Join(texts(lines), "\n"))
	}
}

func hasLine(lines []runtime.LogLine, prefix string) (runtime.LogLine, bool) {
	for _, l := range lines {
		if strings.HasPrefix(l.Text, prefix) {
			return l, true
		}
	}
	return runtime.LogLine{}, false
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ------------------------------------------------------------------ images

func (s *suite) testInspectImage(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	info, err := s.rt.InspectImage(ctx, s.img)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.ID, "sha256:") || info.Size <= 0 {
		t.Errorf("ID %q Size %d", info.ID, info.Size)
	}
	if info.Entrypoint != nil || info.Cmd != nil {
		t.Errorf("Entrypoint %q Cmd %q, want none", info.Entrypoint, info.Cmd)
	}
	if !contains(info.Env, "PATH=/usr/local/bin") {
		t.Errorf("Env %q lacks PATH=/usr/local/bin", info.Env)
	}
	if info.Labels[testimage.ProgramLabel] != testimage.Contract {
		t.Errorf("Labels %v", info.Labels)
	}
	if len(info.ExposedPorts) != 1 || info.ExposedPorts[0] != "8080/tcp" {
		t.Errorf("ExposedPorts %q", info.ExposedPorts)
	}
	ep, err := s.rt.InspectImage(ctx, s.epImg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Entrypoint) != 1 || ep.Entrypoint[0] != "/usr/local/bin/prog" {
		t.Errorf("entrypoint image: Entrypoint %q", ep.Entrypoint)
	}
	// By id as well as by reference.
	if byID, err := s.rt.InspectImage(ctx, info.ID); err != nil || byID.ID != info.ID {
		t.Errorf("InspectImage(id) = %q, %v", byID.ID, err)
	}
	for _, ref := range []string{"wharf-test/no-such-image:nope", "sha256:" + strings.Repeat("0", 64)} {
		if _, err := s.rt.InspectImage(ctx, ref); !errors.Is(err, runtime.ErrImageNotFound) {
			t.Errorf("InspectImage(%s) error = %v, want ErrImageNotFound", ref, err)
		}
	}
}

func (s *suite) testLoadImage(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	ref := testimage.Unique(t)
	before, err := s.rt.InspectImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	tar := testimage.Save(t, ref)
	testimage.Remove(t, ref)
	if _, err := s.rt.InspectImage(ctx, ref); !errors.Is(err, runtime.ErrImageNotFound) {
		t.Fatalf("after removal: InspectImage error = %v, want ErrImageNotFound", err)
	}
	if err := s.rt.LoadImage(ctx, bytes.NewReader(tar)); err != nil {
		t.Fatalf("LoadImage: %v", err)
	}
	after, err := s.rt.InspectImage(ctx, ref)
	if err != nil {
		t.Fatalf("after LoadImage: %v", err)
	}
	if after.ID != before.ID {
		t.Errorf("loaded image id %s, want %s", after.ID, before.ID)
	}
	if err := s.rt.LoadImage(ctx, strings.NewReader("this is not a tar stream")); err == nil {
		t.Error("LoadImage(garbage) succeeded")
	}
	// A truncated archive must fail too.
	if err := s.rt.LoadImage(ctx, bytes.NewReader(tar[:len(tar)/2])); err == nil {
		t.Error("LoadImage(truncated) succeeded")
	}
}

// -------------------------------------------------------------- containers

func (s *suite) testTrain(t *testing.T) {
	j := newJob(t,
		map[string]string{"epochs": "2", "model_content": "hello"},
		map[string]any{
			"training": map[string]string{"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
			"stream":   map[string]string{"TrainingInputMode": "Pipe", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
		}, resourceConfig("algo-1", "algo-1"))
	a, b := []byte("x,y\n1,2\n"), bytes.Repeat([]byte("0123456789"), 1000)
	if err := os.MkdirAll(filepath.Join(j.data, "training", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(j.data, "training", "a.csv"), a, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(j.data, "training", "sub", "b.csv"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Pipe mode: epoch e delivers e+1 copies of b.
	var pipeErr error
	var wg sync.WaitGroup
	fifo := func(e int) string { return filepath.Join(j.data, fmt.Sprintf("stream_%d", e)) }
	if err := syscall.Mkfifo(fifo(0), 0o666); err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for e := 0; e < 2; e++ {
			if e > 0 {
				if pipeErr = syscall.Mkfifo(fifo(e), 0o666); pipeErr != nil {
					return
				}
			}
			if pipeErr = writeFIFO(fifo(e), bytes.Repeat(b, e+1), time.Now().Add(60*time.Second)); pipeErr != nil {
				return
			}
		}
	}()

	spec := s.trainSpec(t, "", j)
	spec.Env = map[string]string{"TRAINING_JOB_NAME": "rtt-job", "AWS_REGION": "wharf-local-1"}
	spec.Hostname = "algo-1"
	spec.NanoCPUs = 1e9
	spec.MemoryBytes = 256 << 20
	spec.PidsLimit = 64
	spec.Tmpfs = map[string]string{"/tmp": "size=16m"}
	begin := time.Now().Add(-time.Minute)
	id := s.start(t, spec)
	st := s.wait(t, id)
	wg.Wait()
	if pipeErr != nil {
		t.Fatalf("pipe writer: %v", pipeErr)
	}
	lines := s.logs(t, id)
	if st.Code != 0 || st.OOMKilled {
		t.Fatalf("exit %+v; logs:\n%s", st, strings.Join(texts(lines), "\n"))
	}
	expectLines(t, lines,
		"contract train mode=succeed",
		`config hyperparameters.json {"epochs":"2","model_content":"hello"}`,
		"config inputdataconfig.json *",
		`config resourceconfig.json {"current_host":"algo-1","hosts":["algo-1"],"network_interface_name":"eth0"}`,
		fmt.Sprintf("whoami uid=%d gid=%d hostname=algo-1", os.Getuid(), os.Getgid()),
		"channel stream Pipe",
		fmt.Sprintf("pipe stream 0 %d %s", len(b), sha(b)),
		fmt.Sprintf("pipe stream 1 %d %s", 2*len(b), sha(bytes.Repeat(b, 2))),
		"channel training File",
		fmt.Sprintf("file training/a.csv %d %s", len(a), sha(a)),
		fmt.Sprintf("file training/sub/b.csv %d %s", len(b), sha(b)),
		"env TRAINING_JOB_NAME=rtt-job",
		"env TRAINING_JOB_ARN unset",
		"env AWS_REGION=wharf-local-1",
		"env SM_* none",
		"epoch=1 train_mse=0.500000",
		"epoch=2 train_mse=0.333333",
		"train: success",
	)
	for _, l := range lines {
		if wantErr := l.Text == "contract: stderr works"; l.Stderr != wantErr {
			t.Errorf("line %q: Stderr = %v", l.Text, l.Stderr)
		}
		if l.Time.Before(begin) || l.Time.After(time.Now().Add(time.Minute)) {
			t.Errorf("line %q: Time %v", l.Text, l.Time)
		}
	}
	if _, ok := hasLine(lines, "contract: stderr works"); !ok {
		t.Error("no stderr line")
	}
	if got := readFile(t, filepath.Join(j.model, "model.txt")); got != "hello" {
		t.Errorf("model.txt = %q", got)
	}
	if got := readFile(t, filepath.Join(j.model, "sub", "dir", "weights.bin")); len(got) != 1024 {
		t.Errorf("weights.bin has %d bytes", len(got))
	}
	if got := readFile(t, filepath.Join(j.output, "data", "extra.txt")); got != "extra\n" {
		t.Errorf("extra.txt = %q", got)
	}

	info, err := s.rt.Inspect(ctxFor(t, time.Minute), id)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != id || info.Name != spec.Name || info.Running || info.ExitCode != 0 || info.OOMKilled ||
		info.StartedAt.Before(begin) || info.IP != "" || info.HostPort != 0 {
		t.Errorf("Inspect = %+v", info)
	}
	if info.Labels[runtime.LabelManaged] != "true" || info.Labels[runtime.LabelResource] != s.run {
		t.Errorf("Labels = %v", info.Labels)
	}
}

// writeFIFO opens the FIFO for writing once a reader has it open.
func writeFIFO(p string, data []byte, deadline time.Time) error {
	for {
		f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			_, werr := f.Write(data)
			cerr := f.Close()
			return errors.Join(werr, cerr)
		}
		if !errors.Is(err, syscall.ENXIO) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *suite) testCommands(t *testing.T) {
	for _, tc := range []struct {
		name       string
		image      string
		entrypoint []string
		cmd        []string
	}{
		{"path-lookup", s.img, nil, []string{"train"}},
		{"image-entrypoint", s.epImg, nil, []string{"train"}},
		{"entrypoint-override", s.img, []string{"/usr/local/bin/prog"}, []string{"train"}},
		{"entrypoint-cleared", s.epImg, []string{}, []string{"train"}},
		{"entrypoint-only", s.epImg, []string{"train"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			j := newJob(t, nil, nil, nil)
			spec := s.trainSpec(t, "", j)
			spec.Image, spec.Entrypoint, spec.Cmd = tc.image, tc.entrypoint, tc.cmd
			st, lines := s.runToEnd(t, spec)
			if st.Code != 0 {
				t.Fatalf("exit %d; logs:\n%s", st.Code, strings.Join(texts(lines), "\n"))
			}
			expectLines(t, lines, "contract train mode=succeed", "config hyperparameters.json {}", "train: success")
		})
	}
}

func (s *suite) testExitCode(t *testing.T) {
	j := newJob(t, map[string]string{"mode": "fail", "exit_code": "7", "failure_message": "boom"}, nil, nil)
	st, lines := s.runToEnd(t, s.trainSpec(t, "", j))
	if st.Code != 7 || st.OOMKilled {
		t.Fatalf("exit %+v, want 7", st)
	}
	if got := readFile(t, filepath.Join(j.output, "failure")); got != "boom" {
		t.Errorf("failure = %q", got)
	}
	if l, ok := hasLine(lines, "failing: boom (exit code 7)"); !ok || !l.Stderr {
		t.Errorf("failure line %+v %v", l, ok)
	}
}

func (s *suite) testStopGraceful(t *testing.T) {
	j := newJob(t, map[string]string{"mode": "sleep"}, nil, nil)
	id := s.start(t, s.trainSpec(t, "", j))
	s.waitForLine(t, id, "sleeping")

	// A follower started now must end by itself when the container exits.
	followed := make(chan []runtime.LogLine, 1)
	go func() {
		var lines []runtime.LogLine
		_ = s.rt.Logs(context.Background(), id, true, func(l runtime.LogLine) error {
			lines = append(lines, l)
			return nil
		})
		followed <- lines
	}()

	begin := time.Now()
	if err := s.rt.Stop(ctxFor(t, time.Minute), id, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("Stop took %v although the container handles SIGTERM", d)
	}
	if st := s.wait(t, id); st.Code != 0 {
		t.Fatalf("exit %+v, want 0 from the SIGTERM handler", st)
	}
	if got := readFile(t, filepath.Join(j.model, "stopped.txt")); got != "stopped\n" {
		t.Errorf("stopped.txt = %q", got)
	}
	select {
	case lines := <-followed:
		expectLines(t, lines, "sleeping", "got SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("following logs did not end when the container exited")
	}
	// Stopping an exited container is fine.
	if err := s.rt.Stop(ctxFor(t, time.Minute), id, time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func (s *suite) testStopKill(t *testing.T) {
	j := newJob(t, map[string]string{"mode": "ignore-sigterm"}, nil, nil)
	id := s.start(t, s.trainSpec(t, "", j))
	s.waitForLine(t, id, "ignoring SIGTERM")
	begin := time.Now()
	if err := s.rt.Stop(ctxFor(t, time.Minute), id, time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d < 900*time.Millisecond {
		t.Errorf("Stop returned after %v, before the grace period", d)
	}
	if st := s.wait(t, id); st.Code != 137 || st.OOMKilled {
		t.Fatalf("exit %+v, want 137 (SIGKILL)", st)
	}
	info, err := s.rt.Inspect(ctxFor(t, time.Minute), id)
	if err != nil || info.Running || info.ExitCode != 137 {
		t.Errorf("Inspect = %+v, %v", info, err)
	}
}

func (s *suite) testOOM(t *testing.T) {
	j := newJob(t, map[string]string{"mode": "oom"}, nil, nil)
	spec := s.trainSpec(t, "", j)
	spec.MemoryBytes = 32 << 20
	id := s.start(t, spec)
	st := s.wait(t, id)
	if st.Code != 137 {
		t.Fatalf("exit %+v, want 137; logs:\n%s", st, strings.Join(texts(s.logs(t, id)), "\n"))
	}
	info, err := s.rt.Inspect(ctxFor(t, time.Minute), id)
	if err != nil || info.ExitCode != 137 || info.OOMKilled != st.OOMKilled {
		t.Errorf("Inspect = %+v, %v (Wait said %+v)", info, err, st)
	}
	// Docker 20.10 on cgroup v2 sometimes reports a memory-limit kill
	// without its OOMKilled flag (seen under load); the exit code is reliable.
	if !st.OOMKilled {
		t.Logf("the engine did not flag the kill as OOM (exit 137)")
	}
}

// ifaces returns the interface names netinfo printed and whether it saw a default route.
func ifaces(t *testing.T, lines []runtime.LogLine) ([]string, bool) {
	t.Helper()
	var names []string
	def := ""
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l.Text, "iface "); ok {
			names = append(names, strings.Fields(rest)[0])
		}
		if rest, ok := strings.CutPrefix(l.Text, "default-route "); ok {
			def = rest
		}
	}
	if def == "" {
		t.Fatalf("no default-route line; logs:\n%s", strings.Join(texts(lines), "\n"))
	}
	return names, def == "yes"
}

func (s *suite) testNetworkNone(t *testing.T) {
	j := newJob(t, map[string]string{"mode": "netinfo"}, nil, nil)
	st, lines := s.runToEnd(t, s.trainSpec(t, "", j))
	if st.Code != 0 {
		t.Fatalf("exit %d", st.Code)
	}
	names, def := ifaces(t, lines)
	if len(names) != 1 || names[0] != "lo" || def {
		t.Errorf("network none: interfaces %q, default route %v; want only lo, no route", names, def)
	}
	expectLines(t, lines, "iface lo 127.0.0.1/8", "default-route no", "train: success")
}

func (s *suite) createNetwork(t *testing.T, internal bool) string {
	t.Helper()
	return s.createNetworkSpec(t, runtime.NetworkSpec{Internal: internal})
}

func (s *suite) createNetworkSpec(t *testing.T, spec runtime.NetworkSpec) string {
	t.Helper()
	suffix := "net"
	if spec.HostAccess {
		suffix = "hostnet"
	}
	spec.Name, spec.Labels = s.name(t, suffix), s.labels()
	id, err := s.rt.CreateNetwork(ctxFor(t, time.Minute), spec)
	if err != nil {
		t.Fatalf("CreateNetwork: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.rt.RemoveNetwork(ctx, id); err != nil {
			t.Errorf("RemoveNetwork: %v", err)
		}
	})
	return id
}

func (s *suite) testInternalNetwork(t *testing.T) {
	netID := s.createNetwork(t, true)
	hosts := []string{"algo-1", "algo-2"}
	ids := map[string]string{}
	for _, h := range hosts {
		j := newJob(t, map[string]string{"mode": "peers"}, nil, resourceConfig(h, hosts...))
		spec := s.trainSpec(t, h, j)
		spec.Network, spec.Aliases, spec.Hostname = netID, []string{h}, h
		spec.Labels[runtime.LabelHost] = h
		ids[h] = s.start(t, spec)
	}
	j := newJob(t, map[string]string{"mode": "netinfo"}, nil, nil)
	spec := s.trainSpec(t, "netinfo", j)
	spec.Network = netID
	netinfo := s.start(t, spec)

	for _, h := range hosts {
		if st := s.wait(t, ids[h]); st.Code != 0 {
			t.Errorf("%s: exit %d; logs:\n%s", h, st.Code, strings.Join(texts(s.logs(t, ids[h])), "\n"))
		}
	}
	expectLines(t, s.logs(t, ids["algo-1"]), "resolved algo-1 *", "resolved algo-2 *", "peer algo-2", "train: success")
	expectLines(t, s.logs(t, ids["algo-2"]), "resolved algo-1 *", "resolved algo-2 *", "sent algo-2 to algo-1", "train: success")

	if st := s.wait(t, netinfo); st.Code != 0 {
		t.Fatalf("netinfo: exit %d", st.Code)
	}
	lines := s.logs(t, netinfo)
	names, def := ifaces(t, lines)
	if !contains(names, "eth0") {
		t.Errorf("internal network: interfaces %q; want eth0", names)
	}
	if def {
		// Docker keeps a default route on internal bridges; it must lead
		// nowhere: no address of this host may be the gateway.
		for _, gw := range defaultGateways(lines) {
			if isHostAddr(t, gw) {
				t.Errorf("internal network: default route via %s, an address of this host (the host is reachable)", gw)
			}
		}
	}
	got, err := s.rt.ListNetworks(ctxFor(t, time.Minute), map[string]string{runtime.LabelResource: s.run, runtime.LabelManaged: "true"})
	if err != nil || !contains(got, netID) {
		t.Errorf("ListNetworks = %v, %v; want it to include %s", got, err, netID)
	}
}

// defaultGateways returns the gateways of netinfo's default routes.
func defaultGateways(lines []runtime.LogLine) []string {
	var gws []string
	for _, l := range lines {
		if f := strings.Fields(l.Text); len(f) == 4 && f[0] == "route" && f[2] == "0.0.0.0" {
			gws = append(gws, f[3])
		}
	}
	return gws
}

func isHostAddr(t *testing.T, ip string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.String() == ip {
			return true
		}
	}
	return false
}

func (s *suite) testServe(t *testing.T) {
	for _, netKind := range []string{"default", "user"} {
		t.Run(netKind, func(t *testing.T) {
			t.Parallel()
			spec := runtime.ContainerSpec{
				Name:        s.name(t, ""),
				Image:       s.img,
				Cmd:         []string{"serve"},
				Labels:      s.labels(),
				Env:         map[string]string{"ECHO_PREFIX": "> "},
				PublishPort: 8080,
			}
			if netKind == "user" {
				spec.Network = s.createNetwork(t, false)
				spec.Aliases = []string{"model-host"}
			}
			id := s.start(t, spec)
			info, err := s.rt.Inspect(ctxFor(t, time.Minute), id)
			if err != nil {
				t.Fatal(err)
			}
			if !info.Running || info.HostPort == 0 || info.IP == "" {
				t.Fatalf("Inspect = %+v; want running with HostPort and IP", info)
			}
			base := fmt.Sprintf("http://127.0.0.1:%d", info.HostPort)
			hc := &http.Client{Timeout: 2 * time.Second}
			deadline := time.Now().Add(30 * time.Second)
			for {
				resp, err := hc.Get(base + "/ping")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("GET /ping never answered 200: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			resp, err := hc.Post(base+"/invocations", "text/csv", strings.NewReader("a,1\nb,2\n"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "> a,1\n> b,2\n" || resp.Header.Get("Content-Type") != "text/csv" {
				t.Errorf("POST /invocations = %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if err := s.rt.Stop(ctxFor(t, time.Minute), id, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if st := s.wait(t, id); st.Code != 0 {
				t.Errorf("serve exit %d after SIGTERM, want 0", st.Code)
			}
			expectLines(t, s.logs(t, id), "contract serve listening on :8080", "request GET /ping 200 0",
				"request POST /invocations 200 12", "got SIGTERM, shutting down", "serve: stopped")
		})
	}
	t.Run("default-route", func(t *testing.T) {
		t.Parallel()
		j := newJob(t, map[string]string{"mode": "netinfo"}, nil, nil)
		spec := s.trainSpec(t, "", j)
		spec.Network = s.createNetwork(t, false)
		st, lines := s.runToEnd(t, spec)
		if st.Code != 0 {
			t.Fatalf("exit %d", st.Code)
		}
		if names, def := ifaces(t, lines); !def || !contains(names, "eth0") {
			t.Errorf("bridge network: interfaces %q, default route %v; want eth0 and a default route", names, def)
		}
	})
}

func (s *suite) testList(t *testing.T) {
	labels := s.labels()
	labels[runtime.LabelAccount] = "list-" + s.run
	ids := map[string]string{}
	for _, h := range []string{"algo-1", "algo-2"} {
		mode := "succeed"
		if h == "algo-2" {
			mode = "sleep"
		}
		j := newJob(t, map[string]string{"mode": mode}, nil, nil)
		spec := s.trainSpec(t, h, j)
		spec.Labels = map[string]string{runtime.LabelHost: h}
		for k, v := range labels {
			spec.Labels[k] = v
		}
		ids[h] = s.start(t, spec)
	}
	s.wait(t, ids["algo-1"])
	s.waitForLine(t, ids["algo-2"], "sleeping")

	ctx := ctxFor(t, time.Minute)
	all, err := s.rt.List(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("List = %d containers, want 2", len(all))
	}
	for _, c := range all {
		h := c.Labels[runtime.LabelHost]
		if c.ID != ids[h] || c.Running != (h == "algo-2") || c.Labels[runtime.LabelManaged] != "true" || c.Name == "" {
			t.Errorf("List entry %+v", c)
		}
		if h == "algo-1" && (c.ExitCode != 0 || c.StartedAt.IsZero()) {
			t.Errorf("exited entry %+v", c)
		}
	}
	one := map[string]string{runtime.LabelHost: "algo-1"}
	for k, v := range labels {
		one[k] = v
	}
	if got, err := s.rt.List(ctx, one); err != nil || len(got) != 1 || got[0].ID != ids["algo-1"] {
		t.Errorf("List(host=algo-1) = %+v, %v", got, err)
	}
	if got, err := s.rt.List(ctx, map[string]string{runtime.LabelAccount: "no-such-" + s.run}); err != nil || len(got) != 0 {
		t.Errorf("List(no match) = %+v, %v", got, err)
	}
	if got, err := s.rt.ListNetworks(ctx, map[string]string{runtime.LabelAccount: "no-such-" + s.run}); err != nil || len(got) != 0 {
		t.Errorf("ListNetworks(no match) = %+v, %v", got, err)
	}
}

func (s *suite) testRemove(t *testing.T) {
	j := newJob(t, map[string]string{"mode": "ignore-sigterm"}, nil, nil)
	id := s.start(t, s.trainSpec(t, "", j))
	s.waitForLine(t, id, "ignoring SIGTERM")
	ctx := ctxFor(t, time.Minute)
	for i := 0; i < 2; i++ {
		if err := s.rt.Remove(ctx, id); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	if err := s.rt.Remove(ctx, "wharf-rtt-no-such-container"); err != nil {
		t.Errorf("Remove(missing): %v", err)
	}
	if _, err := s.rt.Inspect(ctx, id); !errors.Is(err, runtime.ErrContainerNotFound) {
		t.Errorf("Inspect after Remove: %v", err)
	}
	if _, err := s.rt.Wait(ctx, id); !errors.Is(err, runtime.ErrContainerNotFound) {
		t.Errorf("Wait after Remove: %v", err)
	}
	if err := s.rt.Logs(ctx, id, false, func(runtime.LogLine) error { return nil }); !errors.Is(err, runtime.ErrContainerNotFound) {
		t.Errorf("Logs after Remove: %v", err)
	}
	if err := s.rt.Stop(ctx, id, time.Second); !errors.Is(err, runtime.ErrContainerNotFound) {
		t.Errorf("Stop after Remove: %v", err)
	}
	netID, err := s.rt.CreateNetwork(ctx, runtime.NetworkSpec{Name: s.name(t, "net"), Internal: true, Labels: s.labels()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.rt.RemoveNetwork(ctx, netID); err != nil {
			t.Fatalf("RemoveNetwork #%d: %v", i+1, err)
		}
	}
}

func (s *suite) testMounts(t *testing.T) {
	t.Run("read-only", func(t *testing.T) {
		t.Parallel()
		j := newJob(t, map[string]string{"mode": "bigwrite"}, nil, nil)
		spec := s.trainSpec(t, "", j)
		for i := range spec.Mounts {
			if spec.Mounts[i].Target == "/opt/ml/model" {
				spec.Mounts[i].ReadOnly = true
			}
		}
		st, lines := s.runToEnd(t, spec)
		if st.Code == 0 {
			t.Fatal("writing to a read-only mount succeeded")
		}
		if l, ok := hasLine(lines, "contract: bigwrite:"); !ok || !strings.Contains(l.Text, "read-only file system") {
			t.Errorf("error line %q", l.Text)
		}
		if _, err := os.Stat(filepath.Join(j.model, "big.bin")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("big.bin on the host: %v", err)
		}
	})
	t.Run("tmpfs", func(t *testing.T) {
		t.Parallel()
		j := newJob(t, map[string]string{"mode": "bigwrite", "mb": "2"}, nil, nil)
		spec := s.trainSpec(t, "", j)
		spec.Mounts = spec.Mounts[:1] // config only
		spec.Tmpfs = map[string]string{"/opt/ml/model": "size=1m"}
		st, lines := s.runToEnd(t, spec)
		if st.Code == 0 {
			t.Fatal("writing 2 MiB to a 1 MiB tmpfs succeeded")
		}
		if l, ok := hasLine(lines, "contract: bigwrite:"); !ok || !strings.Contains(l.Text, "no space left") {
			t.Errorf("error line %q", l.Text)
		}
	})
}

func (s *suite) testLongLines(t *testing.T) {
	const size = runtime.MaxLogLine + 40000
	j := newJob(t, map[string]string{"mode": "flood", "lines": "3", "line_bytes": fmt.Sprint(size), "final_text": "partial-end"}, nil, nil)
	st, lines := s.runToEnd(t, s.trainSpec(t, "", j))
	if st.Code != 0 {
		t.Fatalf("exit %d", st.Code)
	}
	var out []runtime.LogLine
	for _, l := range lines {
		if !l.Stderr {
			out = append(out, l)
		}
	}
	i := 0
	for i < len(out) && !strings.HasPrefix(out[i].Text, "flood 0") {
		i++
	}
	for n := 0; n < 3; n++ {
		if i+1 >= len(out) {
			t.Fatalf("flood line %d missing", n)
		}
		head, tail := out[i].Text, out[i+1].Text
		want := fmt.Sprintf("flood %d ", n)
		if len(head) != runtime.MaxLogLine || len(tail) != size-runtime.MaxLogLine || !strings.HasPrefix(head, want) ||
			strings.Trim(head[len(want):]+tail, "x") != "" {
			t.Fatalf("line %d split into %d+%d bytes (%.20q...), want %d+%d", n, len(head), len(tail), head, runtime.MaxLogLine, size-runtime.MaxLogLine)
		}
		i += 2
	}
	rest := texts(out[i:])
	want := []string{"epoch=1 train_mse=0.500000", "train: success", "partial-end"}
	if strings.Join(rest, "\n") != strings.Join(want, "\n") {
		t.Errorf("after the long lines: %q, want %q", rest, want)
	}
}

func (s *suite) testManyLines(t *testing.T) {
	const n = 5000
	j := newJob(t, map[string]string{"mode": "flood", "lines": fmt.Sprint(n), "line_bytes": "120"}, nil, nil)
	st, lines := s.runToEnd(t, s.trainSpec(t, "", j))
	if st.Code != 0 {
		t.Fatalf("exit %d", st.Code)
	}
	next := 0
	for _, l := range lines {
		if !strings.HasPrefix(l.Text, "flood ") {
			continue
		}
		want := fmt.Sprintf("flood %d ", next)
		if !strings.HasPrefix(l.Text, want) || len(l.Text) != 120 || l.Stderr {
			t.Fatalf("line %d = %.40q (%d bytes)", next, l.Text, len(l.Text))
		}
		next++
	}
	if next != n {
		t.Errorf("got %d flood lines, want %d", next, n)
	}
	// fn's error stops the stream and is returned.
	stop := errors.New("stop")
	count := 0
	id := s.start(t, s.trainSpec(t, "again", j))
	s.wait(t, id)
	err := s.rt.Logs(ctxFor(t, time.Minute), id, false, func(runtime.LogLine) error {
		count++
		if count == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || count != 10 {
		t.Errorf("Logs with failing fn: err %v after %d lines", err, count)
	}
}

func (s *suite) testStartErrors(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	j := newJob(t, nil, nil, nil)
	spec := s.trainSpec(t, "missing-image", j)
	spec.Image = "wharf-test/no-such-image:nope"
	if _, err := s.rt.Start(ctx, spec); !errors.Is(err, runtime.ErrImageNotFound) {
		t.Errorf("Start(missing image) error = %v, want ErrImageNotFound", err)
	}
	spec = s.trainSpec(t, "missing-network", j)
	spec.Network = "wharf-rtt-no-such-network"
	if id, err := s.rt.Start(ctx, spec); err == nil || errors.Is(err, runtime.ErrImageNotFound) {
		_ = s.rt.Remove(ctx, id)
		t.Errorf("Start(missing network) error = %v", err)
	}
	// A published port must not be dropped silently (Docker ignores port
	// bindings on internal networks): Start fails or the port works.
	spec = runtime.ContainerSpec{Name: s.name(t, "internal-publish"), Image: s.img, Cmd: []string{"serve"},
		Labels: s.labels(), Network: s.createNetwork(t, true), PublishPort: 8080}
	if id, err := s.rt.Start(ctx, spec); err == nil {
		info, err := s.rt.Inspect(ctx, id)
		_ = s.rt.Remove(ctx, id)
		if err != nil || info.HostPort == 0 {
			t.Errorf("Start(PublishPort on an internal network) succeeded without a host port: %+v, %v", info, err)
		}
	}
	spec = s.trainSpec(t, "dup", j)
	s.start(t, spec)
	if id, err := s.rt.Start(ctx, spec); err == nil {
		_ = s.rt.Remove(ctx, id)
		t.Error("Start with a duplicate name succeeded")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// testHostAccessNetwork: the host reaches a serve container on a HostAccess
// network at its address (no port is published), and the container cannot
// open a connection to a listener on the host, which a container on an
// ordinary bridge can (the control that shows the probe works).
func (s *suite) testHostAccessNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	probe := "gateway:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	serve := func(netID, suffix string) (runtime.ContainerInfo, string) {
		id := s.start(t, runtime.ContainerSpec{
			Name: s.name(t, suffix), Image: s.img, Cmd: []string{"serve"}, Labels: s.labels(),
			Env: map[string]string{"INVOKE_MODE": "dial"}, Network: netID, PublishPort: 8080,
		})
		info, err := s.rt.Inspect(ctxFor(t, time.Minute), id)
		if err != nil {
			t.Fatal(err)
		}
		base := fmt.Sprintf("http://127.0.0.1:%d", info.HostPort)
		if info.HostPort == 0 {
			base = "http://" + net.JoinHostPort(info.IP, "8080")
		}
		hc := &http.Client{Timeout: 2 * time.Second}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp, err := hc.Get(base + "/ping")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never answered /ping at %s: %v", id, base, err)
			}
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(base+"/invocations", "text/plain", strings.NewReader(probe))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return info, string(b)
	}

	info, got := serve(s.createNetworkSpec(t, runtime.NetworkSpec{Internal: true, HostAccess: true}), "isolated")
	if info.HostPort != 0 || info.IP == "" {
		t.Errorf("HostAccess network: Inspect = %+v; want an IP and no published port", info)
	}
	_, control := serve(s.createNetwork(t, false), "control")
	if !strings.HasPrefix(control, "connected") {
		t.Fatalf("control: a container on an ordinary bridge could not reach the host listener: %s", control)
	}
	if !strings.HasPrefix(got, "refused") {
		if os.Geteuid() != 0 {
			t.Skipf("not root, so no firewall rule: the isolated container reached the host (%s)", got)
		}
		t.Errorf("a container on a HostAccess network opened a connection to the host: %s", got)
	}
}
