package blobtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/wharfml/wharf/internal/blob"
)

func testRoundTrip(t *testing.T, s blob.Store) {
	ctx := context.Background()
	b := []byte("hello, wharf")
	info := put(t, s, bucket, "greeting", b, sized(b))
	recent(t, "Put", info.ModTime)
	if info.PartCount != 0 {
		t.Fatalf("Put PartCount %d", info.PartCount)
	}
	mustContain(t, s, bucket, "greeting", b)
	h, err := s.Head(ctx, bucket, "greeting")
	if err != nil {
		t.Fatal(err)
	}
	if h.Bucket != bucket || h.Key != "greeting" || h.Size != int64(len(b)) || h.ETag != md5hex(b) || h.PartCount != 0 {
		t.Fatalf("Head = %+v", h)
	}
	recent(t, "Head", h.ModTime)

	// Replace, with the size unknown.
	b2 := []byte("a different, longer greeting")
	put(t, s, bucket, "greeting", b2, blob.PutOptions{Size: -1})
	mustContain(t, s, bucket, "greeting", b2)

	// Buckets are separate namespaces.
	put(t, s, "other", "greeting", b, sized(b))
	mustContain(t, s, "other", "greeting", b)
	mustContain(t, s, bucket, "greeting", b2)

	if err := s.Delete(ctx, bucket, "greeting"); err != nil {
		t.Fatal(err)
	}
	mustBeAbsent(t, s, bucket, "greeting")
	mustContain(t, s, "other", "greeting", b)
	if err := s.Delete(ctx, bucket, "greeting"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	if err := s.Delete(ctx, bucket, "never-was"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	mustBeAbsent(t, s, bucket, "never-was")
}

func testAttributes(t *testing.T, s blob.Store) {
	ctx := context.Background()
	attrs := blob.Attrs{
		ContentType:        "application/x-tar",
		ContentEncoding:    "gzip",
		ContentDisposition: `attachment; filename="model.tar.gz"`,
		ContentLanguage:    "en-GB",
		CacheControl:       "max-age=3600",
		Expires:            "Thu, 01 Dec 2044 16:00:00 GMT",
		Metadata:           map[string]string{"framework": "pytorch", "epoch": "12", "empty-ish": "x y"},
	}
	b := []byte("model bytes")
	info := put(t, s, bucket, "model.tar.gz", b, blob.PutOptions{Attrs: attrs, Size: int64(len(b))})
	sameAttrs(t, "Put", info.Attrs, attrs)
	h, err := s.Head(ctx, bucket, "model.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	sameAttrs(t, "Head", h.Attrs, attrs)
	_, g := get(t, s, bucket, "model.tar.gz", nil)
	sameAttrs(t, "Get", g.Attrs, attrs)
	res, err := s.List(ctx, bucket, blob.ListOptions{})
	if err != nil || len(res.Objects) != 1 {
		t.Fatalf("List = %+v, %v", res, err)
	}
	if o := res.Objects[0]; o.Key != "model.tar.gz" || o.Size != int64(len(b)) || o.ETag != md5hex(b) {
		t.Fatalf("List object %+v", o)
	}

	// Replacing an object replaces its attributes too.
	put(t, s, bucket, "model.tar.gz", b, sized(b))
	h, err = s.Head(ctx, bucket, "model.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	sameAttrs(t, "Head after replace", h.Attrs, blob.Attrs{})
}

func testSizes(t *testing.T, s blob.Store) {
	for i, n := range []int{0, 1, 2, 4095, 4096, 65537, 3<<20 + 17} {
		b := data(n, uint64(i))
		key := "size/" + strings.Repeat("x", i)
		put(t, s, bucket, key, b, sized(b))
		mustContain(t, s, bucket, key, b)
		// Unknown size, odd-sized reads.
		info, err := s.Put(context.Background(), bucket, key, iotest.HalfReader(bytes.NewReader(b)), blob.PutOptions{Size: -1})
		if err != nil || info.Size != int64(n) || info.ETag != md5hex(b) {
			t.Fatalf("Put %d bytes, size unknown: %+v, %v", n, info, err)
		}
		mustContain(t, s, bucket, key, b)
	}
}

// Keys that must be stored as themselves: none may alias another, none may
// reach outside the store.
var goodKeys = []string{
	"plain",
	"with space",
	"trailing space ",
	" leading space",
	"café",
	"é",
	"e\u0301", // decomposed é: a different key
	"日本/語",
	"😀",
	"emoji/😀/x",
	"../../etc/passwd",
	"../../../../../../../../tmp/escape",
	"etc/passwd",
	"/abs",
	"abs",
	"/",
	"//",
	"a/./b",
	"a/../b",
	"a//b",
	"a/b",
	"a/",
	"a",
	".",
	"..",
	"...",
	"~",
	"C:\\Windows\\System32",
	"%2e%2e%2fescape",
	"line\nbreak",
	"tab\there",
	"\x01\x02\x7f",
	"objects/00/00000000000000000000000000000000",
	"tmp/x.tmp",
	"index.db",
	strings.Repeat("k", blob.MaxKeyLength),
	strings.Repeat("é", blob.MaxKeyLength/2),       // 1024 bytes
	strings.Repeat("日", blob.MaxKeyLength/3) + "a", // 1023 bytes
}

func testKeys(t *testing.T, s blob.Store) {
	ctx := context.Background()
	for i, k := range goodKeys {
		b := []byte(k + "\x00payload")
		info := put(t, s, bucket, k, b, sized(b))
		if info.Key != k {
			t.Fatalf("Put(%q) returned key %q", k, info.Key)
		}
		_ = i
	}
	for _, k := range goodKeys {
		mustContain(t, s, bucket, k, []byte(k+"\x00payload"))
		res, err := s.List(ctx, bucket, blob.ListOptions{Prefix: k, MaxKeys: 1})
		if err != nil || len(res.Objects) != 1 || res.Objects[0].Key != k {
			t.Fatalf("List(Prefix %q) = %+v, %v", k, res, err)
		}
	}
	keys := listAll(t, s, bucket)
	if len(keys) != len(goodKeys) {
		t.Fatalf("listed %d keys, stored %d", len(keys), len(goodKeys))
	}
	for _, k := range goodKeys {
		if err := s.Delete(ctx, bucket, k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
		mustBeAbsent(t, s, bucket, k)
	}
	if keys := listAll(t, s, bucket); len(keys) != 0 {
		t.Fatalf("after deleting everything List returns %q", keys)
	}
}

var badKeys = []string{
	"",
	strings.Repeat("k", blob.MaxKeyLength+1),
	strings.Repeat("é", blob.MaxKeyLength/2) + "a",
	"nul\x00inside",
	"\x00",
	"trailing nul\x00",
	"\xff",
	"bad utf8 \xc3",
	"\xc3\x28",
	"\xed\xa0\x80", // UTF-16 surrogate encoded in UTF-8
	"../\xff/..",
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	ctx := context.Background()
	for _, k := range badKeys {
		_, err := s.Put(ctx, bucket, k, strings.NewReader("x"), blob.PutOptions{Size: 1})
		wantErr(t, "Put "+strconvQuote(k), err, blob.ErrInvalidKey)
		_, err = s.Head(ctx, bucket, k)
		wantErr(t, "Head "+strconvQuote(k), err, blob.ErrInvalidKey)
		rc, _, err := s.Get(ctx, bucket, k, nil)
		if rc != nil {
			rc.Close()
		}
		wantErr(t, "Get "+strconvQuote(k), err, blob.ErrInvalidKey)
		wantErr(t, "Delete "+strconvQuote(k), s.Delete(ctx, bucket, k), blob.ErrInvalidKey)
		_, err = s.CreateUpload(ctx, bucket, k, blob.Attrs{}, "")
		wantErr(t, "CreateUpload "+strconvQuote(k), err, blob.ErrInvalidKey)
	}
	if keys := listAll(t, s, bucket); len(keys) != 0 {
		t.Fatalf("invalid keys were stored: %q", keys)
	}
}

func strconvQuote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "\"" + strings.ToValidUTF8(s, "\ufffd") + "\""
}

func testRanges(t *testing.T, s blob.Store) {
	b := data(1000, 7)
	put(t, s, bucket, "r", b, sized(b))
	for _, c := range []struct {
		rng        blob.Range
		start, end int
	}{
		{blob.Range{Start: 0, Length: 10}, 0, 10},
		{blob.Range{Start: 0, Length: -1}, 0, 1000},
		{blob.Range{Start: 100, Length: 50}, 100, 150},
		{blob.Range{Start: 999, Length: 1}, 999, 1000},
		{blob.Range{Start: 990, Length: -1}, 990, 1000},
		{blob.Range{Start: 900, Length: 500}, 900, 1000}, // clipped
		{blob.Range{Start: 0, Length: 5000}, 0, 1000},    // clipped
		{blob.Range{Start: -10}, 990, 1000},              // suffix
		{blob.Range{Start: -1000}, 0, 1000},              // suffix, whole
		{blob.Range{Start: -5000, Length: 3}, 0, 1000},   // suffix, clipped; Length ignored
		{blob.Range{Start: 500, Length: 0}, 500, 500},    // empty
	} {
		rng := c.rng
		got, info := get(t, s, bucket, "r", &rng)
		if !bytes.Equal(got, b[c.start:c.end]) {
			t.Errorf("range %+v: got %d bytes; want bytes [%d, %d)", c.rng, len(got), c.start, c.end)
		}
		if info.Size != 1000 || info.ETag != md5hex(b) {
			t.Errorf("range %+v: info %+v describes the range, not the object", c.rng, info)
		}
	}
}

func testETag(t *testing.T, s blob.Store) {
	for _, c := range []struct{ data, etag string }{
		{"", "d41d8cd98f00b204e9800998ecf8427e"},
		{"hello world", "5eb63bbbe01eeed093cb22bb8f5acdc3"},
		{"The quick brown fox jumps over the lazy dog", "9e107d9d372bb6826bd81d3542a419d6"},
	} {
		info, err := s.Put(context.Background(), bucket, "etag", strings.NewReader(c.data), blob.PutOptions{Size: -1})
		if err != nil || info.ETag != c.etag {
			t.Fatalf("Put(%q) ETag %q, %v; want %s", c.data, info.ETag, err, c.etag)
		}
		h, err := s.Head(context.Background(), bucket, "etag")
		if err != nil || h.ETag != c.etag {
			t.Fatalf("Head ETag %q, %v; want %s", h.ETag, err, c.etag)
		}
	}
}

// Checksums of "hello world" (the vectors of aws-sdk-go-v2's checksum tests).
var helloSums = map[string]string{
	blob.CRC32:     "DUoRhQ==",
	blob.CRC32C:    "yZRlqg==",
	blob.CRC64NVME: "jSnVw/bqjr4=",
	blob.SHA1:      "Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
	blob.SHA256:    "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
}

var sumSizes = map[string]int{blob.CRC32: 4, blob.CRC32C: 4, blob.CRC64NVME: 8, blob.SHA1: 20, blob.SHA256: 32}

func testChecksums(t *testing.T, s blob.Store) {
	ctx := context.Background()
	hello := []byte("hello world")
	for alg, want := range helloSums {
		key := "sum/" + alg
		// Compute.
		info := put(t, s, bucket, key, hello, blob.PutOptions{Size: 11, Checksums: map[string]string{alg: ""}})
		if info.Checksums[alg] != want {
			t.Fatalf("%s of %q = %q; want %q", alg, hello, info.Checksums[alg], want)
		}
		h, err := s.Head(ctx, bucket, key)
		if err != nil || h.Checksums[alg] != want {
			t.Fatalf("Head %s = %q, %v; want %q", alg, h.Checksums[alg], err, want)
		}
		// Verify, correct.
		info = put(t, s, bucket, key, hello, blob.PutOptions{Size: 11, Checksums: map[string]string{alg: want}})
		if info.Checksums[alg] != want {
			t.Fatalf("%s verified = %q; want %q", alg, info.Checksums[alg], want)
		}
		// Verify, wrong.
		wrong := base64.StdEncoding.EncodeToString(make([]byte, sumSizes[alg]))
		_, err = s.Put(ctx, bucket, key, bytes.NewReader(hello), blob.PutOptions{Size: 11, Checksums: map[string]string{alg: wrong}})
		wantErr(t, alg+" mismatch", err, blob.ErrBadDigest)
		// Malformed.
		_, err = s.Put(ctx, bucket, key, bytes.NewReader(hello), blob.PutOptions{Size: 11, Checksums: map[string]string{alg: "not base64!"}})
		if err == nil {
			t.Fatalf("%s: malformed checksum accepted", alg)
		}
		mustContain(t, s, bucket, key, hello)
	}

	// All at once.
	all := map[string]string{}
	for alg := range helloSums {
		all[alg] = ""
	}
	info := put(t, s, bucket, "sum/all", hello, blob.PutOptions{Size: -1, Checksums: all})
	for alg, want := range helloSums {
		if info.Checksums[alg] != want {
			t.Fatalf("%s = %q; want %q", alg, info.Checksums[alg], want)
		}
	}
	h, err := s.Head(ctx, bucket, "sum/all")
	if err != nil {
		t.Fatal(err)
	}
	for alg, want := range helloSums {
		if h.Checksums[alg] != want {
			t.Fatalf("Head %s = %q; want %q", alg, h.Checksums[alg], want)
		}
	}

	// An unknown algorithm.
	_, err = s.Put(ctx, bucket, "sum/unknown", bytes.NewReader(hello), blob.PutOptions{Size: 11, Checksums: map[string]string{"MD4": ""}})
	wantErr(t, "unknown algorithm", err, blob.ErrInvalidArgument)
	mustBeAbsent(t, s, bucket, "sum/unknown")
}

func testBadDigest(t *testing.T, s blob.Store) {
	ctx := context.Background()
	old := []byte("the old object")
	put(t, s, bucket, "k", old, sized(old))
	b := data(100<<10, 1)
	sum := md5.Sum(b)

	bad := sum
	bad[0] ^= 1
	_, err := s.Put(ctx, bucket, "k", bytes.NewReader(b), blob.PutOptions{Size: int64(len(b)), ContentMD5: bad[:]})
	wantErr(t, "Content-MD5 mismatch", err, blob.ErrBadDigest)
	mustContain(t, s, bucket, "k", old)
	_, err = s.Put(ctx, bucket, "new", bytes.NewReader(b), blob.PutOptions{Size: int64(len(b)), ContentMD5: bad[:]})
	wantErr(t, "Content-MD5 mismatch", err, blob.ErrBadDigest)
	mustBeAbsent(t, s, bucket, "new")

	_, err = s.Put(ctx, bucket, "k", bytes.NewReader(b), blob.PutOptions{Size: -1,
		Checksums: map[string]string{blob.SHA256: base64.StdEncoding.EncodeToString(make([]byte, 32))}})
	wantErr(t, "SHA256 mismatch", err, blob.ErrBadDigest)
	mustContain(t, s, bucket, "k", old)

	// Right digests pass.
	info, err := s.Put(ctx, bucket, "k", bytes.NewReader(b), blob.PutOptions{Size: int64(len(b)), ContentMD5: sum[:]})
	if err != nil || info.ETag != md5hex(b) {
		t.Fatalf("Put with right Content-MD5: %+v, %v", info, err)
	}
	mustContain(t, s, bucket, "k", b)
	if keys := listAll(t, s, bucket); len(keys) != 1 {
		t.Fatalf("keys %q", keys)
	}
}

func testSizeMismatch(t *testing.T, s blob.Store) {
	ctx := context.Background()
	old := []byte("the old object")
	put(t, s, bucket, "k", old, sized(old))
	b := data(64<<10, 2)
	for _, size := range []int64{int64(len(b)) - 1, int64(len(b)) + 1, 0, 1 << 20} {
		_, err := s.Put(ctx, bucket, "k", bytes.NewReader(b), blob.PutOptions{Size: size})
		wantErr(t, "size mismatch", err, io.ErrUnexpectedEOF)
		mustContain(t, s, bucket, "k", old)
		_, err = s.Put(ctx, bucket, "new", bytes.NewReader(b), blob.PutOptions{Size: size})
		wantErr(t, "size mismatch", err, io.ErrUnexpectedEOF)
		mustBeAbsent(t, s, bucket, "new")
	}
	if keys := listAll(t, s, bucket); len(keys) != 1 {
		t.Fatalf("keys %q", keys)
	}
}

func testFailingReader(t *testing.T, s blob.Store) {
	ctx := context.Background()
	old := []byte("the old object")
	put(t, s, bucket, "k", old, sized(old))
	b := data(2<<20, 3)
	for _, size := range []int64{-1, int64(len(b))} {
		for _, n := range []int{0, 1, 1 << 20} {
			for _, key := range []string{"k", "new"} {
				r := &failReader{r: bytes.NewReader(b), n: n, err: errBoom}
				if _, err := s.Put(ctx, bucket, key, r, blob.PutOptions{Size: size}); err == nil {
					t.Fatalf("Put from a reader failing after %d bytes succeeded", n)
				}
			}
			mustContain(t, s, bucket, "k", old)
			mustBeAbsent(t, s, bucket, "new")
		}
	}
	if keys := listAll(t, s, bucket); len(keys) != 1 {
		t.Fatalf("keys %q", keys)
	}
}

// cancelReader cancels its context after n bytes but keeps supplying data.
type cancelReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	if len(p) > 32<<10 {
		p = p[:32<<10]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func testCancel(t *testing.T, s blob.Store) {
	old := []byte("the old object")
	put(t, s, bucket, "k", old, sized(old))
	b := data(2<<20, 4)
	for _, key := range []string{"k", "new"} {
		// Cancelled before the call.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Put(ctx, bucket, key, bytes.NewReader(b), blob.PutOptions{Size: int64(len(b))})
		wantErr(t, "Put with a cancelled context", err, context.Canceled)
		// Cancelled midway.
		ctx, cancel = context.WithCancel(context.Background())
		_, err = s.Put(ctx, bucket, key, &cancelReader{r: bytes.NewReader(b), n: 1 << 20, cancel: cancel}, blob.PutOptions{Size: -1})
		cancel()
		wantErr(t, "Put cancelled midway", err, context.Canceled)
		mustContain(t, s, bucket, "k", old)
		mustBeAbsent(t, s, bucket, "new")
	}
	if keys := listAll(t, s, bucket); len(keys) != 1 {
		t.Fatalf("keys %q", keys)
	}
}

func testConditional(t *testing.T, s blob.Store) {
	ctx := context.Background()
	v1, v2, v3 := []byte("version 1"), []byte("version 2"), []byte("version 3")
	p := func(key string, b []byte, ifMatch, ifNoneMatch string) error {
		_, err := s.Put(ctx, bucket, key, bytes.NewReader(b), blob.PutOptions{Size: int64(len(b)), IfMatch: ifMatch, IfNoneMatch: ifNoneMatch})
		return err
	}
	if err := p("k", v1, "", "*"); err != nil {
		t.Fatalf("If-None-Match * on a missing object: %v", err)
	}
	wantErr(t, "If-None-Match * on an existing object", p("k", v2, "", "*"), blob.ErrPrecondition)
	mustContain(t, s, bucket, "k", v1)
	wantErr(t, "If-Match with a wrong ETag", p("k", v2, md5hex(v3), ""), blob.ErrPrecondition)
	mustContain(t, s, bucket, "k", v1)
	if err := p("k", v2, md5hex(v1), ""); err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}
	mustContain(t, s, bucket, "k", v2)
	wantErr(t, "If-Match with the previous ETag", p("k", v3, md5hex(v1), ""), blob.ErrPrecondition)
	mustContain(t, s, bucket, "k", v2)
	wantErr(t, "If-Match on a missing object", p("missing", v1, md5hex(v1), ""), blob.ErrPrecondition)
	mustBeAbsent(t, s, bucket, "missing")
	// A failed condition consumes nothing visible, a later write works.
	if err := p("k", v3, md5hex(v2), ""); err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}
	mustContain(t, s, bucket, "k", v3)
}

func testConditionalRace(t *testing.T, s blob.Store) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := data(32<<10, uint64(100+i))
			_, errs[i] = s.Put(ctx, bucket, "race", bytes.NewReader(b), blob.PutOptions{Size: -1, IfNoneMatch: "*"})
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("If-None-Match *: writers %d and %d both succeeded", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, blob.ErrPrecondition):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("If-None-Match *: no writer succeeded")
	}
	mustContain(t, s, bucket, "race", data(32<<10, uint64(100+won)))
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	ctx := context.Background()
	const writers, rounds = 8, 6
	want := map[string]bool{}
	for i := range writers * rounds {
		want[md5hex(data(48<<10, uint64(i)))] = true
	}
	var wg sync.WaitGroup
	errc := make(chan error, writers*rounds+64)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				b := data(48<<10, uint64(w*rounds+r))
				if _, err := s.Put(ctx, bucket, "hot", bytes.NewReader(b), blob.PutOptions{Size: int64(len(b))}); err != nil {
					errc <- err
				}
			}
		}()
	}
	// Readers see whole versions only.
	stop := make(chan struct{})
	var rg sync.WaitGroup
	for range 2 {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc, info, err := s.Get(ctx, bucket, "hot", nil)
				if errors.Is(err, blob.ErrNotFound) {
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errc <- err
					return
				}
				if md5hex(b) != info.ETag || !want[info.ETag] {
					errc <- errors.New("a reader saw data that does not match its ETag")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	got, info := get(t, s, bucket, "hot", nil)
	if !want[md5hex(got)] || md5hex(got) != info.ETag {
		t.Fatal("final object is not one of the written versions")
	}
	if keys := listAll(t, s, bucket); len(keys) != 1 {
		t.Fatalf("keys %q", keys)
	}
}

func testReadWhileReplaced(t *testing.T, s blob.Store) {
	ctx := context.Background()
	v1 := data(1<<20, 5)
	put(t, s, bucket, "k", v1, sized(v1))
	rc, _, err := s.Get(ctx, bucket, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	v2 := data(1<<20, 6)
	put(t, s, bucket, "k", v2, sized(v2))
	rc2, _, err := s.Get(ctx, bucket, "k", &blob.Range{Start: 10, Length: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Close()
	if err := s.Delete(ctx, bucket, "k"); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading a replaced object: %v", err)
	}
	if !bytes.Equal(append(head, rest...), v1) {
		t.Fatal("a reader opened before a replace did not read the old version")
	}
	rest2, err := io.ReadAll(rc2)
	if err != nil || !bytes.Equal(rest2, v2[10:]) {
		t.Fatalf("a reader opened before a delete did not read the object: %v", err)
	}
	mustBeAbsent(t, s, bucket, "k")
}
