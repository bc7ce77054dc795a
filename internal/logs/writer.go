package logs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// closeTimeout bounds the final flush of Writer.Close and timer flushes.
const closeTimeout = 30 * time.Second

// Writer appends lines to one log stream. Lines are buffered and stored in
// one transaction per batch: when FlushLines lines or 1 MiB are buffered
// (synchronously, in Write, which keeps a flooding producer from outrunning
// the database), when the oldest buffered line is FlushInterval old (in the
// background) and on Close. Once the stream holds MaxBytesPerStream bytes, a
// marker event is stored and further lines are dropped without buffering;
// Close then stores "[wharf] dropped K lines". Memory use is bounded by
// FlushLines × MaxEventBytes and 1 MiB + MaxEventBytes of buffered text.
//
// A Writer is safe for concurrent use. A failed flush loses its batch (the
// lines count as dropped) and its error is returned once, by the next Write
// or by Close.
type Writer struct {
	s        *Store
	streamID int64
	group    string
	stream   string

	mu       sync.Mutex
	buf      []pendingEvent
	bufBytes int
	timer    *time.Timer
	stored   int64 // the stream's stored bytes as of the last flush
	full     bool  // the stream reached its cap (or is gone): drop lines
	gone     bool  // the stream was deleted
	dropped  int64 // lines dropped so far
	lastTS   int64 // newest timestamp seen by Write, or stored before Stream
	hasLast  bool  // lastTS is set
	err      error // flush error not yet reported
	closed   bool
}

// Stream returns a Writer appending to stream in account's log group,
// creating the group and the stream if needed. Names follow CloudWatch's
// rules (group: 1–512 of [.-_/#A-Za-z0-9]; stream: 1–512 characters, no ':'
// or '*'). Several Writers may share a stream; the cap then applies to their
// sum.
func (s *Store) Stream(ctx context.Context, account, group, stream string) (*Writer, error) {
	if err := checkNames(group, stream); err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	gid, _, err := s.createGroup(ctx, account, group)
	if err != nil {
		return nil, fmt.Errorf("logs: create group %s: %w", group, err)
	}
	sid, _, err := s.createStream(ctx, gid, stream)
	if err != nil {
		return nil, fmt.Errorf("logs: create stream %s/%s: %w", group, stream, err)
	}
	w := &Writer{s: s, streamID: sid, group: group, stream: stream, buf: make([]pendingEvent, 0, 64)}
	var last sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT stored_bytes, capped, last_event FROM streams WHERE id = ?`, sid).Scan(&w.stored, &w.full, &last)
	w.lastTS, w.hasLast = last.Int64, last.Valid
	if errors.Is(err, sql.ErrNoRows) {
		err = errStreamGone
	}
	if err != nil {
		return nil, fmt.Errorf("logs: open stream %s/%s: %w", group, stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.writers[w] = struct{}{}
	return w, nil
}

func checkNames(group, stream string) error {
	if !validGroupName(group) {
		return fmt.Errorf("logs: invalid log group name %q", group)
	}
	if !validStreamName(stream) {
		return fmt.Errorf("logs: invalid log stream name %q", stream)
	}
	return nil
}

func validGroupName(name string) bool {
	if name == "" || len(name) > 512 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == '/' || c == '#'
		if !ok {
			return false
		}
	}
	return true
}

func validStreamName(name string) bool {
	n := 0
	for _, r := range name {
		if r == ':' || r == '*' {
			return false
		}
		n++
	}
	return n >= 1 && n <= 512
}

// Write appends one event with timestamp t. message is stored as given
// (cut to MaxEventBytes, invalid UTF-8 replaced); callers split output into
// lines and strip the line ends. ctx bounds a flush Write may have to do.
func (w *Writer) Write(ctx context.Context, t time.Time, message string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	ts := t.UnixMilli()
	if !w.hasLast || ts > w.lastTS {
		w.lastTS, w.hasLast = ts, true
	}
	if w.full {
		w.dropped++
		return w.takeErr()
	}
	msg := truncateMessage(message, w.s.opts.MaxEventBytes)
	w.buf = append(w.buf, pendingEvent{ts: ts, msg: msg})
	w.bufBytes += len(msg)
	if limit := w.s.opts.MaxBytesPerStream; limit > 0 && w.stored+int64(w.bufBytes) > limit {
		// This line overflows the stream: the flush stores the marker and
		// drops it; later lines are dropped right here.
		w.full = true
	}
	if w.full || len(w.buf) >= w.s.opts.FlushLines || w.bufBytes >= flushBytes {
		if err := w.flushLocked(ctx); err != nil {
			return err
		}
		return w.takeErr()
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(w.s.opts.FlushInterval, w.timerFlush)
	}
	return w.takeErr()
}

// Flush stores the buffered lines now.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if err := w.flushLocked(ctx); err != nil {
		return err
	}
	return w.takeErr()
}

// LastEventTime returns the newest event timestamp of the stream: stored
// before Stream opened it or written since; the zero Time if none. A
// controller re-attaching to a container after a restart can skip lines
// not newer than this.
func (w *Writer) LastEventTime() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.hasLast {
		return time.Time{}
	}
	return time.UnixMilli(w.lastTS).UTC()
}

// Dropped returns the number of lines dropped so far.
func (w *Writer) Dropped() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// Close flushes the buffered lines, stores "[wharf] dropped K lines" if any
// line was dropped, and releases the Writer. Further calls return nil.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.s.mu.Lock()
	delete(w.s.writers, w)
	w.s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := w.flushLocked(ctx)
	if w.dropped > 0 && !w.gone {
		note := pendingEvent{ts: w.lastTS, msg: fmt.Sprintf("[wharf] dropped %d lines", w.dropped)}
		if _, nerr := w.s.appendEvents(ctx, w.streamID, nil, note); nerr != nil && err == nil {
			err = fmt.Errorf("logs: write %s/%s: %w", w.group, w.stream, nerr)
		}
	}
	return errors.Join(w.takeErr(), err)
}

// timerFlush is the background flush FlushInterval after a line was
// buffered.
func (w *Writer) timerFlush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	if w.closed || len(w.buf) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := w.flushLocked(ctx); err != nil && w.err == nil {
		w.err = err
	}
}

// flushLocked stores the buffer in one transaction. w.mu is held.
func (w *Writer) flushLocked(ctx context.Context) error {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if len(w.buf) == 0 {
		return nil
	}
	res, err := w.s.appendEvents(ctx, w.streamID, w.buf)
	n := len(w.buf)
	clear(w.buf) // release the messages
	w.buf, w.bufBytes = w.buf[:0], 0
	if err != nil {
		w.dropped += int64(n)
		if errors.Is(err, errStreamGone) {
			w.gone, w.full = true, true
		}
		return fmt.Errorf("logs: write %s/%s: %w", w.group, w.stream, err)
	}
	w.dropped += int64(res.dropped)
	w.stored = res.total
	if res.capped {
		w.full = true
	}
	return nil
}

func (w *Writer) takeErr() error {
	err := w.err
	w.err = nil
	return err
}
