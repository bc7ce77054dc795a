package contract

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/wharfml/wharf/internal/blob"
	blobfs "github.com/wharfml/wharf/internal/blob/fs"
)

// testStore adapts a real blob store to ObjectSource and ObjectSink the way
// the controller does: unknown buckets are not found, denied ones refused.
type testStore struct {
	s       blob.Store
	mu      sync.Mutex
	buckets map[string]bool
	denied  map[string]bool
	puts    map[string]int // key → Put count
}

func newTestStore(t testing.TB) *testStore {
	t.Helper()
	s, err := blobfs.Open(t.TempDir(), blobfs.WithSync(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testStore{s: s, buckets: map[string]bool{}, denied: map[string]bool{}, puts: map[string]int{}}
}

func (s *testStore) check(bucket string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied[bucket] {
		return fmt.Errorf("bucket %s: %w", bucket, ErrAccessDenied)
	}
	if !s.buckets[bucket] {
		return fmt.Errorf("bucket %s: %w", bucket, blob.ErrNotFound)
	}
	return nil
}

func (s *testStore) List(ctx context.Context, bucket, prefix string, fn func(blob.ObjectInfo) error) error {
	if err := s.check(bucket); err != nil {
		return err
	}
	after := ""
	for {
		res, err := s.s.List(ctx, bucket, blob.ListOptions{Prefix: prefix, StartAfter: after, MaxKeys: 2})
		if err != nil {
			return err
		}
		for _, o := range res.Objects {
			if err := fn(o); err != nil {
				return err
			}
		}
		if !res.IsTruncated {
			return nil
		}
		after = res.NextStartAfter
	}
}

func (s *testStore) Head(ctx context.Context, bucket, key string) (blob.ObjectInfo, error) {
	if err := s.check(bucket); err != nil {
		return blob.ObjectInfo{}, err
	}
	return s.s.Head(ctx, bucket, key)
}

func (s *testStore) Open(ctx context.Context, bucket, key string) (io.ReadCloser, blob.ObjectInfo, error) {
	if err := s.check(bucket); err != nil {
		return nil, blob.ObjectInfo{}, err
	}
	return s.s.Get(ctx, bucket, key, nil)
}

func (s *testStore) Put(ctx context.Context, bucket, key string, r io.Reader, size int64) error {
	if err := s.check(bucket); err != nil {
		return err
	}
	if _, err := s.s.Put(ctx, bucket, key, r, blob.PutOptions{Size: size}); err != nil {
		return err
	}
	s.mu.Lock()
	s.puts[key]++
	s.mu.Unlock()
	return nil
}

func (s *testStore) put(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	s.mu.Lock()
	s.buckets[bucket] = true
	s.mu.Unlock()
	if _, err := s.s.Put(context.Background(), bucket, key, bytes.NewReader(data), blob.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
}

func (s *testStore) get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	rc, _, err := s.s.Get(context.Background(), bucket, key, nil)
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

func (s *testStore) putCount(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts[key]
}

func wantClientError(t testing.TB, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want ClientError containing %q", substr)
	}
	if !strings.HasPrefix(err.Error(), "ClientError: ") || !IsClientError(err) {
		t.Fatalf("error %q is not a ClientError", err)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not contain %q", err, substr)
	}
}

// tarEntry describes one entry for makeTar.
type tarEntry struct {
	name, body, link string
	typ              byte
	size             int64 // header size if body is empty and size > 0 (for bombs)
}

func makeTar(t testing.TB, gz bool, ents ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range ents {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.link, Mode: 0o644, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
			if e.size > 0 {
				hdr.Size = e.size
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.size > 0 {
			if _, err := io.CopyN(tw, zeroReader{}, e.size); err != nil {
				t.Fatal(err)
			}
		} else if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
