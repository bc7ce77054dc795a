package transform

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/access"
	"github.com/wharfml/wharf/internal/contract"
)

// maxResponseBytes bounds one /invocations response held in memory.
const maxResponseBytes = 256 << 20

// httpClient talks to the serve containers (keep-alive pools per host port).
var httpClient = &http.Client{Transport: &http.Transport{
	DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
	MaxIdleConns:        1024,
	MaxIdleConnsPerHost: 128,
	IdleConnTimeout:     30 * time.Second,
	DisableCompression:  true,
}}

// process spreads the input objects over the hosts: each host works on up
// to MaxConcurrentTransforms objects at once, with at most that many
// requests in flight in total. Objects fail independently (§4.8).
func (c *Controller) process(ctx context.Context, j *job, src *access.Objects) outcome {
	in := j.doc.TransformInput
	ds := in.DataSource.S3DataSource
	objs, err := contract.ResolveChannel(ctx, src, contract.Channel{
		Name: "input", S3DataType: string(ds.S3DataType), S3Uri: aws.ToString(ds.S3Uri),
		CompressionType: string(in.CompressionType), InputMode: contract.ModePipe,
	}, 1, 1)
	if err != nil {
		if ctx.Err() != nil {
			return fail("stopped")
		}
		return fail("%s", clientError(err))
	}
	queue := make(chan contract.ChannelObject)
	var (
		mu     sync.Mutex
		failed int
		first  string
		wg     sync.WaitGroup
	)
	for _, h := range j.hosts {
		for range j.concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for obj := range queue {
					err := c.object(ctx, j, h, src, obj)
					if err == nil || ctx.Err() != nil {
						continue
					}
					mu.Lock()
					if failed++; failed == 1 {
						first = fmt.Sprintf("s3://%s/%s: %v", obj.Bucket, obj.Key, err)
					}
					mu.Unlock()
				}
			}()
		}
	}
