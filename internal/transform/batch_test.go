package transform

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/access"
	blobfs "github.com/wharfml/wharf/internal/blob/fs"
	"github.com/wharfml/wharf/internal/contract"
	"github.com/wharfml/wharf/internal/store"
	"github.com/wharfml/wharf/internal/store/sqlite"
)

// splitRecords is the test's own reading of data as records, framed: the
// whole object for None, lines (the last one possibly unterminated) for
// Line, and length-prefixed frames for RecordIO and TFRecord. It returns
// the framed records and their payloads.
func splitRecords(t *testing.T, data []byte, split types.SplitType) (framed, payloads [][]byte) {
	t.Helper()
	switch split {
	case types.SplitTypeNone:
		return [][]byte{data}, [][]byte{data}
	case types.SplitTypeLine:
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n') + 1
			if i == 0 {
				i = len(data)
			}
			framed, payloads = append(framed, data[:i]), append(payloads, data[:i])
			data = data[i:]
		}
	case types.SplitTypeRecordio:
		for len(data) > 0 {
			n := int(binary.LittleEndian.Uint32(data[4:]) & (1<<29 - 1))
			size := 8 + (n+3)&^3
			framed, payloads = append(framed, data[:size]), append(payloads, data[8:8+n])
			data = data[size:]
		}
	case types.SplitTypeTfrecord:
		for len(data) > 0 {
			n := int(binary.LittleEndian.Uint64(data))
			framed, payloads = append(framed, data[:16+n]), append(payloads, data[12:12+n])
			data = data[16+n:]
		}
	}
	return framed, payloads
}

// wantBatches is what batching must produce: each payload alone for
// SingleRecord; for MultiRecord, framed records concatenated greedily while
// a batch stays within limit.
func wantBatches(t *testing.T, data []byte, split types.SplitType, strategy types.BatchStrategy, limit int) [][]byte {
	framed, payloads := splitRecords(t, data, split)
	if strategy == types.BatchStrategySingleRecord {
		return payloads
	}
	var out [][]byte
	var cur []byte
	for _, f := range framed {
		if len(cur) > 0 && len(cur)+len(f) > limit && limit > 0 {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, f...)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func recordIO(payload []byte) []byte {
	rec := binary.LittleEndian.AppendUint32(nil, 0xced7230a)
	rec = binary.LittleEndian.AppendUint32(rec, uint32(len(payload)))
	rec = append(rec, payload...)
	for len(rec)%4 != 0 {
		rec = append(rec, 0)
	}
	return rec
}

func tfRecord(payload []byte) []byte {
	rec := binary.LittleEndian.AppendUint64(nil, uint64(len(payload)))
	rec = append(rec, 1, 2, 3, 4) // length CRC: not checked
	rec = append(rec, payload...)
	return append(rec, 5, 6, 7, 8)
}

// testObject makes an object of n records of random sizes up to max bytes
// (a few far longer ones cross the record reader's buffer).
func testObject(rng *rand.Rand, split types.SplitType, n, max int) []byte {
	var out []byte
	for i := range n {
		size := rng.IntN(max + 1)
		if i%97 == 5 {
			size = 70<<10 + rng.IntN(10<<10)
		}
		payload := make([]byte, size)
		for j := range payload {
			payload[j] = 'a' + byte(rng.IntN(26))
		}
		switch split {
		case types.SplitTypeRecordio:
			out = append(out, recordIO(payload)...)
		case types.SplitTypeTfrecord:
			out = append(out, tfRecord(payload)...)
		default:
			out = append(out, payload...)
			if i < n-1 || rng.IntN(2) == 0 { // the last line may lack its newline
				out = append(out, '\n')
			}
		}
	}
	return out
}

// collect runs batches over data read through wrap and returns the
// batches it sent.
func collect(data []byte, wrap func(io.Reader) io.Reader, split types.SplitType, strategy types.BatchStrategy, limit int64) ([][]byte, error) {
	var got [][]byte
	err := batches(wrap(bytes.NewReader(data)), split, strategy, limit, nil, func(b []byte) error {
		got = append(got, b)
		return nil
	})
	return got, err
}

// collectRecycled is collect with each batch's buffer handed back for
// reuse as soon as it is copied, as object() does once a batch is sent.
func collectRecycled(data []byte, wrap func(io.Reader) io.Reader, split types.SplitType, strategy types.BatchStrategy, limit int64) ([][]byte, error) {
	var got [][]byte
	bufs := &buffers{}
	err := batches(wrap(bytes.NewReader(data)), split, strategy, limit, bufs, func(b []byte) error {
		got = append(got, bytes.Clone(b))
		bufs.put(b)
		return nil
	})
	return got, err
}

func sameBatches(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d of %d: %d bytes %.40q..., want %d bytes %.40q...", i, len(got), len(got[i]), got[i], len(want[i]), want[i])
		}
	}
}

