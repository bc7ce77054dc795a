package training

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/contract"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/store"
)

// metricSink batches metric points into the store and remembers the last
// value of each metric for FinalMetricDataList.
type metricSink struct {
	store   store.Store
	arn     string
	mu      sync.Mutex
	pending []store.MetricPoint
	last    map[string]store.MetricPoint
	order   []string
}

func newMetricSink(s store.Store, arn string) *metricSink {
	return &metricSink{store: s, arn: arn, last: map[string]store.MetricPoint{}}
}

func (m *metricSink) add(ctx context.Context, points []contract.MetricPoint) {
	if len(points) == 0 {
		return
	}
	m.mu.Lock()
	for _, p := range points {
		sp := store.MetricPoint{Name: p.Name, Value: p.Value, Time: p.Time}
		m.pending = append(m.pending, sp)
		if _, seen := m.last[p.Name]; !seen {
			m.order = append(m.order, p.Name)
		}
		m.last[p.Name] = sp
	}
	full := len(m.pending) >= 500
	m.mu.Unlock()
	if full {
		m.flush(ctx)
	}
}

func (m *metricSink) flush(ctx context.Context) error {
	m.mu.Lock()
	batch := m.pending
	m.pending = nil
	m.mu.Unlock()
	return m.store.AppendMetrics(ctx, m.arn, batch)
}

// final is FinalMetricDataList: the last value of each metric (≤ 40).
func (m *metricSink) final() []types.MetricData {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []types.MetricData
	for _, name := range m.order {
		if len(out) == 40 {
			break
		}
		p := m.last[name]
		out = append(out, types.MetricData{MetricName: aws.String(p.Name), Value: aws.Float32(float32(p.Value)), Timestamp: aws.Time(p.Time)})
	}
	return out
}

// followLogs copies one host's output into its log stream and feeds the
// metric matcher. After an adoption it skips lines already stored.
func (c *Controller) followLogs(ctx context.Context, j *job, host int, id string, matcher *contract.MetricMatcher, metrics *metricSink) {
	info, err := c.Runtime.Inspect(ctx, id)
	if err != nil {
		c.Logger.Warn("training: inspect container", "job", j.name, "err", err)
		return
	}
	stream := fmt.Sprintf("%s/%s-%d", j.name, j.hosts[host], info.StartedAt.Unix())
	w, err := c.Logs.Stream(ctx, j.account, LogGroup, stream)
	if err != nil {
		c.Logger.Error("training: open log stream", "job", j.name, "err", err)
		return
	}
	defer w.Close()
	// Stored events have millisecond timestamps; a container prints many
	// lines per millisecond, so lines are compared at that resolution (the
	// previous process flushed its buffer when it shut down).
	seen := w.LastEventTime()
	err = c.Runtime.Logs(ctx, id, true, func(l runtime.LogLine) error {
		if !seen.IsZero() && !l.Time.Truncate(time.Millisecond).After(seen) {
			return nil
		}
		metrics.add(ctx, matcher.Match(l.Text, l.Time))
		return w.Write(ctx, l.Time, l.Text)
	})
	if err != nil && ctx.Err() == nil {
		c.Logger.Warn("training: follow logs", "job", j.name, "err", err)
	}
}

// uploadTree uploads every regular file under dir to the checkpoint prefix
// s3Uri under its relative path. Symlinks are not followed and os.Root keeps
// every open inside dir, which the container can write to.
func uploadTree(ctx context.Context, sink contract.ObjectSink, s3Uri, dir string) error {
	bucket, prefix, err := contract.ParseS3URI(s3Uri)
	if err != nil {
		return err
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil // vanished meanwhile, or not a file
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return nil
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return nil
		}
		return sink.Put(ctx, bucket, prefix+rel, io.LimitReader(f, st.Size()), st.Size())
	})
}