feed:
	for _, o := range objs {
		select {
		case queue <- o:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	if ctx.Err() != nil {
		return fail("stopped")
	}
	if failed > 0 {
		return fail("ClientError: %d of %d input objects failed; first: %s", failed, len(objs), first)
	}
	return outcome{status: types.TransformJobStatusCompleted}
}

// outputKey is where the result of obj goes (§4.3).
func outputKey(s3OutputPath, rel string) (bucket, key string, err error) {
	bucket, prefix, err := contract.ParseS3URI(s3OutputPath)
	if err != nil {
		return "", "", err
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return bucket, prefix + rel + ".out", nil
}

// pending is one mini-batch in flight; the assembler waits for them in order.
type pending struct {
	done chan struct{}
	body []byte
	err  error
}

// object transforms one input object: records are read as a stream,
// batched, sent with at most the host's concurrency in flight, and the
// responses are written in input order through a pipe into the output
// object, which appears only if every request succeeded.
func (c *Controller) object(ctx context.Context, j *job, h *host, src *access.Objects, obj contract.ChannelObject) error {
	rc, _, err := src.Open(ctx, obj.Bucket, obj.Key)
	if err != nil {
		return err
	}
	defer rc.Close()
	var r io.Reader = rc
	if j.doc.TransformInput.CompressionType == types.CompressionTypeGzip {
		zr, err := gzip.NewReader(rc)
		if err != nil {
			return fmt.Errorf("ClientError: decompressing: %v", err)
		}
		defer zr.Close()
		r = zr
	}
	bucket, key, err := outputKey(aws.ToString(j.doc.TransformOutput.S3OutputPath), obj.RelPath)
	if err != nil {
		return err
	}
	// DataProcessing (§4.7) was checked at CreateTransformJob; nil = inactive.
	dp, err := compileDataProcessing(j.doc.TransformInput, j.doc.TransformOutput, j.doc.DataProcessing)
	if err != nil {
		return fmt.Errorf("ClientError: DataProcessing: %v", err)
	}
	if dp != nil && j.payload == 0 {
		// Only a container's /execution-parameters can get here (the request
		// cannot ask for 0): unbounded whole-object streaming would skip the
		// record-by-record filtering and hold a whole object for the join.
		return errors.New("ClientError: the container's execution parameters set MaxPayloadInMB to 0, which cannot be combined with DataProcessing; set MaxPayloadInMB (1-100) in the CreateTransformJob request")
	}
	objCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pr, pw := io.Pipe()
	putDone := make(chan error, 1)
	go func() {
		err := src.Put(objCtx, bucket, key, pr, -1)
		pr.CloseWithError(err)
		putDone <- err
	}()
	abort := func(err error) error {
		cancel(err)
		pw.CloseWithError(err)
		<-putDone
		return err
	}

	split := j.doc.TransformInput.SplitType
	line := j.doc.TransformOutput.AssembleWith == types.AssemblyTypeLine
	// MaxPayloadInMB=0 with whole objects (or MultiRecord): stream the
	// object as one chunked request body (§4.4).
	if j.payload == 0 && (split == types.SplitTypeNone || j.strategy == types.BatchStrategyMultiRecord) {
		select {
		case h.sem <- struct{}{}:
		case <-objCtx.Done():
			return abort(context.Cause(objCtx))
		}
		body, err := c.invoke(objCtx, j, h, nil, r, nil)
		<-h.sem
		if err == nil {
			err = writeResponse(pw, body, line)
		}
		if err != nil {
			return abort(err)
		}
		pw.Close()
		return <-putDone
	}

	// Batches and answers go back to these once sent and written, so a
	// large object reuses a few buffers instead of allocating two per batch.
	reqs, resps := &buffers{}, &buffers{}
	order := make(chan *pending, cap(h.sem))
	writerDone := make(chan error, 1)
	go func() {
		var werr error
		for p := range order {
			<-p.done
			if werr == nil {
				if werr = p.err; werr == nil {
					// The pipe returns once the bytes are copied out.
					werr = writeResponse(pw, p.body, line)
					resps.put(p.body)
				}
				if werr != nil {
					cancel(werr)
				}
			}
			p.body = nil
			<-h.sem
		}
		writerDone <- werr
	}()
	// assemble (DataProcessing only) turns a response into the batch's
	// output; it holds the batch's unfiltered inputs until the batch is done.
	send := func(batch []byte, assemble func([]byte) ([]byte, error)) error {
		select {
		case h.sem <- struct{}{}:
		case <-objCtx.Done():
			return context.Cause(objCtx)
		}
		p := &pending{done: make(chan struct{})}
		order <- p
		go func() {
			p.body, p.err = c.invoke(objCtx, j, h, batch, nil, resps)
			reqs.put(batch)
			if p.err == nil && assemble != nil {
				answer := p.body
				p.body, p.err = assemble(answer)
				resps.put(answer)
			}
			close(p.done)
		}()
		return nil
	}
	if dp != nil {
		err = dp.batches(r, j.strategy, j.payload, reqs, send)
	} else {
		err = batches(r, split, j.strategy, j.payload, reqs, func(batch []byte) error { return send(batch, nil) })
	}
	if err != nil {
		cancel(err)
	}
	close(order)
	if werr := <-writerDone; err == nil {
		err = werr
	}
	if err != nil {
		if cause := context.Cause(objCtx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause // the first failure, not a follow-on cancellation
		}
		return abort(err)
	}
	pw.Close()
	return <-putDone
}

func writeResponse(w io.Writer, body []byte, line bool) error {
	if _, err := w.Write(body); err != nil {
		return err
	}
	if line && !bytes.HasSuffix(body, []byte("\n")) {
		_, err := w.Write([]byte("\n"))
		return err
	}
	return nil
}

// statusError is a non-2xx answer of the container.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	b := strings.ToValidUTF8(e.body, "?")
	if len(b) > 200 {
		b = b[:200] + "..."
	}
	return fmt.Sprintf("ClientError: POST /invocations returned HTTP %d: %s", e.code, strings.TrimSpace(b))
}

// invoke sends one mini-batch (body, or the stream r) through the host's
// pipeline: each container's 2xx response and its Content-Type are the next
// container's request; the job's ContentType goes to the first container
// and its Accept to the last only (the ones before produce what their
// successor reads). Each POST retries connection errors, timeouts and 5xx
// (§4.5), except that a stream r is sent once. Answers are read into
// buffers from bufs (nil: new ones); the caller may reuse body once invoke
// returns.
func (c *Controller) invoke(ctx context.Context, j *job, h *host, body []byte, r io.Reader, bufs *buffers) ([]byte, error) {
	mcc := j.doc.ModelClientConfig
	timeout := 600 * time.Second
	retries := 3
	if mcc != nil {
		if mcc.InvocationsTimeoutInSeconds != nil {
			timeout = time.Duration(*mcc.InvocationsTimeoutInSeconds) * time.Second
		}
		if mcc.InvocationsMaxRetries != nil {
			retries = int(*mcc.InvocationsMaxRetries)
		}
	}
	post := func(url, ct, accept string, retries int) (data []byte, respCT string, last error) {
		mb := &memBody{buf: body}
		defer mb.release()
		buf := bufs.get(0)
		defer func() {
			if last != nil {
				bufs.put(buf)
			}
		}()
		for attempt := 0; attempt <= retries; attempt++ {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return nil, "", context.Cause(ctx)
				case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
				}
			}
			rctx, cancel := context.WithTimeout(ctx, timeout)
			req, err := http.NewRequestWithContext(rctx, http.MethodPost, url+"/invocations", r)
			if err != nil {
				cancel()
				return nil, "", err
			}
			if r == nil && len(body) > 0 {
				req.Body, req.ContentLength = mb.open(), int64(len(body))
				req.GetBody = func() (io.ReadCloser, error) { return mb.open(), nil }
			}
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			resp, err := httpClient.Do(req)
			if err != nil {
				cancel()
				if ctx.Err() != nil {
					return nil, "", context.Cause(ctx)
				}
				if errors.Is(err, context.DeadlineExceeded) {
					last = fmt.Errorf("ClientError: POST /invocations timed out after %s", timeout)
				} else {
					last = fmt.Errorf("ClientError: POST /invocations failed: %v", err)
				}
				continue
			}
			if n := resp.ContentLength; n >= 0 && n <= maxResponseBytes {
				buf = slices.Grow(buf[:0], int(n)+1) // +1: room to see the end
			}
			buf, err = readBody(io.LimitReader(resp.Body, maxResponseBytes+1), buf[:0])
			resp.Body.Close()
			cancel()
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return nil, "", context.Cause(ctx)
				}
				last = fmt.Errorf("ClientError: reading the /invocations response: %v", err)
				continue
			case len(buf) > maxResponseBytes:
				return nil, "", fmt.Errorf("ClientError: an /invocations response exceeded %d bytes", maxResponseBytes)
			case resp.StatusCode >= 200 && resp.StatusCode < 300:
				return buf, resp.Header.Get("Content-Type"), nil
			}
			last = &statusError{code: resp.StatusCode, body: string(buf)}
			if resp.StatusCode < 500 {
				break
			}
		}
		return nil, "", last
	}
	ct := aws.ToString(j.doc.TransformInput.ContentType)
	for k, ctr := range h.containers {
		accept, n := "", retries
		if k == len(h.containers)-1 {
			accept = aws.ToString(j.doc.TransformOutput.Accept)
		}
		if r != nil {
			n = 0 // the stream cannot be read twice
		}
		out, outCT, err := post(ctr.URL, ct, accept, n)
		if k > 0 {
			bufs.put(body) // the previous container's answer, now sent
		}
		if err != nil {
			if len(h.containers) > 1 && ctx.Err() == nil {
				err = fmt.Errorf("ClientError: container %s: %s", ctr.Name, strings.TrimPrefix(err.Error(), "ClientError: "))
			}
			return nil, err
		}
		body, r, ct = out, nil, outCT
	}
	return body, nil
}

