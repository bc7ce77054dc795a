// Package training runs SageMaker training jobs on a container runtime. Its
// Controller reconciles from the metadata store: every job InProgress or
// Stopping that no goroutine owns gets one, which drives the job through
// Downloading → Training → Uploading to a terminal status, writing status
// back after each step. Containers carry labels naming their job, so a
// restarted server adopts the containers of jobs that were running.
package training

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/instances"
	"github.com/wharfml/wharf/internal/logs"
	"github.com/wharfml/wharf/internal/reconcile"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/sagemaker"
	"github.com/wharfml/wharf/internal/store"
)

// ResourceType is the store type of training jobs.
const ResourceType = "training-job"

// LogGroup is the CloudWatch Logs group of training job output.
const LogGroup = "/aws/sagemaker/TrainingJobs"

// Controller runs training jobs.
type Controller struct {
	Store   store.Store
	Blobs   blob.Store
	Runtime runtime.Runtime
	Logs    *logs.Store
	Catalog *instances.Catalog
	// WorkDir holds each running job's host directories (bind-mounted into
	// its containers); it is emptied as jobs end.
	WorkDir string
	Region  string
	// MaxConcurrent caps jobs running at once; the rest wait as Pending.
	MaxConcurrent int
	// StopGrace is the time between SIGTERM and SIGKILL (default 120 s).
	StopGrace time.Duration
	// Images, if set, recognises images in Wharf's own registry and gives
	// the credential to pull them with the job owner's rights.
	Images ImageResolver
	// Poll is how often running jobs check for stop requests and limits.
	Poll   time.Duration
	Logger *slog.Logger

	wake    reconcile.Waker
	workers reconcile.Workers // one goroutine per job
}

// ImageResolver decides how a job's image reaches the engine.
type ImageResolver interface {
	// Resolve reports whether ref names an image in Wharf's registry and, if
	// so, the engine credential to pull it as account. An image of another
	// account's private repository is an error.
	Resolve(ctx context.Context, account, ref string) (ours bool, auth string, err error)
}

// Notify asks the controller to look at the store now.
func (c *Controller) Notify() { c.wake.Notify() }

