package server_test

// More training-job tests against a real Docker Engine and an in-process
// server (issue 3): multi-host jobs, network isolation, Pipe mode, sharding
// and manifests, time limits and stops, log floods, volume and symlink
// limits, checkpoints, restart safety, the concurrency cap, listing, command
// overrides and account isolation. Every test waits for its jobs to reach a
// terminal status and checks that nothing of them is left behind.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/admin"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/runtime/docker"
	"github.com/wharfml/wharf/internal/server"
	"github.com/wharfml/wharf/internal/testimage"
)

// moreEnv is a trainingEnv that also exposes its runtime and data dir, so
// tests can look for leftovers.
type moreEnv struct {
	*trainingEnv
	rt      *docker.Runtime
	dataDir string
}

// startMore is startTraining with extra config options. Containers and
// networks of the test's first account that are still there when the test
// ends are removed once the server has shut down (not before: a running
// endpoint controller would replace a removed container).
func startMore(t *testing.T, opts ...func(*server.Config)) *moreEnv {
	t.Helper()
	image := testimage.Build(t, testimage.Contract)
	rt, err := docker.New()
	if err != nil {
		t.Skipf("no Docker Engine: %v", err)
	}
	me := &moreEnv{rt: rt, dataDir: filepath.Join(t.TempDir(), "data")}
	var accounts []string
	t.Cleanup(func() {
		for _, a := range accounts { // jobs, endpoints and transform jobs alike
			removeLeftovers(rt, map[string]string{runtime.LabelAccount: a})
		}
		rt.Close()
	})
	e := start(t, append([]func(*server.Config){func(c *server.Config) {
		c.DataDir = me.dataDir
		c.Runtime = rt
		c.StopGrace = 3 * time.Second
		c.MaxConcurrentJobs = 4
	}}, opts...)...)
	acct := e.account(t, "acme")
	accounts = append(accounts, *acct.AccountId)
	me.trainingEnv = newTrainingEnvFor(t, e, acct, image)
	return me
}

// newTrainingEnvFor wraps a running server and an account, creating the
// account's "data" bucket with the objects startTraining puts there.
func newTrainingEnvFor(t *testing.T, e *env, acct admin.Credentials, image string) *trainingEnv {
	t.Helper()
	te := &trainingEnv{env: e, acct: acct, sm: e.sagemaker(acct), s3: e.s3(acct), image: image,
		logs: cloudwatchlogs.New(cloudwatchlogs.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1",
			Credentials: e.creds(*acct.AccessKeyId, *acct.SecretAccessKey)})}
	ctx := context.Background()
	if _, err := te.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("data")}); err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string]string{"train/a.csv": "1,2\n3,4\n", "train/sub/b.csv": "5,6\n", "other/c.csv": "7,8\n"} {
		te.put(t, key, []byte(body))
	}
	return te
}

func removeLeftovers(rt runtime.Runtime, labels map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cs, err := rt.List(ctx, labels); err == nil {
		for _, c := range cs {
			rt.Remove(ctx, c.ID)
		}
	}
	if ns, err := rt.ListNetworks(ctx, labels); err == nil {
		for _, n := range ns {
			rt.RemoveNetwork(ctx, n)
		}
	}
}

