package contract

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseS3URI(t *testing.T) {
	for _, tc := range []struct{ uri, bucket, key, err string }{
		{"s3://b/data/train/", "b", "data/train/", ""},
		{"s3://b", "b", "", ""},
		{"s3://b/", "b", "", ""},
		{"s3://b/a//b", "b", "a//b", ""},
		{"https://b/k", "", "", "must start with s3://"},
		{"s3:///k", "", "", "missing bucket"},
		{"", "", "", "must start with s3://"},
	} {
		b, k, err := ParseS3URI(tc.uri)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseS3URI(%q) error = %v, want %q", tc.uri, err, tc.err)
			}
			continue
		}
		if err != nil || b != tc.bucket || k != tc.key {
			t.Errorf("ParseS3URI(%q) = %q, %q, %v", tc.uri, b, k, err)
		}
	}
}

func TestOutputKeys(t *testing.T) {
	for _, p := range []string{"s3://out/models", "s3://out/models/"} {
		b, m, o, pre, err := OutputKeys(p, "job-1")
		if err != nil || b != "out" || m != "models/job-1/output/model.tar.gz" || o != "models/job-1/output/output.tar.gz" || pre != "models/job-1/output/model/" {
			t.Errorf("OutputKeys(%q) = %q %q %q %q %v", p, b, m, o, pre, err)
		}
	}
	if _, m, _, _, err := OutputKeys("s3://out", "j"); err != nil || m != "j/output/model.tar.gz" {
		t.Errorf("bucket root: %q %v", m, err)
	}
}

func TestRelativePath(t *testing.T) {
	for _, tc := range []struct{ uriKey, key, rel string }{
		{"data/train/", "data/train/a/x.csv", "a/x.csv"},
		{"data/tr", "data/train.csv", "train.csv"},
		{"data/tr", "data/train/x.csv", "train/x.csv"},
		{"data/train.csv", "data/train.csv", "train.csv"}, // a URI naming one object
		{"", "top.csv", "top.csv"},
		{"x", "x/y", "x/y"},
	} {
		rel, err := RelativePath(tc.uriKey, tc.key)
		if err != nil || rel != tc.rel {
			t.Errorf("RelativePath(%q, %q) = %q, %v; want %q", tc.uriKey, tc.key, rel, err, tc.rel)
		}
	}
	for _, tc := range []struct{ uriKey, key string }{
		{"data/", "data/../etc/passwd"},
		{"data/", "data/a/../../x"},
		{"data/", "data/.."},
		{"data/", "data//abs"},
		{"data/", "data/./x"},
		{"data/", "data/"},
		{"data/", "other/x"},
		{"data/", "data/" + strings.Repeat("n", 256)},
	} {
		if _, err := RelativePath(tc.uriKey, tc.key); err == nil || !strings.HasPrefix(err.Error(), "ClientError: ") {
			t.Errorf("RelativePath(%q, %q) error = %v, want ClientError", tc.uriKey, tc.key, err)
		}
	}
}

func FuzzRelativePath(f *testing.F) {
	f.Add("data/train/", "data/train/a/x.csv")
	f.Add("data/tr", "data/train.csv")
	f.Add("data/", "data/../../x")
	f.Add("", "/abs")
	f.Add("a/", "a/b/./c")
	f.Fuzz(func(t *testing.T, uriKey, key string) {
		rel, err := RelativePath(uriKey, key)
		if err != nil {
			if !IsClientError(err) {
				t.Fatalf("non-ClientError %v", err)
			}
			return
		}
		if !filepath.IsLocal(rel) || filepath.Clean(rel) != rel || !strings.HasSuffix(key, rel) {
			t.Fatalf("RelativePath(%q, %q) = %q: not a clean local path", uriKey, key, rel)
		}
		base := "/base/chan"
		if j := filepath.Join(base, rel); !strings.HasPrefix(j, base+"/") {
			t.Fatalf("RelativePath(%q, %q) = %q escapes to %q", uriKey, key, rel, j)
		}
	})
}

func relPaths(objs []ChannelObject) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.RelPath)
	}
	return out
}

