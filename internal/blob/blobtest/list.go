package blobtest

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/wharfml/wharf/internal/blob"
)

// listKeys are chosen so that byte order differs from UTF-16 and from
// case-insensitive order, and delimiters occur at many places.
var listKeys = []string{
	"a", "a-", "a/", "a/b", "a/b/c", "a/b/d", "a/c", "a0", "a//x", "A",
	"ab--x", "ab--y--z", "ab/cd", "abab", "abba",
	"b/", "b//c", "b/c/", "c--d", "c--e--f", "c-d", "d",
	"\x7f", "é", "é/1", "éa", "日本/x", "日本/y", "日本語", "😀", "😀/z", "\uffff",
	"z/z/z", "zz",
}

// entry is one listing result: an object key or a common prefix.
type entry struct {
	name string
	cp   bool
}

// model computes the entries List must return for opts over keys, without
// paging.
func model(keys []string, opts blob.ListOptions) []entry {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted) // Go compares strings bytewise
	var out []entry
	seen := map[string]bool{}
	for _, k := range sorted {
		if !strings.HasPrefix(k, opts.Prefix) {
			continue
		}
		e := entry{name: k}
		if opts.Delimiter != "" {
			if i := strings.Index(k[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				e = entry{name: k[:len(opts.Prefix)+i+len(opts.Delimiter)], cp: true}
			}
		}
		if e.name <= opts.StartAfter || seen[e.name] {
			continue
		}
		seen[e.name] = true
		out = append(out, e)
	}
	return out
}

// entries merges a page's objects and common prefixes in order, checking
// that both are sorted.
func entries(t *testing.T, res blob.ListResult) []entry {
	t.Helper()
	var out []entry
	for _, o := range res.Objects {
		out = append(out, entry{name: o.Key})
	}
	for _, p := range res.CommonPrefixes {
		out = append(out, entry{name: p, cp: true})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	for i := 1; i < len(res.Objects); i++ {
		if res.Objects[i-1].Key >= res.Objects[i].Key {
			t.Fatalf("objects out of order: %q before %q", res.Objects[i-1].Key, res.Objects[i].Key)
		}
	}
	for i := 1; i < len(res.CommonPrefixes); i++ {
		if res.CommonPrefixes[i-1] >= res.CommonPrefixes[i] {
			t.Fatalf("common prefixes out of order: %q before %q", res.CommonPrefixes[i-1], res.CommonPrefixes[i])
		}
	}
	return out
}

func putKeys(t *testing.T, s blob.Store, bkt string, keys []string) {
	for _, k := range keys {
		b := []byte("data of " + k)
		put(t, s, bkt, k, b, sized(b))
	}
}

func testListOrder(t *testing.T, s blob.Store) {
	putKeys(t, s, bucket, listKeys)
	got := listAll(t, s, bucket)
	want := append([]string(nil), listKeys...)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List order\n got %q\nwant %q (byte order)", got, want)
	}
	res, err := s.List(context.Background(), bucket, blob.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		b := []byte("data of " + o.Key)
		if o.Size != int64(len(b)) || o.ETag != md5hex(b) || o.Bucket != bucket {
			t.Fatalf("listed %+v", o)
		}
		recent(t, "List", o.ModTime)
	}
}

var (
	// Only valid UTF-8 without NUL: option values an S3 request can carry.
	listPrefixes   = []string{"", "a", "a/", "a/b", "ab", "b", "c-", "é", "日本", "😀", "zz", "zzz", "\uffff", "A"}
	listDelimiters = []string{"", "/", "--", "-", "b", "é", "/z", "本"}
	listStarts     = []string{"", "a", "a/", "a/b", "a/b/c", "a0", "ab--", "b", "b/c", "c--", "é", "日本/x", "\x01", "zzz", "\uffff", "\U0010ffff"}
)

