package logs

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

const testAccount = "111111111111"

func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "logs.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// storedEvent is an event as read back directly from the database.
type storedEvent struct {
	ts  int64
	msg string
}

func readStream(t testing.TB, s *Store, account, group, stream string) []storedEvent {
	t.Helper()
	rows, err := s.db.Query(`SELECT e.ts, e.message FROM events e
		JOIN streams st ON st.id = e.stream_id JOIN groups g ON g.id = st.group_id
		WHERE g.account = ? AND g.name = ? AND st.name = ? ORDER BY e.ts, e.id`, account, group, stream)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var e storedEvent
		if err := rows.Scan(&e.ts, &e.msg); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func streamInfo(t testing.TB, s *Store, account, group, stream string) streamRow {
	t.Helper()
	g, err := s.group(context.Background(), account, group)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.stream(context.Background(), g.id, stream)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestWriterBatches(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{FlushInterval: time.Hour, FlushLines: 100})
	w, err := s.Stream(ctx, testAccount, "/aws/sagemaker/TrainingJobs", "job/algo-1-1700000000")
	if err != nil {
		t.Fatal(err)
	}
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 250 {
		if err := w.Write(ctx, base.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("line %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(readStream(t, s, testAccount, "/aws/sagemaker/TrainingJobs", "job/algo-1-1700000000")); got != 200 {
		t.Fatalf("before Close: %d events stored, want 200 (two full batches)", got)
	}
	if got := s.batches.Load(); got != 2 {
		t.Fatalf("%d transactions, want 2", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	evs := readStream(t, s, testAccount, "/aws/sagemaker/TrainingJobs", "job/algo-1-1700000000")
	if len(evs) != 250 || s.batches.Load() != 3 {
		t.Fatalf("after Close: %d events in %d transactions, want 250 in 3", len(evs), s.batches.Load())
	}
	for i, e := range evs {
		if e.msg != fmt.Sprintf("line %d", i) || e.ts != base.UnixMilli()+int64(i) {
			t.Fatalf("event %d = %+v", i, e)
		}
	}
	st := streamInfo(t, s, testAccount, "/aws/sagemaker/TrainingJobs", "job/algo-1-1700000000")
	if st.firstEvent.Int64 != base.UnixMilli() || st.lastEvent.Int64 != base.UnixMilli()+249 || !st.lastIngestion.Valid {
		t.Fatalf("stream times %+v", st)
	}
	// A Writer re-opened on the stream knows where it ended.
	w2, err := s.Stream(ctx, testAccount, "/aws/sagemaker/TrainingJobs", "job/algo-1-1700000000")
	if err != nil {
		t.Fatal(err)
	}
	if got := w2.LastEventTime(); !got.Equal(base.Add(249 * time.Millisecond)) {
		t.Fatalf("LastEventTime %v", got)
	}
	w3, err := s.Stream(ctx, testAccount, "/aws/sagemaker/TrainingJobs", "fresh")
	if err != nil {
		t.Fatal(err)
	}
	if got := w3.LastEventTime(); !got.IsZero() {
		t.Fatalf("fresh stream LastEventTime %v", got)
	}
	_ = w3.Write(ctx, base, "x")
	if got := w3.LastEventTime(); !got.Equal(base) {
		t.Fatalf("LastEventTime after Write %v", got)
	}
	if err := w.Write(ctx, base, "late"); err != ErrClosed {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWriterTimerFlush(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{FlushInterval: 50 * time.Millisecond})
	w, err := s.Stream(ctx, testAccount, "g", "s")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 10 {
		if err := w.Write(ctx, time.Now(), fmt.Sprint("tick ", i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(readStream(t, s, testAccount, "g", "s")) != 10 {
		if time.Now().After(deadline) {
			t.Fatal("buffered lines not flushed by the timer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.batches.Load(); got != 1 {
		t.Fatalf("%d transactions, want 1", got)
	}
}

// TestFloodCap floods a stream capped at 1 MiB with 200k lines of 1 KiB.
func TestFloodCap(t *testing.T) {
	ctx := context.Background()
	const limit = 1 << 20
	s := openTest(t, Options{MaxBytesPerStream: limit})
	w, err := s.Stream(ctx, testAccount, "/aws/sagemaker/TrainingJobs", "flood/algo-1")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 1023)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	now := time.Now()
	const n = 200_000
	for i := range n {
		if err := w.Write(ctx, now.Add(time.Duration(i)*time.Microsecond), line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	evs := readStream(t, s, testAccount, "/aws/sagemaker/TrainingJobs", "flood/algo-1")
	stored := limit / 1023 // lines that fit
	if len(evs) != stored+2 {
		t.Fatalf("%d events, want %d lines + marker + dropped note", len(evs), stored)
	}
	marker := fmt.Sprintf("[wharf] log limit of %d bytes reached for this stream; further output is dropped", limit)
	markers := 0
	for _, e := range evs {
		if strings.HasPrefix(e.msg, "[wharf] log limit") {
			markers++
		}
	}
	if markers != 1 || evs[stored].msg != marker {
		t.Fatalf("%d markers; event %d = %q", markers, stored, evs[stored].msg)
	}
	dropped := n - stored
	if want := fmt.Sprintf("[wharf] dropped %d lines", dropped); evs[len(evs)-1].msg != want {
		t.Fatalf("last event %q, want %q", evs[len(evs)-1].msg, want)
	}
	if w.Dropped() != int64(dropped) {
		t.Fatalf("Dropped() = %d, want %d", w.Dropped(), dropped)
	}
	st := streamInfo(t, s, testAccount, "/aws/sagemaker/TrainingJobs", "flood/algo-1")
	if st.storedBytes < limit-1023 || st.storedBytes > limit+200 {
		t.Fatalf("stored bytes %d, want ≈ %d", st.storedBytes, limit)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("flood: %d lines of 1 KiB in %v (%.0f lines/s), %d stored, %d dropped, %d transactions, %.1f MiB allocated",
		n, elapsed, n/elapsed.Seconds(), stored, dropped, s.batches.Load(), float64(alloc)/(1<<20))
	if alloc > 64<<20 {
		t.Errorf("flood allocated %d bytes; dropped lines should cost no memory", alloc)
	}
	if elapsed > 10*time.Second {
		t.Errorf("flood took %v", elapsed)
	}

	// A new Writer on the full stream drops at once, without a second marker.
	w2, err := s.Stream(ctx, testAccount, "/aws/sagemaker/TrainingJobs", "flood/algo-1")
	if err != nil {
		t.Fatal(err)
	}
	_ = w2.Write(ctx, now, "more")
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	evs2 := readStream(t, s, testAccount, "/aws/sagemaker/TrainingJobs", "flood/algo-1")
	var newest string
	_ = s.db.QueryRow(`SELECT message FROM events ORDER BY id DESC LIMIT 1`).Scan(&newest)
	if len(evs2) != len(evs)+1 || newest != "[wharf] dropped 1 lines" {
		t.Fatalf("second writer: %d events, newest %q", len(evs2), newest)
	}
}

// TestThroughput measures uncapped ingestion (reported, not asserted).
func TestThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx := context.Background()
	s := openTest(t, Options{})
	w, err := s.Stream(ctx, testAccount, "g", "s")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("y", 1023)
	const n = 50_000
	start := time.Now()
	now := time.Now()
	for i := range n {
		if err := w.Write(ctx, now.Add(time.Duration(i)*time.Microsecond), line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if got := len(readStream(t, s, testAccount, "g", "s")); got != n {
		t.Fatalf("%d events stored, want %d", got, n)
	}
	t.Logf("stored %d lines of 1 KiB in %v: %.0f lines/s, %.1f MiB/s, %d transactions",
		n, elapsed, n/elapsed.Seconds(), float64(n)*1024/(1<<20)/elapsed.Seconds(), s.batches.Load())
}

func TestTruncation(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{MaxEventBytes: 1000})
	w, err := s.Stream(ctx, testAccount, "g", "s")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	long := strings.Repeat("a", 5000)
	euro := strings.Repeat("a", 999) + "€€" // the first € straddles the limit
	invalid := "ok\xffbad"
	for i, m := range []string{long, euro, invalid, "short"} {
		if err := w.Write(ctx, now.Add(time.Duration(i)*time.Millisecond), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	evs := readStream(t, s, testAccount, "g", "s")
	want := []string{strings.Repeat("a", 1000), strings.Repeat("a", 999), "ok\uFFFDbad", "short"}
	if len(evs) != len(want) {
		t.Fatalf("%d events", len(evs))
	}
	for i, e := range evs {
		if e.msg != want[i] || !utf8.ValidString(e.msg) {
			t.Errorf("event %d: %q (len %d), want len %d", i, e.msg[:min(len(e.msg), 20)], len(e.msg), len(want[i]))
		}
	}
	// Truncation at the default limit keeps CloudWatch's 256 KiB.
	if got := truncateMessage(strings.Repeat("b", 300<<10), DefaultMaxEventBytes); len(got) != DefaultMaxEventBytes {
		t.Errorf("default truncation to %d bytes", len(got))
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{FlushLines: 250})
	const streams, lines = 8, 3000
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	base := time.Now()
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Stream(ctx, testAccount, "/aws/sagemaker/Endpoints/ep", fmt.Sprintf("variant/host-%d", i))
			if err != nil {
				errs <- err
				return
			}
			for j := range lines {
				if err := w.Write(ctx, base.Add(time.Duration(j)*time.Millisecond), fmt.Sprintf("host %d line %d", i, j)); err != nil {
					errs <- err
					return
				}
			}
			errs <- w.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range streams {
		evs := readStream(t, s, testAccount, "/aws/sagemaker/Endpoints/ep", fmt.Sprintf("variant/host-%d", i))
		if len(evs) != lines {
			t.Fatalf("stream %d: %d events", i, len(evs))
		}
		for j, e := range evs {
			if e.msg != fmt.Sprintf("host %d line %d", i, j) {
				t.Fatalf("stream %d event %d = %q", i, j, e.msg)
			}
		}
	}
}

func TestStoreCloseFlushesWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "logs.db")
	s, err := Open(ctx, path, Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Stream(ctx, testAccount, "g", "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, time.Now(), "pending"); err != nil {
		t.Fatal(err)
	}
	key := s.key
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stream(ctx, testAccount, "g", "s2"); err != ErrClosed {
		t.Fatalf("Stream on closed store: %v", err)
	}
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if evs := readStream(t, s2, testAccount, "g", "s"); len(evs) != 1 || evs[0].msg != "pending" {
		t.Fatalf("after reopen: %+v", evs)
	}
	if string(s2.key) != string(key) {
		t.Fatal("token key changed across restarts")
	}
}

func TestDeleteStreams(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	for _, name := range []string{"job-a/algo-1", "job-a/algo-2", "job-b/algo-1"} {
		w, err := s.Stream(ctx, testAccount, "g", name)
		if err != nil {
			t.Fatal(err)
		}
		_ = w.Write(ctx, time.Now(), "hello")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteStreams(ctx, testAccount, "g", "job-a/"); err != nil {
		t.Fatal(err)
	}
	var streams, events int
	_ = s.db.QueryRow(`SELECT COUNT(*) FROM streams`).Scan(&streams)
	_ = s.db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&events)
	if streams != 1 || events != 1 {
		t.Fatalf("%d streams, %d events left", streams, events)
	}
	if err := s.DeleteStreams(ctx, testAccount, "missing", ""); err != nil {
		t.Fatal(err)
	}
	// A writer whose stream is deleted reports it once, then drops.
	w, err := s.Stream(ctx, testAccount, "g", "job-b/algo-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStreams(ctx, testAccount, "g", ""); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_ = w.Write(ctx, time.Now(), "x")
	if err := w.Flush(ctx); err == nil {
		t.Fatal("flush to a deleted stream succeeded")
	}
	if err := w.Write(ctx, time.Now(), "y"); err != nil {
		t.Fatalf("write after reported failure: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestStreamNames(t *testing.T) {
	s := openTest(t, Options{})
	for _, c := range [][2]string{{"bad group", "s"}, {"", "s"}, {"g", "a:b"}, {"g", "a*"}, {"g", ""}} {
		if _, err := s.Stream(context.Background(), testAccount, c[0], c[1]); err == nil {
			t.Errorf("Stream(%q, %q) succeeded", c[0], c[1])
		}
	}
}