func (te *trainingEnv) put(t *testing.T, key string, body []byte) {
	t.Helper()
	if _, err := te.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func (te *trainingEnv) create(t *testing.T, in *sm.CreateTrainingJobInput) {
	t.Helper()
	if _, err := te.sm.CreateTrainingJob(context.Background(), in); err != nil {
		t.Fatalf("create %s: %v", aws.ToString(in.TrainingJobName), err)
	}
}

func (te *trainingEnv) describe(t *testing.T, name string) *sm.DescribeTrainingJobOutput {
	t.Helper()
	d, err := te.sm.DescribeTrainingJob(context.Background(), &sm.DescribeTrainingJobInput{TrainingJobName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitTraining waits until the job's containers run and its log holds text.
func (te *trainingEnv) waitTraining(t *testing.T, name, text string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		d := te.describe(t, name)
		if d.SecondaryStatus == types.SecondaryStatusTraining && strings.Contains(te.logText(t, name), text) {
			return
		}
		if time.Now().After(deadline) || d.TrainingJobStatus != types.TrainingJobStatusInProgress {
			t.Fatalf("job %s did not start training: %s/%s %s", name, d.TrainingJobStatus, d.SecondaryStatus, aws.ToString(d.FailureReason))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitAll waits for several jobs at once.
func (te *trainingEnv) waitAll(t *testing.T, names ...string) map[string]*sm.DescribeTrainingJobOutput {
	t.Helper()
	out := map[string]*sm.DescribeTrainingJobOutput{}
	for _, n := range names {
		out[n] = te.wait(t, n)
	}
	return out
}

func (te *trainingEnv) expectStatus(t *testing.T, d *sm.DescribeTrainingJobOutput, status types.TrainingJobStatus, secondary types.SecondaryStatus) {
	t.Helper()
	if d.TrainingJobStatus != status || d.SecondaryStatus != secondary {
		name := aws.ToString(d.TrainingJobName)
		t.Fatalf("job %s: %s/%s %q, want %s/%s\nlogs:\n%s", name, d.TrainingJobStatus, d.SecondaryStatus,
			aws.ToString(d.FailureReason), status, secondary, te.logText(t, name))
	}
}

// hostLogs returns each host's log text ("algo-1" → lines).
func (te *trainingEnv) hostLogs(t *testing.T, name string) map[string]string {
	t.Helper()
	ctx := context.Background()
	streams, err := te.logs.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupName: aws.String("/aws/sagemaker/TrainingJobs"), LogStreamNamePrefix: aws.String(name + "/")})
	if err != nil {
		t.Fatal(err)
	}
	streamRE := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `/(algo-\d+)-\d+$`)
	out := map[string]string{}
	for _, s := range streams.LogStreams {
		m := streamRE.FindStringSubmatch(aws.ToString(s.LogStreamName))
		if m == nil {
			t.Fatalf("log stream name %q does not follow <job>/algo-<n>-<epoch>", aws.ToString(s.LogStreamName))
		}
		var b strings.Builder
		var token *string
		for {
			page, err := te.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/aws/sagemaker/TrainingJobs"),
				LogStreamName: s.LogStreamName, StartFromHead: aws.Bool(true), NextToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Events {
				b.WriteString(aws.ToString(e.Message) + "\n")
			}
			if token != nil && aws.ToString(page.NextForwardToken) == *token {
				break
			}
			token = page.NextForwardToken
		}
		out[m[1]] = b.String()
	}
	return out
}

// assertClean checks that no container or network of the jobs remains and
// that the training work dir is empty. The controller cleans up right after
// recording the terminal status, so it is given a few seconds.
func (me *moreEnv) assertClean(t *testing.T, account string, names ...string) {
	t.Helper()
	assertNoLeftovers(t, me.rt, me.dataDir, account, names...)
}

func assertNoLeftovers(t *testing.T, rt runtime.Runtime, dataDir, account string, names ...string) {
	t.Helper()
	ctx := context.Background()
	work := filepath.Join(dataDir, "work", "training")
	deadline := time.Now().Add(15 * time.Second)
	for {
		var problems []string
		for _, name := range names {
			labels := map[string]string{runtime.LabelKind: "training-job", runtime.LabelAccount: account, runtime.LabelResource: strings.ToLower(name)}
			cs, err := rt.List(ctx, labels)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				problems = append(problems, fmt.Sprintf("container %s (running %v) of %s", c.Name, c.Running, name))
			}
			ns, err := rt.ListNetworks(ctx, labels)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range ns {
				problems = append(problems, fmt.Sprintf("network %s of %s", n, name))
			}
		}
		filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
			if err == nil && p != work {
				problems = append(problems, "work dir entry "+strings.TrimPrefix(p, work))
			}
			return nil
		})
		if len(problems) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind after the jobs ended:\n%s", strings.Join(problems, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func channel(name, uri string) types.Channel {
	return types.Channel{ChannelName: aws.String(name),
		DataSource: &types.DataSource{S3DataSource: &types.S3DataSource{S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String(uri)}}}
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Fatalf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// ---------------------------------------------------------------- tests

// Two hosts on an isolated (internal) job network find each other by name.
func TestTrainingMoreMultiInstancePeers(t *testing.T) {
	te := startMore(t)
	in := te.job("peers", map[string]string{"mode": "peers"})
	in.ResourceConfig.InstanceCount = aws.Int32(2)
	te.create(t, in)
	d := te.wait(t, "peers")
	te.expectStatus(t, d, types.TrainingJobStatusCompleted, types.SecondaryStatusCompleted)

	logs := te.hostLogs(t, "peers")
	if len(logs) != 2 {
		t.Fatalf("want one log stream per host, got %v", slices.Sorted(maps.Keys(logs)))
	}
	for host, other := range map[string]string{"algo-1": "algo-2", "algo-2": "algo-1"} {
		text := logs[host]
		mustContain(t, host+"'s log", text, "resolved "+other+" ", "whoami uid=0 gid=0 hostname="+host,
			`"current_host":"`+host+`"`, `"hosts":["algo-1","algo-2"]`, `"network_interface_name":"eth0"`)
	}
	mustContain(t, "algo-1's log", logs["algo-1"], "peer algo-2")
	mustContain(t, "algo-2's log", logs["algo-2"], "sent algo-2 to algo-1")
	model := te.untar(t, "output/peers/output/model.tar.gz")
	// Both hosts wrote peers.txt; host order merging lets algo-2's win.
	if model["peers.txt"] != "algo-2\nalgo-1\n" || model["model.txt"] == "" {
		t.Fatalf("model.tar.gz: peers.txt %q, files %v", model["peers.txt"], keys(model))
	}
	te.assertClean(t, *te.acct.AccountId, "peers")
}

// netinfo parses the contract image's netinfo output.
type netinfo struct {
	ifaces       map[string]string // name → IPv4 addresses or "-"
	defaultRoute bool
	gateways     []string // gateways of default routes
}

func parseNetinfo(t *testing.T, logs string) netinfo {
	t.Helper()
	ni := netinfo{ifaces: map[string]string{}}
	seen := false
	for _, line := range strings.Split(logs, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "iface":
			ni.ifaces[f[1]] = f[2]
		case len(f) == 4 && f[0] == "route" && f[2] == "0.0.0.0":
			ni.gateways = append(ni.gateways, f[3])
		case len(f) == 2 && f[0] == "default-route":
			ni.defaultRoute, seen = f[1] == "yes", true
		}
	}
	if !seen {
		t.Fatalf("no netinfo output in:\n%s", logs)
	}
	return ni
}

// Isolated single hosts get no network, isolated clusters an internal one
// without a way out, others a default route. Only interfaces and routes are
// inspected: no traffic is sent anywhere.
func TestTrainingMoreNetworkIsolation(t *testing.T) {
	te := startMore(t)
	hp := map[string]string{"mode": "netinfo"}
	te.create(t, te.job("iso-one", hp))
	two := te.job("iso-two", hp)
	two.ResourceConfig.InstanceCount = aws.Int32(2)
	te.create(t, two)
	open := te.job("open-one", hp)
	open.EnableNetworkIsolation = aws.Bool(false)
	te.create(t, open)
	for name, d := range te.waitAll(t, "iso-one", "iso-two", "open-one") {
		if d.TrainingJobStatus != types.TrainingJobStatusCompleted {
			t.Fatalf("%s: %s %s", name, d.TrainingJobStatus, aws.ToString(d.FailureReason))
		}
	}

	one := parseNetinfo(t, te.logText(t, "iso-one"))
	if len(one.ifaces) != 1 || one.ifaces["lo"] == "" || one.defaultRoute {
		t.Fatalf("isolated single host: interfaces %v, default route %v", one.ifaces, one.defaultRoute)
	}

	hostAddrs := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			hostAddrs[n.IP.String()] = true
		}
	}
	logs := te.hostLogs(t, "iso-two")
	for _, host := range []string{"algo-1", "algo-2"} {
		ni := parseNetinfo(t, logs[host])
		if ni.ifaces["eth0"] == "" || ni.ifaces["eth0"] == "-" {
			t.Fatalf("isolated cluster %s: no eth0 address: %v", host, ni.ifaces)
		}
		for name := range ni.ifaces {
			if name != "lo" && name != "eth0" {
				t.Fatalf("isolated cluster %s: unexpected interface %s", host, name)
			}
		}
		// A default route may exist (Docker adds one), but its gateway must
		// not be an address of this machine: nobody forwards it anywhere.
		for _, gw := range ni.gateways {
			if hostAddrs[gw] {
				t.Fatalf("isolated cluster %s: default route via %s, an address of the host", host, gw)
			}
		}
	}

	opened := parseNetinfo(t, te.logText(t, "open-one"))
	if !opened.defaultRoute || opened.ifaces["eth0"] == "" {
		t.Fatalf("non-isolated job: interfaces %v, default route %v", opened.ifaces, opened.defaultRoute)
	}
	te.assertClean(t, *te.acct.AccountId, "iso-one", "iso-two", "open-one")
}

