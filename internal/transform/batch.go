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
		body, err := c.invoke(objCtx, j, h, nil, r)
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

	order := make(chan *pending, cap(h.sem))
	writerDone := make(chan error, 1)
	go func() {
		var werr error
		for p := range order {
			<-p.done
			if werr == nil {
				if werr = p.err; werr == nil {
					werr = writeResponse(pw, p.body, line)
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
			p.body, p.err = c.invoke(objCtx, j, h, batch, nil)
			if p.err == nil && assemble != nil {
				p.body, p.err = assemble(p.body)
			}
			close(p.done)
		}()
		return nil
	}
	if dp != nil {
		err = dp.batches(r, j.strategy, j.payload, send)
	} else {
		err = batches(r, split, j.strategy, j.payload, func(batch []byte) error { return send(batch, nil) })
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
// (§4.5), except that a stream r is sent once.
func (c *Controller) invoke(ctx context.Context, j *job, h *host, body []byte, r io.Reader) ([]byte, error) {
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
		for attempt := 0; attempt <= retries; attempt++ {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return nil, "", context.Cause(ctx)
				case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
				}
			}
			rctx, cancel := context.WithTimeout(ctx, timeout)
			var reqBody io.Reader = r
			if r == nil {
				reqBody = bytes.NewReader(body)
			}
			req, err := http.NewRequestWithContext(rctx, http.MethodPost, url+"/invocations", reqBody)
			if err != nil {
				cancel()
				return nil, "", err
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
			data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
			resp.Body.Close()
			cancel()
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return nil, "", context.Cause(ctx)
				}
				last = fmt.Errorf("ClientError: reading the /invocations response: %v", err)
				continue
			case len(data) > maxResponseBytes:
				return nil, "", fmt.Errorf("ClientError: an /invocations response exceeded %d bytes", maxResponseBytes)
			case resp.StatusCode >= 200 && resp.StatusCode < 300:
				return data, resp.Header.Get("Content-Type"), nil
			}
			last = &statusError{code: resp.StatusCode, body: string(data)}
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

// ---------------------------------------------------------------- records

// recordReader returns the next record with its framing and without it
// (the same for None and Line); io.EOF at the end.
type recordReader func() (framed, payload []byte, err error)

func newRecordReader(r io.Reader, split types.SplitType, limit int64) recordReader {
	br := bufio.NewReaderSize(r, 64<<10)
	tooBig := func(n int64) error {
		return fmt.Errorf("ClientError: a record of more than %d bytes exceeds MaxPayloadInMB", n)
	}
	switch split {
	case types.SplitTypeLine:
		return func() ([]byte, []byte, error) {
			var rec []byte
			for {
				chunk, err := br.ReadSlice('\n')
				rec = append(rec, chunk...)
				if limit > 0 && int64(len(rec)) > limit {
					return nil, nil, tooBig(limit)
				}
				switch {
				case err == nil:
					return rec, rec, nil
				case errors.Is(err, bufio.ErrBufferFull):
					continue
				case err == io.EOF && len(rec) > 0:
					return rec, rec, nil
				default:
					return nil, nil, err
				}
			}
		}
	case types.SplitTypeRecordio:
		return func() ([]byte, []byte, error) {
			var hdr [8]byte
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				if err == io.ErrUnexpectedEOF {
					return nil, nil, errors.New("ClientError: truncated RecordIO header")
				}
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
			rec := make([]byte, 8+padded)
			copy(rec, hdr[:])
			if _, err := io.ReadFull(br, rec[8:]); err != nil {
				return nil, nil, errors.New("ClientError: truncated RecordIO record")
			}
			return rec, rec[8 : 8+n], nil
		}
	case types.SplitTypeTfrecord:
		return func() ([]byte, []byte, error) {
			var hdr [12]byte
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				if err == io.ErrUnexpectedEOF {
					return nil, nil, errors.New("ClientError: truncated TFRecord header")
				}
				return nil, nil, err
			}
			n := binary.LittleEndian.Uint64(hdr[:8])
			if n > 1<<40 || (limit > 0 && int64(n)+16 > limit) {
				return nil, nil, tooBig(limit)
			}
			rec := make([]byte, 12+n+4)
			copy(rec, hdr[:])
			if _, err := io.ReadFull(br, rec[12:]); err != nil {
				return nil, nil, errors.New("ClientError: truncated TFRecord record")
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
// records while the batch stays within limit (0 = unbounded).
func batches(r io.Reader, split types.SplitType, strategy types.BatchStrategy, limit int64, fn func([]byte) error) error {
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
			if err := fn(payload); err != nil {
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
		buf = append(buf, framed...)
	}
	if len(buf) > 0 {
		return fn(buf)
	}
	return nil
}