// TestBatches checks every split type and strategy against the test's own
// reading of the object, with readers that return short reads.
func TestBatches(t *testing.T) {
	readers := map[string]func(io.Reader) io.Reader{
		"whole":   func(r io.Reader) io.Reader { return r },
		"onebyte": iotest.OneByteReader,
		"half":    iotest.HalfReader,
		"dataerr": iotest.DataErrReader,
	}
	for _, split := range []types.SplitType{types.SplitTypeLine, types.SplitTypeRecordio, types.SplitTypeTfrecord, types.SplitTypeNone} {
		rng := rand.New(rand.NewPCG(1, uint64(len(split))))
		data := testObject(rng, split, 400, 300)
		if split == types.SplitTypeNone {
			data = data[:5000]
		}
		for _, strategy := range []types.BatchStrategy{types.BatchStrategyMultiRecord, types.BatchStrategySingleRecord} {
			// 100 KiB holds several records and the long ones; 0 is unbounded.
			for _, limit := range []int64{100 << 10, 200 << 10, 0} {
				for name, wrap := range readers {
					if name == "onebyte" && limit != 100<<10 {
						continue // slow; one limit is enough
					}
					t.Run(fmt.Sprintf("%s/%s/%d/%s", split, strategy, limit, name), func(t *testing.T) {
						want := wantBatches(t, data, split, strategy, int(limit))
						got, err := collect(data, wrap, split, strategy, limit)
						if err != nil {
							t.Fatal(err)
						}
						sameBatches(t, got, want)
						if got, err = collectRecycled(data, wrap, split, strategy, limit); err != nil {
							t.Fatal(err)
						}
						sameBatches(t, got, want)
					})
				}
			}
		}
	}
}

// TestBatchesLineLimits checks the edges of MaxPayloadInMB for lines: a
// record of exactly the limit fits (with or without its newline, at the
// end), one byte more fails, and batches are cut so that each is as full as
// whole records allow.
func TestBatchesLineLimits(t *testing.T) {
	const limit = 10
	for _, tc := range []struct {
		in   string
		want []string // MultiRecord; nil: the limit error
	}{
		{"", []string{}},
		{"123456789\n", []string{"123456789\n"}},
		{"1234567890", []string{"1234567890"}},
		{"123456789\n1234567890", []string{"123456789\n", "1234567890"}},
		{"1\n2\n3\n4\n5\n6\n", []string{"1\n2\n3\n4\n5\n", "6\n"}},
		{"1\n2\n3\n4\n5\n6", []string{"1\n2\n3\n4\n5\n", "6"}},
		{"1\n2\n3\n4\n5\n67", []string{"1\n2\n3\n4\n5\n", "67"}},
		{"\n\n\n", []string{"\n\n\n"}},
		{"12345\n1234\n1\n", []string{"12345\n", "1234\n1\n"}},
		{"12345\n123\n1\n", []string{"12345\n123\n", "1\n"}},
		{"12345678901", nil},
		{"1\n1234567890\n", nil},
		{"1\n2\n12345678901", nil},
	} {
		for _, strategy := range []types.BatchStrategy{types.BatchStrategyMultiRecord, types.BatchStrategySingleRecord} {
			got, err := collect([]byte(tc.in), iotest.HalfReader, types.SplitTypeLine, strategy, limit)
			if tc.want == nil {
				if err == nil || err.Error() != "ClientError: a record of more than 10 bytes exceeds MaxPayloadInMB" {
					t.Errorf("%q %s: %q, %v; want the limit error", tc.in, strategy, got, err)
				}
				continue
			}
			want := wantBatches(t, []byte(tc.in), types.SplitTypeLine, strategy, limit)
			if strategy == types.BatchStrategyMultiRecord && fmt.Sprintf("%q", want) != fmt.Sprintf("%q", tc.want) {
				t.Fatalf("test case %q: wantBatches says %q", tc.in, want) // the oracle itself
			}
			if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
				t.Errorf("%q %s: %q, %v; want %q", tc.in, strategy, got, err, want)
			}
		}
	}
}

