package fs

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/wharfml/wharf/internal/blob"
)

// PutFile makes the local file at path the data of bucket/key by renaming
// it into the store: the data is read once (for its MD5) but not copied.
// The registry commits every pushed layer this way. The file must be on
// the store's filesystem, else the error wraps errors.ErrUnsupported and the
// file is left where it was; on other errors too it stays at path.
func (s *Store) PutFile(ctx context.Context, bucket, key, path string, size int64) (blob.ObjectInfo, error) {
	info, err := s.putFile(ctx, bucket, key, path, size)
	if err != nil {
		return blob.ObjectInfo{}, fmt.Errorf("put file %s/%s: %w", bucket, key, err)
	}
	return info, nil
}

func (s *Store) putFile(ctx context.Context, bucket, key, path string, size int64) (blob.ObjectInfo, error) {
	if err := checkNames(bucket, key); err != nil {
		return blob.ObjectInfo{}, err
	}
	rel := filepath.Join(dirTmp, newFileID()+".tmp")
	s.markActive(rel)
	if err := os.Rename(path, s.abs(rel)); err != nil {
		s.unmarkActive(rel)
		if errors.Is(err, syscall.EXDEV) {
			return blob.ObjectInfo{}, fmt.Errorf("%s is on another filesystem: %w", path, errors.ErrUnsupported)
		}
		return blob.ObjectInfo{}, err
	}
	restore := func(err error) (blob.ObjectInfo, error) {
		if rerr := os.Rename(s.abs(rel), path); rerr != nil {
			s.removeFile(rel)
		}
		s.unmarkActive(rel)
		return blob.ObjectInfo{}, err
	}
	f, err := os.Open(s.abs(rel))
	if err != nil {
		return restore(err)
	}
	h := md5.New()
	bufp := copyBufPool.Get().(*[]byte)
	n, err := io.CopyBuffer(h, ctxReader{ctx, f}, *bufp)
	copyBufPool.Put(bufp)
	if err == nil && s.cfg.sync {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return restore(err)
	}
	if n != size {
		return restore(fmt.Errorf("file has %d bytes, expected %d: %w", n, size, io.ErrUnexpectedEOF))
	}
	sp := &spooled{tmp: rel, size: n, etag: hex.EncodeToString(h.Sum(nil))}
	info := blob.ObjectInfo{Bucket: bucket, Key: key, Size: n, ETag: sp.etag}
	if err := s.commitObject(ctx, sp, &info, nil, nil); err != nil {
		return blob.ObjectInfo{}, err
	}
	return info, nil
}
