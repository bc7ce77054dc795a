package training

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/access"
	"github.com/wharfml/wharf/internal/contract"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/sagemaker"
	"github.com/wharfml/wharf/internal/store"
)

// job is one training job being driven by a goroutine.
type job struct {
	account, name, arn string
	doc                *sm.DescribeTrainingJobOutput
	hosts              []string
	paths              []contract.HostPaths
	containers         []string // container id per host
	syncers            []*contract.Syncer
	network            string
	workDir            string
	started            time.Time
}

// outcome is how the containers phase ended.
type outcome struct {
	status    types.TrainingJobStatus
	secondary types.SecondaryStatus
	reason    string // FailureReason when Failed
	upload    bool   // whether /opt/ml/model is uploaded
}

func (c *Controller) labels(j *job) map[string]string {
	return map[string]string{
		runtime.LabelKind:     ResourceType,
		runtime.LabelAccount:  j.account,
		runtime.LabelResource: strings.ToLower(j.name),
	}
}

// runJob drives one job to a terminal status.
func (c *Controller) runJob(ctx context.Context, r store.Resource) {
	_, doc, err := c.load(ctx, r.Account, r.Name)
	if err != nil {
		c.Logger.Error("training: load job", "job", r.Name, "err", err)
		return
	}
	// One directory per job right under WorkDir (account ids are 12 digits,
	// so "<account>-<name>" is unambiguous): WorkDir is empty when no job runs.
	j := &job{account: r.Account, name: aws.ToString(doc.TrainingJobName), arn: r.ARN, doc: doc,
		workDir: filepath.Join(c.WorkDir, r.Account+"-"+strings.ToLower(r.Name))}
	n := int(aws.ToInt32(doc.ResourceConfig.InstanceCount))
	for i := 1; i <= n; i++ {
		j.hosts = append(j.hosts, fmt.Sprintf("algo-%d", i))
	}

	// Adopt containers left by a previous server process.
	existing, err := c.Runtime.List(ctx, c.labels(j))
	if err != nil {
		c.Logger.Error("training: list containers", "job", j.name, "err", err)
		return
	}
	var out outcome
	switch {
	case len(existing) > 0:
		out = c.adopt(ctx, j, existing)
	case doc.TrainingJobStatus == types.TrainingJobStatusStopping:
		out = outcome{status: types.TrainingJobStatusStopped, secondary: types.SecondaryStatusStopped}
	case doc.SecondaryStatus == types.SecondaryStatusTraining || doc.SecondaryStatus == types.SecondaryStatusUploading:
		out = outcome{status: types.TrainingJobStatusFailed, secondary: types.SecondaryStatusFailed,
			reason: "InternalServerError: the job's containers disappeared while Wharf was not running"}
	default:
		// A previous process may have died while staging: start afresh.
		c.removeLeftovers(ctx, j)
		out = c.start(ctx, j)
		if out.status == "" {
			out = c.watch(ctx, j)
		}
	}
	if ctx.Err() != nil {
		return // shutting down: the next start adopts the containers
	}
	c.finish(ctx, j, out)
}

// fail is an outcome for a failure before or outside the algorithm.
func fail(reason string) outcome {
	return outcome{status: types.TrainingJobStatusFailed, secondary: types.SecondaryStatusFailed, reason: reason}
}