func TestBatchesErrors(t *testing.T) {
	rio := recordIO([]byte("hello"))
	tfr := tfRecord([]byte("hello"))
	badMagic := bytes.Clone(rio)
	badMagic[0] ^= 1
	for _, tc := range []struct {
		split types.SplitType
		in    []byte
		limit int64
		want  string
	}{
		{types.SplitTypeRecordio, rio[:5], 0, "ClientError: truncated RecordIO header"},
		{types.SplitTypeRecordio, rio[:10], 0, "ClientError: truncated RecordIO record"},
		{types.SplitTypeRecordio, append(bytes.Clone(rio), rio[:15]...), 0, "ClientError: truncated RecordIO record"},
		{types.SplitTypeRecordio, badMagic, 0, "ClientError: bad RecordIO magic number"},
		{types.SplitTypeRecordio, rio, 15, "ClientError: a record of more than 15 bytes exceeds MaxPayloadInMB"},
		{types.SplitTypeTfrecord, tfr[:11], 0, "ClientError: truncated TFRecord header"},
		{types.SplitTypeTfrecord, tfr[:20], 0, "ClientError: truncated TFRecord record"},
		{types.SplitTypeTfrecord, tfr, 20, "ClientError: a record of more than 20 bytes exceeds MaxPayloadInMB"},
		{types.SplitTypeNone, []byte("12345678901"), 10, "ClientError: a record of more than 10 bytes exceeds MaxPayloadInMB"},
		{types.SplitTypeLine, []byte("1\n" + strings.Repeat("x", 200<<10) + "\n"), 100 << 10, "ClientError: a record of more than 102400 bytes exceeds MaxPayloadInMB"},
	} {
		for _, strategy := range []types.BatchStrategy{types.BatchStrategyMultiRecord, types.BatchStrategySingleRecord} {
			_, err := collect(tc.in, iotest.HalfReader, tc.split, strategy, tc.limit)
			if err == nil || err.Error() != tc.want {
				t.Errorf("%s %s %q: %v, want %s", tc.split, strategy, tc.in, err, tc.want)
			}
		}
	}
	// A record of exactly the limit fits.
	got, err := collect(rio, iotest.HalfReader, types.SplitTypeRecordio, types.BatchStrategyMultiRecord, 16)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0], rio) {
		t.Errorf("RecordIO at the limit: %q, %v", got, err)
	}
	// A read error is returned as it is (for lines and the whole object).
	boom := errors.New("boom")
	for _, split := range []types.SplitType{types.SplitTypeLine, types.SplitTypeNone} {
		for _, strategy := range []types.BatchStrategy{types.BatchStrategyMultiRecord, types.BatchStrategySingleRecord} {
			r := io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom))
			if err := batches(r, split, strategy, 1<<20, nil, func([]byte) error { return nil }); err != boom {
				t.Errorf("%s %s: %v, want boom", split, strategy, err)
			}
		}
	}
	// The callback's error stops the stream.
	calls := 0
	err = batches(strings.NewReader("a\nb\nc\n"), types.SplitTypeLine, types.BatchStrategyMultiRecord, 2, nil, func([]byte) error {
		calls++
		return boom
	})
	if err != boom || calls != 1 {
		t.Errorf("callback error: %v after %d calls", err, calls)
	}
}