// Pipe mode streams epochs through FIFOs, decompressing Gzip channels.
func TestTrainingMorePipeMode(t *testing.T) {
	te := startMore(t)
	raw := []byte(strings.Repeat("gzipped,line\n", 1000))
	te.put(t, "gz/part.csv.gz", gz(t, raw))
	in := te.job("pipe", map[string]string{"epochs": "2"})
	in.InputDataConfig[0].InputMode = types.TrainingInputModePipe
	zipped := channel("zipped", "s3://data/gz/")
	zipped.InputMode, zipped.CompressionType = types.TrainingInputModePipe, types.CompressionTypeGzip
	in.InputDataConfig = append(in.InputDataConfig, zipped)
	te.create(t, in)
	d := te.wait(t, "pipe")
	te.expectStatus(t, d, types.TrainingJobStatusCompleted, types.SecondaryStatusCompleted)
	train := []byte("1,2\n3,4\n5,6\n") // train/a.csv then train/sub/b.csv
	logs := te.logText(t, "pipe")
	mustContain(t, "pipe job log", logs,
		"channel train Pipe", "channel zipped Pipe",
		fmt.Sprintf("pipe train 0 %d %s", len(train), sha(train)),
		fmt.Sprintf("pipe train 1 %d %s", len(train), sha(train)),
		fmt.Sprintf("pipe zipped 0 %d %s", len(raw), sha(raw)),
		fmt.Sprintf("pipe zipped 1 %d %s", len(raw), sha(raw)),
		`"train":{"ContentType":"text/csv","TrainingInputMode":"Pipe"`)

	// Data that cannot be fed fails the job with a ClientError at once,
	// instead of leaving the container waiting for its next FIFO.
	te.put(t, "notgz/x.csv.gz", []byte("not gzip\n"))
	bad := te.job("pipe-bad", map[string]string{"epochs": "2", "pipe_timeout_s": "60"})
	bad.InputDataConfig = []types.Channel{channel("broken", "s3://data/notgz/")}
	bad.InputDataConfig[0].InputMode, bad.InputDataConfig[0].CompressionType = types.TrainingInputModePipe, types.CompressionTypeGzip
	start := time.Now()
	te.create(t, bad)
	d = te.wait(t, "pipe-bad")
	te.expectStatus(t, d, types.TrainingJobStatusFailed, types.SecondaryStatusFailed)
	if r := aws.ToString(d.FailureReason); !strings.HasPrefix(r, "ClientError: ") || !strings.Contains(r, "decompress") {
		t.Fatalf("FailureReason %q", r)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("the broken Pipe channel took %v to fail the job", took)
	}
	te.assertClean(t, *te.acct.AccountId, "pipe", "pipe-bad")
}

// ShardedByS3Key spreads a channel's objects over the hosts; a manifest
// channel stages the objects it lists.
func TestTrainingMoreShardingAndManifest(t *testing.T) {
	te := startMore(t)
	for i := range 5 {
		te.put(t, fmt.Sprintf("shard/part-%d.csv", i), []byte(fmt.Sprintf("%d\n", i)))
	}
	te.put(t, "manifests/m.json", []byte(`[{"prefix": "s3://data/train/"}, "a.csv", "sub/b.csv"]`))
	in := te.job("shards", nil)
	in.ResourceConfig.InstanceCount = aws.Int32(2)
	sharded := channel("shard", "s3://data/shard/")
	sharded.DataSource.S3DataSource.S3DataDistributionType = types.S3DataDistributionShardedByS3Key
	manifest := channel("man", "s3://data/manifests/m.json")
	manifest.DataSource.S3DataSource.S3DataType = types.S3DataTypeManifestFile
	in.InputDataConfig = []types.Channel{sharded, manifest}
	te.create(t, in)
	d := te.wait(t, "shards")
	te.expectStatus(t, d, types.TrainingJobStatusCompleted, types.SecondaryStatusCompleted)

	logs := te.hostLogs(t, "shards")
	for i := range 5 {
		line := fmt.Sprintf("file shard/part-%d.csv 2 ", i)
		n := 0
		for _, text := range logs {
			n += strings.Count(text, line)
		}
		if n != 1 {
			t.Fatalf("object %d staged on %d hosts, want exactly 1:\n%v", i, n, logs)
		}
	}
	// Wharf's rule: object i (in key order) goes to algo-((i mod N)+1).
	mustContain(t, "algo-1's log", logs["algo-1"], "file shard/part-0.csv", "file shard/part-2.csv", "file shard/part-4.csv")
	mustContain(t, "algo-2's log", logs["algo-2"], "file shard/part-1.csv", "file shard/part-3.csv")
	for host, text := range logs {
		mustContain(t, host+"'s log", text, "file man/a.csv 8 ", "file man/sub/b.csv 4 ", `"S3DistributionType":"ShardedByS3Key"`)
	}
	te.assertClean(t, *te.acct.AccountId, "shards")
}

