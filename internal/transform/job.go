package transform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/access"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/contract"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/store"
)

// Defaults of container-contract.md §4.2.
const (
	defaultConcurrency = 1
	defaultPayloadMB   = 6
	maxPayloadMB       = 100
)

// job is one transform job driven by a goroutine.
type job struct {
	account, name, arn string
	doc                *sm.DescribeTransformJobOutput
	workDir            string
	network            string
	hosts              []*host
	followers          sync.WaitGroup

	// Effective parameters (after §4.2 precedence).
	concurrency int
	payload     int64 // bytes; 0 = unbounded
	strategy    types.BatchStrategy
}

// host is one instance: the model's serve containers (one per pipeline
// step, in order).
type host struct {
	name       string
	containers []*Container
	sem        chan struct{} // one slot per request in flight
}

// outcome is how a job ended.
type outcome struct {
	status types.TransformJobStatus
	reason string
}

func fail(format string, args ...any) outcome {
	return outcome{status: types.TransformJobStatusFailed, reason: fmt.Sprintf(format, args...)}
}

func (c *Controller) labels(j *job) map[string]string {
	return map[string]string{
		runtime.LabelKind:     ResourceType,
		runtime.LabelAccount:  j.account,
		runtime.LabelResource: strings.ToLower(j.name),
	}
}

func containerName(j *job, suffix string) string {
	return "wharf-transform-" + j.account + "-" + strings.ToLower(j.name) + "-" + suffix
}