// ---------------------------------------------------------------- objects

// objectEnv runs Controller.object against an in-process container.
type objectEnv struct {
	c   *Controller
	src *access.Objects
}

func newObjectEnv(tb testing.TB) *objectEnv {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	blobs, err := blobfs.Open(filepath.Join(dir, "blobs"), blobfs.WithSync(false))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { blobs.Close() })
	const account = "111122223333"
	if err := st.CreateAccount(ctx, store.Account{ID: account, Name: "test", Created: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateBucket(ctx, store.Bucket{Name: "b", Owner: account, Created: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	return &objectEnv{c: (&Controller{Store: st, Blobs: blobs}).New(), src: &access.Objects{Store: st, Blobs: blobs, Account: account}}
}

// run stores data as s3://b/in/x and transforms it (transform).
func (e *objectEnv) run(tb testing.TB, data []byte, j *job, handlers ...http.HandlerFunc) ([]byte, error) {
	tb.Helper()
	if err := e.src.Put(context.Background(), "b", "in/x", bytes.NewReader(data), int64(len(data))); err != nil {
		tb.Fatal(err)
	}
	return e.transform(tb, j, handlers...)
}

// transform runs s3://b/in/x through a host whose containers are handlers
// (a pipeline when there are several) and returns the output, nil if none.
func (e *objectEnv) transform(tb testing.TB, j *job, handlers ...http.HandlerFunc) ([]byte, error) {
	tb.Helper()
	ctx := context.Background()
	h := &host{name: "algo-1", sem: make(chan struct{}, j.concurrency)}
	for i, hf := range handlers {
		srv := httptest.NewServer(hf)
		tb.Cleanup(srv.Close)
		h.containers = append(h.containers, &Container{Name: fmt.Sprint("c", i), URL: srv.URL})
	}
	e.src.Blobs.Delete(ctx, "b", "out/x.out")
	err := e.c.object(ctx, j, h, e.src, contract.ChannelObject{Bucket: "b", Key: "in/x", RelPath: "x"})
	rc, _, gerr := e.src.Open(ctx, "b", "out/x.out")
	if gerr != nil {
		return nil, err
	}
	defer rc.Close()
	out, rerr := io.ReadAll(rc)
	if rerr != nil {
		tb.Fatal(rerr)
	}
	return out, err
}

func testJob(split types.SplitType, strategy types.BatchStrategy, payload int64, assemble types.AssemblyType) *job {
	return &job{name: "t", doc: &sm.DescribeTransformJobOutput{
		TransformInput:  &types.TransformInput{ContentType: aws.String("text/csv"), SplitType: split},
		TransformOutput: &types.TransformOutput{S3OutputPath: aws.String("s3://b/out/"), AssembleWith: assemble},
	}, concurrency: 4, payload: payload, strategy: strategy}
}

// container answers with fn(body) after a random delay of up to 2 ms, so
// that answers come back out of order; the first failFirst requests get a
// 503 (retried).
func container(fn func([]byte) []byte, failFirst int) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		n++
		fail := n <= failFirst
		mu.Unlock()
		if fail {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		w.Write(fn(body))
	}
}

func echo(b []byte) []byte { return b }

// TestObject runs objects through object() with answers arriving out of
// order: the output is every answer in input order, whatever buffers the
// batches and answers went through.
func TestObject(t *testing.T) {
	e := newObjectEnv(t)
	rng := rand.New(rand.NewPCG(3, 4))
	lines := testObject(rng, types.SplitTypeLine, 3000, 200)
	if lines[len(lines)-1] == '\n' {
		lines = lines[:len(lines)-1] // the output gets the final newline
	}
	t.Run("LineMultiRecord", func(t *testing.T) {
		got, err := e.run(t, lines, testJob(types.SplitTypeLine, types.BatchStrategyMultiRecord, 100<<10, types.AssemblyTypeLine), container(echo, 0))
		if err != nil || !bytes.Equal(got, append(bytes.Clone(lines), '\n')) {
			t.Fatalf("%d bytes out of %d, %v", len(got), len(lines), err)
		}
	})
	t.Run("LineSingleRecordRetried", func(t *testing.T) {
		small := lines[:bytes.IndexByte(lines[20000:], '\n')+20001]
		got, err := e.run(t, small, testJob(types.SplitTypeLine, types.BatchStrategySingleRecord, 100<<10, types.AssemblyTypeLine),
			container(bytes.ToUpper, 2))
		if err != nil || !bytes.Equal(got, bytes.ToUpper(small)) {
			t.Fatalf("%d bytes out of %d, %v", len(got), len(small), err)
		}
	})
	t.Run("Pipeline", func(t *testing.T) {
		// The first container's answers are the second one's requests.
		suffix := func(b []byte) []byte { return append(bytes.Clone(b), "#\n"...) }
		got, err := e.run(t, lines, testJob(types.SplitTypeLine, types.BatchStrategyMultiRecord, 100<<10, types.AssemblyTypeNone),
			container(bytes.ToUpper, 0), container(suffix, 0))
		if err != nil || !bytes.Equal(bytes.ReplaceAll(got, []byte("#\n"), nil), bytes.ToUpper(lines)) {
			t.Fatalf("%d bytes out of %d, %v", len(got), len(lines), err)
		}
		if n := bytes.Count(got, []byte("#\n")); n < len(lines)/(100<<10) {
			t.Fatalf("%d batches", n)
		}
	})
	t.Run("RecordIO", func(t *testing.T) {
		data := testObject(rng, types.SplitTypeRecordio, 2000, 300)
		got, err := e.run(t, data, testJob(types.SplitTypeRecordio, types.BatchStrategyMultiRecord, 100<<10, types.AssemblyTypeNone), container(echo, 0))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes out of %d, %v", len(got), len(data), err)
		}
	})
	t.Run("Gzip", func(t *testing.T) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(lines)
		zw.Close()
		j := testJob(types.SplitTypeLine, types.BatchStrategyMultiRecord, 100<<10, types.AssemblyTypeLine)
		j.doc.TransformInput.CompressionType = types.CompressionTypeGzip
		got, err := e.run(t, gz.Bytes(), j, container(echo, 0))
		if err != nil || !bytes.Equal(got, append(bytes.Clone(lines), '\n')) {
			t.Fatalf("%d bytes out of %d, %v", len(got), len(lines), err)
		}
	})
	t.Run("Rejected", func(t *testing.T) {
		n := 0
		var mu sync.Mutex
		reject := func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			n++
			k := n
			mu.Unlock()
			if k == 5 {
				http.Error(w, "bad record", http.StatusBadRequest)
				return
			}
			w.Write([]byte("ok\n"))
		}
		got, err := e.run(t, lines, testJob(types.SplitTypeLine, types.BatchStrategyMultiRecord, 100<<10, types.AssemblyTypeLine), reject)
		if err == nil || err.Error() != "ClientError: POST /invocations returned HTTP 400: bad record" || got != nil {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
	})
}