// MaxRuntimeInSeconds stops the job (the model is still uploaded); a
// container ignoring SIGTERM is killed after the grace period.
func TestTrainingMoreTimeLimitAndKill(t *testing.T) {
	te := startMore(t)
	ctx := context.Background()
	limited := te.job("limited", map[string]string{"mode": "sleep"})
	limited.StoppingCondition.MaxRuntimeInSeconds = aws.Int32(3)
	te.create(t, limited)
	te.create(t, te.job("stubborn", map[string]string{"mode": "ignore-sigterm"}))

	te.waitTraining(t, "stubborn", "ignoring SIGTERM")
	stopAt := time.Now()
	if _, err := te.sm.StopTrainingJob(ctx, &sm.StopTrainingJobInput{TrainingJobName: aws.String("stubborn")}); err != nil {
		t.Fatal(err)
	}
	if d := te.describe(t, "stubborn"); d.TrainingJobStatus != types.TrainingJobStatusStopping || d.SecondaryStatus != types.SecondaryStatusStopping {
		t.Fatalf("right after StopTrainingJob: %s/%s", d.TrainingJobStatus, d.SecondaryStatus)
	}
	// Stopping again is a no-op.
	if _, err := te.sm.StopTrainingJob(ctx, &sm.StopTrainingJobInput{TrainingJobName: aws.String("stubborn")}); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	d := te.wait(t, "stubborn")
	te.expectStatus(t, d, types.TrainingJobStatusStopped, types.SecondaryStatusStopped)
	if took := time.Since(stopAt); took < 3*time.Second {
		t.Fatalf("stopped after %v, before the 3 s grace period ended", took)
	}
	if d.ModelArtifacts == nil || aws.ToString(d.ModelArtifacts.S3ModelArtifacts) != "s3://data/output/stubborn/output/model.tar.gz" {
		t.Fatalf("stopped job's artifacts: %+v", d.ModelArtifacts)
	}
	te.untar(t, "output/stubborn/output/model.tar.gz") // exists and is a valid archive

	d = te.wait(t, "limited")
	te.expectStatus(t, d, types.TrainingJobStatusStopped, types.SecondaryStatusMaxRuntimeExceeded)
	if model := te.untar(t, "output/limited/output/model.tar.gz"); model["stopped.txt"] != "stopped\n" {
		t.Fatalf("model of the timed-out job: %v", keys(model))
	}
	mustContain(t, "limited's log", te.logText(t, "limited"), "got SIGTERM")
	var path []string
	for _, tr := range d.SecondaryStatusTransitions {
		path = append(path, string(tr.Status))
	}
	if got := strings.Join(path, ","); !strings.HasPrefix(got, "Starting,Downloading,Training,Stopping,") || !strings.HasSuffix(got, ",MaxRuntimeExceeded") {
		t.Fatalf("transitions %s", got)
	}
	if secs := aws.ToInt32(d.TrainingTimeInSeconds); secs < 3 || secs > 30 {
		t.Fatalf("TrainingTimeInSeconds %d", secs)
	}
	te.assertClean(t, *te.acct.AccountId, "limited", "stubborn")
}

// A container flooding its output neither stalls the server nor loses the
// end of its log (below the per-stream cap).
func TestTrainingMoreLogFlood(t *testing.T) {
	te := startMore(t)
	ctx := context.Background()
	const lines, lineBytes = 300000, 100
	te.create(t, te.job("flood", map[string]string{"mode": "flood", "lines": fmt.Sprint(lines), "line_bytes": fmt.Sprint(lineBytes)}))
	// Once the first lines are stored, the API answers promptly while the
	// rest pours in.
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := te.logs.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
			LogGroupName: aws.String("/aws/sagemaker/TrainingJobs"), LogStreamNamePrefix: aws.String("flood/")})
		if err == nil && len(st.LogStreams) == 1 && aws.ToInt64(st.LogStreams[0].StoredBytes) > 0 {
			break
		}
		if d := te.describe(t, "flood"); time.Now().After(deadline) || d.TrainingJobStatus != types.TrainingJobStatusInProgress {
			t.Fatalf("no flood output stored: %s/%s %q", d.TrainingJobStatus, d.SecondaryStatus, aws.ToString(d.FailureReason))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var slowest time.Duration
	during := 0 // answers while the job was still in progress
	for range 5 {
		start := time.Now()
		d := te.describe(t, "flood")
		if _, err := te.sm.ListTrainingJobs(ctx, &sm.ListTrainingJobsInput{}); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
		if d.TrainingJobStatus != types.TrainingJobStatusInProgress {
			break
		}
		during++
		time.Sleep(100 * time.Millisecond)
	}
	if slowest > 2*time.Second || during == 0 {
		t.Fatalf("Describe+List took up to %v; %d answers during the flood", slowest, during)
	}
	d := te.wait(t, "flood")
	te.expectStatus(t, d, types.TrainingJobStatusCompleted, types.SecondaryStatusCompleted)

	streams, err := te.logs.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupName: aws.String("/aws/sagemaker/TrainingJobs"), LogStreamNamePrefix: aws.String("flood/")})
	if err != nil || len(streams.LogStreams) != 1 {
		t.Fatalf("streams %+v %v", streams, err)
	}
	// Every flood line is stored: the default cap (64 MiB) is above 30 MB.
	if stored := aws.ToInt64(streams.LogStreams[0].StoredBytes); stored < lines*lineBytes || stored > lines*lineBytes+1<<20 {
		t.Fatalf("stored bytes %d, want about %d", stored, lines*lineBytes)
	}
	tail, err := te.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/aws/sagemaker/TrainingJobs"),
		LogStreamName: streams.LogStreams[0].LogStreamName, StartFromHead: aws.Bool(false), Limit: aws.Int32(20)})
	if err != nil {
		t.Fatal(err)
	}
	var last strings.Builder
	for _, e := range tail.Events {
		last.WriteString(aws.ToString(e.Message) + "\n")
	}
	mustContain(t, "end of the flood log", last.String(), fmt.Sprintf("flood %d x", lines-1), "train: success")
	if strings.Contains(last.String(), "[wharf]") {
		t.Fatalf("log was capped below the default limit:\n%s", last.String())
	}
	// The per-stream cap itself (the "[wharf] log limit" marker) is covered
	// by internal/logs; the server has no option to lower it for a test.
	te.assertClean(t, *te.acct.AccountId, "flood")
}