func TestResolveChannelPrefix(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	for _, k := range []string{"data/train/a.csv", "data/train/sub/", "data/train/sub/b.csv", "data/train.csv", "data/train2/c.csv", "data/other.csv"} {
		s.put(t, "b", k, []byte(k))
	}
	resolve := func(uri string) ([]ChannelObject, error) {
		return ResolveChannel(ctx, s, Channel{Name: "train", S3Uri: uri}, 1, 1)
	}
	objs, err := resolve("s3://b/data/train/")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := relPaths(objs), []string{"a.csv", "sub/b.csv"}; !reflect.DeepEqual(got, want) {
		t.Errorf("prefix with slash: %q, want %q", got, want)
	}
	if objs[1].Key != "data/train/sub/b.csv" || objs[1].Size != int64(len("data/train/sub/b.csv")) || objs[1].Bucket != "b" {
		t.Errorf("object: %+v", objs[1])
	}
	objs, err = resolve("s3://b/data/tr")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := relPaths(objs), []string{"train.csv", "train/a.csv", "train/sub/b.csv", "train2/c.csv"}; !reflect.DeepEqual(got, want) {
		t.Errorf("partial prefix: %q, want %q", got, want)
	}
	objs, err = resolve("s3://b/data/other.csv")
	if err != nil || !reflect.DeepEqual(relPaths(objs), []string{"other.csv"}) {
		t.Errorf("single object: %q, %v", relPaths(objs), err)
	}

	_, err = resolve("s3://b/nothing/")
	wantClientError(t, err, `No S3 objects found under S3 URL "s3://b/nothing/"`)
	_, err = resolve("s3://missing/data/")
	wantClientError(t, err, "not found")
	s.denied["secret"] = true
	_, err = resolve("s3://secret/data/")
	wantClientError(t, err, "access denied")

	s.put(t, "b", "evil/../../etc/passwd", []byte("x"))
	_, err = resolve("s3://b/evil/")
	wantClientError(t, err, `unsafe object key "evil/../../etc/passwd"`)
	s.put(t, "b", "dup/a", []byte("x"))
	s.put(t, "b", "dup/a/b", []byte("x"))
	_, err = resolve("s3://b/dup/")
	wantClientError(t, err, "also an object")
	// Pipe mode has no files, so the clash does not matter there.
	if _, err := ResolveChannel(ctx, s, Channel{Name: "train", S3Uri: "s3://b/dup/", InputMode: ModePipe}, 1, 1); err != nil {
		t.Errorf("pipe with file/dir clash: %v", err)
	}

	for _, ch := range []Channel{
		{Name: "..", S3Uri: "s3://b/data/"},
		{Name: "a/b", S3Uri: "s3://b/data/"},
		{Name: "t", S3Uri: "s3://b/data/", CompressionType: CompressionGzip},
		{Name: "t", S3Uri: "s3://b/data/", InputMode: ModeFastFile, S3DataType: ManifestFile},
		{Name: "t", S3Uri: "b/data/"},
		{Name: "t", S3Uri: "s3://b/data/", Distribution: "Random"},
	} {
		if _, err := ResolveChannel(ctx, s, ch, 1, 1); err == nil {
			t.Errorf("channel %+v accepted", ch)
		}
	}
}

func TestResolveChannelManifest(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	s.put(t, "data", "p/x/1.csv", []byte("one"))
	s.put(t, "data", "p/2.csv", []byte("two!"))
	s.put(t, "data", "p/3.csv", []byte("three"))
	manifest := func(key, body string) Channel {
		s.put(t, "meta", key, []byte(body))
		return Channel{Name: "train", S3DataType: ManifestFile, S3Uri: "s3://meta/" + key}
	}
	ch := manifest("good.json", `[{"prefix": "s3://data/p/"}, "x/1.csv", "3.csv", "2.csv", "3.csv", "dir/"]`)
	objs, err := ResolveChannel(ctx, s, ch, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []ChannelObject{
		{Bucket: "data", Key: "p/2.csv", RelPath: "2.csv", Size: 4},
		{Bucket: "data", Key: "p/3.csv", RelPath: "3.csv", Size: 5},
		{Bucket: "data", Key: "p/x/1.csv", RelPath: "x/1.csv", Size: 3},
	}
	if !reflect.DeepEqual(objs, want) {
		t.Errorf("manifest objects = %+v, want %+v", objs, want)
	}
	dir := t.TempDir()
	if _, err := StageFile(ctx, s, objs, dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "x/1.csv")); string(b) != "one" {
		t.Errorf("staged x/1.csv = %q", b)
	}

	for _, tc := range []struct{ name, body, want string }{
		{"notjson.json", `{"prefix": "s3://data/p/"}`, "invalid manifest s3://meta/notjson.json"},
		{"garbage.json", `[{"prefix": `, "invalid manifest"},
		{"noprefix.json", `["x/1.csv"]`, "first element must be"},
		{"empty.json", `[]`, "first element must be"},
		{"badprefix.json", `[{"prefix": "data/p/"}, "2.csv"]`, "must start with s3://"},
		{"nonstring.json", `[{"prefix": "s3://data/p/"}, 7]`, "element 1 is not a string"},
		{"dotdot.json", `[{"prefix": "s3://data/p/"}, "../secret"]`, `unsafe path "../secret"`},
		{"abs.json", `[{"prefix": "s3://data/p/"}, "/etc/passwd"]`, "unsafe path"},
		{"missing.json", `[{"prefix": "s3://data/p/"}, "nope.csv"]`, "object s3://data/p/nope.csv listed in manifest s3://meta/missing.json not found"},
		{"nobucket.json", `[{"prefix": "s3://gone/p/"}, "2.csv"]`, "not found"},
		{"only.json", `[{"prefix": "s3://data/p/"}]`, "No S3 objects found"},
	} {
		_, err := ResolveChannel(ctx, s, manifest(tc.name, tc.body), 1, 1)
		wantClientError(t, err, tc.want)
	}
	_, err = ResolveChannel(ctx, s, Channel{Name: "train", S3DataType: ManifestFile, S3Uri: "s3://meta/absent.json"}, 1, 1)
	wantClientError(t, err, "manifest s3://meta/absent.json not found")
}