// readBody appends r up to its end to buf, growing buf only when more
// data follows a full buffer, so an answer that fits a reused buffer
// exactly costs no copy.
func readBody(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			var probe [1]byte
			n, err := r.Read(probe[:])
			if n > 0 {
				buf = append(slices.Grow(buf, max(len(buf), 64<<10)), probe[0])
			}
			if err == io.EOF {
				return buf, nil
			}
			if err != nil {
				return buf, err
			}
			continue
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// memBody is a request body served from a buffer that is reused once the
// request is over. The transport may still read a body after Do returns
// (when the answer came before the whole body was sent), so release takes
// the buffer away under the lock: a late read fails rather than send
// bytes of a later batch.
type memBody struct {
	mu  sync.Mutex
	buf []byte
}

var errBodyReleased = errors.New("transform: request body read after the request ended")

// open returns a reader of the whole body (each attempt and GetBody get one).
func (m *memBody) open() io.ReadCloser { return &memBodyReader{m: m} }

func (m *memBody) release() {
	m.mu.Lock()
	m.buf = nil
	m.mu.Unlock()
}

type memBodyReader struct {
	m   *memBody
	off int
}

func (r *memBodyReader) Read(p []byte) (int, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if r.m.buf == nil {
		return 0, errBodyReleased
	}
	if r.off >= len(r.m.buf) {
		return 0, io.EOF
	}
	n := copy(p, r.m.buf[r.off:])
	r.off += n
	return n, nil
}

func (r *memBodyReader) Close() error { return nil }

// buffers is a small free list of one object's batch or answer buffers.
// It keeps at most two idle ones: the buffers in use are bounded by the
// batches in flight anyway, and those come back as fast as new ones are
// needed.
type buffers struct {
	mu   sync.Mutex
	free [][]byte
	// last is the capacity of the buffer put last: new buffers get it, as
	// an object's batches (and answers) tend to be alike, so they need not
	// grow there again.
	last int
}

const maxIdleBuffers = 2

// get returns an empty buffer, one of capacity ≥ n if an idle one has it;
// a nil *buffers allocates.
func (b *buffers) get(n int) []byte {
	if b == nil {
		return make([]byte, 0, n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.free) - 1; i >= 0; i-- {
		if buf := b.free[i]; cap(buf) >= n {
			b.free = slices.Delete(b.free, i, i+1)
			return buf
		}
	}
	return make([]byte, 0, max(n, b.last))
}

// put hands back a buffer nothing references any more.
func (b *buffers) put(buf []byte) {
	if b == nil || cap(buf) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last = cap(buf)
	if len(b.free) < maxIdleBuffers {
		b.free = append(b.free, buf[:0])
		return
	}
	// Keep the largest ones: a small one would be grown on its next use.
	if i := slices.IndexFunc(b.free, func(f []byte) bool { return cap(f) < cap(buf) }); i >= 0 {
		b.free[i] = buf[:0]
	}
}

// ---------------------------------------------------------------- records

// recordReader returns the next record with its framing and without it
// (the same for None and Line); io.EOF at the end. Both point into the
// reader's buffers and are valid only until the next call: callers copy
// what they keep.
type recordReader func() (framed, payload []byte, err error)

func tooBig(limit int64) error {
	return fmt.Errorf("ClientError: a record of more than %d bytes exceeds MaxPayloadInMB", limit)
}

func newRecordReader(r io.Reader, split types.SplitType, limit int64) recordReader {
	br := bufio.NewReaderSize(r, 64<<10)
	// scratch holds a record that is not whole in br's buffer.
	var scratch []byte
	// frame returns the next size bytes, header included, from br's
	// buffer when they fit; truncated is the error of a short record.
	frame := func(size int, truncated string) ([]byte, error) {
		if size <= br.Size() {
			rec, err := br.Peek(size)
			if err != nil {
				return nil, errors.New(truncated)
			}
			br.Discard(size)
			return rec, nil
		}
		scratch = slices.Grow(scratch[:0], size)[:size]
		if _, err := io.ReadFull(br, scratch); err != nil {
			return nil, errors.New(truncated)
		}
		return scratch, nil
	}
	// header peeks at the next n bytes: io.EOF at the end of the data.
	header := func(n int, truncated string) ([]byte, error) {
		hdr, err := br.Peek(n)
		switch {
		case len(hdr) == n:
			return hdr, nil
		case len(hdr) == 0 && err == io.EOF:
			return nil, io.EOF
		case err == io.EOF:
			return nil, errors.New(truncated)
		}
		return nil, err
	}
	switch split {
	case types.SplitTypeLine:
		return func() ([]byte, []byte, error) {
			rec, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				// A line longer than the buffer: gather its pieces.
				scratch = append(scratch[:0], rec...)
				for errors.Is(err, bufio.ErrBufferFull) && (limit <= 0 || int64(len(scratch)) <= limit) {
					rec, err = br.ReadSlice('\n')
					scratch = append(scratch, rec...)
				}
				rec = scratch
			}
			if limit > 0 && int64(len(rec)) > limit {
				return nil, nil, tooBig(limit)
			}
			if err == nil || (err == io.EOF && len(rec) > 0) {
				return rec, rec, nil
			}
			return nil, nil, err
		}
	case types.SplitTypeRecordio:
		return func() ([]byte, []byte, error) {
			hdr, err := header(8, "ClientError: truncated RecordIO header")
			if err != nil {
				return nil, nil, err
			}
			if binary.LittleEndian.Uint32(hdr[:4]) != 0xced7230a {
				return nil, nil, errors.New("ClientError: bad RecordIO magic number")
			}
			n := int64(binary.LittleEndian.Uint32(hdr[4:]) & (1<<29 - 1))
			padded := (n + 3) &^ 3
			if limit > 0 && padded+8 > limit {
				return nil, nil, tooBig(limit)
			}
			rec, err := frame(int(8+padded), "ClientError: truncated RecordIO record")
			if err != nil {
				return nil, nil, err
			}
			return rec, rec[8 : 8+n], nil
		}
	case types.SplitTypeTfrecord:
		return func() ([]byte, []byte, error) {
			hdr, err := header(12, "ClientError: truncated TFRecord header")
			if err != nil {
				return nil, nil, err
			}
			n := binary.LittleEndian.Uint64(hdr[:8])
			if n > 1<<40 || (limit > 0 && int64(n)+16 > limit) {
				return nil, nil, tooBig(limit)
			}
			rec, err := frame(int(12+n+4), "ClientError: truncated TFRecord record")
			if err != nil {
				return nil, nil, err
			}
			return rec, rec[12 : 12+n], nil
		}
	default: // None: the whole object
		done := false
		return func() ([]byte, []byte, error) {
			if done {
				return nil, nil, io.EOF
			}
			done = true
			rd := io.Reader(br)
			if limit > 0 {
				rd = io.LimitReader(br, limit+1)
			}
			rec, err := io.ReadAll(rd)
			if err != nil {
				return nil, nil, err
			}
			if limit > 0 && int64(len(rec)) > limit {
				return nil, nil, tooBig(limit)
			}
			return rec, rec, nil
		}
	}
}

// batches reads records from r and calls fn with each mini-batch (§4.4):
// SingleRecord sends each record's payload; MultiRecord concatenates framed
// records while the batch stays within limit (0 = unbounded). Batch
// buffers come from bufs (nil: new ones); fn owns each batch it gets.
func batches(r io.Reader, split types.SplitType, strategy types.BatchStrategy, limit int64, bufs *buffers, fn func([]byte) error) error {
	if split == types.SplitTypeLine && strategy == types.BatchStrategyMultiRecord && limit > 0 {
		return lineBatches(r, int(limit), bufs, fn)
	}
	next := newRecordReader(r, split, limit)
	var buf []byte
	for {
		framed, payload, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if strategy == types.BatchStrategySingleRecord {
			if err := fn(append(bufs.get(len(payload)), payload...)); err != nil {
				return err
			}
			continue
		}
		if len(buf) > 0 && limit > 0 && int64(len(buf)+len(framed)) > limit {
			if err := fn(buf); err != nil {
				return err
			}
			buf = nil
		}
		if buf == nil {
			buf = bufs.get(len(framed))
		}
		buf = append(buf, framed...)
	}
	if len(buf) > 0 {
		return fn(buf)
	}
	return nil
}

// lineBatches is batches() for Line records, MultiRecord, within limit: it
// reads the object straight into the batch buffers and cuts each batch
// after the last newline that fits, which makes the same batches as
// adding up the lines one by one (the longest run of whole lines within
// limit) without looking at each line.
func lineBatches(r io.Reader, limit int, bufs *buffers, fn func([]byte) error) error {
	// One byte past the limit tells whether the data goes on. Buffers start
	// small (most objects are small) and grow to the size large ones need.
	size := min(limit+1, 64<<10)
	buf := bufs.get(size)
	eof := false
	for {
		for !eof && len(buf) <= limit {
			if len(buf) == cap(buf) {
				buf = slices.Grow(buf, min(cap(buf), limit+1-len(buf)))
			}
			n, err := r.Read(buf[len(buf):min(cap(buf), limit+1)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return err
			}
		}
		if len(buf) <= limit { // the rest of the object: one batch
			if len(buf) == 0 {
				return nil
			}
			return fn(buf)
		}
		cut := bytes.LastIndexByte(buf[:limit], '\n') + 1
		if cut == 0 {
			return tooBig(int64(limit))
		}
		// The start of the next batch moves to a new buffer before this one
		// is handed over.
		size = max(size, min(cap(buf), limit+1))
		next := append(bufs.get(size), buf[cut:]...)
		if err := fn(buf[:cut]); err != nil {
			return err
		}
		buf = next
	}
}