// Writing more than VolumeSizeInGB fails the job; model symlinks pointing
// outside /opt/ml/model are dropped from model.tar.gz.
func TestTrainingMoreVolumeAndSymlinks(t *testing.T) {
	te := startMore(t)
	te.create(t, te.job("big", map[string]string{"mode": "bigwrite", "mb": "1200"}))
	te.create(t, te.job("bigtmp", map[string]string{"mode": "bigwrite", "mb": "1200", "dir": "/tmp"}))
	te.create(t, te.job("links", map[string]string{"mode": "symlink"}))

	d := te.wait(t, "links")
	te.expectStatus(t, d, types.TrainingJobStatusCompleted, types.SecondaryStatusCompleted)
	model := te.untar(t, "output/links/output/model.tar.gz")
	if model["ok"] != "-> model.txt" || model["model.txt"] == "" {
		t.Fatalf("model.tar.gz lost the internal link: %v", model)
	}
	if _, ok := model["escape"]; ok {
		t.Fatalf("model.tar.gz keeps the link escaping the model dir: %q", model["escape"])
	}

	for _, name := range []string{"big", "bigtmp"} { // /opt/ml/model, and scratch space in /tmp
		d = te.wait(t, name)
		te.expectStatus(t, d, types.TrainingJobStatusFailed, types.SecondaryStatusFailed)
		if r := aws.ToString(d.FailureReason); !strings.HasPrefix(r, "ClientError: ") || !strings.Contains(r, "VolumeSizeInGB") {
			t.Fatalf("%s: FailureReason %q", name, r)
		}
		if d.ModelArtifacts != nil {
			t.Fatalf("%s: a job over its volume uploaded %s", name, aws.ToString(d.ModelArtifacts.S3ModelArtifacts))
		}
	}
	te.assertClean(t, *te.acct.AccountId, "big", "bigtmp", "links")
}

// Checkpoints are copied in before the start and new files are uploaded.
func TestTrainingMoreCheckpoints(t *testing.T) {
	te := startMore(t)
	te.put(t, "ckpt/run/old-1.txt", []byte("old 1\n"))
	te.put(t, "ckpt/run/deep/old-2.txt", []byte("old 2\n"))
	in := te.job("ckpt", map[string]string{"mode": "checkpoint", "steps": "3", "interval_ms": "50"})
	in.CheckpointConfig = &types.CheckpointConfig{S3Uri: aws.String("s3://data/ckpt/run")}
	te.create(t, in)
	d := te.wait(t, "ckpt")
	te.expectStatus(t, d, types.TrainingJobStatusCompleted, types.SecondaryStatusCompleted)
	if aws.ToString(d.CheckpointConfig.LocalPath) != "/opt/ml/checkpoints" {
		t.Fatalf("checkpoint config %+v", d.CheckpointConfig)
	}
	mustContain(t, "checkpoint log", te.logText(t, "ckpt"),
		"ckpt old-1.txt "+sha([]byte("old 1\n")), "ckpt deep/old-2.txt "+sha([]byte("old 2\n")), "wrote checkpoint step-3.txt")
	for n := 1; n <= 3; n++ {
		out, err := te.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String(fmt.Sprintf("ckpt/run/step-%d.txt", n))})
		if err != nil {
			t.Fatalf("checkpoint step-%d.txt not uploaded: %v", n, err)
		}
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(body) != fmt.Sprintf("step %d\n", n) {
			t.Fatalf("step-%d.txt = %q", n, body)
		}
	}
	te.assertClean(t, *te.acct.AccountId, "ckpt")
}

// liveServer is a server whose controllers and listener the test stops
// explicitly, to simulate a restart on the same data dir.
type liveServer struct {
	*env
	cancel context.CancelFunc
	done   <-chan struct{}
	hs     *httptest.Server
	once   sync.Once
}

func openServer(t *testing.T, cfg server.Config) *liveServer {
	t.Helper()
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ls := &liveServer{cancel: cancel, done: srv.Start(ctx)}
	ls.hs = httptest.NewServer(srv.Handler())
	ls.env = &env{url: ls.hs.URL, srv: srv}
	t.Cleanup(ls.stop)
	return ls
}

// stop shuts the server down as `wharf server` does on SIGTERM: running
// jobs keep their containers.
func (ls *liveServer) stop() {
	ls.once.Do(func() {
		ls.hs.Close()
		ls.cancel()
		<-ls.done
		ls.srv.Close()
	})
}

// restartEnv is a server on the Docker Engine that a test stops and opens
// again on the same data dir (cfg) to check what a restart adopts.
type restartEnv struct {
	cfg  server.Config
	rt   *docker.Runtime
	a    *liveServer // the first server
	acct admin.Credentials
	te   *trainingEnv
}

// startRestartable opens the first server with account acme. Whatever the
// account's containers and networks are left when the test ends is removed
// after every server of the test has stopped (a running controller would
// replace what is removed earlier).
func startRestartable(t *testing.T) *restartEnv {
	t.Helper()
	image := testimage.Build(t, testimage.Contract)
	rt, err := docker.New()
	if err != nil {
		t.Skipf("no Docker Engine: %v", err)
	}
	re := &restartEnv{rt: rt, cfg: server.Config{
		DataDir: filepath.Join(t.TempDir(), "data"), Region: "us-east-1", RootAccessKeyID: rootKey, RootSecretAccessKey: rootSecret,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Runtime: rt, StopGrace: 3 * time.Second, MaxConcurrentJobs: 4, EndpointHealthTimeout: 10 * time.Second,
	}}
	var account string
	t.Cleanup(func() {
		if account != "" {
			removeLeftovers(rt, map[string]string{runtime.LabelAccount: account})
		}
		rt.Close()
	})
	re.a = openServer(t, re.cfg)
	re.acct = re.a.account(t, "acme")
	account = *re.acct.AccountId
	re.te = newTrainingEnvFor(t, re.a.env, re.acct, image)
	return re
}