// start stages data and starts the containers. A non-empty outcome means
// the job ended before its containers ran.
func (c *Controller) start(ctx context.Context, j *job) outcome {
	doc := j.doc
	c.transition(ctx, j, types.TrainingJobStatusInProgress, types.SecondaryStatusDownloading, "Downloading the training image and input data", nil)
	if c.stopRequested(ctx, j) {
		return outcome{status: types.TrainingJobStatusStopped, secondary: types.SecondaryStatusStopped}
	}
	image := aws.ToString(doc.AlgorithmSpecification.TrainingImage)
	if c.Images != nil {
		ours, auth, err := c.Images.Resolve(ctx, j.account, image)
		if err != nil {
			return fail(clientError(err))
		}
		if ours {
			if err := c.Runtime.PullImage(ctx, image, auth); err != nil {
				return fail(fmt.Sprintf("ClientError: pulling %s from Wharf's registry: %v", image, err))
			}
		}
	}
	img, err := c.Runtime.InspectImage(ctx, image)
	if errors.Is(err, runtime.ErrImageNotFound) {
		return fail(fmt.Sprintf("ClientError: image %s was not found: push it to Wharf's registry or load it into the Docker Engine", image))
	}
	if err != nil {
		return fail("InternalServerError: inspecting the image: " + err.Error())
	}

	channels := sagemaker.TrainingChannels(doc)
	src := &access.Objects{Store: c.Store, Blobs: c.Blobs, Account: j.account}
	for i, host := range j.hosts {
		cfg := sagemaker.TrainingHostConfig(doc, j.hosts, host)
		paths, err := contract.PrepareHost(filepath.Join(j.workDir, host), cfg)
		if err != nil {
			return fail("InternalServerError: preparing the host directories: " + err.Error())
		}
		j.paths = append(j.paths, paths)
		for _, ch := range channels {
			if ch.InputMode == "Pipe" {
				continue
			}
			objs, err := contract.ResolveChannel(ctx, src, ch, i+1, len(j.hosts))
			if err != nil {
				return fail(clientError(err))
			}
			if _, err := contract.StageFile(ctx, src, objs, paths.ChannelDir(ch.Name)); err != nil {
				return fail(clientError(err))
			}
		}
		if cfg.CheckpointS3Uri != "" {
			if err := contract.SyncDown(ctx, src, cfg.CheckpointS3Uri, paths.Checkpoints); err != nil {
				return fail(clientError(err))
			}
			syncer, err := contract.NewSyncer(ctx, src, cfg.CheckpointS3Uri, paths.Checkpoints)
			if err != nil {
				return fail(clientError(err))
			}
			j.syncers = append(j.syncers, syncer)
		}
	}

	// Network: none for an isolated single host, an internal network (no
	// route out) for isolated clusters, a private bridge otherwise.
	isolated := aws.ToBool(doc.EnableNetworkIsolation)
	network := ""
	switch {
	case len(j.hosts) == 1 && isolated:
		network = "none"
	case len(j.hosts) > 1:
		id, err := c.Runtime.CreateNetwork(ctx, runtime.NetworkSpec{Name: containerName(j, "net"), Internal: isolated, Labels: c.labels(j)})
		if err != nil {
			return fail("InternalServerError: creating the job network: " + err.Error())
		}
		network, j.network = id, id
	}

	it, err := c.Catalog.Lookup(string(doc.ResourceConfig.InstanceType))
	if err != nil {
		return fail("ClientError: " + err.Error())
	}
	limits := c.Catalog.Limits(it)
	env := contract.TrainingEnv(j.name, j.arn, c.Region, doc.Environment)
	entrypoint, cmd := contract.TrainingCommand(doc.AlgorithmSpecification.ContainerEntrypoint, doc.AlgorithmSpecification.ContainerArguments)

	c.transition(ctx, j, types.TrainingJobStatusInProgress, types.SecondaryStatusTraining, "Training image download completed. Training in progress.",
		func(doc *sm.DescribeTrainingJobOutput, now time.Time) { doc.TrainingStartTime = aws.Time(now) })
	j.started = time.Now()
	for i, host := range j.hosts {
		labels := c.labels(j)
		labels[runtime.LabelHost] = host
		var mounts []runtime.Mount
		for _, m := range j.paths[i].Mounts() {
			mounts = append(mounts, runtime.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		}
		var aliases []string
		if j.network != "" {
			aliases = []string{host} // peers resolve each other by host name
		}
		id, err := c.Runtime.Start(ctx, runtime.ContainerSpec{
			Name: containerName(j, host), Image: img.ID, Entrypoint: entrypoint, Cmd: cmd,
			Env: env, Labels: labels, Hostname: host, Network: network, Aliases: aliases,
			Mounts: mounts, NanoCPUs: limits.NanoCPUs, MemoryBytes: limits.MemoryBytes, PidsLimit: 4096,
		})
		if err != nil {
			return fail("ClientError: starting the container: " + err.Error())
		}
		j.containers = append(j.containers, id)
	}
	return outcome{}
}

func clientError(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "ClientError: ") {
		return msg
	}
	return "ClientError: " + msg
}

// containerName is unique per job and host; Docker names allow [a-zA-Z0-9_.-].
func containerName(j *job, host string) string {
	return "wharf-train-" + j.account + "-" + strings.ToLower(j.name) + "-" + host
}

