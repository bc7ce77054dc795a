package fs

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/wharfml/wharf/internal/blob"
)

func benchData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// BenchmarkPut1MiB measures Put of 1 MiB objects (MD5 always; with and
// without a CRC32C checksum; with and without fsync) to rotating keys.
func BenchmarkPut1MiB(b *testing.B) {
	data := benchData(1 << 20)
	for _, c := range []struct {
		name string
		sync bool
		sums map[string]string
	}{
		{"nosync", false, nil},
		{"nosync-crc32c", false, map[string]string{blob.CRC32C: ""}},
		{"nosync-sha256", false, map[string]string{blob.SHA256: ""}},
		{"sync", true, nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, err := Open(b.TempDir(), WithSync(c.sync))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Put(ctx, "b", fmt.Sprintf("k%d", i%64), bytes.NewReader(data),
					blob.PutOptions{Size: int64(len(data)), Checksums: c.sums}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGet1MiB measures Get of a 1 MiB object read fully, through Read
// (io.ReadFull into a buffer) and through WriteTo (io.Copy to io.Discard).
func BenchmarkGet1MiB(b *testing.B) {
	data := benchData(1 << 20)
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(ctx, "b", "k", bytes.NewReader(data), blob.PutOptions{Size: int64(len(data))}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, len(data))
	b.Run("read", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			rc, _, err := s.Get(ctx, "b", "k", nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(rc, buf); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	})
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			rc, _, err := s.Get(ctx, "b", "k", nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	})
}

// BenchmarkHead measures the index lookup alone.
func BenchmarkHead(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(ctx, "b", "k", bytes.NewReader([]byte("x")), blob.PutOptions{Size: 1}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Head(ctx, "b", "k"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkList1000 measures a 1000-key page from the middle of a 100k-key
// bucket, and a delimiter listing that rolls the bucket into 100 prefixes.
func BenchmarkList1000(b *testing.B) {
	s := openLarge(b, 100_000)
	b.Run("page", func(b *testing.B) {
		for b.Loop() {
			res, err := s.List(ctx, "b", blob.ListOptions{StartAfter: "dir050/file050000"})
			if err != nil || len(res.Objects) != 1000 {
				b.Fatal(err)
			}
		}
	})
	b.Run("delimiter", func(b *testing.B) {
		for b.Loop() {
			res, err := s.List(ctx, "b", blob.ListOptions{Delimiter: "/"})
			if err != nil || len(res.CommonPrefixes) != 100 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPutLarge shows how the cost of WithSync shrinks relative to the
// write itself as objects grow.
func BenchmarkPutLarge(b *testing.B) {
	for _, size := range []int{16 << 20, 64 << 20} {
		data := benchData(size)
		for _, sync := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dMiB/sync=%v", size>>20, sync), func(b *testing.B) {
				s, err := Open(b.TempDir(), WithSync(sync))
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				b.SetBytes(int64(size))
				for i := 0; b.Loop(); i++ {
					if _, err := s.Put(ctx, "b", fmt.Sprintf("k%d", i%4), bytes.NewReader(data),
						blob.PutOptions{Size: int64(size)}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