// runJob drives one job to a terminal status.
func (c *Controller) runJob(ctx context.Context, r store.Resource) {
	_, doc, err := c.load(ctx, r.Account, r.Name)
	if err != nil {
		c.Logger.Error("transform: load job", "job", r.Name, "err", err)
		return
	}
	j := &job{account: r.Account, name: aws.ToString(doc.TransformJobName), arn: r.ARN, doc: doc,
		workDir: filepath.Join(c.WorkDir, r.Account+"-"+strings.ToLower(r.Name))}
	// A job a previous process started cannot be resumed: its progress
	// (which objects are done) was in memory.
	if doc.TransformStartTime != nil || doc.TransformJobStatus == types.TransformJobStatusStopping {
		c.removeLeftovers(ctx, j)
		out := fail("InternalServerError: Wharf restarted while the job ran")
		if doc.TransformJobStatus == types.TransformJobStatusStopping {
			out = outcome{status: types.TransformJobStatusStopped}
		}
		c.finish(ctx, j, out)
		return
	}
	c.mutate(ctx, j.account, j.name, func(d *sm.DescribeTransformJobOutput, now time.Time) bool {
		d.TransformStartTime = aws.Time(now)
		return true
	})

	jobCtx, cancel := context.WithCancel(ctx)
	var stopped atomic.Bool
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		tick := time.NewTicker(c.Poll)
		defer tick.Stop()
		for {
			select {
			case <-jobCtx.Done():
				return
			case <-tick.C:
				if c.stopRequested(jobCtx, j) {
					stopped.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	out := c.execute(jobCtx, j)
	cancel()
	<-watchDone
	if ctx.Err() != nil {
		// Shutting down: the job cannot be adopted; remove its containers
		// now, the next start marks it failed.
		c.cleanup(context.WithoutCancel(ctx), j)
		return
	}
	if stopped.Load() || c.stopRequested(ctx, j) {
		out = outcome{status: types.TransformJobStatusStopped}
	}
	// The outputs are complete: stop the containers, let their last log
	// lines be stored, record the status, then remove what is left.
	c.stopContainers(ctx, j)
	c.waitFollowers(j, 10*time.Second)
	c.finish(ctx, j, out)
	c.cleanup(ctx, j)
}

// waitFollowers waits up to d for the log followers (they end when their
// containers have stopped).
func (c *Controller) waitFollowers(j *job, d time.Duration) {
	done := make(chan struct{})
	go func() { j.followers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// finish records the terminal status.
func (c *Controller) finish(ctx context.Context, j *job, out outcome) {
	_, err := c.mutate(ctx, j.account, j.name, func(d *sm.DescribeTransformJobOutput, now time.Time) bool {
		if isTerminal(d.TransformJobStatus) {
			return false
		}
		d.TransformJobStatus = out.status
		if out.reason != "" {
			d.FailureReason = aws.String(contract.TruncateReason(out.reason))
		}
		d.TransformEndTime = aws.Time(now)
		return true
	})
	if err != nil && ctx.Err() == nil {
		c.Logger.Error("transform: update status", "job", j.name, "err", err)
	}
}

// execute starts the hosts and runs the batch; it returns the outcome.
func (c *Controller) execute(ctx context.Context, j *job) outcome {
	doc := j.doc
	var model sm.DescribeModelOutput
	mr, err := c.Store.GetResource(ctx, j.account, ModelType, aws.ToString(doc.ModelName))
	if errors.Is(err, store.ErrNotFound) {
		return fail("ClientError: model %s no longer exists", aws.ToString(doc.ModelName))
	}
	if err == nil {
		err = awsjson.Unmarshal(mr.Doc, &model)
	}
	if err != nil {
		return fail("InternalServerError: reading the model: %v", err)
	}
	p, err := NewPipeline(&model)
	if err != nil {
		return fail("%s", err)
	}

	sv := c.serve()
	if err := sv.PrepareImages(ctx, j.account, p); err != nil {
		return fail("%s", err)
	}
	it, err := c.Catalog.Lookup(string(doc.TransformResources.InstanceType))
	if err != nil {
		return fail("ClientError: %v", err)
	}
	limits := c.Catalog.Limits(it)

	// A network per job that only the driver can reach into.
	netID, err := c.Runtime.CreateNetwork(ctx, NetworkSpec(containerName(j, "net"), c.labels(j)))
	if err != nil {
		return fail("InternalServerError: creating the job network: %v", err)
	}
	j.network = netID

	// Every container of the pipeline gets the job's environment over its own.
	jobEnv := maps.Clone(doc.Environment)
	if jobEnv == nil {
		jobEnv = map[string]string{}
	}
	jobEnv["SAGEMAKER_BATCH"] = "true"
	if doc.MaxPayloadInMB != nil {
		jobEnv["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = strconv.Itoa(int(*doc.MaxPayloadInMB))
	}
	if doc.BatchStrategy != "" {
		jobEnv["SAGEMAKER_BATCH_STRATEGY"] = map[types.BatchStrategy]string{
			types.BatchStrategySingleRecord: "SINGLE_RECORD", types.BatchStrategyMultiRecord: "MULTI_RECORD"}[doc.BatchStrategy]
	}
	if doc.MaxConcurrentTransforms != nil {
		jobEnv["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = strconv.Itoa(int(*doc.MaxConcurrentTransforms))
	}

	src := &access.Objects{Store: c.Store, Blobs: c.Blobs, Account: j.account}
	n := int(aws.ToInt32(doc.TransformResources.InstanceCount))
	for i := 1; i <= n; i++ {
		h := &host{name: fmt.Sprintf("algo-%d", i)}
		cs, err := sv.StartHost(ctx, j.account, p, filepath.Join(j.workDir, h.name), func(k int) runtime.ContainerSpec {
			st := p.Steps[k]
			env := maps.Clone(st.Container.Environment)
			if env == nil {
				env = map[string]string{}
			}
			maps.Copy(env, jobEnv)
			labels := c.labels(j)
			labels[runtime.LabelHost] = h.name
			hostname := h.name
			if hn := aws.ToString(st.Container.ContainerHostname); hn != "" {
				hostname = hn
			}
			return runtime.ContainerSpec{
				Name: containerName(j, ContainerSuffix(h.name, k)), Env: env, Labels: labels, Hostname: hostname, Network: netID,
				NanoCPUs: limits.NanoCPUs, MemoryBytes: limits.MemoryBytes, PidsLimit: 4096,
			}
		})
		if err != nil {
			return fail("%s", err)
		}
		h.containers = cs
		j.hosts = append(j.hosts, h)
		for k := range cs {
			j.followers.Add(1)
			go func() {
				defer j.followers.Done()
				// Not the job's context, which ends before the containers
				// stop: their last lines must be stored too.
				c.followLogs(context.WithoutCancel(ctx), j, h, k)
			}()
		}
	}

	// Health, then execution parameters.
	for _, h := range j.hosts {
		if err := sv.WaitHostHealthy(ctx, h.containers, h.name, c.HealthTimeout); err != nil {
			return fail("%s", err)
		}
	}
	if out := c.parameters(ctx, j); out.status != "" {
		return out
	}
	for _, h := range j.hosts {
		h.sem = make(chan struct{}, j.concurrency)
	}
	return c.process(ctx, j, src)
}

// execParams is the /execution-parameters answer.
type execParams struct {
	MaxConcurrentTransforms *int   `json:"MaxConcurrentTransforms"`
	BatchStrategy           string `json:"BatchStrategy"`
	MaxPayloadInMB          *int   `json:"MaxPayloadInMB"`
}

// parameters applies §4.2: request → container → defaults, and records the
// effective values in the job's document.
func (c *Controller) parameters(ctx context.Context, j *job) outcome {
	var p execParams
	for _, h := range j.hosts {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		// A pipeline's first container receives the records, so its
		// parameters are the ones that apply.
		req, _ := http.NewRequestWithContext(pctx, http.MethodGet, h.containers[0].URL+"/execution-parameters", nil)
		resp, err := httpClient.Do(req)
		if err == nil {
			var got execParams
			if resp.StatusCode == http.StatusOK && json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&got) == nil && h == j.hosts[0] {
				p = got
			}
			resp.Body.Close()
		}
		cancel()
	}
	doc := j.doc
	j.concurrency, j.strategy = defaultConcurrency, types.BatchStrategyMultiRecord
	payloadMB := defaultPayloadMB
	switch {
	case doc.MaxConcurrentTransforms != nil && *doc.MaxConcurrentTransforms > 0:
		j.concurrency = int(*doc.MaxConcurrentTransforms)
	case p.MaxConcurrentTransforms != nil && *p.MaxConcurrentTransforms > 0:
		j.concurrency = *p.MaxConcurrentTransforms
	}
	switch {
	case doc.BatchStrategy != "":
		j.strategy = doc.BatchStrategy
	case strings.EqualFold(p.BatchStrategy, "MULTI_RECORD") || p.BatchStrategy == "MultiRecord":
		j.strategy = types.BatchStrategyMultiRecord
	case strings.EqualFold(p.BatchStrategy, "SINGLE_RECORD") || p.BatchStrategy == "SingleRecord":
		j.strategy = types.BatchStrategySingleRecord
	}
	switch {
	case doc.MaxPayloadInMB != nil:
		payloadMB = int(*doc.MaxPayloadInMB)
	case p.MaxPayloadInMB != nil:
		payloadMB = *p.MaxPayloadInMB
	}
	if payloadMB < 0 || payloadMB > maxPayloadMB || j.concurrency*payloadMB > maxPayloadMB || j.concurrency > 1024 {
		return fail("ClientError: the execution parameters (MaxConcurrentTransforms %d, MaxPayloadInMB %d) violate the limits: MaxPayloadInMB 0-100 and MaxConcurrentTransforms × MaxPayloadInMB ≤ 100",
			j.concurrency, payloadMB)
	}
	j.payload = int64(payloadMB) << 20
	c.mutate(ctx, j.account, j.name, func(d *sm.DescribeTransformJobOutput, now time.Time) bool {
		d.MaxConcurrentTransforms = aws.Int32(int32(j.concurrency))
		d.MaxPayloadInMB = aws.Int32(int32(payloadMB))
		d.BatchStrategy = j.strategy
		return true
	})
	return outcome{}
}

// followLogs copies the output of container k of a host into its log stream.
func (c *Controller) followLogs(ctx context.Context, j *job, h *host, k int) {
	id := h.containers[k].ID
	stream := HostStream(j.name+"/"+h.name, h.containers, k)
	w, err := c.Logs.Stream(ctx, j.account, LogGroup, stream)
	if err != nil {
		c.Logger.Error("transform: open log stream", "job", j.name, "err", err)
		return
	}
	defer w.Close()
	err = c.Runtime.Logs(ctx, id, true, func(l runtime.LogLine) error {
		return w.Write(ctx, l.Time, l.Text)
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, runtime.ErrContainerNotFound) {
		c.Logger.Warn("transform: follow logs", "job", j.name, "err", err)
	}
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// cleanup removes the job's containers (stopped or not) and network, waits
// for the log followers and removes the work dir.
func (c *Controller) cleanup(ctx context.Context, j *job) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, h := range j.hosts {
		for _, ct := range h.containers {
			if err := c.Runtime.Remove(ctx, ct.ID); err != nil {
				c.Logger.Warn("transform: remove container", "job", j.name, "err", err)
			}
		}
	}
	j.followers.Wait()
	c.removeLeftovers(ctx, j)
}

// stopContainers stops the job's containers: SIGTERM, SIGKILL after
// StopGrace.
func (c *Controller) stopContainers(ctx context.Context, j *job) {
	ctx, cancel := context.WithTimeout(ctx, c.StopGrace+time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, h := range j.hosts {
		for _, ct := range h.containers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Runtime.Stop(ctx, ct.ID, c.StopGrace); err != nil && !errors.Is(err, runtime.ErrContainerNotFound) {
					c.Logger.Warn("transform: stop container", "job", j.name, "err", err)
				}
			}()
		}
	}
	wg.Wait()
}

// removeLeftovers removes every container and network labelled with the
// job and its work dir.
func (c *Controller) removeLeftovers(ctx context.Context, j *job) {
	if err := runtime.RemoveLeftovers(ctx, c.Runtime, c.labels(j), j.workDir); err != nil {
		c.Logger.Warn("transform: remove leftovers", "job", j.name, "err", err)
	}
}

func clientError(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "ClientError: ") {
		return msg
	}
	return "ClientError: " + msg
}