func TestShardedByS3Key(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	var keys []string
	for i := range 7 {
		k := fmt.Sprintf("in/%02d.rec", 6-i) // stored out of order
		keys = append(keys, k)
		s.put(t, "b", k, []byte(k))
	}
	slices.Sort(keys)
	ch := Channel{Name: "train", S3Uri: "s3://b/in/", Distribution: ShardedByS3Key}
	seen := map[string]int{}
	for host := 1; host <= 3; host++ {
		objs, err := ResolveChannel(ctx, s, ch, host, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			seen[o.Key]++
			if i := slices.Index(keys, o.Key); i%3+1 != host {
				t.Errorf("object %d (%s) on host %d, want %d", i, o.Key, host, i%3+1)
			}
		}
	}
	for _, k := range keys {
		if seen[k] != 1 {
			t.Errorf("%s delivered %d times", k, seen[k])
		}
	}
	if objs, _ := ResolveChannel(ctx, s, Channel{Name: "train", S3Uri: "s3://b/in/"}, 2, 3); len(objs) != 7 {
		t.Errorf("FullyReplicated gave %d objects", len(objs))
	}

	// Two objects on three hosts: host 3 gets an empty channel directory.
	s.put(t, "b", "two/a", []byte("a"))
	s.put(t, "b", "two/b", []byte("b"))
	ch = Channel{Name: "train", S3Uri: "s3://b/two/", Distribution: ShardedByS3Key}
	for host := 1; host <= 3; host++ {
		objs, err := ResolveChannel(ctx, s, ch, host, 3)
		if err != nil {
			t.Fatal(err)
		}
		paths, err := PrepareHost(filepath.Join(t.TempDir(), "h"), HostConfig{Channels: []Channel{ch}, Hosts: []string{"algo-1", "algo-2", "algo-3"}, CurrentHost: fmt.Sprintf("algo-%d", host)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := StageFile(ctx, s, objs, paths.ChannelDir("train")); err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(paths.ChannelDir("train"))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int]int{1: 1, 2: 1, 3: 0}[host]; len(ents) != want {
			t.Errorf("host %d has %d files, want %d", host, len(ents), want)
		}
	}
	if _, err := ResolveChannel(ctx, s, ch, 4, 3); err == nil {
		t.Error("host 4 of 3 accepted")
	}
}

func TestStageFile(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string][]byte{}
	for _, rel := range []string{"a.bin", "deep/er/b.bin", "deep/c.bin", "empty"} {
		data := make([]byte, rng.IntN(300<<10))
		if rel == "empty" {
			data = nil
		}
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		want[rel] = data
		s.put(t, "b", "ds/"+rel, data)
	}
	objs, err := ResolveChannel(ctx, s, Channel{Name: "c", S3Uri: "s3://b/ds/"}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "c")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	n, err := StageFile(ctx, s, objs, dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for rel, data := range want {
		total += int64(len(data))
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", rel, len(got), err, len(data))
		}
		st, _ := os.Lstat(filepath.Join(dir, rel))
		if st.Mode() != 0o666 {
			t.Errorf("%s mode %v, want inherited 0666", rel, st.Mode())
		}
	}
	if st, _ := os.Lstat(filepath.Join(dir, "deep/er")); st.Mode().Perm() != 0o777 {
		t.Errorf("created dir mode %v, want 0777", st.Mode())
	}
	if n != total {
		t.Errorf("StageFile copied %d bytes, want %d", n, total)
	}

	// A symlink planted where a directory goes is not followed.
	dir2 := t.TempDir()
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(dir2, "deep"))
	if _, err := StageFile(ctx, s, objs, dir2); err == nil {
		t.Error("staged through a symlink")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote outside: %v", ents)
	}

	// An object that changed since the listing fails the job.
	s.put(t, "b", "ds/a.bin", []byte("short"))
	_, err = StageFile(ctx, s, objs, t.TempDir())
	wantClientError(t, err, "changed while staging")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := StageFile(cctx, s, objs, t.TempDir()); err != context.Canceled {
		t.Errorf("cancelled StageFile: %v", err)
	}
}
