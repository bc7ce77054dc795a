//go:build !unix

package fs

import "os"

// lockFile opens path; other platforms take no lock.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

func unlockFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}
