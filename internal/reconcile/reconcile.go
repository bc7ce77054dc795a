// Package reconcile holds what Wharf's controllers (training, transform,
// endpoints) share: a wake-or-tick loop, and reading and optimistically
// updating a resource's stored Describe document.
package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/store"
)

// Waker wakes a loop early; the zero value must be initialised with NewWaker.
type Waker chan struct{}

// NewWaker returns a Waker that coalesces wake-ups.
func NewWaker() Waker { return make(Waker, 1) }

// Notify asks the loop to run now; it never blocks.
func (w Waker) Notify() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// Loop calls fn now, then whenever w is notified or every interval, until
// ctx ends. Errors are logged (not during shutdown).
func Loop(ctx context.Context, w Waker, interval time.Duration, log *slog.Logger, what string, fn func(context.Context) error) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			log.Error(what+": reconcile", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-w:
		case <-tick.C:
		}
	}
}

// Load reads a resource and decodes its document into a new T.
func Load[T any](ctx context.Context, s store.Store, account, typ, name string) (store.Resource, *T, error) {
	r, err := s.GetResource(ctx, account, typ, name)
	if err != nil {
		return r, nil, err
	}
	doc := new(T)
	if err := awsjson.Unmarshal(r.Doc, doc); err != nil {
		return r, nil, err
	}
	return r, doc, nil
}

// Mutate applies fn to the resource's latest document and stores it with
// the status status(doc) returns, retrying when a concurrent writer (a Stop
// or Update call) changed it meanwhile. fn returns false to skip the write.
// check, if set, vets a loaded document before fn sees it.
func Mutate[T any](ctx context.Context, s store.Store, account, typ, name string,
	check func(*T) error, status func(*T) string, fn func(doc *T, now time.Time) bool) (*T, error) {
	for attempt := 0; ; attempt++ {
		r, doc, err := Load[T](ctx, s, account, typ, name)
		if err == nil && check != nil {
			err = check(doc)
		}
		if err != nil {
			return nil, err
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		if !fn(doc, now) {
			return doc, nil
		}
		body, err := awsjson.Marshal(doc)
		if err != nil {
			return nil, err
		}
		r.Doc, r.Status, r.Modified = body, status(doc), now
		if _, err = s.UpdateResource(ctx, r); errors.Is(err, store.ErrConflict) && attempt < 50 {
			continue
		}
		return doc, err
	}
}

// Workers runs at most one goroutine per resource (by ARN) and lets Run
// wait for all of them on shutdown. The zero value is ready to use.
type Workers struct {
	// Released, if set, is called after a goroutine has released its
	// resource (a controller with a concurrency cap wakes up then).
	Released func()

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// Owned reports whether a goroutine works on arn.
func (w *Workers) Owned(arn string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running[arn]
}

// Count is the number of goroutines working.
func (w *Workers) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

// Start runs fn in a goroutine owning arn, unless one already does; arn is
// released when fn returns.
func (w *Workers) Start(arn string, fn func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running[arn] {
		return
	}
	if w.running == nil {
		w.running = map[string]bool{}
	}
	w.running[arn] = true
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() {
			w.mu.Lock()
			delete(w.running, arn)
			w.mu.Unlock()
			if w.Released != nil {
				w.Released()
			}
		}()
		fn()
	}()
}

// Wait waits for every goroutine started.
func (w *Workers) Wait() { w.wg.Wait() }
