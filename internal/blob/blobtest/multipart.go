package blobtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"
	"testing"

	"github.com/wharfml/wharf/internal/blob"
)

func crc32cSum(b []byte) []byte {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write(b)
	return h.Sum(nil)
}

func createUpload(t *testing.T, s blob.Store, bkt, key string, attrs blob.Attrs, alg string) blob.Upload {
	t.Helper()
	up, err := s.CreateUpload(context.Background(), bkt, key, attrs, alg)
	if err != nil {
		t.Fatalf("CreateUpload(%q, %q): %v", bkt, key, err)
	}
	if up.ID == "" || up.Bucket != bkt || up.Key != key || up.ChecksumAlgorithm != alg {
		t.Fatalf("CreateUpload = %+v", up)
	}
	recent(t, "CreateUpload", up.Initiated)
	return up
}

func putPart(t *testing.T, s blob.Store, up blob.Upload, n int, b []byte, opts blob.PutOptions) blob.PartInfo {
	t.Helper()
	p, err := s.PutPart(context.Background(), up.Bucket, up.Key, up.ID, n, bytes.NewReader(b), opts)
	if err != nil {
		t.Fatalf("PutPart(%d): %v", n, err)
	}
	if p.Number != n || p.Size != int64(len(b)) || p.ETag != md5hex(b) {
		t.Fatalf("PutPart(%d) = %+v; want size %d, ETag %s", n, p, len(b), md5hex(b))
	}
	return p
}

func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts))
}

