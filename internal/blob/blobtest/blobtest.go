// Package blobtest is the conformance suite for blob.Store implementations.
// It tests only behaviour that package blob defines, so every backing (the
// filesystem, S3) must pass it.
package blobtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/wharfml/wharf/internal/blob"
)

// Run runs the conformance suite. newStore is called once per subtest and
// must return an empty store; it should register its own cleanup (closing
// the store, removing its data) with t.Cleanup. The suite does not call Close.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Attributes", testAttributes},
		{"Sizes", testSizes},
		{"Keys", testKeys},
		{"InvalidKeys", testInvalidKeys},
		{"Ranges", testRanges},
		{"ETag", testETag},
		{"Checksums", testChecksums},
		{"BadDigest", testBadDigest},
		{"SizeMismatch", testSizeMismatch},
		{"FailingReader", testFailingReader},
		{"Cancel", testCancel},
		{"Conditional", testConditional},
		{"ConditionalRace", testConditionalRace},
		{"ListOrder", testListOrder},
		{"ListModel", testListModel},
		{"ListPaging", testListPaging},
		{"ListBuckets", testListBuckets},
		{"Multipart", testMultipart},
		{"MultipartOverwrite", testMultipartOverwrite},
		{"MultipartErrors", testMultipartErrors},
		{"MultipartPartChecks", testMultipartPartChecks},
		{"MultipartAbort", testMultipartAbort},
		{"ListParts", testListParts},
		{"ListUploads", testListUploads},
		{"UploadScope", testUploadScope},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ReadWhileReplaced", testReadWhileReplaced},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

const bucket = "bucket"

// data returns n deterministic pseudo-random bytes.
func data(n int, seed uint64) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	rand.NewChaCha8(s).Read(b)
	return b
}

func md5hex(b []byte) string {
	h := md5.Sum(b)
	return hex.EncodeToString(h[:])
}

func sized(b []byte) blob.PutOptions { return blob.PutOptions{Size: int64(len(b))} }

func put(t *testing.T, s blob.Store, bkt, key string, b []byte, opts blob.PutOptions) blob.ObjectInfo {
	t.Helper()
	info, err := s.Put(context.Background(), bkt, key, bytes.NewReader(b), opts)
	if err != nil {
		t.Fatalf("Put(%q, %q): %v", bkt, key, err)
	}
	if info.Size != int64(len(b)) || info.ETag != md5hex(b) || info.Key != key || info.Bucket != bkt {
		t.Fatalf("Put(%q, %q) = %+v; want size %d, ETag %s", bkt, key, info, len(b), md5hex(b))
	}
	return info
}

func get(t *testing.T, s blob.Store, bkt, key string, rng *blob.Range) ([]byte, blob.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Get(context.Background(), bkt, key, rng)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", bkt, key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q, %q): read: %v", bkt, key, err)
	}
	return b, info
}

// mustContain checks that bkt/key holds exactly want.
func mustContain(t *testing.T, s blob.Store, bkt, key string, want []byte) {
	t.Helper()
	got, info := get(t, s, bkt, key, nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s/%q holds %d bytes (md5 %s); want %d bytes (md5 %s)", bkt, key, len(got), md5hex(got), len(want), md5hex(want))
	}
	if info.Size != int64(len(want)) {
		t.Fatalf("%s/%q: Get info size %d, want %d", bkt, key, info.Size, len(want))
	}
	h, err := s.Head(context.Background(), bkt, key)
	if err != nil {
		t.Fatalf("Head(%q): %v", key, err)
	}
	if h.Size != int64(len(want)) || h.ETag != info.ETag {
		t.Fatalf("%s/%q: Head %+v disagrees with Get %+v", bkt, key, h, info)
	}
}

// mustBeAbsent checks that bkt/key does not exist.
func mustBeAbsent(t *testing.T, s blob.Store, bkt, key string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Head(ctx, bkt, key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Head(%q) = %v; want ErrNotFound", key, err)
	}
	if rc, _, err := s.Get(ctx, bkt, key, nil); !errors.Is(err, blob.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Fatalf("Get(%q) = %v; want ErrNotFound", key, err)
	}
}

// listAll lists every key of bkt (no delimiter).
func listAll(t *testing.T, s blob.Store, bkt string) []string {
	t.Helper()
	var keys []string
	after := ""
	for i := 0; ; i++ {
		res, err := s.List(context.Background(), bkt, blob.ListOptions{StartAfter: after})
		if err != nil {
			t.Fatalf("List(%q): %v", bkt, err)
		}
		for _, o := range res.Objects {
			keys = append(keys, o.Key)
		}
		if !res.IsTruncated {
			return keys
		}
		if i > 1000 {
			t.Fatalf("List(%q) does not end", bkt)
		}
		after = res.NextStartAfter
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v; want %v", what, err, target)
	}
}

func normAttrs(a blob.Attrs) blob.Attrs {
	if len(a.Metadata) == 0 {
		a.Metadata = nil
	}
	return a
}

func sameAttrs(t *testing.T, what string, got, want blob.Attrs) {
	t.Helper()
	if g, w := normAttrs(got), normAttrs(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: attributes %+v; want %+v", what, g, w)
	}
}

func recent(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if d := time.Since(tm); d < -time.Minute || d > time.Minute {
		t.Fatalf("%s: ModTime %v is not recent", what, tm)
	}
}

// failReader returns n bytes of data and then err.
type failReader struct {
	r   io.Reader
	n   int
	err error
}

func (f *failReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

var errBoom = fmt.Errorf("reader failed on purpose")
