package contract

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// servePipe runs ServePipe in the background; the returned func cancels it
// and returns its result.
func servePipe(t *testing.T, s *testStore, ch Channel, dir string) func() error {
	t.Helper()
	objs, err := ResolveChannel(context.Background(), s, ch, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServePipe(ctx, s, ch, objs, dir) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(5 * time.Second):
				t.Error("ServePipe did not stop")
			}
		})
		return result
	}
	t.Cleanup(func() { stop() })
	return stop
}

// readFIFO waits for dir/<name>_<epoch>, reads up to limit bytes (all if
// limit < 0) and closes it.
func readFIFO(t *testing.T, dir, name string, epoch, limit int) []byte {
	t.Helper()
	p := filepath.Join(dir, FIFOName(name, epoch))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if st, err := os.Lstat(p); err == nil && st.Mode()&os.ModeNamedPipe != 0 {
			if st.Mode().Perm() != 0o644 {
				t.Errorf("FIFO mode %v", st.Mode())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FIFO %s did not appear", p)
		}
		time.Sleep(2 * time.Millisecond)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if limit >= 0 {
		r = io.LimitReader(f, int64(limit))
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServePipeEpochs(t *testing.T) {
	s := newTestStore(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, beyond the pipe buffer
	s.put(t, "b", "p/1", big)
	s.put(t, "b", "p/2", []byte("tail"))
	dir := t.TempDir()
	stop := servePipe(t, s, Channel{Name: "train", S3Uri: "s3://b/p/", InputMode: ModePipe}, dir)
	want := append(slices.Clone(big), "tail"...)
	for epoch := range 3 {
		if got := readFIFO(t, dir, "train", epoch, -1); !bytes.Equal(got, want) {
			t.Fatalf("epoch %d: %d bytes, want %d", epoch, len(got), len(want))
		}
	}
	// Closing early ends the epoch; the next one is complete.
	if got := readFIFO(t, dir, "train", 3, 10); string(got) != "0123456789" {
		t.Fatalf("epoch 3 start = %q", got)
	}
	if got := readFIFO(t, dir, "train", 4, -1); !bytes.Equal(got, want) {
		t.Fatalf("epoch 4 after early close: %d bytes", len(got))
	}
	if err := stop(); err != nil {
		t.Fatalf("ServePipe = %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.Bytes()
}

func TestServePipeFraming(t *testing.T) {
	s := newTestStore(t)
	for k, v := range map[string]string{"r/a": "abcde", "r/b": "12345678", "r/c": ""} {
		s.put(t, "b", k, []byte(v))
		s.put(t, "b", "z"+k, gz(t, v))
	}
	// magic 0xced7230a and length, little-endian; payload; zero padding to 4 bytes.
	records := "0a23d7ce05000000" + hex.EncodeToString([]byte("abcde")) + "000000" +
		"0a23d7ce08000000" + hex.EncodeToString([]byte("12345678")) +
		"0a23d7ce00000000"
	for _, tc := range []struct {
		name string
		ch   Channel
		want string
	}{
		{"recordio", Channel{S3Uri: "s3://b/r/", RecordWrapperType: RecordIO}, records},
		{"gzip+recordio", Channel{S3Uri: "s3://b/zr/", RecordWrapperType: RecordIO, CompressionType: CompressionGzip}, records},
		{"gzip", Channel{S3Uri: "s3://b/zr/", CompressionType: CompressionGzip}, hex.EncodeToString([]byte("abcde12345678"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.ch.Name, tc.ch.InputMode = "ch", ModePipe
			stop := servePipe(t, s, tc.ch, dir)
			for epoch := range 2 {
				if got := hex.EncodeToString(readFIFO(t, dir, "ch", epoch, -1)); got != tc.want {
					t.Errorf("epoch %d:\n got %s\nwant %s", epoch, got, tc.want)
				}
			}
			if err := stop(); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("corrupt gzip", func(t *testing.T) {
		s.put(t, "b", "bad/x", []byte("not gzip at all"))
		ch := Channel{Name: "ch", S3Uri: "s3://b/bad/", InputMode: ModePipe, CompressionType: CompressionGzip}
		objs, _ := ResolveChannel(context.Background(), s, ch, 1, 1)
		dir := t.TempDir()
		done := make(chan error, 1)
		go func() { done <- ServePipe(context.Background(), s, ch, objs, dir) }()
		readFIFO(t, dir, "ch", 0, -1)
		wantClientError(t, <-done, "cannot decompress")
	})
}

func TestServePipeShuffle(t *testing.T) {
	s := newTestStore(t)
	var keys []string
	for i := range 10 {
		k := fmt.Sprintf("s/%d", i)
		keys = append(keys, k)
		s.put(t, "b", k, []byte(fmt.Sprintf("%d,", i)))
	}
	seed := int64(42)
	dir := t.TempDir()
	stop := servePipe(t, s, Channel{Name: "sh", S3Uri: "s3://b/s/", InputMode: ModePipe, ShuffleSeed: &seed}, dir)
	var orders []string
	for epoch := range 3 {
		got := string(readFIFO(t, dir, "sh", epoch, -1))
		order := slices.Clone(keys)
		r := rand.New(rand.NewPCG(uint64(seed+int64(epoch)), 0))
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		want := ""
		for _, k := range order {
			want += strings.TrimPrefix(k, "s/") + ","
		}
		if got != want {
			t.Errorf("epoch %d = %q, want %q", epoch, got, want)
		}
		orders = append(orders, got)
	}
	if orders[0] == orders[1] || orders[0] == "0,1,2,3,4,5,6,7,8,9," {
		t.Errorf("not shuffled per epoch: %q", orders)
	}
	stop()
}

func TestServePipeCancel(t *testing.T) {
	s := newTestStore(t)
	s.put(t, "b", "c/x", bytes.Repeat([]byte{7}, 4<<20))
	ch := Channel{Name: "c", S3Uri: "s3://b/c/", InputMode: ModePipe}

	// Cancelled while waiting for a reader; a planted symlink is replaced, not followed.
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	os.Symlink(victim, filepath.Join(dir, "c_0"))
	stop := servePipe(t, s, ch, dir)
	time.Sleep(100 * time.Millisecond)
	if st, err := os.Lstat(filepath.Join(dir, "c_0")); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("c_0 is not a FIFO: %v %v", st, err)
	}
	start := time.Now()
	if err := stop(); err != nil || time.Since(start) > time.Second {
		t.Errorf("stop while waiting: %v after %v", err, time.Since(start))
	}
	if _, err := os.Lstat(filepath.Join(dir, "c_0")); !os.IsNotExist(err) {
		t.Errorf("FIFO not removed: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("wrote through symlink: %q", b)
	}

	// Cancelled while blocked writing to a reader that does not read.
	dir = t.TempDir()
	stop = servePipe(t, s, ch, dir)
	p := filepath.Join(dir, "c_0")
	for {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	time.Sleep(50 * time.Millisecond)
	start = time.Now()
	if err := stop(); err != nil || time.Since(start) > time.Second {
		t.Errorf("stop while writing: %v after %v", err, time.Since(start))
	}
}

func TestServePipePrepared(t *testing.T) {
	s := newTestStore(t)
	s.put(t, "b", "p/x", []byte("hello"))
	ch := Channel{Name: "train", S3Uri: "s3://b/p/", InputMode: ModePipe}
	paths, err := PrepareHost(filepath.Join(t.TempDir(), "h"), HostConfig{Channels: []Channel{ch}, Hosts: []string{"algo-1"}, CurrentHost: "algo-1"})
	if err != nil {
		t.Fatal(err)
	}
	// The container opens epoch 0 before ServePipe runs.
	got := make(chan []byte)
	go func() { got <- readFIFO(t, paths.Data, "train", 0, -1) }()
	time.Sleep(50 * time.Millisecond)
	stop := servePipe(t, s, ch, paths.Data)
	select {
	case b := <-got:
		if string(b) != "hello" {
			t.Errorf("epoch 0 = %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader of the prepared FIFO got nothing")
	}
	if b := readFIFO(t, paths.Data, "train", 1, -1); string(b) != "hello" {
		t.Errorf("epoch 1 = %q", b)
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}