func testMultipart(t *testing.T, s blob.Store) {
	ctx := context.Background()
	attrs := blob.Attrs{ContentType: "application/octet-stream", Metadata: map[string]string{"job": "train-42"}}
	up := createUpload(t, s, bucket, "big/model.bin", attrs, blob.CRC32C)
	got, err := s.GetUpload(ctx, bucket, "big/model.bin", up.ID)
	if err != nil || got.ID != up.ID || got.ChecksumAlgorithm != blob.CRC32C {
		t.Fatalf("GetUpload = %+v, %v", got, err)
	}
	sameAttrs(t, "GetUpload", got.Attrs, attrs)

	p1, p2, p3 := data(blob.MinPartSize, 11), data(blob.MinPartSize+1, 12), data(1234, 13)
	// Parts may arrive in any order; the upload's algorithm is computed.
	i2 := putPart(t, s, up, 2, p2, blob.PutOptions{Size: int64(len(p2))})
	i1 := putPart(t, s, up, 1, p1, blob.PutOptions{Size: -1})
	c3 := base64.StdEncoding.EncodeToString(crc32cSum(p3))
	i3 := putPart(t, s, up, 3, p3, blob.PutOptions{Size: int64(len(p3)), Checksums: map[string]string{blob.CRC32C: c3}})
	for i, p := range []struct {
		info blob.PartInfo
		data []byte
	}{{i1, p1}, {i2, p2}, {i3, p3}} {
		if want := base64.StdEncoding.EncodeToString(crc32cSum(p.data)); p.info.Checksums[blob.CRC32C] != want {
			t.Fatalf("part %d CRC32C %q; want %q", i+1, p.info.Checksums[blob.CRC32C], want)
		}
	}
	parts, more, err := s.ListParts(ctx, bucket, up.Key, up.ID, 0, 0)
	if err != nil || more || len(parts) != 3 {
		t.Fatalf("ListParts = %+v, %v, %v", parts, more, err)
	}
	for i, p := range parts {
		want := []blob.PartInfo{i1, i2, i3}[i]
		if p.Number != i+1 || p.Size != want.Size || p.ETag != want.ETag || p.Checksums[blob.CRC32C] != want.Checksums[blob.CRC32C] {
			t.Fatalf("ListParts[%d] = %+v; want %+v", i, p, want)
		}
		recent(t, "ListParts", p.ModTime)
	}
	ups, err := s.ListUploads(ctx, bucket, "")
	if err != nil || len(ups) != 1 || ups[0].ID != up.ID || ups[0].Key != up.Key {
		t.Fatalf("ListUploads = %+v, %v", ups, err)
	}
	mustBeAbsent(t, s, bucket, up.Key)

	info, err := s.CompleteUpload(ctx, bucket, up.Key, up.ID, []blob.CompletedPart{
		{Number: 1, ETag: `"` + i1.ETag + `"`}, {Number: 2, ETag: i2.ETag}, {Number: 3, ETag: i3.ETag},
	})
	if err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	whole := bytes.Join([][]byte{p1, p2, p3}, nil)
	etag := multipartETag(p1, p2, p3)
	var cat []byte
	for _, p := range [][]byte{p1, p2, p3} {
		cat = append(cat, crc32cSum(p)...)
	}
	composite := base64.StdEncoding.EncodeToString(crc32cSum(cat)) + "-3"
	check := func(what string, info blob.ObjectInfo) {
		t.Helper()
		if info.Size != int64(len(whole)) || info.ETag != etag || info.PartCount != 3 || info.Key != up.Key {
			t.Fatalf("%s = %+v; want size %d, ETag %s, 3 parts", what, info, len(whole), etag)
		}
		if info.Checksums[blob.CRC32C] != composite {
			t.Fatalf("%s CRC32C %q; want %q", what, info.Checksums[blob.CRC32C], composite)
		}
		sameAttrs(t, what, info.Attrs, attrs)
	}
	check("CompleteUpload", info)
	h, err := s.Head(ctx, bucket, up.Key)
	if err != nil {
		t.Fatal(err)
	}
	check("Head", h)
	b, g := get(t, s, bucket, up.Key, nil)
	if !bytes.Equal(b, whole) {
		t.Fatal("completed object does not hold the parts' data")
	}
	check("Get", g)
	// A range across the boundary of parts 1 and 2.
	b, _ = get(t, s, bucket, up.Key, &blob.Range{Start: blob.MinPartSize - 10, Length: 20})
	if !bytes.Equal(b, whole[blob.MinPartSize-10:blob.MinPartSize+10]) {
		t.Fatal("range across parts")
	}

	if _, err := s.GetUpload(ctx, bucket, up.Key, up.ID); !isNotFound(err) {
		t.Fatalf("GetUpload after completion: %v", err)
	}
	if ups, err := s.ListUploads(ctx, bucket, ""); err != nil || len(ups) != 0 {
		t.Fatalf("ListUploads after completion = %+v, %v", ups, err)
	}
	// A completed upload cannot be used again.
	if _, err := s.PutPart(ctx, bucket, up.Key, up.ID, 1, bytes.NewReader(p3), blob.PutOptions{Size: -1}); !isNotFound(err) {
		t.Fatalf("PutPart after completion: %v", err)
	}
	if keys := listAll(t, s, bucket); !reflect.DeepEqual(keys, []string{up.Key}) {
		t.Fatalf("keys %q", keys)
	}

	// Completion replaces an existing object.
	up2 := createUpload(t, s, bucket, up.Key, blob.Attrs{}, "")
	q := putPart(t, s, up2, 7, []byte("small"), blob.PutOptions{Size: 5})
	info, err = s.CompleteUpload(ctx, bucket, up.Key, up2.ID, []blob.CompletedPart{{Number: 7, ETag: q.ETag}})
	if err != nil || info.ETag != multipartETag([]byte("small")) || info.PartCount != 1 || len(info.Checksums) != 0 {
		t.Fatalf("CompleteUpload = %+v, %v", info, err)
	}
	mustContain(t, s, bucket, up.Key, []byte("small"))
}

func isNotFound(err error) bool { return errors.Is(err, blob.ErrNotFound) }

func testMultipartOverwrite(t *testing.T, s blob.Store) {
	ctx := context.Background()
	up := createUpload(t, s, bucket, "k", blob.Attrs{}, "")
	a, b := []byte("first version of part 1"), []byte("second version of part 1")
	pa := putPart(t, s, up, 1, a, blob.PutOptions{Size: -1})
	pb := putPart(t, s, up, 1, b, blob.PutOptions{Size: -1})
	parts, _, err := s.ListParts(ctx, bucket, "k", up.ID, 0, 0)
	if err != nil || len(parts) != 1 || parts[0].ETag != pb.ETag {
		t.Fatalf("ListParts after overwrite = %+v, %v", parts, err)
	}
	_, err = s.CompleteUpload(ctx, bucket, "k", up.ID, []blob.CompletedPart{{Number: 1, ETag: pa.ETag}})
	wantErr(t, "completing with the replaced part's ETag", err, blob.ErrInvalidPart)
	if _, err := s.CompleteUpload(ctx, bucket, "k", up.ID, []blob.CompletedPart{{Number: 1, ETag: pb.ETag}}); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, bucket, "k", b)
}

