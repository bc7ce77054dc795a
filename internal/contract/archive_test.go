package contract

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// writeTree creates files (path → content) under dir; content "->target"
// makes a symlink.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

type tarItem struct {
	typ          byte
	body, target string
}

func readTarGz(t *testing.T, data []byte) ([]string, map[string]tarItem) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	items := map[string]tarItem{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, hdr.Name)
		items[hdr.Name] = tarItem{hdr.Typeflag, string(b), hdr.Linkname}
	}
	return names, items
}

func TestPackTarGz(t *testing.T) {
	ctx := context.Background()
	h1, h2 := t.TempDir(), t.TempDir()
	writeTree(t, h1, map[string]string{
		"a.txt":        "one",
		"sub/x":        "x1",
		"sub/deep/z":   "z",
		"link":         "->sub/x",
		"sub/up":       "->../a.txt",
		"bad":          "->../../etc/passwd",
		"abs":          "->/etc/passwd",
		"sneaky":       "->sub/../../x",
		"c/d":          "under c",
		"model-b/file": "b",
	})
	if err := syscall.Mkfifo(filepath.Join(h1, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTree(t, h2, map[string]string{
		"a.txt": "two",
		"sub/y": "y2",
		"c":     "c is a file now",
	})
	var buf bytes.Buffer
	skipped, err := PackTarGz(ctx, &buf, h1, h2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"abs", "bad", "c/d", "pipe", "sneaky"}; !reflect.DeepEqual(skipped, want) {
		t.Errorf("skipped = %q, want %q", skipped, want)
	}
	names, items := readTarGz(t, buf.Bytes())
	wantNames := []string{"a.txt", "c", "link", "model-b/", "model-b/file", "sub/", "sub/deep/", "sub/deep/z", "sub/up", "sub/x", "sub/y"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("names = %q\nwant %q", names, wantNames)
	}
	for name, want := range map[string]tarItem{
		"a.txt":  {tar.TypeReg, "two", ""},
		"c":      {tar.TypeReg, "c is a file now", ""},
		"sub/x":  {tar.TypeReg, "x1", ""},
		"sub/y":  {tar.TypeReg, "y2", ""},
		"link":   {tar.TypeSymlink, "", "sub/x"},
		"sub/up": {tar.TypeSymlink, "", "../a.txt"},
		"sub/":   {tar.TypeDir, "", ""},
	} {
		if items[name] != want {
			t.Errorf("%s = %+v, want %+v", name, items[name], want)
		}
	}
	var again bytes.Buffer
	if _, err := PackTarGz(ctx, &again, h1, h2); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("packing is not deterministic (%v)", err)
	}

	// What PackTarGz makes, ExtractTarGz accepts.
	dst := filepath.Join(t.TempDir(), "model")
	if err := ExtractTarGz(ctx, bytes.NewReader(buf.Bytes()), dst, 1<<20); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "sub/up")); string(b) != "two" {
		t.Errorf("extracted sub/up -> %q", b)
	}

	// An empty tree still gives a valid archive.
	buf.Reset()
	if _, err := PackTarGz(ctx, &buf, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if names, _ := readTarGz(t, buf.Bytes()); len(names) != 0 {
		t.Errorf("empty tree: %q", names)
	}
	if _, err := PackTarGz(ctx, &buf, filepath.Join(h1, "missing")); err == nil {
		t.Error("missing dir accepted")
	}
}