// adopt resumes a job whose containers a previous server process started.
func (c *Controller) adopt(ctx context.Context, j *job, existing []runtime.ContainerInfo) outcome {
	byHost := map[string]runtime.ContainerInfo{}
	for _, ci := range existing {
		byHost[ci.Labels[runtime.LabelHost]] = ci
	}
	for _, host := range j.hosts {
		ci, ok := byHost[host]
		if !ok {
			return fail("InternalServerError: the container of " + host + " disappeared while Wharf was not running")
		}
		j.containers = append(j.containers, ci.ID)
		paths, err := contract.HostLayout(filepath.Join(j.workDir, host), sagemaker.TrainingHostConfig(j.doc, j.hosts, host))
		if err != nil {
			return fail("InternalServerError: rebuilding the host layout: " + err.Error())
		}
		j.paths = append(j.paths, paths)
		if j.started.IsZero() || ci.StartedAt.Before(j.started) {
			j.started = ci.StartedAt
		}
	}
	nets, _ := c.Runtime.ListNetworks(ctx, c.labels(j))
	if len(nets) > 0 {
		j.network = nets[0]
	}
	if cc := j.doc.CheckpointConfig; cc != nil && aws.ToString(cc.S3Uri) != "" {
		// Keep syncing checkpoints. What the previous process had not
		// uploaded yet is unknown, so every file is uploaded once now.
		sink := &access.Objects{Store: c.Store, Blobs: c.Blobs, Account: j.account}
		for _, p := range j.paths {
			syncer, err := contract.NewSyncer(ctx, sink, aws.ToString(cc.S3Uri), p.Checkpoints)
			if err != nil {
				return fail(clientError(err))
			}
			j.syncers = append(j.syncers, syncer)
			if err := uploadTree(ctx, sink, aws.ToString(cc.S3Uri), p.Checkpoints); err != nil {
				c.Logger.Warn("training: upload checkpoints after adoption", "job", j.name, "err", err)
			}
		}
	}
	c.Logger.Info("training: adopted running job", "job", j.name, "hosts", len(j.hosts))
	return c.watch(ctx, j)
}

// watch follows logs and waits for the containers, enforcing stop
// requests, MaxRuntimeInSeconds and the volume size.
func (c *Controller) watch(ctx context.Context, j *job) outcome {
	doc := j.doc
	matcher, err := contract.NewMetricMatcher(sagemaker.MetricDefinitions(doc.AlgorithmSpecification.MetricDefinitions))
	if err != nil {
		matcher, _ = contract.NewMetricMatcher(nil)
	}
	metrics := newMetricSink(c.Store, j.arn)
	type exit struct {
		host   int
		status runtime.ExitStatus
		err    error
	}
	exits := make(chan exit, len(j.hosts))
	var followers, feeders sync.WaitGroup // log followers, Pipe feeders
	jobCtx, cancelJob := context.WithCancel(ctx)
	// On every return (also at shutdown) the log followers and pipe feeders
	// end before the caller goes on: the server closes the log store next.
	defer feeders.Wait()
	defer followers.Wait()
	defer cancelJob()
	for i, id := range j.containers {
		followers.Add(1)
		go func() {
			defer followers.Done()
			c.followLogs(jobCtx, j, i, id, matcher, metrics)
		}()
		go func() {
			st, err := c.Runtime.Wait(jobCtx, id)
			exits <- exit{host: i, status: st, err: err}
		}()
	}
	// Pipe-mode channels are fed while the containers run; a feeding error
	// (an object vanished, bad gzip data) fails the job.
	src := &access.Objects{Store: c.Store, Blobs: c.Blobs, Account: j.account}
	pipeErrs := make(chan error, len(j.hosts)*len(doc.InputDataConfig))
	for i := range j.hosts {
		for _, ch := range sagemaker.TrainingChannels(doc) {
			if ch.InputMode != "Pipe" {
				continue
			}
			objs, err := contract.ResolveChannel(jobCtx, src, ch, i+1, len(j.hosts))
			if err != nil {
				c.stopAll(ctx, j)
				return fail(clientError(err))
			}
			feeders.Add(1)
			go func() {
				defer feeders.Done()
				if err := contract.ServePipe(jobCtx, src, ch, objs, j.paths[i].Data); err != nil {
					pipeErrs <- err // buffered for every feeder: never blocks
				}
			}()
		}
	}

	maxRuntime := time.Duration(aws.ToInt32(doc.StoppingCondition.MaxRuntimeInSeconds)) * time.Second
	volume := int64(aws.ToInt32(doc.ResourceConfig.VolumeSizeInGB)) << 30
	tick := time.NewTicker(c.Poll)
	defer tick.Stop()
	var out outcome
	remaining := len(j.hosts)
	stopping := false
	for remaining > 0 {
		select {
		case <-ctx.Done():
			c.flushMetrics(j, metrics)
			return outcome{}
		case err := <-pipeErrs:
			if out.status == "" {
				out = pipeFailure(err)
			}
			if !stopping {
				stopping = true
				go c.stopAll(ctx, j)
			}
		case e := <-exits:
			remaining--
			if e.err != nil {
				if out.status == "" {
					out = fail("InternalServerError: waiting for the container: " + e.err.Error())
				}
				continue
			}
			if e.status.Code != 0 && out.status == "" {
				failure, _ := contract.ReadFailureFile(j.paths[e.host].Output)
				out = outcome{status: types.TrainingJobStatusFailed, secondary: types.SecondaryStatusFailed,
					reason: contract.FailureReason(failure, e.status.Code, e.status.OOMKilled)}
				if remaining > 0 && !stopping {
					stopping = true
					go c.stopAll(ctx, j)
				}
			}
		case <-tick.C:
			if stopping {
				continue
			}
			switch {
			case c.stopRequested(ctx, j):
				out = outcome{status: types.TrainingJobStatusStopped, secondary: types.SecondaryStatusStopped, upload: true}
			case maxRuntime > 0 && time.Since(j.started) > maxRuntime:
				out = outcome{status: types.TrainingJobStatusStopped, secondary: types.SecondaryStatusMaxRuntimeExceeded, upload: true}
				c.transition(ctx, j, types.TrainingJobStatusStopping, types.SecondaryStatusStopping, "Stopping: MaxRuntimeInSeconds reached", nil)
			case volume > 0 && c.overVolume(j, volume):
				out = volumeExceeded(volume)
			default:
				c.syncCheckpoints(ctx, j, false)
				continue
			}
			stopping = true
			go c.stopAll(ctx, j)
		}
	}
	// The containers are gone; a host may have overrun its volume between
	// two polls (a fast writer), which must not be uploaded as a model.
	if (out.status == "" || out.upload) && volume > 0 && c.overVolume(j, volume) {
		out = volumeExceeded(volume)
	}
	followers.Wait() // the logs end with the containers
	cancelJob()
	feeders.Wait()
	// A feeder may have failed just as its reader exited: the container
	// then read truncated data.
	select {
	case err := <-pipeErrs:
		if out.status == "" {
			out = pipeFailure(err)
		}
	default:
	}
	c.flushMetrics(j, metrics)
	if ctx.Err() != nil {
		return outcome{}
	}
	c.mutate(ctx, j.account, j.name, func(doc *sm.DescribeTrainingJobOutput, now time.Time) bool {
		doc.FinalMetricDataList = metrics.final()
		return len(doc.FinalMetricDataList) > 0
	})
	if out.status == "" {
		out = outcome{status: types.TrainingJobStatusCompleted, secondary: types.SecondaryStatusCompleted, upload: true}
	}
	return out
}