// A restarted server adopts running containers; a job whose container
// vanished meanwhile fails; nothing is left behind.
func TestTrainingMoreRestart(t *testing.T) {
	re := startRestartable(t)
	cfg, rt, a, acct, te := re.cfg, re.rt, re.a, re.acct, re.te
	dataDir, account := cfg.DataDir, *acct.AccountId
	survivor := te.job("survivor", map[string]string{"mode": "sleep", "seconds": "10", "model_content": "survived"})
	survivor.CheckpointConfig = &types.CheckpointConfig{S3Uri: aws.String("s3://data/ckpt/survivor/")}
	te.create(t, survivor)
	vanish := te.job("vanish", map[string]string{"mode": "sleep"})
	vanish.ResourceConfig.InstanceCount = aws.Int32(2)
	te.create(t, vanish)
	te.waitTraining(t, "survivor", "sleeping")
	te.waitTraining(t, "vanish", "sleeping")

	a.stop()
	labels := func(name string) map[string]string {
		return map[string]string{runtime.LabelKind: "training-job", runtime.LabelAccount: account, runtime.LabelResource: name}
	}
	ctx := context.Background()
	cs, err := rt.List(ctx, labels("survivor"))
	if err != nil || len(cs) != 1 || !cs[0].Running {
		t.Fatalf("after shutdown the survivor's container should run on: %+v %v", cs, err)
	}
	// algo-1 of "vanish" disappears while no server runs; algo-2 stays.
	cs, err = rt.List(ctx, labels("vanish"))
	if err != nil || len(cs) != 2 {
		t.Fatalf("vanish containers %+v %v", cs, err)
	}
	for _, c := range cs {
		if c.Labels[runtime.LabelHost] == "algo-1" {
			if err := rt.Remove(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
		}
	}

	// While no server runs, the survivor "writes" a checkpoint (the test
	// writes into the directory mounted at /opt/ml/checkpoints).
	var ckptDirs []string
	filepath.WalkDir(filepath.Join(dataDir, "work", "training"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "checkpoints" && strings.Contains(p, "survivor") {
			ckptDirs = append(ckptDirs, p)
		}
		return nil
	})
	if len(ckptDirs) != 1 {
		t.Fatalf("checkpoint dirs of survivor: %v", ckptDirs)
	}
	if err := os.WriteFile(filepath.Join(ckptDirs[0], "while-down.txt"), []byte("written while down\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	b := openServer(t, cfg)
	te.env, te.sm, te.s3 = b.env, b.sagemaker(acct), b.s3(acct)
	te.logs = cloudwatchlogs.New(cloudwatchlogs.Options{BaseEndpoint: aws.String(b.url), Region: "us-east-1",
		Credentials: b.creds(*acct.AccessKeyId, *acct.SecretAccessKey)})

	d := te.wait(t, "vanish")
	if d.TrainingJobStatus != types.TrainingJobStatusFailed || !strings.Contains(aws.ToString(d.FailureReason), "disappeared") {
		t.Fatalf("vanish: %s %q", d.TrainingJobStatus, aws.ToString(d.FailureReason))
	}
	d = te.wait(t, "survivor")
	te.expectStatus(t, d, types.TrainingJobStatusCompleted, types.SecondaryStatusCompleted)
	logs := te.logText(t, "survivor")
	mustContain(t, "survivor's log", logs, "sleeping", "slept", "train: success")
	if n := strings.Count(logs, "contract train mode=sleep"); n != 1 {
		t.Fatalf("adoption duplicated the log (%d copies of the first line):\n%s", n, logs)
	}
	if te.untar(t, "output/survivor/output/model.tar.gz")["model.txt"] != "survived" {
		t.Fatal("adopted job's model not uploaded")
	}
	ck, err := te.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String("ckpt/survivor/while-down.txt")})
	if err != nil {
		t.Fatalf("checkpoint written while the server was down was not uploaded: %v", err)
	}
	ck.Body.Close()
	assertNoLeftovers(t, rt, dataDir, account, "survivor", "vanish")
}

// With MaxConcurrentJobs=1 the second job waits as Pending; a queued job
// that is stopped ends at once.
func TestTrainingMoreConcurrencyCap(t *testing.T) {
	te := startMore(t, func(c *server.Config) { c.MaxConcurrentJobs = 1 })
	te.create(t, te.job("first", map[string]string{"mode": "sleep", "seconds": "4"}))
	time.Sleep(50 * time.Millisecond) // distinct creation times
	te.create(t, te.job("second", map[string]string{"mode": "sleep", "seconds": "1"}))
	te.create(t, te.job("third", map[string]string{"mode": "sleep"}))

	deadline := time.Now().Add(30 * time.Second)
	for te.describe(t, "third").SecondaryStatus != types.SecondaryStatusPending {
		if time.Now().After(deadline) {
			t.Fatalf("third job is %s, never Pending", te.describe(t, "third").SecondaryStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := te.sm.StopTrainingJob(context.Background(), &sm.StopTrainingJobInput{TrainingJobName: aws.String("third")}); err != nil {
		t.Fatal(err)
	}
	d := te.wait(t, "third")
	te.expectStatus(t, d, types.TrainingJobStatusStopped, types.SecondaryStatusStopped)
	if first := te.describe(t, "first"); first.TrainingJobStatus != types.TrainingJobStatusInProgress {
		t.Fatalf("the queued job's stop waited for the running job to end (%s)", first.TrainingJobStatus)
	}
	if d.TrainingStartTime != nil || d.ModelArtifacts != nil {
		t.Fatalf("a job stopped in the queue has a start time or artifacts: %+v", d)
	}

	sawPending := false
	for {
		first, second := te.describe(t, "first"), te.describe(t, "second")
		if first.TrainingJobStatus != types.TrainingJobStatusInProgress {
			break
		}
		if second.SecondaryStatus != types.SecondaryStatusStarting && second.SecondaryStatus != types.SecondaryStatusPending {
			t.Fatalf("second job is %s while the first still runs (%s)", second.SecondaryStatus, first.SecondaryStatus)
		}
		sawPending = sawPending || second.SecondaryStatus == types.SecondaryStatusPending
		time.Sleep(100 * time.Millisecond)
	}
	if !sawPending {
		t.Fatal("second job never showed Pending")
	}
	ds := te.waitAll(t, "first", "second")
	for _, d := range ds {
		te.expectStatus(t, d, types.TrainingJobStatusCompleted, types.SecondaryStatusCompleted)
	}
	var path []string
	for _, tr := range ds["second"].SecondaryStatusTransitions {
		path = append(path, string(tr.Status))
	}
	if strings.Join(path, ",") != "Starting,Pending,Downloading,Training,Uploading,Completed" {
		t.Fatalf("second job's transitions %v", path)
	}
	if ds["second"].TrainingStartTime.Before(*ds["first"].TrainingEndTime) {
		t.Fatalf("second started training at %v, before the first ended at %v", ds["second"].TrainingStartTime, ds["first"].TrainingEndTime)
	}
	te.assertClean(t, *te.acct.AccountId, "first", "second", "third")
}

// ListTrainingJobs filters, sorts and pages.
func TestTrainingMoreList(t *testing.T) {
	te := startMore(t)
	ctx := context.Background()
	jobs := map[string]map[string]string{
		"list-a": nil, "list-b": {"mode": "fail"}, "List-C": nil, "other-d": {"mode": "fail"}, "list-e": nil,
	}
	var names []string
	for _, name := range []string{"list-a", "list-b", "List-C", "other-d", "list-e"} {
		te.create(t, te.job(name, jobs[name]))
		names = append(names, name)
		time.Sleep(20 * time.Millisecond) // distinct creation times
	}
	te.waitAll(t, names...)

	list := func(in *sm.ListTrainingJobsInput) []string {
		t.Helper()
		out, err := te.sm.ListTrainingJobs(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range out.TrainingJobSummaries {
			if s.TrainingJobArn == nil || s.CreationTime == nil || s.TrainingEndTime == nil || s.LastModifiedTime == nil || s.SecondaryStatus == "" {
				t.Fatalf("incomplete summary %+v", s)
			}
			got = append(got, aws.ToString(s.TrainingJobName))
		}
		return got
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
	check("default (creation time, ascending)", list(&sm.ListTrainingJobsInput{}), names...)
	check("StatusEquals Failed", list(&sm.ListTrainingJobsInput{StatusEquals: types.TrainingJobStatusFailed}), "list-b", "other-d")
	check("StatusEquals Stopped", list(&sm.ListTrainingJobsInput{StatusEquals: types.TrainingJobStatusStopped}))
	check("NameContains", list(&sm.ListTrainingJobsInput{NameContains: aws.String("LIST")}), "list-a", "list-b", "List-C", "list-e")
	check("NameContains + StatusEquals", list(&sm.ListTrainingJobsInput{NameContains: aws.String("list"), StatusEquals: types.TrainingJobStatusCompleted}), "list-a", "List-C", "list-e")
	check("SortBy Name", list(&sm.ListTrainingJobsInput{SortBy: types.SortByName}), "list-a", "list-b", "List-C", "list-e", "other-d")
	check("SortBy Name descending", list(&sm.ListTrainingJobsInput{SortBy: types.SortByName, SortOrder: types.SortOrderDescending}), "other-d", "list-e", "List-C", "list-b", "list-a")
	byStatus := list(&sm.ListTrainingJobsInput{SortBy: types.SortByStatus})
	if len(byStatus) != 5 || !slices.Equal(slices.Sorted(slices.Values(byStatus[:3])), []string{"List-C", "list-a", "list-e"}) {
		t.Fatalf("SortBy Status: %v (Completed before Failed)", byStatus)
	}
	check("SortBy Status, failed part", byStatus[3:], "list-b", "other-d")
	check("CreationTimeAfter", list(&sm.ListTrainingJobsInput{CreationTimeAfter: te.describe(t, "List-C").CreationTime}), "other-d", "list-e")

	// The SDK paginator walks pages of 2 without gaps or repeats, for each sort.
	for _, sortBy := range []types.SortBy{types.SortByCreationTime, types.SortByName, types.SortByStatus} {
		p := sm.NewListTrainingJobsPaginator(te.sm, &sm.ListTrainingJobsInput{MaxResults: aws.Int32(2), SortBy: sortBy})
		var got []string
		pages := 0
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page.TrainingJobSummaries) > 2 {
				t.Fatalf("page of %d", len(page.TrainingJobSummaries))
			}
			for _, s := range page.TrainingJobSummaries {
				got = append(got, aws.ToString(s.TrainingJobName))
			}
		}
		all := list(&sm.ListTrainingJobsInput{SortBy: sortBy})
		if pages != 3 || !slices.Equal(got, all) {
			t.Fatalf("paginator by %s: %d pages %v, want 3 pages %v", sortBy, pages, got, all)
		}
	}
	// A token is bound to its filters.
	first, err := te.sm.ListTrainingJobs(ctx, &sm.ListTrainingJobsInput{MaxResults: aws.Int32(2)})
	if err != nil || first.NextToken == nil {
		t.Fatalf("first page: %+v %v", first, err)
	}
	_, err = te.sm.ListTrainingJobs(ctx, &sm.ListTrainingJobsInput{MaxResults: aws.Int32(2), NextToken: first.NextToken, SortBy: types.SortByName})
	if apiCode(err) != "ValidationException" {
		t.Fatalf("token reused with another sort: %v", err)
	}
	te.assertClean(t, *te.acct.AccountId, names...)
}

// ContainerEntrypoint and ContainerArguments replace the command as the
// service does (container-contract.md §2.1).
func TestTrainingMoreEntrypoint(t *testing.T) {
	te := startMore(t)
	epImage := testimage.Build(t, testimage.ContractEntrypoint)
	type variant struct {
		image      string
		entrypoint []string
		args       []string
		wantLog    string // with a Failed job: the program's complaint
	}
	variants := map[string]variant{
		// ENTRYPOINT receives "train".
		"ep-default": {image: epImage},
		// Arguments replace "train".
		"ep-args": {image: epImage, args: []string{"bogus"}, wantLog: `unknown command "bogus"`},
		// An entrypoint alone runs without arguments (no "train" appended).
		"ep-entry": {image: epImage, entrypoint: []string{"/usr/local/bin/prog"}, wantLog: `unknown command "prog"`},
		// Both.
		"ep-both": {image: epImage, entrypoint: []string{"/usr/local/bin/prog"}, args: []string{"train"}},
		// No ENTRYPOINT in the image: an entrypoint naming train.
		"plain-entry": {image: te.image, entrypoint: []string{"/usr/local/bin/train"}},
	}
	for name, v := range variants {
		in := te.job(name, nil)
		in.AlgorithmSpecification.TrainingImage = aws.String(v.image)
		in.AlgorithmSpecification.ContainerEntrypoint = v.entrypoint
		in.AlgorithmSpecification.ContainerArguments = v.args
		te.create(t, in)
	}
	for name, v := range variants {
		d := te.wait(t, name)
		if v.wantLog == "" {
			te.expectStatus(t, d, types.TrainingJobStatusCompleted, types.SecondaryStatusCompleted)
			mustContain(t, name+"'s log", te.logText(t, name), "contract train mode=succeed", "train: success")
			continue
		}
		te.expectStatus(t, d, types.TrainingJobStatusFailed, types.SecondaryStatusFailed)
		if r := aws.ToString(d.FailureReason); r != "AlgorithmError: , exit code: 2" {
			t.Fatalf("%s: FailureReason %q", name, r)
		}
		mustContain(t, name+"'s log", te.logText(t, name), v.wantLog)
		if !slices.Equal(d.AlgorithmSpecification.ContainerEntrypoint, v.entrypoint) || !slices.Equal(d.AlgorithmSpecification.ContainerArguments, v.args) {
			t.Fatalf("%s: Describe echoes %+v", name, d.AlgorithmSpecification)
		}
	}
	te.assertClean(t, *te.acct.AccountId, slices.Collect(maps.Keys(variants))...)
}

// Another account sees nothing of the job and cannot use the owner's bucket.
func TestTrainingMoreAccountIsolation(t *testing.T) {
	te := startMore(t)
	ctx := context.Background()
	te.create(t, te.job("private", map[string]string{"mode": "sleep", "seconds": "2"}))

	globexAcct := te.account(t, "globex")
	t.Cleanup(func() {
		removeLeftovers(te.rt, map[string]string{runtime.LabelKind: "training-job", runtime.LabelAccount: *globexAcct.AccountId})
	})
	globex := &trainingEnv{env: te.env, acct: globexAcct, sm: te.env.sagemaker(globexAcct), s3: te.env.s3(globexAcct), image: te.image}
	_, err := globex.sm.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String("private")})
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "Requested resource not found.") {
		t.Fatalf("describe by another account: %v", err)
	}
	_, err = globex.sm.StopTrainingJob(ctx, &sm.StopTrainingJobInput{TrainingJobName: aws.String("private")})
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "Requested resource not found.") {
		t.Fatalf("stop by another account: %v", err)
	}
	out, err := globex.sm.ListTrainingJobs(ctx, &sm.ListTrainingJobsInput{})
	if err != nil || len(out.TrainingJobSummaries) != 0 {
		t.Fatalf("list by another account: %+v %v", out, err)
	}

	// globex has a bucket of its own, but acme's "data" is off limits.
	if _, err := globex.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("globex-data")}); err != nil {
		t.Fatal(err)
	}
	if _, err := globex.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("globex-data"), Key: aws.String("train/x.csv"), Body: strings.NewReader("1\n")}); err != nil {
		t.Fatal(err)
	}
	own := func() *sm.CreateTrainingJobInput {
		in := globex.job("private", nil) // same name as acme's job: names are per account
		in.InputDataConfig[0].DataSource.S3DataSource.S3Uri = aws.String("s3://globex-data/train/")
		in.OutputDataConfig.S3OutputPath = aws.String("s3://globex-data/out/")
		return in
	}
	for what, mutate := range map[string]func(*sm.CreateTrainingJobInput){
		"input": func(in *sm.CreateTrainingJobInput) {
			in.InputDataConfig[0].DataSource.S3DataSource.S3Uri = aws.String("s3://data/train/")
		},
		"output": func(in *sm.CreateTrainingJobInput) { in.OutputDataConfig.S3OutputPath = aws.String("s3://data/out/") },
		"checkpoint": func(in *sm.CreateTrainingJobInput) {
			in.CheckpointConfig = &types.CheckpointConfig{S3Uri: aws.String("s3://data/ckpt/")}
		},
		"manifest": func(in *sm.CreateTrainingJobInput) {
			in.InputDataConfig[0].DataSource.S3DataSource.S3DataType = types.S3DataTypeManifestFile
			in.InputDataConfig[0].DataSource.S3DataSource.S3Uri = aws.String("s3://data/train/a.csv")
		},
	} {
		in := own()
		mutate(in)
		_, err := globex.sm.CreateTrainingJob(ctx, in)
		if apiCode(err) != "ValidationException" {
			t.Fatalf("globex job with acme's bucket as %s: %v", what, err)
		}
	}
	// With its own bucket globex's job of the same name runs.
	globex.create(t, own())
	d := globex.wait(t, "private")
	if d.TrainingJobStatus != types.TrainingJobStatusCompleted || !strings.Contains(aws.ToString(d.TrainingJobArn), ":"+*globexAcct.AccountId+":") {
		t.Fatalf("globex job: %s %s %q", d.TrainingJobStatus, aws.ToString(d.TrainingJobArn), aws.ToString(d.FailureReason))
	}
	d = te.wait(t, "private")
	te.expectStatus(t, d, types.TrainingJobStatusCompleted, types.SecondaryStatusCompleted)
	te.assertClean(t, *te.acct.AccountId, "private")
	te.assertClean(t, *globexAcct.AccountId, "private")
}
