package fs

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/wharfml/wharf/internal/blob"
)

func TestRename(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), WithSync(false))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put := func(key, body string) {
		if _, err := s.Put(ctx, "b", key, strings.NewReader(body), blob.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(key string) string {
		rc, _, err := s.Get(ctx, "b", key, nil)
		if err != nil {
			return "missing"
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}
	put("uploads/x/data", "layer")
	put("blobs/sha/data", "old")
	if err := s.Rename(ctx, "b", "uploads/x/data", "blobs/sha/data"); err != nil {
		t.Fatal(err)
	}
	if get("blobs/sha/data") != "layer" || get("uploads/x/data") != "missing" {
		t.Fatalf("after rename: %q %q", get("blobs/sha/data"), get("uploads/x/data"))
	}
	if err := s.Rename(ctx, "b", "nope", "x"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("missing source: %v", err)
	}
	if err := s.Rename(ctx, "b", "blobs/sha/data", "bad\x00key"); !errors.Is(err, blob.ErrInvalidKey) {
		t.Fatalf("bad destination: %v", err)
	}
	// The replaced object's file is gone: only one data file remains.
	checkConsistent(t, s)
}

func TestPutFile(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(root+"/store", WithSync(false))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := root + "/upload"
	if err := os.WriteFile(path, []byte("layer data"), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := s.PutFile(ctx, "b", "blobs/x", path, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Not an MD5 (the data is not read), and never mistakable for one.
	if !strings.HasPrefix(info.ETag, putFileETagPrefix) || len(info.ETag) == 32 || info.Size != 10 {
		t.Fatalf("info %+v", info)
	}
	if head, err := s.Head(ctx, "b", "blobs/x"); err != nil || head.ETag != info.ETag || head.Size != 10 {
		t.Fatalf("head %+v, %v", head, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("source file still there: %v", err)
	}
	rc, _, err := s.Get(ctx, "b", "blobs/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "layer data" {
		t.Fatalf("got %q", got)
	}
	// A wrong size leaves the file where it was and stores nothing.
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := s.PutFile(ctx, "b", "blobs/y", path, 10); err == nil {
		t.Fatal("size mismatch accepted")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("source file lost after a failed PutFile: %v", err)
	}
	if _, err := s.Head(ctx, "b", "blobs/y"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("failed PutFile left an object: %v", err)
	}
	// The same data put again is another write, with another ETag.
	os.WriteFile(path, []byte("layer data"), 0o600)
	again, err := s.PutFile(ctx, "b", "blobs/x", path, 10)
	if err != nil || again.ETag == info.ETag {
		t.Fatalf("second PutFile: %+v, %v (first ETag %s)", again, err, info.ETag)
	}
	checkConsistent(t, s)
}

// TestPutFileSync: with sync on, PutFile fsyncs the adopted file and
// commits as usual.
func TestPutFileSync(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(root+"/store", WithSync(true))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := root + "/upload"
	if err := os.WriteFile(path, []byte("synced"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutFile(ctx, "b", "k", path, 6); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Get(ctx, "b", "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "synced" {
		t.Fatalf("got %q", got)
	}
	checkConsistent(t, s)
}