func checkPage(t *testing.T, what string, res blob.ListResult, want []entry, maxKeys int) {
	t.Helper()
	page := want
	truncated := false
	if len(page) > maxKeys {
		page, truncated = page[:maxKeys], true
	}
	got := entries(t, res)
	if len(got) == 0 && len(page) == 0 {
		got, page = nil, nil
	}
	if !reflect.DeepEqual(got, page) || res.IsTruncated != truncated {
		t.Fatalf("%s:\n got %v truncated=%v\nwant %v truncated=%v", what, got, res.IsTruncated, page, truncated)
	}
	if truncated && res.NextStartAfter != page[len(page)-1].name {
		t.Fatalf("%s: NextStartAfter %q; want %q", what, res.NextStartAfter, page[len(page)-1].name)
	}
}

// testListModel compares single pages with the model for many combinations.
func testListModel(t *testing.T, s blob.Store) {
	putKeys(t, s, bucket, listKeys)
	ctx := context.Background()
	for _, p := range listPrefixes {
		for _, d := range listDelimiters {
			for _, sa := range listStarts {
				opts := blob.ListOptions{Prefix: p, Delimiter: d, StartAfter: sa}
				res, err := s.List(ctx, bucket, opts)
				if err != nil {
					t.Fatalf("List(%+v): %v", opts, err)
				}
				checkPage(t, fmt.Sprintf("List(%q)", fmt.Sprintf("%+v", opts)), res, model(listKeys, opts), 1000)
			}
		}
	}
}

// testListPaging pages through with small MaxKeys and checks every entry
// comes exactly once, in order.
func testListPaging(t *testing.T, s blob.Store) {
	putKeys(t, s, bucket, listKeys)
	ctx := context.Background()
	for _, p := range listPrefixes {
		for _, d := range listDelimiters {
			for _, max := range []int{1, 2, 3, 7} {
				all := model(listKeys, blob.ListOptions{Prefix: p, Delimiter: d})
				var got []entry
				opts := blob.ListOptions{Prefix: p, Delimiter: d, MaxKeys: max}
				for pages := 0; ; pages++ {
					if pages > len(listKeys)+1 {
						t.Fatalf("paging %+v does not end", opts)
					}
					res, err := s.List(ctx, bucket, opts)
					if err != nil {
						t.Fatalf("List(%+v): %v", opts, err)
					}
					checkPage(t, fmt.Sprintf("page %d of List(%+v)", pages, opts), res, model(listKeys, opts), max)
					got = append(got, entries(t, res)...)
					if !res.IsTruncated {
						break
					}
					opts.StartAfter = res.NextStartAfter
				}
				if len(got) == 0 && len(all) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, all) {
					t.Fatalf("paging Prefix %q Delimiter %q MaxKeys %d:\n got %v\nwant %v", p, d, max, got, all)
				}
			}
		}
	}
	// MaxKeys <= 0 means 1000.
	res, err := s.List(ctx, bucket, blob.ListOptions{MaxKeys: -1})
	if err != nil || len(res.Objects) != len(listKeys) || res.IsTruncated {
		t.Fatalf("List(MaxKeys -1) = %d objects, truncated %v, %v", len(res.Objects), res.IsTruncated, err)
	}
}

func testListBuckets(t *testing.T, s blob.Store) {
	putKeys(t, s, "one", []string{"a", "b/c"})
	putKeys(t, s, "two", []string{"b/d", "e"})
	putKeys(t, s, "one-two", []string{"x"})
	for bkt, want := range map[string][]string{"one": {"a", "b/c"}, "two": {"b/d", "e"}, "one-two": {"x"}, "three": nil} {
		if got := listAll(t, s, bkt); !reflect.DeepEqual(got, want) {
			t.Fatalf("bucket %s lists %q; want %q", bkt, got, want)
		}
	}
	res, err := s.List(context.Background(), "one", blob.ListOptions{Delimiter: "/"})
	if err != nil || !reflect.DeepEqual(res.CommonPrefixes, []string{"b/"}) || len(res.Objects) != 1 {
		t.Fatalf("List(one, /) = %+v, %v", res, err)
	}
}
