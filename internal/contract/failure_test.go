package contract

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFailureReason(t *testing.T) {
	for _, tc := range []struct {
		file string
		code int
		oom  bool
		want string
	}{
		{"", 1, false, "AlgorithmError: , exit code: 1"},
		{"boom: bad input", 2, false, "AlgorithmError: boom: bad input, exit code: 2"},
		{"bad \xff\xfe bytes", 1, false, "AlgorithmError: bad \uFFFD bytes, exit code: 1"},
		{"", 137, true, "AlgorithmError: , exit code: 137 (out of memory)"},
		{"killed", 137, false, "AlgorithmError: killed, exit code: 137"},
		{"", 1, true, "AlgorithmError: , exit code: 1"},
	} {
		if got := FailureReason([]byte(tc.file), tc.code, tc.oom); got != tc.want {
			t.Errorf("FailureReason(%q, %d, %v) = %q, want %q", tc.file, tc.code, tc.oom, got, tc.want)
		}
	}
	long := FailureReason([]byte(strings.Repeat("x", 5000)), 3, false)
	if n := utf8.RuneCountInString(long); n != MaxFailureReason || !strings.HasPrefix(long, "AlgorithmError: xxx") || !strings.HasSuffix(long, "x, exit code: 3") {
		t.Errorf("long reason: %d chars, %q…%q", n, long[:20], long[len(long)-20:])
	}
	// 1024 bytes end inside the 342nd "€": it is dropped, not replaced.
	euro := FailureReason([]byte(strings.Repeat("€", 400)), 1, false)
	if want := "AlgorithmError: " + strings.Repeat("€", 341) + ", exit code: 1"; euro != want {
		t.Errorf("multi-byte cut: %q", euro)
	}
	if got := TruncateReason("ClientError: " + strings.Repeat("é", 2000)); utf8.RuneCountInString(got) != MaxFailureReason {
		t.Errorf("TruncateReason: %d chars", utf8.RuneCountInString(got))
	}
}

func TestReadFailureFile(t *testing.T) {
	out := t.TempDir()
	if b, err := ReadFailureFile(out); b != nil || err != nil {
		t.Errorf("no file: %q %v", b, err)
	}
	os.WriteFile(filepath.Join(out, "failure"), []byte(strings.Repeat("e", 3000)), 0o644)
	if b, err := ReadFailureFile(out); len(b) != 1028 || err != nil {
		t.Errorf("long file: %d bytes, %v", len(b), err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("host secret"), 0o644)
	os.Remove(filepath.Join(out, "failure"))
	os.Symlink(secret, filepath.Join(out, "failure"))
	if b, _ := ReadFailureFile(out); b != nil {
		t.Errorf("followed symlink: %q", b)
	}
	os.Remove(filepath.Join(out, "failure"))
	syscall.Mkfifo(filepath.Join(out, "failure"), 0o644)
	done := make(chan []byte)
	go func() { b, _ := ReadFailureFile(out); done <- b }()
	select {
	case b := <-done:
		if b != nil {
			t.Errorf("FIFO: %q", b)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("blocked on a FIFO")
	}
}