func testMultipartErrors(t *testing.T, s blob.Store) {
	ctx := context.Background()
	up := createUpload(t, s, bucket, "k", blob.Attrs{}, "")
	small := []byte("too small unless last")
	big := data(blob.MinPartSize, 21)
	p1 := putPart(t, s, up, 1, small, blob.PutOptions{Size: -1})
	p2 := putPart(t, s, up, 2, big, blob.PutOptions{Size: -1})
	last := []byte("the last part")
	p3 := putPart(t, s, up, 3, last, blob.PutOptions{Size: -1})
	complete := func(parts ...blob.CompletedPart) error {
		_, err := s.CompleteUpload(ctx, bucket, "k", up.ID, parts)
		return err
	}
	cp := func(n int, etag string) blob.CompletedPart { return blob.CompletedPart{Number: n, ETag: etag} }

	wantErr(t, "a part never uploaded", complete(cp(2, p2.ETag), cp(4, p3.ETag)), blob.ErrInvalidPart)
	wantErr(t, "a wrong ETag", complete(cp(2, p2.ETag), cp(3, p1.ETag)), blob.ErrInvalidPart)
	wantErr(t, "a malformed ETag", complete(cp(2, "nonsense"), cp(3, p3.ETag)), blob.ErrInvalidPart)
	wantErr(t, "descending parts", complete(cp(3, p3.ETag), cp(2, p2.ETag)), blob.ErrInvalidPartOrder)
	wantErr(t, "a repeated part", complete(cp(2, p2.ETag), cp(2, p2.ETag)), blob.ErrInvalidPartOrder)
	wantErr(t, "a small part before the last", complete(cp(1, p1.ETag), cp(2, p2.ETag), cp(3, p3.ETag)), blob.ErrEntityTooSmall)
	mustBeAbsent(t, s, bucket, "k")
	// Failed completions leave the upload usable; a subset of parts may be
	// completed, and a small last part is fine.
	if _, err := s.GetUpload(ctx, bucket, "k", up.ID); err != nil {
		t.Fatalf("upload gone after failed completions: %v", err)
	}
	if err := complete(cp(2, p2.ETag), cp(3, p3.ETag)); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, bucket, "k", append(append([]byte(nil), big...), last...))
	info, _ := s.Head(ctx, bucket, "k")
	if info.ETag != multipartETag(big, last) || info.PartCount != 2 {
		t.Fatalf("Head = %+v", info)
	}
}

func testMultipartPartChecks(t *testing.T, s blob.Store) {
	ctx := context.Background()
	up := createUpload(t, s, bucket, "k", blob.Attrs{}, blob.SHA256)
	b := []byte("hello world")
	p := func(n int, opts blob.PutOptions) error {
		_, err := s.PutPart(ctx, bucket, "k", up.ID, n, bytes.NewReader(b), opts)
		return err
	}
	wantErr(t, "part number 0", p(0, blob.PutOptions{Size: -1}), blob.ErrInvalidArgument)
	wantErr(t, "part number 10001", p(10001, blob.PutOptions{Size: -1}), blob.ErrInvalidArgument)
	wantErr(t, "part size mismatch", p(1, blob.PutOptions{Size: 12}), io.ErrUnexpectedEOF)
	bad := md5.Sum([]byte("other"))
	wantErr(t, "part Content-MD5 mismatch", p(1, blob.PutOptions{Size: -1, ContentMD5: bad[:]}), blob.ErrBadDigest)
	wrong := base64.StdEncoding.EncodeToString(make([]byte, 32))
	wantErr(t, "part checksum mismatch", p(1, blob.PutOptions{Size: -1, Checksums: map[string]string{blob.SHA256: wrong}}), blob.ErrBadDigest)
	if parts, _, err := s.ListParts(ctx, bucket, "k", up.ID, 0, 0); err != nil || len(parts) != 0 {
		t.Fatalf("failed parts are listed: %+v, %v", parts, err)
	}
	if err := p(10000, blob.PutOptions{Size: -1, Checksums: map[string]string{blob.SHA256: helloSums[blob.SHA256]}}); err != nil {
		t.Fatal(err)
	}
	parts, _, err := s.ListParts(ctx, bucket, "k", up.ID, 0, 0)
	if err != nil || len(parts) != 1 || parts[0].Number != 10000 || parts[0].Checksums[blob.SHA256] != helloSums[blob.SHA256] {
		t.Fatalf("ListParts = %+v, %v", parts, err)
	}
	_, err = s.CreateUpload(ctx, bucket, "k2", blob.Attrs{}, "MD4")
	wantErr(t, "CreateUpload with an unknown algorithm", err, blob.ErrInvalidArgument)
	if err := s.AbortUpload(ctx, bucket, "k", up.ID); err != nil {
		t.Fatal(err)
	}
}