// BenchmarkObject is the data path of the transform benchmark
// (bench/transform) without Docker: a 64 MB CSV object, Line split,
// MultiRecord batches of 6 MB, 4 in flight, to an in-process echo container
// that reuses its buffers, so the allocations reported are Wharf's.
func BenchmarkObject(b *testing.B) {
	e := newObjectEnv(b)
	var data []byte
	rng := rand.New(rand.NewPCG(1, 2))
	for len(data) < 64<<20 {
		for i := range 8 {
			if i > 0 {
				data = append(data, ',')
			}
			data = strconv.AppendFloat(data, rng.Float64()*1000, 'f', 4, 64)
		}
		data = append(data, '\n')
	}
	pool := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	lean := func(w http.ResponseWriter, r *http.Request) {
		buf := pool.Get().(*bytes.Buffer)
		buf.Reset()
		buf.ReadFrom(r.Body)
		w.Write(buf.Bytes())
		pool.Put(buf)
	}
	if err := e.src.Put(context.Background(), "b", "in/x", bytes.NewReader(data), int64(len(data))); err != nil {
		b.Fatal(err)
	}
	j := testJob(types.SplitTypeLine, types.BatchStrategyMultiRecord, 6<<20, types.AssemblyTypeLine)
	srv := httptest.NewServer(http.HandlerFunc(lean))
	defer srv.Close()
	h := &host{name: "algo-1", sem: make(chan struct{}, j.concurrency), containers: []*Container{{Name: "primary", URL: srv.URL}}}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := e.c.object(ctx, j, h, e.src, contract.ChannelObject{Bucket: "b", Key: "in/x", RelPath: "x"}); err != nil {
			b.Fatal(err)
		}
	}
	if info, err := e.src.Head(ctx, "b", "out/x.out"); err != nil || info.Size != int64(len(data)) {
		b.Fatalf("output: %+v, %v", info, err)
	}
}