func TestUploadDirFiles(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	s.put(t, "out", "marker", nil)
	h1, h2 := t.TempDir(), t.TempDir()
	writeTree(t, h1, map[string]string{"m.bin": "1", "d/w": "w1", "l": "->m.bin"})
	writeTree(t, h2, map[string]string{"d/w": "w2", "e/f": "f"})
	os.Mkdir(filepath.Join(h2, "empty"), 0o755)
	skipped, err := UploadDirFiles(ctx, s, "out", "job/output/model/", h1, h2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(skipped, []string{"l"}) {
		t.Errorf("skipped = %q", skipped)
	}
	for k, want := range map[string]string{"job/output/model/m.bin": "1", "job/output/model/d/w": "w2", "job/output/model/e/f": "f"} {
		if got := string(s.get(t, "out", k)); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestExtractTarGzAccepts(t *testing.T) {
	data := makeTar(t, false, // plain tar works too
		tarEntry{name: "./model.json", body: `{"k": 1}`},
		tarEntry{name: "./weights/w.bin", body: "weights"},
		tarEntry{name: "./weights/hard", typ: tar.TypeLink, link: "./weights/w.bin"},
		tarEntry{name: "./weights/current", typ: tar.TypeSymlink, link: "w.bin"},
		tarEntry{name: "./weights/up", typ: tar.TypeSymlink, link: "../model.json"},
		tarEntry{name: "./model.json", body: `{"k": 2}`}, // a later copy replaces it
	)
	dst := filepath.Join(t.TempDir(), "m")
	if err := ExtractTarGz(context.Background(), bytes.NewReader(data), dst, 1<<20); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"model.json": `{"k": 2}`, "weights/hard": "weights", "weights/current": "weights", "weights/up": `{"k": 2}`} {
		if b, err := os.ReadFile(filepath.Join(dst, rel)); string(b) != want {
			t.Errorf("%s = %q, %v", rel, b, err)
		}
	}
	if st, _ := os.Lstat(filepath.Join(dst, "weights")); st.Mode().Perm() != 0o755 {
		t.Errorf("dir mode %v", st.Mode())
	}
	if err := ExtractTarGz(context.Background(), bytes.NewReader(data), dst, 1<<20); err == nil {
		t.Error("extracted into a non-empty directory")
	}
}

func TestExtractTarGzRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		ents []tarEntry
		want string
	}{
		{"dotdot", []tarEntry{{name: "../x", body: "x"}}, `".." component`},
		{"inner dotdot", []tarEntry{{name: "a/../../x", body: "x"}}, `".." component`},
		{"absolute", []tarEntry{{name: "/abs", body: "x"}}, "absolute path"},
		{"symlink escape", []tarEntry{{name: "l", typ: tar.TypeSymlink, link: "../outside"}}, "leaves the model directory"},
		{"symlink absolute", []tarEntry{{name: "l", typ: tar.TypeSymlink, link: "/etc"}}, "leaves the model directory"},
		{"symlink composition", []tarEntry{
			{name: "d", typ: tar.TypeSymlink, link: "."},
			{name: "l", typ: tar.TypeSymlink, link: "d/.."},
		}, "leaves the model directory"},
		{"write through symlink dir", []tarEntry{
			{name: "l", typ: tar.TypeSymlink, link: "sub"},
			{name: "sub/", typ: tar.TypeDir},
			{name: "l/x", body: "x"},
		}, `inside symlink "l"`},
		{"write over symlink", []tarEntry{
			{name: "l", typ: tar.TypeSymlink, link: "f"},
			{name: "l", body: "x"},
		}, "file over a symlink"},
		{"hardlink escape", []tarEntry{{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}}, "hard link target"},
		{"hardlink absolute", []tarEntry{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, "hard link target"},
		{"hardlink to symlink", []tarEntry{
			{name: "l", typ: tar.TypeSymlink, link: "f"},
			{name: "h", typ: tar.TypeLink, link: "l"},
		}, "hard link target"},
		{"fifo", []tarEntry{{name: "p", typ: tar.TypeFifo}}, "device and FIFO"},
		{"char device", []tarEntry{{name: "null", typ: tar.TypeChar}}, "device and FIFO"},
		{"block device", []tarEntry{{name: "sda", typ: tar.TypeBlock}}, "device and FIFO"},
		{"tar bomb", []tarEntry{{name: "a", body: strings.Repeat("a", 600)}, {name: "b", body: strings.Repeat("b", 600)}}, "size limit"},
		{"gzip bomb", []tarEntry{{name: "zeros", size: 16 << 20}}, "size limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outer := t.TempDir()
			dst := filepath.Join(outer, "dst")
			data := makeTar(t, true, tc.ents...)
			err := ExtractTarGz(context.Background(), bytes.NewReader(data), dst, 1000)
			wantClientError(t, err, tc.want)
			checkConfined(t, outer, dst)
			if n, _ := DirSize(dst); n > 1<<20 {
				t.Errorf("wrote %d bytes", n)
			}
		})
	}
	// A stream that is not an archive.
	err := ExtractTarGz(context.Background(), strings.NewReader("\x1f\x8bnot really gzip"), filepath.Join(t.TempDir(), "d"), 1000)
	wantClientError(t, err, "invalid model archive")
}

// checkConfined fails if anything but dst exists in outer or a symlink in
// dst can resolve outside it.
func checkConfined(t *testing.T, outer, dst string) {
	t.Helper()
	ents, _ := os.ReadDir(outer)
	for _, e := range ents {
		if e.Name() != filepath.Base(dst) {
			t.Fatalf("created %s outside the destination", e.Name())
		}
	}
	filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Type()&os.ModeSymlink == 0 {
			return nil
		}
		target, _ := os.Readlink(p)
		rel, _ := filepath.Rel(dst, p)
		if !symlinkInside(filepath.ToSlash(rel), target) {
			t.Fatalf("symlink %s -> %s escapes", rel, target)
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && !strings.HasPrefix(real+"/", dst+"/") {
			t.Fatalf("symlink %s resolves to %s", rel, real)
		}
		return nil
	})
}

func FuzzExtractTarGz(f *testing.F) {
	f.Add(makeTar(f, true, tarEntry{name: "a/b", body: "x"}, tarEntry{name: "l", typ: tar.TypeSymlink, link: "a/b"}))
	f.Add(makeTar(f, false, tarEntry{name: "../x", body: "x"}))
	f.Add(makeTar(f, false, tarEntry{name: "d", typ: tar.TypeSymlink, link: "."}, tarEntry{name: "d/x", body: "y"}))
	f.Add(makeTar(f, true, tarEntry{name: "f", body: "1"}, tarEntry{name: "h", typ: tar.TypeLink, link: "f"}, tarEntry{name: "h", body: "22"}))
	f.Add([]byte("\x1f\x8b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		outer := t.TempDir()
		dst := filepath.Join(outer, "dst")
		ExtractTarGz(context.Background(), bytes.NewReader(data), dst, 1<<16)
		checkConfined(t, outer, dst)
	})
}