func testMultipartAbort(t *testing.T, s blob.Store) {
	ctx := context.Background()
	old := []byte("existing object")
	put(t, s, bucket, "k", old, sized(old))
	up := createUpload(t, s, bucket, "k", blob.Attrs{}, "")
	p := putPart(t, s, up, 1, []byte("part"), blob.PutOptions{Size: -1})
	if err := s.AbortUpload(ctx, bucket, "k", up.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUpload(ctx, bucket, "k", up.ID); !isNotFound(err) {
		t.Fatalf("GetUpload after abort: %v", err)
	}
	if _, err := s.PutPart(ctx, bucket, "k", up.ID, 2, bytes.NewReader(old), blob.PutOptions{Size: -1}); !isNotFound(err) {
		t.Fatalf("PutPart after abort: %v", err)
	}
	if _, _, err := s.ListParts(ctx, bucket, "k", up.ID, 0, 0); !isNotFound(err) {
		t.Fatalf("ListParts after abort: %v", err)
	}
	if _, err := s.CompleteUpload(ctx, bucket, "k", up.ID, []blob.CompletedPart{{Number: 1, ETag: p.ETag}}); !isNotFound(err) {
		t.Fatalf("CompleteUpload after abort: %v", err)
	}
	if err := s.AbortUpload(ctx, bucket, "k", up.ID); !isNotFound(err) {
		t.Fatalf("AbortUpload after abort: %v", err)
	}
	if ups, err := s.ListUploads(ctx, bucket, ""); err != nil || len(ups) != 0 {
		t.Fatalf("ListUploads after abort = %+v, %v", ups, err)
	}
	mustContain(t, s, bucket, "k", old)
}

func testListParts(t *testing.T, s blob.Store) {
	ctx := context.Background()
	up := createUpload(t, s, bucket, "k", blob.Attrs{}, "")
	nums := []int{1, 2, 3, 5, 8, 13, 21}
	for _, n := range nums {
		b := []byte(fmt.Sprintf("part %d", n))
		putPart(t, s, up, n, b, blob.PutOptions{Size: int64(len(b))})
	}
	for _, max := range []int{1, 2, 3, 7, 100} {
		var got []int
		after := 0
		for pages := 0; ; pages++ {
			parts, more, err := s.ListParts(ctx, bucket, "k", up.ID, after, max)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) > max || (more && len(parts) != max) {
				t.Fatalf("ListParts(after %d, max %d) returned %d parts, more=%v", after, max, len(parts), more)
			}
			for _, p := range parts {
				if want := []byte(fmt.Sprintf("part %d", p.Number)); p.ETag != md5hex(want) || p.Size != int64(len(want)) {
					t.Fatalf("part %+v", p)
				}
				got = append(got, p.Number)
			}
			if !more {
				break
			}
			after = parts[len(parts)-1].Number
			if pages > len(nums) {
				t.Fatal("ListParts paging does not end")
			}
		}
		if !reflect.DeepEqual(got, nums) {
			t.Fatalf("ListParts max %d: %v; want %v", max, got, nums)
		}
	}
	parts, more, err := s.ListParts(ctx, bucket, "k", up.ID, 5, 2)
	if err != nil || more != true || len(parts) != 2 || parts[0].Number != 8 || parts[1].Number != 13 {
		t.Fatalf("ListParts(after 5, max 2) = %+v, %v, %v", parts, more, err)
	}
	parts, more, err = s.ListParts(ctx, bucket, "k", up.ID, 21, 0)
	if err != nil || more || len(parts) != 0 {
		t.Fatalf("ListParts(after 21) = %+v, %v, %v", parts, more, err)
	}
}

