package contract

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// RecordIOMagic starts every MXNet RecordIO record (written little-endian).
const RecordIOMagic = 0xced7230a

// maxRecordIOLen is the largest payload a single RecordIO record can frame:
// the upper 3 bits of the length word are the continuation flag.
const maxRecordIOLen = 1<<29 - 1

// FIFOName is the name of a Pipe-mode channel's FIFO for an epoch.
func FIFOName(channel string, epoch int) string { return channel + "_" + strconv.Itoa(epoch) }

// ServePipe implements Pipe mode (§2.4) for one channel on one host: it
// creates the FIFO dir/<channel>_0 (or uses the one PrepareHost made, which
// the container may open before ServePipe starts), waits for a reader, writes the objects
// back to back (key order, or shuffled with ShuffleSeed+epoch; gunzipped for
// Gzip; framed for RecordIO), closes and removes it, then serves
// <channel>_1, and so on until ctx is cancelled, when it returns nil. A
// reader closing an epoch early ends that epoch. Any other error ends
// serving and should fail the job: a *ClientError for bad or vanished data.
//
// dir is the host directory mounted at /opt/ml/input/data; it must not be
// writable by the container (PrepareHost makes it so). Each FIFO is created
// just after the previous epoch's writer closed, since a writer cannot see
// when the reader closes after EOF.
func ServePipe(ctx context.Context, src ObjectSource, ch Channel, objs []ChannelObject, dir string) error {
	ch, err := ch.normalize()
	if err != nil {
		return err
	}
	if ch.InputMode != ModePipe {
		return fmt.Errorf("channel %q: ServePipe needs Pipe mode, not %s", ch.Name, ch.InputMode)
	}
	buf := bufio.NewWriterSize(nil, 256<<10)
	for epoch := 0; ; epoch++ {
		order := objs
		if ch.ShuffleSeed != nil {
			order = slices.Clone(objs)
			r := rand.New(rand.NewPCG(uint64(*ch.ShuffleSeed+int64(epoch)), 0))
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		err := serveEpoch(ctx, src, ch, order, filepath.Join(dir, FIFOName(ch.Name, epoch)), buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return withContext(err, "channel %q epoch %d", ch.Name, epoch)
		}
	}
}

// serveEpoch creates the FIFO at p, streams one epoch into it and removes it.
func serveEpoch(ctx context.Context, src ObjectSource, ch Channel, objs []ChannelObject, p string, buf *bufio.Writer) error {
	f, err := openFIFO(ctx, p)
	if err != nil {
		return err
	}
	defer os.Remove(p)
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	buf.Reset(f)
	err = writeEpoch(ctx, src, ch, objs, buf)
	if err == nil {
		err = buf.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EPIPE) {
		return nil // the reader closed early
	}
	return err
}

// makeFIFO creates a FIFO at p, mode 0644. Readers poll for the name, so it
// must appear with its final mode: it is made under a temporary name, then
// renamed into place (replacing whatever is there without following it).
func makeFIFO(p string) error {
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp")
	os.Remove(tmp)
	err := syscall.Mkfifo(tmp, 0o600)
	if err == nil {
		err = os.Chmod(tmp, 0o644)
		if err == nil {
			err = os.Rename(tmp, p)
		}
		if err != nil {
			os.Remove(tmp)
		}
	}
	if err != nil {
		return fmt.Errorf("create FIFO: %w", err)
	}
	return nil
}

// openFIFO creates a FIFO at p (unless there is one) and opens it for
// writing once a reader has opened it, polling with O_NONBLOCK so that ctx
// can cancel the wait. The returned file is non-blocking underneath (runtime
// poller), so write deadlines work.
func openFIFO(ctx context.Context, p string) (*os.File, error) {
	// PrepareHost made epoch 0 already: readers may have opened it.
	if st, err := os.Lstat(p); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		if err := makeFIFO(p); err != nil {
			return nil, err
		}
	}
	made, err := os.Lstat(p)
	if err != nil {
		return nil, fmt.Errorf("create FIFO: %w", err)
	}
	delay := 5 * time.Millisecond
	for {
		f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
		if err == nil {
			st, err := f.Stat()
			if err == nil && (st.Mode()&os.ModeNamedPipe == 0 || !os.SameFile(st, made)) {
				err = errors.New("FIFO was replaced")
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("open FIFO: %w", err)
			}
			return f, nil
		}
		if !errors.Is(err, syscall.ENXIO) { // ENXIO: no reader yet
			os.Remove(p)
			return nil, fmt.Errorf("open FIFO: %w", err)
		}
		select {
		case <-ctx.Done():
			os.Remove(p)
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// writeEpoch writes every object once to w.
func writeEpoch(ctx context.Context, src ObjectSource, ch Channel, objs []ChannelObject, w io.Writer) error {
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := writeObject(ctx, src, ch, o, w); err != nil {
			return withContext(err, "%s", S3URI(o.Bucket, o.Key))
		}
	}
	return nil
}

func writeObject(ctx context.Context, src ObjectSource, ch Channel, o ChannelObject, w io.Writer) error {
	gz := ch.CompressionType == CompressionGzip
	size := o.Size
	if gz && ch.RecordWrapperType == RecordIO {
		// The record length precedes the payload: decompress once to count.
		n, err := copyObject(ctx, src, o, true, io.Discard, -1)
		if err != nil {
			return err
		}
		size = n
	}
	if ch.RecordWrapperType != RecordIO {
		_, err := copyObject(ctx, src, o, gz, w, -1)
		return err
	}
	if size > maxRecordIOLen {
		return clientErrorf("object of %d bytes is too large for one RecordIO record", size)
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:4], RecordIOMagic)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(size))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := copyObject(ctx, src, o, gz, w, size); err != nil {
		return err
	}
	var pad [4]byte
	_, err := w.Write(pad[:(4-size%4)%4])
	return err
}

// copyObject copies o (decompressed if gz) to w and returns the bytes
// written. want >= 0 is the exact length expected; uncompressed objects must
// also match their listed size.
func copyObject(ctx context.Context, src ObjectSource, o ChannelObject, gz bool, w io.Writer, want int64) (int64, error) {
	rc, info, err := src.Open(ctx, o.Bucket, o.Key)
	if err != nil {
		return 0, sourceError(err, "object")
	}
	defer rc.Close()
	var r io.Reader = ctxReader{ctx, rc}
	if !gz {
		if info.Size != o.Size {
			return 0, clientErrorf("object changed during the job (size %d, listed as %d)", info.Size, o.Size)
		}
		want = o.Size
	} else {
		zr, err := gzip.NewReader(r)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, &ClientError{Msg: "cannot decompress object", Err: err}
		}
		defer zr.Close()
		r = zr
	}
	tr := &readTracker{r: r}
	r = tr
	if want >= 0 {
		r = io.LimitReader(r, want+1)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		if gz && tr.err != nil && ctx.Err() == nil {
			return n, &ClientError{Msg: "cannot decompress object", Err: err}
		}
		return n, err
	}
	if want >= 0 && n != want {
		return n, clientErrorf("object changed during the job (%d bytes, expected %d)", n, want)
	}
	return n, nil
}

// readTracker remembers the last read error, to tell bad input from a
// failing writer.
type readTracker struct {
	r   io.Reader
	err error
}

func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}
