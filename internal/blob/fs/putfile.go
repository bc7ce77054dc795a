package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/wharfml/wharf/internal/blob"
)

// putFileETagPrefix starts the ETag of every object stored by PutFile.
const putFileETagPrefix = "file-"

// PutFile makes the local file at path the data of bucket/key by renaming
// it into the store, without reading or copying it. The registry commits
// every pushed layer this way; distribution has already hashed each byte
// (sha256) as it arrived and verifies the layer's digest itself.
//
// Because the data is not read, the object's ETag is not its MD5 (which
// would cost more CPU than distribution's sha256) but "file-" and a random
// id, unique to this write. It cannot be taken for an MD5 (it is not 32
// hex digits), so nothing verifies data against it. Use Put for objects
// whose ETag S3 clients may see.
//
// The file must be on the store's filesystem, else the error wraps
// errors.ErrUnsupported and the file is left where it was; on other errors
// too it stays at path.
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
	if err := ctx.Err(); err != nil {
		return blob.ObjectInfo{}, err
	}
	id := newFileID()
	rel := filepath.Join(dirTmp, id+".tmp")
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
	// Stat after the rename: the size checked is that of the file now
	// in the store.
	fi, err := os.Stat(s.abs(rel))
	if err != nil {
		return restore(err)
	}
	if fi.Size() != size {
		return restore(fmt.Errorf("file has %d bytes, expected %d: %w", fi.Size(), size, io.ErrUnexpectedEOF))
	}
	if s.cfg.sync {
		if err := syncFile(s.abs(rel)); err != nil {
			return restore(err)
		}
	}
	sp := &spooled{tmp: rel, size: size, etag: putFileETagPrefix + id}
	info := blob.ObjectInfo{Bucket: bucket, Key: key, Size: size, ETag: sp.etag}
	if err := s.commitObject(ctx, sp, &info, nil, nil); err != nil {
		return blob.ObjectInfo{}, err
	}
	return info, nil
}

// syncFile fsyncs the file at p.
func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
