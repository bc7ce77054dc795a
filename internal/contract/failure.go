package contract

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxFailureReason is the longest FailureReason in characters.
const MaxFailureReason = 1024

// failureFileBytes is how much of /opt/ml/output/failure is used.
const failureFileBytes = 1024

// FailureReason formats an algorithm failure (§2.7):
//
//	AlgorithmError: <first 1024 bytes of failure, invalid UTF-8 replaced>, exit code: <n>
//
// followed by " (out of memory)" for exit code 137 with an OOM kill. If the
// result would exceed MaxFailureReason characters the failure text is
// shortened, so the exit code always shows.
func FailureReason(failureFile []byte, exitCode int, oomKilled bool) string {
	b := failureFile
	if len(b) > failureFileBytes {
		cut := failureFileBytes
		// Back off rather than cut a valid character in half.
		for i := cut - 1; i >= 0 && i > cut-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if r, size := utf8.DecodeRune(b[i:]); !(r == utf8.RuneError && size == 1) && i+size > cut {
					cut = i
				}
				break
			}
		}
		b = b[:cut]
	}
	msg := strings.ToValidUTF8(string(b), "\uFFFD")
	suffix := ", exit code: " + strconv.Itoa(exitCode)
	if exitCode == 137 && oomKilled {
		suffix += " (out of memory)"
	}
	const prefix = "AlgorithmError: "
	if budget := MaxFailureReason - len(prefix) - utf8.RuneCountInString(suffix); utf8.RuneCountInString(msg) > budget {
		msg = truncateRunes(msg, budget)
	}
	return prefix + msg + suffix
}

// TruncateReason shortens a FailureReason (for example a ClientError's text)
// to MaxFailureReason characters.
func TruncateReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= MaxFailureReason {
		return s
	}
	return truncateRunes(s, MaxFailureReason)
}

func truncateRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// ReadFailureFile reads the start of outputDir/failure (the host side of
// /opt/ml/output) as written by the container: nil if there is none. It
// never follows a symlink out of outputDir nor blocks on a FIFO, so a
// container cannot make Wharf read host files through it.
func ReadFailureFile(outputDir string) ([]byte, error) {
	root, err := os.OpenRoot(outputDir)
	if err != nil {
		return nil, fmt.Errorf("read failure file: %w", err)
	}
	defer root.Close()
	st, err := root.Lstat("failure")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read failure file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil // a symlink, FIFO or directory is not a failure message
	}
	f, _, err := openRegular(root, "failure", st)
	if err != nil {
		return nil, fmt.Errorf("read failure file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, failureFileBytes+utf8.UTFMax))
	if err != nil {
		return nil, fmt.Errorf("read failure file: %w", err)
	}
	return b, nil
}
