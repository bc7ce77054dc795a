package fs

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wharfml/wharf/internal/blob"
)

// FuzzKeys stores, reads, lists and deletes arbitrary keys: each must be
// rejected with ErrInvalidKey or round-trip, and nothing may appear outside
// the store's own directories.
func FuzzKeys(f *testing.F) {
	for _, seed := range []string{
		"a", "a/b", "../../etc/passwd", "../" + strings.Repeat("../", 40) + "tmp/x", "/abs", "/", "a/./b", "a//b", ".", "..",
		"objects/../../x", "tmp/../../../x", "uploads/../index.db", "index.db", "LOCK", "%2e%2e%2f", "..\\..\\x",
		"a\x00b", "\x00", "\xff", "\xc3", "\xed\xa0\x80", "é", "日本", "😀", "trailing/", " ",
		strings.Repeat("a", blob.MaxKeyLength), strings.Repeat("a", blob.MaxKeyLength+1),
	} {
		f.Add([]byte(seed))
	}
	parent := f.TempDir()
	root := filepath.Join(parent, "root")
	s, err := Open(root, WithSync(false))
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, raw []byte) {
		key := string(raw)
		valid := len(key) > 0 && len(key) <= blob.MaxKeyLength && utf8.ValidString(key) && !bytes.Contains(raw, []byte{0})
		payload := append([]byte("payload:"), raw...)
		_, err := s.Put(ctx, "fuzz", key, bytes.NewReader(payload), blob.PutOptions{Size: int64(len(payload))})
		if !valid {
			if !errors.Is(err, blob.ErrInvalidKey) {
				t.Fatalf("Put(%q) = %v; want ErrInvalidKey", key, err)
			}
			if _, err := s.Head(ctx, "fuzz", key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Fatalf("Head(%q) = %v; want ErrInvalidKey", key, err)
			}
			if err := s.Delete(ctx, "fuzz", key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Fatalf("Delete(%q) = %v; want ErrInvalidKey", key, err)
			}
			if _, err := s.CreateUpload(ctx, "fuzz", key, blob.Attrs{}, ""); !errors.Is(err, blob.ErrInvalidKey) {
				t.Fatalf("CreateUpload(%q) = %v; want ErrInvalidKey", key, err)
			}
			// Listing with the key as prefix/start must not fail.
			if _, err := s.List(ctx, "fuzz", blob.ListOptions{Prefix: key, StartAfter: key, Delimiter: key}); err != nil {
				t.Fatal(err)
			}
		} else {
			if err != nil {
				t.Fatalf("Put(%q): %v", key, err)
			}
			rc, info, err := s.Get(ctx, "fuzz", key, nil)
			if err != nil {
				t.Fatalf("Get(%q): %v", key, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, payload) || info.Key != key {
				t.Fatalf("Get(%q) = %q, %v", key, got, err)
			}
			res, err := s.List(ctx, "fuzz", blob.ListOptions{Prefix: key, MaxKeys: 1})
			if err != nil || len(res.Objects) != 1 || res.Objects[0].Key != key {
				t.Fatalf("List(%q) = %+v, %v", key, res, err)
			}
			up, err := s.CreateUpload(ctx, "fuzz", key, blob.Attrs{}, "")
			if err != nil {
				t.Fatalf("CreateUpload(%q): %v", key, err)
			}
			if err := s.AbortUpload(ctx, "fuzz", key, up.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "fuzz", key); err != nil {
				t.Fatalf("Delete(%q): %v", key, err)
			}
			if _, err := s.Head(ctx, "fuzz", key); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("Head(%q) after Delete = %v", key, err)
			}
		}
		checkContained(t, parent, root)
		checkConsistent(t, s)
	})
}
