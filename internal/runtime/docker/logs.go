package docker

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/wharfml/wharf/internal/runtime"
)

// Logs implements runtime.Runtime. Output is requested with timestamps and
// demultiplexed with stdcopy; every frame is one engine log message
// ("<RFC3339Nano timestamp> <text>"), and messages without a trailing
// newline are pieces of a longer line (the engine splits at 16 KiB), so
// pieces are joined until the newline, then cut at runtime.MaxLogLine.
func (r *Runtime) Logs(ctx context.Context, id string, follow bool, fn func(runtime.LogLine) error) error {
	rc, err := r.c.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Timestamps: true,
		Follow:     follow,
	})
	if err != nil {
		return containerErr("logs", id, err)
	}
	defer rc.Close()
	out := &lineSplitter{fn: fn}
	errOut := &lineSplitter{fn: fn, stderr: true}
	_, err = stdcopy.StdCopy(out, errOut, rc)
	if fe := errors.Join(out.err, errOut.err); fe != nil {
		return fe
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return containerErr("logs", id, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Deliver unterminated last lines, older first.
	first, second := out, errOut
	if !errOut.start.IsZero() && (out.start.IsZero() || errOut.start.Before(out.start)) {
		first, second = errOut, out
	}
	if err := first.flush(); err != nil {
		return err
	}
	return second.flush()
}

// lineSplitter turns one stream's log messages into lines.
type lineSplitter struct {
	fn     func(runtime.LogLine) error
	stderr bool
	buf    []byte    // current unterminated line
	start  time.Time // time of the current line's first piece
	err    error     // first error from fn
}

// Write receives exactly one log message (one stdcopy frame).
func (s *lineSplitter) Write(p []byte) (int, error) {
	n := len(p)
	if s.err != nil {
		return 0, s.err
	}
	ts, rest := splitTimestamp(p)
	for len(rest) > 0 {
		if len(s.buf) == 0 {
			s.start = ts
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			s.buf = append(s.buf, rest...)
			if err := s.emitFull(); err != nil {
				return 0, err
			}
			break
		}
		s.buf = append(s.buf, rest[:i]...)
		rest = rest[i+1:]
		if err := s.emitFull(); err != nil {
			return 0, err
		}
		if err := s.emit(s.buf); err != nil {
			return 0, err
		}
		s.buf = s.buf[:0]
	}
	return n, nil
}

// emitFull delivers MaxLogLine-sized pieces while more than that is buffered.
func (s *lineSplitter) emitFull() error {
	for len(s.buf) > runtime.MaxLogLine {
		if err := s.emit(s.buf[:runtime.MaxLogLine]); err != nil {
			return err
		}
		s.buf = append(s.buf[:0], s.buf[runtime.MaxLogLine:]...)
	}
	return nil
}

func (s *lineSplitter) emit(b []byte) error {
	if err := s.fn(runtime.LogLine{Time: s.start, Stderr: s.stderr, Text: string(b)}); err != nil {
		s.err = err
		return err
	}
	return nil
}

// flush delivers a pending unterminated line.
func (s *lineSplitter) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.emit(s.buf)
	s.buf = s.buf[:0]
	return err
}

// splitTimestamp parses the engine's timestamp prefix; without one the
// message is taken whole and stamped with the current time.
func splitTimestamp(p []byte) (time.Time, []byte) {
	if i := bytes.IndexByte(p[:min(len(p), 64)], ' '); i > 0 {
		if t, err := time.Parse(time.RFC3339Nano, string(p[:i])); err == nil {
			return t, p[i+1:]
		}
	}
	return time.Now(), p
}
