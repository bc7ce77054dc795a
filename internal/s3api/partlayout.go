package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/wharfml/wharf/internal/blob"
)

// blob.ObjectInfo tells how many parts a multipart object has but not their
// sizes, which GET/HEAD ?partNumber=N needs. Until blob.Store reports them,
// the handler keeps each completed multipart object's part sizes in a small
// JSON record of its own, in a blob namespace that no S3 client can address
// (not a valid bucket name), keyed by a hash of bucket and key and tied to
// the object's ETag so a record left over from an overwritten object is
// never used.
const layoutNamespace = "_s3api-parts"

type partLayout struct {
	ETag  string  `json:"etag"`
	Sizes []int64 `json:"sizes"`
}

func layoutKey(bucket, key string) string {
	sum := sha256.Sum256([]byte(bucket + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// saveLayout records the part sizes of a completed multipart object.
func (h *Handler) saveLayout(ctx context.Context, bucket, key, etag string, sizes []int64) error {
	data, err := json.Marshal(partLayout{ETag: etag, Sizes: sizes})
	if err != nil {
		return err
	}
	_, err = h.blobs.Put(ctx, layoutNamespace, layoutKey(bucket, key), bytes.NewReader(data),
		blob.PutOptions{Size: int64(len(data)), Attrs: blob.Attrs{ContentType: "application/json"}})
	return err
}

// loadLayout returns the part sizes recorded for the object with this ETag.
func (h *Handler) loadLayout(ctx context.Context, bucket, key, etag string) ([]int64, error) {
	rc, _, err := h.blobs.Get(ctx, layoutNamespace, layoutKey(bucket, key), nil)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, err
	}
	var l partLayout
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, err
	}
	if l.ETag != etag {
		return nil, blob.ErrNotFound
	}
	return l.Sizes, nil
}

// isMultipart reports whether an object exists and is a multipart object,
// whose part layout must be dropped once it is replaced or deleted.
func (h *Handler) isMultipart(ctx context.Context, bucket, key string) bool {
	info, err := h.blobs.Head(ctx, bucket, key)
	return err == nil && info.PartCount > 0
}

// dropLayout forgets the part sizes of a deleted object (best effort).
func (h *Handler) dropLayout(ctx context.Context, bucket, key string) {
	_ = h.blobs.Delete(ctx, layoutNamespace, layoutKey(bucket, key))
}

func errInvalidPartNumber() *apiError {
	return newError("InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable,
		"The requested partnumber is not satisfiable")
}

// partRange returns the byte range of part n of an object. A single-part
// object has exactly one part, the whole object.
func (h *Handler) partRange(ctx context.Context, bucket, key string, info blob.ObjectInfo, n int) (byteRange, error) {
	if info.PartCount == 0 {
		if n != 1 {
			return byteRange{}, errInvalidPartNumber()
		}
		return byteRange{start: 0, length: info.Size}, nil
	}
	if n > info.PartCount {
		return byteRange{}, errInvalidPartNumber()
	}
	sizes, err := h.loadLayout(ctx, bucket, key, info.ETag)
	if errors.Is(err, blob.ErrNotFound) || (err == nil && len(sizes) != info.PartCount) {
		return byteRange{}, errNotImplemented("Reading a part of a multipart object whose part layout is unknown")
	}
	if err != nil {
		return byteRange{}, errInternal(err)
	}
	var start int64
	for _, s := range sizes[:n-1] {
		start += s
	}
	return byteRange{start: start, length: sizes[n-1]}, nil
}
