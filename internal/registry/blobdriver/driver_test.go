package blobdriver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/testsuites"
	"github.com/wharfml/wharf/internal/blob"
	blobfs "github.com/wharfml/wharf/internal/blob/fs"
)

func openStore(t *testing.T) blob.Store {
	t.Helper()
	s, err := blobfs.Open(filepath.Join(t.TempDir(), "blobs"), blobfs.WithSync(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// renamingStore adds Rename to a store, to exercise that path of Move.
type renamingStore struct {
	blob.Store
	renames atomic.Int64
}

func (s *renamingStore) Rename(ctx context.Context, bucket, from, to string) error {
	s.renames.Add(1)
	rc, info, err := s.Get(ctx, bucket, from, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := s.Put(ctx, bucket, to, rc, blob.PutOptions{Size: info.Size}); err != nil {
		return err
	}
	return s.Delete(ctx, bucket, from)
}

// inShortMode runs test name again in a child test process with -short
// unless this one already is short, and reports whether it did. The driver
// suite's long mode writes a 5 GB file (twice over: the local upload file
// and the object store), too much for shared CI machines; its short mode
// keeps every case but with smaller sizes.
func inShortMode(t *testing.T, name string) bool {
	if testing.Short() {
		return false
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.short", "-test.count=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s -short: %v\n%s", name, err, out)
	}
	t.Logf("ran with -short in a child process:\n%s", out)
	return true
}

// TestDriverSuite runs distribution's own storage driver conformance suite
// (in short mode, see inShortMode).
func TestDriverSuite(t *testing.T) {
	t.Parallel()
	if inShortMode(t, "TestDriverSuite") {
		return
	}
	store := openStore(t)
	testsuites.Driver(t, func() (storagedriver.StorageDriver, error) {
		return New(store, "_registry", t.TempDir())
	}, false)
}

// TestDriverSuiteWithRename runs the suite again with a store that renames.
func TestDriverSuiteWithRename(t *testing.T) {
	t.Parallel()
	if inShortMode(t, "TestDriverSuiteWithRename") {
		return
	}
	store := &renamingStore{Store: openStore(t)}
	testsuites.Driver(t, func() (storagedriver.StorageDriver, error) {
		return New(store, "_registry", t.TempDir())
	}, false)
	if store.renames.Load() == 0 {
		t.Error("Move never used Rename")
	}
}

func TestMoveUsesRename(t *testing.T) {
	ctx := context.Background()
	store := &renamingStore{Store: openStore(t)}
	d, err := New(store, "_registry", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.PutContent(ctx, "/a/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := d.Move(ctx, "/a/b", "/c/d"); err != nil {
		t.Fatal(err)
	}
	if n := store.renames.Load(); n != 1 {
		t.Fatalf("renames = %d, want 1", n)
	}
	if b, err := d.GetContent(ctx, "/c/d"); err != nil || string(b) != "x" {
		t.Fatalf("GetContent = %q, %v", b, err)
	}
	var nf storagedriver.PathNotFoundError
	if err := d.Move(ctx, "/a/b", "/c/e"); !errors.As(err, &nf) {
		t.Fatalf("Move of a missing path: %v", err)
	}
}

// TestResumableUpload checks that an unfinished write survives a new driver
// over the same temp dir (a restart), stays invisible until Commit, and that
// Delete of an enclosing directory discards it.
func TestResumableUpload(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	tmp := t.TempDir()
	d, err := New(store, "_registry", tmp)
	if err != nil {
		t.Fatal(err)
	}
	const p = "/repositories/r/_uploads/u1/data"
	w, err := d.Writer(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "hello ")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var nf storagedriver.PathNotFoundError
	if _, err := d.Stat(ctx, p); !errors.As(err, &nf) {
		t.Fatalf("uncommitted data visible: %v", err)
	}
	d2, err := New(store, "_registry", tmp)
	if err != nil {
		t.Fatal(err)
	}
	w, err = d2.Writer(ctx, p, true)
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != 6 {
		t.Fatalf("resumed size = %d, want 6", w.Size())
	}
	io.WriteString(w, "world")
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if b, err := d2.GetContent(ctx, p); err != nil || string(b) != "hello world" {
		t.Fatalf("GetContent = %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Fatalf("temp dir not cleaned after commit: %v", ents)
	}

	// An abandoned upload is removed with its directory.
	w, _ = d2.Writer(ctx, "/repositories/r/_uploads/u2/data", false)
	io.WriteString(w, "junk")
	w.Close()
	if err := d2.Delete(ctx, "/repositories/r/_uploads/u2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "repositories/r/_uploads/u2")); !os.IsNotExist(err) {
		t.Fatalf("local upload not removed: %v", err)
	}
}

func TestStaleUploadsRemoved(t *testing.T) {
	tmp := t.TempDir()
	old := filepath.Join(tmp, "repositories/r/_uploads/u/data")
	os.MkdirAll(filepath.Dir(old), 0o700)
	os.WriteFile(old, []byte("x"), 0o600)
	past := time.Now().Add(-StaleUploadAge - time.Hour)
	os.Chtimes(old, past, past)
	fresh := filepath.Join(tmp, "repositories/r/_uploads/v/data")
	os.MkdirAll(filepath.Dir(fresh), 0o700)
	os.WriteFile(fresh, []byte("y"), 0o600)
	if _, err := New(openStore(t), "_registry", tmp); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("stale upload kept")
	}
	if _, err := os.Stat(filepath.Join(tmp, "repositories/r/_uploads/u")); !os.IsNotExist(err) {
		t.Error("empty directory of stale upload kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("fresh upload removed")
	}
}

func TestPathTricks(t *testing.T) {
	ctx := context.Background()
	d, err := New(openStore(t), "_registry", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a/../b", "/..", "/a/./b", "a", "/a//b", "/a/"} {
		var ip storagedriver.InvalidPathError
		if err := d.PutContent(ctx, p, nil); !errors.As(err, &ip) {
			t.Errorf("PutContent(%q) = %v, want InvalidPathError", p, err)
		}
		if _, err := d.Writer(ctx, p, false); !errors.As(err, &ip) {
			t.Errorf("Writer(%q) = %v, want InvalidPathError", p, err)
		}
		if err := d.Delete(ctx, p); !errors.As(err, &ip) {
			t.Errorf("Delete(%q) = %v, want InvalidPathError", p, err)
		}
	}
}

// TestWalkSkipsAndOrder checks the walk against a small tree.
func TestWalk(t *testing.T) {
	ctx := context.Background()
	d, err := New(openStore(t), "_registry", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/r/a/x", "/r/a/y", "/r/a-b/z", "/r/b/skip/me", "/r/c"} {
		if err := d.PutContent(ctx, p, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err = d.Walk(ctx, "/r", func(fi storagedriver.FileInfo) error {
		got = append(got, fi.Path())
		if fi.Path() == "/r/b" {
			return storagedriver.ErrSkipDir
		}
		if !fi.IsDir() && fi.Size() != int64(len(fi.Path())) {
			t.Errorf("%s: size %d", fi.Path(), fi.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "/r/a /r/a/x /r/a/y /r/a-b /r/a-b/z /r/b /r/c"
	if strings.Join(got, " ") != want {
		t.Fatalf("walk = %v\nwant  %v", got, want)
	}
}

// filePutStore adds PutFile to a store; with unsupported set it declines.
type filePutStore struct {
	blob.Store
	unsupported bool
	calls       atomic.Int64
}

func (s *filePutStore) PutFile(ctx context.Context, bucket, key, path string, size int64) (blob.ObjectInfo, error) {
	s.calls.Add(1)
	if s.unsupported {
		return blob.ObjectInfo{}, fmt.Errorf("other filesystem: %w", errors.ErrUnsupported)
	}
	f, err := os.Open(path)
	if err != nil {
		return blob.ObjectInfo{}, err
	}
	defer f.Close()
	info, err := s.Put(ctx, bucket, key, f, blob.PutOptions{Size: size})
	if err == nil {
		os.Remove(path)
	}
	return info, err
}

func TestCommitUsesPutFile(t *testing.T) {
	ctx := context.Background()
	for _, unsupported := range []bool{false, true} {
		store := &filePutStore{Store: openStore(t), unsupported: unsupported}
		tmp := t.TempDir()
		d, err := New(store, "_registry", tmp)
		if err != nil {
			t.Fatal(err)
		}
		w, err := d.Writer(ctx, "/u/data", false)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "payload")
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if store.calls.Load() != 1 {
			t.Errorf("unsupported=%v: PutFile calls = %d", unsupported, store.calls.Load())
		}
		if b, err := d.GetContent(ctx, "/u/data"); err != nil || string(b) != "payload" {
			t.Errorf("unsupported=%v: GetContent = %q, %v", unsupported, b, err)
		}
		if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
			t.Errorf("unsupported=%v: temp dir not empty", unsupported)
		}
	}
}

// TestCommitMovesFileIn: with the filesystem store, Commit hands the upload
// file itself to the store (the same inode ends up under its objects/), so
// a pushed layer is written to disk once.
func TestCommitMovesFileIn(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store, err := blobfs.Open(filepath.Join(root, "blobs"), blobfs.WithSync(false))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	d, err := New(store, "_registry", filepath.Join(root, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.Writer(ctx, "/u/data", false)
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("layer ", 100000)
	io.WriteString(w, data)
	w.Close()
	if w, err = d.Writer(ctx, "/u/data", true); err != nil { // resumed, as by the upload's PUT
		t.Fatal(err)
	}
	local, err := d.LocalStat("/u/data")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	found := false
	filepath.WalkDir(filepath.Join(store.Root(), "objects"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, err := e.Info(); err == nil && os.SameFile(fi, local) {
				found = true
			}
		}
		return nil
	})
	if !found {
		t.Fatal("the upload file was copied, not moved into the store")
	}
	if b, err := d.GetContent(ctx, "/u/data"); err != nil || string(b) != data {
		t.Fatalf("GetContent: %d bytes, %v", len(b), err)
	}
	if _, err := d.LocalStat("/u/data"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("local file left after Commit: %v", err)
	}
}
