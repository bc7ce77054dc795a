package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/blob/blobtest"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newTestStore(t) })
}

func TestConformanceSync(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	blobtest.Run(t, func(t *testing.T) blob.Store { return newTestStore(t, WithSync(true)) })
}

// newTestStore opens a store at <tmp>/root, without sync unless opts say
// otherwise; on cleanup it checks that the store is consistent and that
// nothing was created outside the root.
func newTestStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	s, err := Open(root, append([]Option{WithSync(false)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkConsistent(t, s)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkContained(t, parent, root)
	})
	return s
}

// checkContained checks that parent holds nothing but root, and root
// nothing but the store's own entries.
func checkContained(t testing.TB, parent, root string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if filepath.Join(parent, e.Name()) != root {
			t.Errorf("%s was created outside the root", e.Name())
		}
	}
	allowed := map[string]bool{dirObjects: true, dirTmp: true, dirUploads: true, lockName: true,
		indexName: true, indexName + "-wal": true, indexName + "-shm": true}
	ents, err = os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !allowed[e.Name()] {
			t.Errorf("unexpected entry %s in the root", e.Name())
		}
	}
	filepath.WalkDir(root, func(path string, d iofs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walk: %v", err)
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if d.Type()&iofs.ModeSymlink != 0 {
			t.Errorf("symlink %s", rel)
		}
		parts := strings.Split(rel, string(filepath.Separator))
		switch {
		case rel == ".":
		case parts[0] == dirObjects && len(parts) <= 3:
		case parts[0] == dirTmp && len(parts) <= 2:
		case parts[0] == dirUploads && len(parts) <= 3:
		case len(parts) == 1 && allowed[parts[0]]:
		default:
			t.Errorf("unexpected path %s", rel)
		}
		return nil
	})
}

