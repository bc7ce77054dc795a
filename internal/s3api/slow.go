package s3api

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"time"
)

// respondSlow runs fn, which builds the XML result of a copy or multipart
// completion. If fn finishes within slowAfter its result (or error) is sent
// normally. Otherwise, as S3 does, the response is committed as 200 with the
// XML declaration and kept alive with a space every keepAlive, so that
// clients with read timeouts (botocore: 60 s) keep waiting; the result, or
// an <Error> document, follows when fn returns. The SDKs recognise an error
// in a 200 response to these operations.
func (h *Handler) respondSlow(q *request, fn func() (any, error)) error {
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: errInternal(fmt.Errorf("panic: %v", p))}
			}
		}()
		v, err := fn()
		done <- result{v, err}
	}()

	timer := time.NewTimer(h.slowAfter)
	defer timer.Stop()
	select {
	case res := <-done:
		if res.err != nil {
			return res.err
		}
		return writeXML(q.w, http.StatusOK, res.v)
	case <-timer.C:
	}

	rc := http.NewResponseController(q.w)
	q.w.Header().Set("Content-Type", "application/xml")
	q.w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(q.w, xml.Header)
	_ = rc.Flush()
	tick := time.NewTicker(h.keepAlive)
	defer tick.Stop()
	for {
		select {
		case res := <-done:
			v := res.v
			if res.err != nil {
				ae := blobError(res.err, q.key, "")
				h.log.Warn("s3api: request failed after 200 was sent", "op", q.op, "bucket", q.bucket,
					"key", q.key, "request_id", q.id, "code", ae.Code, "err", res.err)
				v = ae.doc(q.resource(), q.id, q.hostID)
			}
			data, err := xml.Marshal(v)
			if err != nil {
				data, _ = xml.Marshal(errInternal(err).doc(q.resource(), q.id, q.hostID))
			}
			_, _ = q.w.Write(data)
			return nil
		case <-tick.C:
			_, _ = io.WriteString(q.w, " ")
			_ = rc.Flush()
		}
	}
}
