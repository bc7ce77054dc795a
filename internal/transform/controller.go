// Package transform runs SageMaker batch transform jobs on a container
// runtime (container-contract.md §4). Its Controller reconciles from the
// metadata store: every job InProgress or Stopping that no goroutine owns
// gets one, which starts the model's serve container on each host, waits for
// /ping, asks /execution-parameters, streams every input object through
// /invocations and writes the assembled .out objects.
//
// Networking: each job gets an internal network of its own that the host
// reaches into (runtime.NetworkSpec.HostAccess): the driver connects to the
// containers' addresses, and the containers cannot open a connection to
// anything, the host included (container-contract.md §5). Where container
// addresses are not routable (Docker Desktop) the runtime falls back to a
// bridge with published ports, without egress blocking.
//
// Restarts: a job found InProgress that a previous server process had
// started (TransformStartTime set) is failed with "InternalServerError:
// Wharf restarted while the job ran" and its labelled containers removed.
package transform

import (
	"context"
	"log/slog"
	"time"

	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/instances"
	"github.com/wharfml/wharf/internal/logs"
	"github.com/wharfml/wharf/internal/reconcile"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/store"
)

// ResourceType is the store type of transform jobs.
const ResourceType = "transform-job"

// ModelType is the store type of models.
const ModelType = "model"

// LogGroup is the CloudWatch Logs group of transform containers.
const LogGroup = "/aws/sagemaker/TransformJobs"

// ImageResolver decides how a model's image reaches the engine (the
// server's registry resolver; same contract as training.ImageResolver).
type ImageResolver interface {
	Resolve(ctx context.Context, account, ref string) (ours bool, auth string, err error)
}

// Controller runs transform jobs.
type Controller struct {
	Store   store.Store
	Blobs   blob.Store
	Runtime runtime.Runtime
	Logs    *logs.Store
	Catalog *instances.Catalog
	// WorkDir holds each running job's extracted model data.
	WorkDir string
	Region  string
	Images  ImageResolver
	// StopGrace is the time between SIGTERM and SIGKILL (default 30 s).
	StopGrace time.Duration
	// HealthTimeout bounds the wait for a healthy /ping (default 240 s).
	HealthTimeout time.Duration
	// MaxModelBytes caps extracted model data per host (default 30 GiB).
	MaxModelBytes int64
	// Poll is how often running jobs check for stop requests.
	Poll   time.Duration
	Logger *slog.Logger

	wake    reconcile.Waker
	workers reconcile.Workers // one goroutine per job
}

// New prepares a controller; call Run to start it.
func (c *Controller) New() *Controller { c.init(); return c }

func (c *Controller) init() {
	if c.wake == nil {
		c.wake = reconcile.NewWaker()
	}
	if c.StopGrace == 0 {
		c.StopGrace = 30 * time.Second
	}
	if c.HealthTimeout == 0 {
		c.HealthTimeout = 240 * time.Second
	}
	if c.MaxModelBytes == 0 {
		c.MaxModelBytes = 30 << 30
	}
	if c.Poll == 0 {
		c.Poll = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Notify asks the controller to look at the store now.
func (c *Controller) Notify() { c.wake.Notify() }

// Run reconciles until ctx ends, then waits for job goroutines to return.
func (c *Controller) Run(ctx context.Context) {
	c.init()
	reconcile.Loop(ctx, c.wake, 2*time.Second, c.Logger, "transform", c.reconcile)
	c.workers.Wait()
}

func (c *Controller) reconcile(ctx context.Context) error {
	jobs, err := c.Store.ListResources(ctx, store.ResourceQuery{
		Type:     ResourceType,
		Statuses: []string{string(types.TransformJobStatusInProgress), string(types.TransformJobStatusStopping)},
		SortBy:   store.SortByCreationTime,
	})
	if err != nil {
		return err
	}
	for _, r := range jobs {
		c.workers.Start(r.ARN, func() { c.runJob(ctx, r) })
	}
	return nil
}

// load reads a job's current document.
func (c *Controller) load(ctx context.Context, account, name string) (store.Resource, *sm.DescribeTransformJobOutput, error) {
	return reconcile.Load[sm.DescribeTransformJobOutput](ctx, c.Store, account, ResourceType, name)
}

// mutate applies fn to the job's latest document and stores it, retrying on
// concurrent changes (StopTransformJob). fn returns false to skip the write.
func (c *Controller) mutate(ctx context.Context, account, name string, fn func(doc *sm.DescribeTransformJobOutput, now time.Time) bool) (*sm.DescribeTransformJobOutput, error) {
	return reconcile.Mutate(ctx, c.Store, account, ResourceType, name, nil,
		func(d *sm.DescribeTransformJobOutput) string { return string(d.TransformJobStatus) }, fn)
}

// stopRequested reports whether StopTransformJob was called.
func (c *Controller) stopRequested(ctx context.Context, j *job) bool {
	_, doc, err := c.load(ctx, j.account, j.name)
	return err == nil && doc.TransformJobStatus == types.TransformJobStatusStopping
}

func isTerminal(s types.TransformJobStatus) bool {
	return s == types.TransformJobStatusCompleted || s == types.TransformJobStatusFailed || s == types.TransformJobStatusStopped
}