// checkConsistent checks that every data and part file is referenced by the
// index and every reference has its file, and that tmp/ is empty.
func checkConsistent(t testing.TB, s *Store) {
	t.Helper()
	if ents, _ := os.ReadDir(s.abs(dirTmp)); len(ents) != 0 {
		t.Errorf("%d files left in tmp/", len(ents))
	}
	ref, err := s.referenced(context.Background(), `SELECT file FROM objects`)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for i := 0; i < 256; i++ {
		ents, err := os.ReadDir(s.abs(filepath.Join(dirObjects, fmt.Sprintf("%02x", i))))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range ents {
			files = append(files, e.Name())
			if !ref[e.Name()] || e.Name()[:2] != fmt.Sprintf("%02x", i) {
				t.Errorf("data file %s is not referenced", e.Name())
			}
		}
	}
	if len(files) != len(ref) {
		t.Errorf("%d data files for %d objects", len(files), len(ref))
	}
	ups, err := s.referenced(context.Background(), `SELECT id FROM uploads`)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(s.abs(dirUploads))
	if len(ents) != len(ups) {
		t.Errorf("%d upload directories for %d uploads", len(ents), len(ups))
	}
	for _, e := range ents {
		if !ups[e.Name()] {
			t.Errorf("upload directory %s has no upload", e.Name())
			continue
		}
		parts, err := s.referenced(context.Background(), `SELECT file FROM parts WHERE upload_id = ?`, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		pents, _ := os.ReadDir(s.abs(uploadDir(e.Name())))
		if len(pents) != len(parts) {
			t.Errorf("upload %s: %d part files for %d parts", e.Name(), len(pents), len(parts))
		}
		for _, p := range pents {
			if !parts[p.Name()] {
				t.Errorf("upload %s: part file %s is not referenced", e.Name(), p.Name())
			}
		}
	}
}

var ctx = context.Background()

func mustPut(t testing.TB, s blob.Store, bucket, key string, b []byte, opts blob.PutOptions) blob.ObjectInfo {
	t.Helper()
	if opts.Size == 0 {
		opts.Size = int64(len(b))
	}
	info, err := s.Put(ctx, bucket, key, bytes.NewReader(b), opts)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func mustGet(t testing.TB, s blob.Store, bucket, key string) []byte {
	t.Helper()
	rc, _, err := s.Get(ctx, bucket, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestart(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	attrs := blob.Attrs{ContentType: "text/plain", Metadata: map[string]string{"a": "b"}}
	want := mustPut(t, s, "b", "k/1", []byte("one"), blob.PutOptions{Attrs: attrs, Checksums: map[string]string{blob.SHA256: ""}})
	mustPut(t, s, "b", "k/2", []byte("two"), blob.PutOptions{})
	up, err := s.CreateUpload(ctx, "b", "k/3", attrs, blob.CRC32)
	if err != nil {
		t.Fatal(err)
	}
	part, err := s.PutPart(ctx, "b", "k/3", up.ID, 1, strings.NewReader("three"), blob.PutOptions{Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err == nil {
		t.Fatal("a second Open of the same root succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = newReopened(t, root)
	got, err := s.Head(ctx, "b", "k/1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != want.ETag || got.Size != 3 || !got.ModTime.Equal(want.ModTime) ||
		got.ContentType != "text/plain" || got.Metadata["a"] != "b" || got.Checksums[blob.SHA256] != want.Checksums[blob.SHA256] {
		t.Fatalf("after reopening Head = %+v; want %+v", got, want)
	}
	if b := mustGet(t, s, "b", "k/2"); string(b) != "two" {
		t.Fatalf("k/2 = %q", b)
	}
	parts, _, err := s.ListParts(ctx, "b", "k/3", up.ID, 0, 0)
	if err != nil || len(parts) != 1 || parts[0].ETag != part.ETag {
		t.Fatalf("ListParts after reopening = %+v, %v", parts, err)
	}
	info, err := s.CompleteUpload(ctx, "b", "k/3", up.ID, []blob.CompletedPart{{Number: 1, ETag: part.ETag}})
	if err != nil || info.ContentType != "text/plain" || !strings.HasSuffix(info.Checksums[blob.CRC32], "-1") {
		t.Fatalf("CompleteUpload after reopening = %+v, %v", info, err)
	}
	res, err := s.List(ctx, "b", blob.ListOptions{})
	if err != nil || len(res.Objects) != 3 {
		t.Fatalf("List after reopening = %+v, %v", res, err)
	}
}

// newReopened opens an existing root, with the checks of newTestStore.
func newReopened(t *testing.T, root string) *Store {
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkConsistent(t, s)
		s.Close()
		checkContained(t, filepath.Dir(root), root)
	})
	return s
}

// age sets a file's times to d ago.
func age(t *testing.T, path string, d time.Duration) {
	t.Helper()
	tm := time.Now().Add(-d)
	if err := os.Chtimes(path, tm, tm); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestGC(t *testing.T) {
	s := newTestStore(t, WithGracePeriod(time.Minute))
	live := mustPut(t, s, "b", "live", []byte("live data"), blob.PutOptions{})
	_ = live
	orphanOld := s.abs(objectPath(newFileID()))
	orphanNew := s.abs(objectPath(newFileID()))
	tmpOld := s.abs(filepath.Join(dirTmp, newFileID()+".tmp"))
	tmpNew := s.abs(filepath.Join(dirTmp, newFileID()+".tmp"))
	for _, p := range []string{orphanOld, orphanNew, tmpOld, tmpNew} {
		writeFile(t, p, "crash leftover")
	}
	age(t, orphanOld, 2*time.Hour)
	age(t, tmpOld, 2*time.Hour)

	// Live data files old enough to be candidates must survive.
	ref, _ := s.referenced(ctx, `SELECT file FROM objects`)
	for f := range ref {
		age(t, s.abs(objectPath(f)), 2*time.Hour)
	}

	// Uploads: one expired, one live with an orphan part file, and an
	// upload directory without an upload.
	old, err := s.CreateUpload(ctx, "b", "old", blob.Attrs{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPart(ctx, "b", "old", old.ID, 1, strings.NewReader("x"), blob.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cur, err := s.CreateUpload(ctx, "b", "cur", blob.Attrs{}, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.PutPart(ctx, "b", "cur", cur.ID, 1, strings.NewReader("part"), blob.PutOptions{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	pents, _ := os.ReadDir(s.abs(uploadDir(cur.ID)))
	for _, e := range pents {
		age(t, s.abs(filepath.Join(uploadDir(cur.ID), e.Name())), 2*time.Hour)
	}
	orphanPart := s.abs(filepath.Join(uploadDir(cur.ID), "2.0123456789abcdef"))
	writeFile(t, orphanPart, "crash leftover")
	age(t, orphanPart, 2*time.Hour)
	orphanUpload := s.abs(uploadDir(randomHex(16)))
	if err := os.Mkdir(orphanUpload, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(orphanUpload, "1.0123456789abcdef"), "x")
	age(t, orphanUpload, 2*time.Hour)

	st, err := s.GC(ctx, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	want := GCStats{TempFiles: 1, DataFiles: 1, PartFiles: 1, UploadDirs: 1, Uploads: 1}
	st.BytesFreed = 0
	if st != want {
		t.Errorf("GC stats %+v; want %+v", st, want)
	}
	for _, p := range []string{orphanOld, tmpOld, orphanPart, orphanUpload} {
		if exists(p) {
			t.Errorf("%s survived GC", p)
		}
	}
	for _, p := range []string{orphanNew, tmpNew} {
		if !exists(p) {
			t.Errorf("%s younger than the grace period was removed", p)
		}
		os.Remove(p)
	}
	if b := mustGet(t, s, "b", "live"); string(b) != "live data" {
		t.Fatalf("live = %q", b)
	}
	if _, err := s.GetUpload(ctx, "b", "old", old.ID); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("expired upload: %v", err)
	}
	if _, err := s.CompleteUpload(ctx, "b", "cur", cur.ID, []blob.CompletedPart{{Number: 1, ETag: p.ETag}}); err != nil {
		t.Fatalf("live upload after GC: %v", err)
	}
	if b := mustGet(t, s, "b", "cur"); string(b) != "part" {
		t.Fatalf("cur = %q", b)
	}
}

// TestGCConcurrent runs GC with no grace period while objects and parts are
// written: GC must never remove a file a write is about to commit.
func TestGCConcurrent(t *testing.T) {
	s := newTestStore(t, WithGracePeriod(0))
	stop := make(chan struct{})
	var gcWG sync.WaitGroup
	gcWG.Add(1)
	gcRuns := 0
	go func() {
		defer gcWG.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.GC(ctx, time.Hour); err != nil {
				t.Error(err)
				return
			}
			gcRuns++
		}
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				key := fmt.Sprintf("w%d/%d", w, i%5)
				b := []byte(fmt.Sprintf("writer %d round %d %s", w, i, strings.Repeat("x", i*100)))
				if _, err := s.Put(ctx, "b", key, bytes.NewReader(b), blob.PutOptions{Size: -1}); err != nil {
					t.Error(err)
					return
				}
				if got := mustGetErr(s, "b", key); !bytes.Equal(got, b) {
					t.Errorf("%s: read back %q", key, got)
					return
				}
				if i%8 == 0 {
					up, err := s.CreateUpload(ctx, "b", key+"/mp", blob.Attrs{}, blob.CRC32C)
					if err != nil {
						t.Error(err)
						return
					}
					p, err := s.PutPart(ctx, "b", up.Key, up.ID, 1, bytes.NewReader(b), blob.PutOptions{Size: -1})
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := s.CompleteUpload(ctx, "b", up.Key, up.ID, []blob.CompletedPart{{Number: 1, ETag: p.ETag}}); err != nil {
						t.Error(err)
						return
					}
					if got := mustGetErr(s, "b", up.Key); !bytes.Equal(got, b) {
						t.Errorf("%s: read back %q", up.Key, got)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	gcWG.Wait()
	t.Logf("%d GC runs", gcRuns)
}

func mustGetErr(s blob.Store, bucket, key string) []byte {
	rc, _, err := s.Get(ctx, bucket, key, nil)
	if err != nil {
		return []byte(err.Error())
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return []byte(err.Error())
	}
	return b
}

// TestCrashLeftovers: files left by a crash before the index commit are
// invisible, survive a restart invisibly, and are collected.
func TestCrashLeftovers(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	s, err := Open(root, WithGracePeriod(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "b", "k", []byte("committed"), blob.PutOptions{})
	tmp := s.abs(filepath.Join(dirTmp, newFileID()+".tmp"))
	writeFile(t, tmp, "half a write")
	data := s.abs(objectPath(newFileID()))
	writeFile(t, data, "renamed, not committed")
	check := func(s *Store) {
		t.Helper()
		res, err := s.List(ctx, "b", blob.ListOptions{})
		if err != nil || len(res.Objects) != 1 || res.Objects[0].Key != "k" {
			t.Fatalf("List = %+v, %v", res, err)
		}
		if b := mustGet(t, s, "b", "k"); string(b) != "committed" {
			t.Fatalf("k = %q", b)
		}
	}
	check(s)
	s.Close()
	s, err = Open(root, WithGracePeriod(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
	age(t, tmp, time.Hour)
	age(t, data, time.Hour)
	st, err := s.GC(ctx, 0)
	if err != nil || st.TempFiles != 1 || st.DataFiles != 1 {
		t.Fatalf("GC = %+v, %v", st, err)
	}
	check(s)
	checkConsistent(t, s)
}

// TestListSeek checks listing with option values an S3 request cannot carry
// (invalid UTF-8, NUL) against a model.
func TestListSeek(t *testing.T) {
	s := newTestStore(t)
	keys := []string{"a", "a/b", "a/\u00ff", "a\u00ff/x", "\u00ff", "\u00ff/", "\U0010ffff/x", "\U0010ffff"}
	for _, k := range keys {
		mustPut(t, s, "b", k, []byte(k), blob.PutOptions{})
	}
	sort.Strings(keys)
	for _, p := range []string{"", "a", "\xc3", "\xff", "\xf4\x8f\xbf"} {
		for _, d := range []string{"", "/", "\xbf", "\xff", "\xc3"} {
			for _, sa := range []string{"", "\x00", "a\x00", "a/\xff", "\xc3", "\xff", "\xf4\x8f\xbf\xbf\xff"} {
				opts := blob.ListOptions{Prefix: p, Delimiter: d, StartAfter: sa, MaxKeys: 1000}
				var want []string
				seen := map[string]bool{}
				for _, k := range keys {
					if !strings.HasPrefix(k, p) {
						continue
					}
					e := k
					if i := strings.Index(k[len(p):], d); d != "" && i >= 0 {
						e = k[:len(p)+i+len(d)] + "(cp)"
					}
					if strings.TrimSuffix(e, "(cp)") <= sa || seen[e] {
						continue
					}
					seen[e] = true
					want = append(want, e)
				}
				res, err := s.List(ctx, "b", opts)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, o := range res.Objects {
					got = append(got, o.Key)
				}
				for _, c := range res.CommonPrefixes {
					got = append(got, c+"(cp)")
				}
				sort.Slice(got, func(i, j int) bool { return strings.TrimSuffix(got[i], "(cp)") < strings.TrimSuffix(got[j], "(cp)") })
				if strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("List(%q) = %q; want %q", fmt.Sprintf("%+v", opts), got, want)
				}
			}
		}
	}
}

// TestListLarge checks that listing seeks: pages from a 100k-key bucket.
func TestListLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := openLarge(t, 100_000)
	for _, c := range []struct {
		name string
		opts blob.ListOptions
		n    int
		cps  int
	}{
		{"page", blob.ListOptions{StartAfter: "dir050/file050000"}, 1000, 0},
		{"prefix", blob.ListOptions{Prefix: "dir099/"}, 1000, 0},
		{"delimiter", blob.ListOptions{Delimiter: "/"}, 0, 100},
		{"delimiter-after", blob.ListOptions{Delimiter: "/", StartAfter: "dir050/file050500"}, 0, 49},
		{"nested", blob.ListOptions{Prefix: "dir042/", Delimiter: "0"}, 0, 1},
	} {
		start := time.Now()
		res, err := s.List(ctx, "b", c.opts)
		el := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Objects) != c.n || len(res.CommonPrefixes) != c.cps {
			t.Fatalf("%s: %d objects, %d prefixes; want %d, %d", c.name, len(res.Objects), len(res.CommonPrefixes), c.n, c.cps)
		}
		t.Logf("%s: %d objects, %d common prefixes in %v", c.name, len(res.Objects), len(res.CommonPrefixes), el)
		if el > 2*time.Second {
			t.Errorf("%s took %v", c.name, el)
		}
	}
}

// openLarge opens a store whose index holds n objects in 100 directories
// (the data files are not created: listing never opens them).
func openLarge(t testing.TB, n int) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "root"), WithSync(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tx, err := s.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO objects (bucket, key, file, size, etag, modtime, attrs, checksums, parts)
		VALUES ('b', ?, ?, 1, 'd41d8cd98f00b204e9800998ecf8427e', 0, '{}', '{}', 0)`)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := stmt.Exec([]byte(fmt.Sprintf("dir%03d/file%06d", i/(n/100), i)), newFileID()); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGetReaderInterfaces(t *testing.T) {
	s := newTestStore(t)
	b := []byte("0123456789abcdefghij")
	mustPut(t, s, "b", "k", b, blob.PutOptions{})
	rc, _, err := s.Get(ctx, "b", "k", &blob.Range{Start: 5, Length: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rs := rc.(io.ReadSeeker)
	if n, err := rs.Seek(-3, io.SeekEnd); err != nil || n != 7 {
		t.Fatalf("Seek = %d, %v", n, err)
	}
	rest, _ := io.ReadAll(rs)
	if string(rest) != "cde" {
		t.Fatalf("after Seek read %q", rest)
	}
	rs.Seek(2, io.SeekStart)
	var buf bytes.Buffer
	if n, err := rc.(io.WriterTo).WriteTo(&buf); err != nil || n != 8 || buf.String() != "789abcde" {
		t.Fatalf("WriteTo = %d, %v, %q", n, err, buf.String())
	}
	p := make([]byte, 4)
	if n, err := rc.(io.ReaderAt).ReadAt(p, 8); n != 2 || err != io.EOF || string(p[:2]) != "de" {
		t.Fatalf("ReadAt = %d, %v, %q", n, err, p[:n])
	}
	// WriteTo into a file (copy_file_range).
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs.Seek(0, io.SeekStart)
	if n, err := io.Copy(f, rc); err != nil || n != 10 {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	if got, _ := os.ReadFile(f.Name()); string(got) != "56789abcde" {
		t.Fatalf("copied %q", got)
	}
}