func (c *Controller) flushMetrics(j *job, metrics *metricSink) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := metrics.flush(ctx); err != nil {
		c.Logger.Error("training: store metrics", "job", j.name, "err", err)
	}
}

func pipeFailure(err error) outcome {
	if contract.IsClientError(err) {
		return fail(clientError(err))
	}
	return fail("InternalServerError: feeding a Pipe-mode channel: " + err.Error())
}

func volumeExceeded(volume int64) outcome {
	return fail(fmt.Sprintf("ClientError: a host wrote more than the job's VolumeSizeInGB (%d GB) under /opt/ml and /tmp", volume>>30))
}

// overVolume reports whether any host's directories use more than limit
// bytes (VolumeSizeInGB is per instance).
func (c *Controller) overVolume(j *job, limit int64) bool {
	for _, p := range j.paths {
		if n, err := contract.DirSize(p.Root); err == nil && n > limit {
			return true
		}
	}
	return false
}

// stopAll sends SIGTERM to every host, SIGKILL after the grace period.
func (c *Controller) stopAll(ctx context.Context, j *job) {
	var wg sync.WaitGroup
	for _, id := range j.containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Runtime.Stop(ctx, id, c.StopGrace); err != nil && !errors.Is(err, runtime.ErrContainerNotFound) {
				c.Logger.Warn("training: stop container", "job", j.name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// finish uploads what the job produced, records the terminal status and
// removes the job's containers, network and directories.
func (c *Controller) finish(ctx context.Context, j *job, out outcome) {
	artifacts := ""
	if len(j.paths) > 0 && (out.upload || out.status == types.TrainingJobStatusFailed) {
		c.transition(ctx, j, types.TrainingJobStatusInProgress, types.SecondaryStatusUploading, "Uploading generated training model", nil)
		var err error
		artifacts, err = c.upload(ctx, j, out.upload)
		if err != nil && out.status != types.TrainingJobStatusFailed {
			out = fail(clientError(fmt.Errorf("uploading the model: %w", err)))
		}
	}
	message := map[types.SecondaryStatus]string{
		types.SecondaryStatusCompleted:          "Training job completed",
		types.SecondaryStatusFailed:             "Training job failed",
		types.SecondaryStatusStopped:            "Training job stopped",
		types.SecondaryStatusMaxRuntimeExceeded: "Training job reached MaxRuntimeInSeconds and was stopped",
	}[out.secondary]
	c.transition(ctx, j, out.status, out.secondary, message, func(d *sm.DescribeTrainingJobOutput, now time.Time) {
		if out.reason != "" {
			d.FailureReason = aws.String(truncate(out.reason, 1024))
		}
		if artifacts != "" {
			d.ModelArtifacts = &types.ModelArtifacts{S3ModelArtifacts: aws.String(artifacts)}
		}
		d.TrainingEndTime = aws.Time(now)
		if d.TrainingStartTime != nil {
			secs := int32(now.Sub(*d.TrainingStartTime).Seconds())
			d.TrainingTimeInSeconds, d.BillableTimeInSeconds = aws.Int32(max(secs, 1)), aws.Int32(max(secs, 1))
		}
	})
	c.cleanup(context.WithoutCancel(ctx), j)
}

// upload packs the hosts' model and output trees into the job's output
// prefix; it returns the S3ModelArtifacts URI ("" if the model was not uploaded).
func (c *Controller) upload(ctx context.Context, j *job, withModel bool) (string, error) {
	bucket, modelKey, outputKey, _, err := contract.OutputKeys(aws.ToString(j.doc.OutputDataConfig.S3OutputPath), j.name)
	if err != nil {
		return "", err
	}
	var modelDirs, outputDirs []string
	for _, p := range j.paths {
		modelDirs = append(modelDirs, p.Model)
		outputDirs = append(outputDirs, p.OutputData)
	}
	if err := c.putTarGz(ctx, j.account, bucket, outputKey, outputDirs); err != nil {
		return "", err
	}
	if !withModel {
		return "", nil
	}
	if err := c.putTarGz(ctx, j.account, bucket, modelKey, modelDirs); err != nil {
		return "", err
	}
	if err := c.syncCheckpoints(ctx, j, true); err != nil {
		return "", err
	}
	return "s3://" + bucket + "/" + modelKey, nil
}

// putTarGz streams a tar.gz of dirs into bucket/key, checking ownership.
func (c *Controller) putTarGz(ctx context.Context, account, bucket, key string, dirs []string) error {
	sink := &access.Objects{Store: c.Store, Blobs: c.Blobs, Account: account}
	pr, pw := io.Pipe()
	go func() {
		_, err := contract.PackTarGz(ctx, pw, dirs...)
		pw.CloseWithError(err)
	}()
	err := sink.Put(ctx, bucket, key, pr, -1)
	pr.CloseWithError(err)
	return err
}

// cleanup removes everything of the job: its containers and network (also
// ones this process does not know of, e.g. the surviving hosts of a job
// whose other container vanished, or a network a crashed process created)
// and its work dir.
func (c *Controller) cleanup(ctx context.Context, j *job) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, id := range j.containers {
		if err := c.Runtime.Remove(ctx, id); err != nil {
			c.Logger.Warn("training: remove container", "job", j.name, "err", err)
		}
	}
	if j.network != "" {
		if err := c.Runtime.RemoveNetwork(ctx, j.network); err != nil {
			c.Logger.Warn("training: remove network", "job", j.name, "err", err)
		}
	}
	c.removeLeftovers(ctx, j)
}

// removeLeftovers removes the containers and networks labelled with the job
// and its work dir.
func (c *Controller) removeLeftovers(ctx context.Context, j *job) {
	if err := runtime.RemoveLeftovers(ctx, c.Runtime, c.labels(j), j.workDir); err != nil {
		c.Logger.Warn("training: remove leftovers", "job", j.name, "err", err)
	}
}

// syncCheckpoints uploads new or changed checkpoint files; final forces
// files that may still be being written.
func (c *Controller) syncCheckpoints(ctx context.Context, j *job, final bool) error {
	for _, s := range j.syncers {
		var err error
		if final {
			err = s.Flush(ctx)
		} else {
			err = s.Scan(ctx)
		}
		if err != nil {
			c.Logger.Warn("training: sync checkpoints", "job", j.name, "err", err)
			return fmt.Errorf("checkpoints: %w", err)
		}
	}
	return nil
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
