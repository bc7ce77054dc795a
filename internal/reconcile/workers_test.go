package reconcile

import (
	"sync/atomic"
	"testing"
)

func TestWorkersOnePerResource(t *testing.T) {
	var w Workers
	var runs, released atomic.Int32
	w.Released = func() { released.Add(1) }
	gate := make(chan struct{})
	w.Start("a", func() { runs.Add(1); <-gate })
	w.Start("a", func() { runs.Add(1) }) // already owned: not run
	w.Start("b", func() { runs.Add(1); <-gate })
	if !w.Owned("a") || !w.Owned("b") || w.Count() != 2 {
		t.Fatalf("owned a %v b %v, count %d", w.Owned("a"), w.Owned("b"), w.Count())
	}
	close(gate)
	w.Wait()
	if runs.Load() != 2 || released.Load() != 2 || w.Count() != 0 || w.Owned("a") {
		t.Fatalf("runs %d released %d count %d", runs.Load(), released.Load(), w.Count())
	}
	w.Start("a", func() { runs.Add(1) }) // released: may run again
	w.Wait()
	if runs.Load() != 3 {
		t.Fatalf("runs %d after restart of a", runs.Load())
	}
}
