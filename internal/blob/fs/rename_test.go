package fs

import (
	"context"
	"errors"
	"io"
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