func testListUploads(t *testing.T, s blob.Store) {
	ctx := context.Background()
	var ids []string
	for _, k := range []string{"x/2", "x/1", "y", "x/1", "x0", "日本"} {
		up := createUpload(t, s, bucket, k, blob.Attrs{Metadata: map[string]string{"n": fmt.Sprint(len(ids))}}, "")
		ids = append(ids, up.ID)
	}
	createUpload(t, s, "elsewhere", "x/3", blob.Attrs{}, "")
	check := func(prefix string, wantKeys []string) []blob.Upload {
		t.Helper()
		ups, err := s.ListUploads(ctx, bucket, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for i, u := range ups {
			keys = append(keys, u.Key)
			if u.Bucket != bucket {
				t.Fatalf("ListUploads returned %+v", u)
			}
			if i > 0 && u.Key == ups[i-1].Key && u.Initiated.Before(ups[i-1].Initiated) {
				t.Fatalf("uploads of %q not in initiation order", u.Key)
			}
		}
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Fatalf("ListUploads(%q) keys %q; want %q", prefix, keys, wantKeys)
		}
		return ups
	}
	all := check("", []string{"x/1", "x/1", "x/2", "x0", "y", "日本"})
	got := map[string]bool{}
	for _, u := range all {
		got[u.ID] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Fatalf("upload %s not listed", id)
		}
	}
	x1 := check("x/1", []string{"x/1", "x/1"})
	if !(x1[0].ID == ids[1] && x1[1].ID == ids[3]) && !x1[0].Initiated.Equal(x1[1].Initiated) {
		t.Fatalf("uploads of x/1 not in initiation order")
	}
	check("x/", []string{"x/1", "x/1", "x/2"})
	check("x", []string{"x/1", "x/1", "x/2", "x0"})
	check("日", []string{"日本"})
	check("z", nil)
}

func testUploadScope(t *testing.T, s blob.Store) {
	ctx := context.Background()
	up := createUpload(t, s, bucket, "mine", blob.Attrs{}, "")
	p := putPart(t, s, up, 1, []byte("data"), blob.PutOptions{Size: -1})
	for _, c := range []struct{ bkt, key, id string }{
		{bucket, "other", up.ID},
		{"other", "mine", up.ID},
		{bucket, "mine/", up.ID},
		{bucket, "mine", ""},
		{bucket, "mine", "nonexistent"},
		{bucket, "mine", "../" + up.ID},
		{bucket, "mine", up.ID + "/../" + up.ID},
		{bucket, "mine", "../../../../etc"},
	} {
		what := fmt.Sprintf("%s/%s upload %q", c.bkt, c.key, c.id)
		_, err := s.GetUpload(ctx, c.bkt, c.key, c.id)
		wantErr(t, "GetUpload "+what, err, blob.ErrNotFound)
		_, err = s.PutPart(ctx, c.bkt, c.key, c.id, 2, bytes.NewReader([]byte("x")), blob.PutOptions{Size: 1})
		wantErr(t, "PutPart "+what, err, blob.ErrNotFound)
		_, _, err = s.ListParts(ctx, c.bkt, c.key, c.id, 0, 0)
		wantErr(t, "ListParts "+what, err, blob.ErrNotFound)
		_, err = s.CompleteUpload(ctx, c.bkt, c.key, c.id, []blob.CompletedPart{{Number: 1, ETag: p.ETag}})
		wantErr(t, "CompleteUpload "+what, err, blob.ErrNotFound)
		wantErr(t, "AbortUpload "+what, s.AbortUpload(ctx, c.bkt, c.key, c.id), blob.ErrNotFound)
		mustBeAbsent(t, s, c.bkt, c.key)
	}
	if ups, err := s.ListUploads(ctx, "other", ""); err != nil || len(ups) != 0 {
		t.Fatalf("ListUploads(other) = %+v, %v", ups, err)
	}
	parts, _, err := s.ListParts(ctx, bucket, "mine", up.ID, 0, 0)
	if err != nil || len(parts) != 1 {
		t.Fatalf("the upload was damaged through another name: %+v, %v", parts, err)
	}
	if _, err := s.CompleteUpload(ctx, bucket, "mine", up.ID, []blob.CompletedPart{{Number: 1, ETag: p.ETag}}); err != nil {
		t.Fatal(err)
	}
	mustContain(t, s, bucket, "mine", []byte("data"))
}