func (c *Controller) init() {
	if c.wake == nil {
		c.wake = reconcile.NewWaker()
		c.workers.Released = c.Notify // a slot is free
	}
	if c.StopGrace == 0 {
		c.StopGrace = 120 * time.Second
	}
	if c.Poll == 0 {
		c.Poll = time.Second
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 4
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// New prepares a controller; call Run to start it.
func (c *Controller) New() *Controller { c.init(); return c }

// Run reconciles until ctx ends, then waits for job goroutines to return.
// Jobs interrupted by shutdown keep their containers and are adopted by the
// next start.
func (c *Controller) Run(ctx context.Context) {
	c.init()
	reconcile.Loop(ctx, c.wake, 2*time.Second, c.Logger, "training", c.reconcile)
	c.workers.Wait()
}

// reconcile starts a goroutine for each active job nobody owns yet, oldest
// first, up to MaxConcurrent; the others are marked Pending. Jobs being
// stopped are not held back by the cap.
func (c *Controller) reconcile(ctx context.Context) error {
	jobs, err := c.Store.ListResources(ctx, store.ResourceQuery{
		Type:     ResourceType,
		Statuses: []string{string(types.TrainingJobStatusInProgress), string(types.TrainingJobStatusStopping)},
		SortBy:   store.SortByCreationTime,
	})
	if err != nil {
		return err
	}
	for _, r := range jobs {
		if c.workers.Owned(r.ARN) {
			continue
		}
		// A stopped job that waits for capacity ends at once; one that ran
		// before a restart has containers and counted already. Neither waits.
		if c.workers.Count() >= c.MaxConcurrent && r.Status != string(types.TrainingJobStatusStopping) {
			c.markPending(ctx, r)
			continue
		}
		c.workers.Start(r.ARN, func() { c.runJob(ctx, r) })
	}
	return nil
}

func (c *Controller) markPending(ctx context.Context, r store.Resource) {
	c.mutate(ctx, r.Account, r.Name, waitForCapacity)
}

// waitForCapacity marks a job that cannot start yet Pending, or Stopped once
// it has waited longer than its StoppingCondition.MaxPendingTimeInSeconds
// (counted from creation, as the job has been pending since then).
func waitForCapacity(doc *sm.DescribeTrainingJobOutput, now time.Time) bool {
	if doc.TrainingJobStatus != types.TrainingJobStatusInProgress {
		return false
	}
	if sc := doc.StoppingCondition; sc != nil && sc.MaxPendingTimeInSeconds != nil && doc.CreationTime != nil &&
		now.Sub(*doc.CreationTime) > time.Duration(*sc.MaxPendingTimeInSeconds)*time.Second {
		sagemaker.TransitionTraining(doc, types.TrainingJobStatusStopped, types.SecondaryStatusStopped,
			fmt.Sprintf("Training job was pending for longer than MaxPendingTimeInSeconds (%d s) and was stopped", *sc.MaxPendingTimeInSeconds), now)
		doc.TrainingEndTime = aws.Time(now)
		return true
	}
	if doc.SecondaryStatus != types.SecondaryStatusStarting {
		return false
	}
	sagemaker.TransitionTraining(doc, types.TrainingJobStatusInProgress, types.SecondaryStatusPending,
		"Waiting for capacity: the installation runs at most its configured number of jobs at once", now)
	return true
}

// load reads a job's current document.
func (c *Controller) load(ctx context.Context, account, name string) (store.Resource, *sm.DescribeTrainingJobOutput, error) {
	return reconcile.Load[sm.DescribeTrainingJobOutput](ctx, c.Store, account, ResourceType, name)
}

// mutate applies fn to the job's latest document and stores it, retrying on
// concurrent changes (StopTrainingJob). fn returns false to skip the write.
func (c *Controller) mutate(ctx context.Context, account, name string, fn func(doc *sm.DescribeTrainingJobOutput, now time.Time) bool) (*sm.DescribeTrainingJobOutput, error) {
	return reconcile.Mutate(ctx, c.Store, account, ResourceType, name, nil,
		func(d *sm.DescribeTrainingJobOutput) string { return string(d.TrainingJobStatus) }, fn)
}

// transition moves the job to a new status unless it is already terminal.
func (c *Controller) transition(ctx context.Context, j *job, status types.TrainingJobStatus, secondary types.SecondaryStatus, message string, extra func(doc *sm.DescribeTrainingJobOutput, now time.Time)) {
	doc, err := c.mutate(ctx, j.account, j.name, func(doc *sm.DescribeTrainingJobOutput, now time.Time) bool {
		if isTerminal(doc.TrainingJobStatus) {
			return false
		}
		// A stop request wins over progress reports.
		if doc.TrainingJobStatus == types.TrainingJobStatusStopping && !isTerminal(status) {
			status, secondary = types.TrainingJobStatusStopping, types.SecondaryStatusStopping
			if doc.SecondaryStatus == types.SecondaryStatusStopping {
				return extra != nil && apply(extra, doc, now)
			}
		}
		sagemaker.TransitionTraining(doc, status, secondary, message, now)
		if extra != nil {
			extra(doc, now)
		}
		return true
	})
	if err != nil && ctx.Err() == nil {
		c.Logger.Error("training: update status", "job", j.name, "err", err)
		return
	}
	if doc != nil {
		j.doc = doc
	}
}

func apply(fn func(*sm.DescribeTrainingJobOutput, time.Time), doc *sm.DescribeTrainingJobOutput, now time.Time) bool {
	fn(doc, now)
	return true
}

func isTerminal(s types.TrainingJobStatus) bool {
	return s == types.TrainingJobStatusCompleted || s == types.TrainingJobStatusFailed || s == types.TrainingJobStatusStopped
}

// stopRequested reports whether StopTrainingJob was called.
func (c *Controller) stopRequested(ctx context.Context, j *job) bool {
	_, doc, err := c.load(ctx, j.account, j.name)
	return err == nil && doc.TrainingJobStatus == types.TrainingJobStatusStopping
}

var _ = aws.String