// TestMemBody: every open reads the whole body; after release a read
// fails instead of returning bytes of a buffer that may have been reused.
func TestMemBody(t *testing.T) {
	buf := []byte("0123456789")
	mb := &memBody{buf: buf}
	r1 := mb.open()
	head := make([]byte, 4)
	if n, err := r1.Read(head); n != 4 || err != nil || string(head) != "0123" {
		t.Fatalf("read %q, %v", head[:n], err)
	}
	if all, err := io.ReadAll(mb.open()); err != nil || string(all) != "0123456789" {
		t.Fatalf("second reader: %q, %v", all, err)
	}
	mb.release()
	copy(buf, "XXXXXXXXXX") // reused
	if n, err := r1.Read(head); n != 0 || err != errBodyReleased {
		t.Fatalf("read after release: %d, %v", n, err)
	}
}

// TestReadBody: an answer that fills a reused buffer exactly stays in it;
// longer ones grow it.
func TestReadBody(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 10000)
	buf := make([]byte, 0, len(data))
	got, err := readBody(iotest.HalfReader(bytes.NewReader(data)), buf)
	if err != nil || !bytes.Equal(got, data) || &got[0] != &buf[:1][0] {
		t.Fatalf("exact fit: %d bytes, %v, same buffer %v", len(got), err, &got[0] == &buf[:1][0])
	}
	for _, size := range []int{0, 1, 100} {
		got, err = readBody(iotest.OneByteReader(bytes.NewReader(data)), make([]byte, 0, size))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("from %d: %d bytes, %v", size, len(got), err)
		}
	}
	boom := errors.New("boom")
	if _, err := readBody(iotest.ErrReader(boom), nil); err != boom {
		t.Fatalf("got %v", err)
	}
}

func TestBuffers(t *testing.T) {
	var b buffers
	if buf := b.get(10); len(buf) != 0 || cap(buf) != 10 {
		t.Fatalf("new buffer %d/%d", len(buf), cap(buf))
	}
	b.put(make([]byte, 5, 100))
	b.put(make([]byte, 0, 300))
	b.put(make([]byte, 0, 200)) // replaces the smallest idle one
	b.put(make([]byte, 0, 50))  // dropped
	if len(b.free) != maxIdleBuffers {
		t.Fatalf("%d idle", len(b.free))
	}
	if buf := b.get(250); cap(buf) != 300 || len(buf) != 0 {
		t.Fatalf("get(250): %d/%d", len(buf), cap(buf))
	}
	if buf := b.get(0); cap(buf) != 200 {
		t.Fatalf("get(0): cap %d", cap(buf))
	}
	if buf := b.get(1); cap(buf) != 50 {
		t.Fatalf("empty list: cap %d, want that of the last buffer put", cap(buf))
	}
	var none *buffers
	none.put(make([]byte, 1))
	if buf := none.get(3); cap(buf) != 3 {
		t.Fatalf("nil list: cap %d", cap(buf))
	}
}
