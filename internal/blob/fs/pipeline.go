package fs

import (
	"errors"
	"io"
)

// pipelineBuf is the size of each buffer copyHashed moves; pipelineDepth
// buffers are in flight at most, so memory per write is bounded.
const (
	pipelineBuf   = 256 << 10
	pipelineDepth = 4
	// pipelineMin: objects of known size up to this are copied and hashed
	// in one goroutine.
	pipelineMin = 1 << 20
)

// copyHashed copies src to dst while feeding every byte to hashes on a
// second goroutine, so hashing (MD5 costs about as much as the disk write)
// overlaps reading and writing instead of adding to them. It returns the
// bytes copied; the hashes are complete when it returns.
func copyHashed(dst io.Writer, src io.Reader, hashes []io.Writer) (int64, error) {
	free := make(chan []byte, pipelineDepth)
	for i := 0; i < pipelineDepth; i++ {
		free <- (*copyBufPool.Get().(*[]byte))[:pipelineBuf]
	}
	defer func() {
		for i := 0; i < pipelineDepth; i++ {
			b := <-free
			copyBufPool.Put(&b)
		}
	}()
	full := make(chan []byte, pipelineDepth)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range full {
			for _, h := range hashes {
				h.Write(b)
			}
			free <- b[:cap(b)]
		}
	}()
	var n int64
	var err error
	for {
		buf := <-free
		m, rerr := io.ReadFull(src, buf)
		if m > 0 {
			if _, werr := dst.Write(buf[:m]); werr != nil {
				err = werr
				break
			}
			n += int64(m)
			full <- buf[:m]
		} else {
			free <- buf
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
				err = rerr
			}
			break
		}
	}
	close(full)
	<-done
	return n, err
}
