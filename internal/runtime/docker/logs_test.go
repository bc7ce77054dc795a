package docker

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wharfml/wharf/internal/runtime"
)

func TestLineSplitter(t *testing.T) {
	ts := func(sec int) string {
		return time.Date(2026, 1, 2, 3, 4, sec, 5, time.UTC).Format("2006-01-02T15:04:05.000000000Z07:00") + " "
	}
	var got []runtime.LogLine
	s := &lineSplitter{fn: func(l runtime.LogLine) error { got = append(got, l); return nil }, stderr: true}
	long := strings.Repeat("a", runtime.MaxLogLine+10)
	exact := strings.Repeat("b", runtime.MaxLogLine)
	frames := []string{
		ts(1) + "one\n",
		ts(2) + "\n", // empty line
		ts(3) + "pie",
		ts(4) + "ces\n",
		ts(5) + long[:20000],
		ts(6) + long[20000:] + "\n",
		ts(7) + exact + "\n",
		ts(8) + "two\nthree\n",
		"no timestamp\n",
		ts(9) + "tail",
	}
	for _, f := range frames {
		if n, err := s.Write([]byte(f)); err != nil || n != len(f) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		text string
		sec  int
	}{
		{"one", 1}, {"", 2}, {"pieces", 3}, {long[:runtime.MaxLogLine], 5}, {"a" + long[runtime.MaxLogLine+1:], 5},
		{exact, 7}, {"two", 8}, {"three", 8}, {"no timestamp", -1}, {"tail", 9},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Text != w.text || !g.Stderr || (w.sec >= 0 && g.Time.Second() != w.sec) || g.Time.IsZero() {
			t.Errorf("line %d = %.30q @%v, want %.30q @%ds", i, g.Text, g.Time, w.text, w.sec)
		}
	}

	stop := errors.New("stop")
	s = &lineSplitter{fn: func(runtime.LogLine) error { return stop }}
	if _, err := s.Write([]byte(ts(1) + "x\n")); !errors.Is(err, stop) {
		t.Errorf("fn error not returned: %v", err)
	}
	if _, err := s.Write([]byte(ts(1) + "y\n")); !errors.Is(err, stop) {
		t.Errorf("later Write after fn error: %v", err)
	}
}
