// Package access reads and writes S3 objects on behalf of one account, the
// way jobs do: a bucket of another account reads as missing, and errors a
// caller can fix start with "ClientError: " so they can become a job's
// FailureReason as they are.
package access

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/store"
)

// Objects implements contract.ObjectSource and contract.ObjectSink for Account.
type Objects struct {
	Store   store.Store
	Blobs   blob.Store
	Account string
}

func (o *Objects) check(ctx context.Context, bucket string) error {
	b, err := o.Store.GetBucket(ctx, bucket)
	if errors.Is(err, store.ErrNotFound) || (err == nil && b.Owner != o.Account) {
		return fmt.Errorf("ClientError: bucket %s does not exist or belongs to another account", bucket)
	}
	return err
}

// List calls fn for every object under prefix, in key order, across pages.
func (o *Objects) List(ctx context.Context, bucket, prefix string, fn func(blob.ObjectInfo) error) error {
	if err := o.check(ctx, bucket); err != nil {
		return err
	}
	opts := blob.ListOptions{Prefix: prefix, MaxKeys: 1000}
	for {
		res, err := o.Blobs.List(ctx, bucket, opts)
		if err != nil {
			return err
		}
		for _, obj := range res.Objects {
			if err := fn(obj); err != nil {
				return err
			}
		}
		if !res.IsTruncated {
			return nil
		}
		opts.StartAfter = res.NextStartAfter
	}
}

// Head describes one object.
func (o *Objects) Head(ctx context.Context, bucket, key string) (blob.ObjectInfo, error) {
	if err := o.check(ctx, bucket); err != nil {
		return blob.ObjectInfo{}, err
	}
	info, err := o.Blobs.Head(ctx, bucket, key)
	if errors.Is(err, blob.ErrNotFound) {
		return info, fmt.Errorf("ClientError: s3://%s/%s does not exist", bucket, key)
	}
	return info, err
}

// Open reads one object whole.
func (o *Objects) Open(ctx context.Context, bucket, key string) (io.ReadCloser, blob.ObjectInfo, error) {
	if err := o.check(ctx, bucket); err != nil {
		return nil, blob.ObjectInfo{}, err
	}
	rc, info, err := o.Blobs.Get(ctx, bucket, key, nil)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, info, fmt.Errorf("ClientError: s3://%s/%s does not exist", bucket, key)
	}
	return rc, info, err
}

// Put writes an object (size -1 when unknown).
func (o *Objects) Put(ctx context.Context, bucket, key string, r io.Reader, size int64) error {
	if err := o.check(ctx, bucket); err != nil {
		return err
	}
	_, err := o.Blobs.Put(ctx, bucket, key, r, blob.PutOptions{Size: size, Attrs: blob.Attrs{ContentType: "application/octet-stream"}})
	return err
}
