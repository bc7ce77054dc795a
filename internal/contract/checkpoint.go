package contract

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"
)

// checkpointPrefix returns the bucket and the key prefix ("" or ending in
// "/") of a checkpoint S3Uri: s3://b/ckpt and s3://b/ckpt/ are the same folder.
func checkpointPrefix(s3Uri string) (bucket, prefix string, err error) {
	bucket, prefix, err = ParseS3URI(s3Uri)
	if err != nil {
		return "", "", err
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return bucket, prefix, nil
}

// SyncDown copies the objects under a checkpoint S3Uri into dir under their
// relative paths before the container starts (§2.10), like StageFile.
// Unsafe keys are a *ClientError.
func SyncDown(ctx context.Context, src ObjectSource, s3Uri, dir string) error {
	bucket, prefix, err := checkpointPrefix(s3Uri)
	if err != nil {
		return fmt.Errorf("checkpoint sync: %w", err)
	}
	objs, err := listRelative(ctx, src, bucket, prefix, s3Uri, func(key string) (string, error) {
		rel := key[len(prefix):]
		if err := checkRelPath(rel); err != nil {
			return "", &ClientError{Msg: fmt.Sprintf("unsafe checkpoint object key %q", key), Err: err}
		}
		return rel, nil
	})
	if err == nil {
		err = checkPathConflicts(objs)
	}
	if err == nil {
		_, err = StageFile(ctx, src, objs, dir)
	}
	if err != nil {
		return withContext(err, "checkpoint sync")
	}
	return nil
}

// SettleTime is how long a checkpoint file must stay unmodified before Scan
// uploads it, so files being written are not uploaded half-done.
const SettleTime = 2 * time.Second

// Syncer uploads files created or changed under a checkpoint directory to
// the checkpoint S3Uri under the same relative paths (§2.10). Deleted files
// are not deleted remotely; symlinks and special files are ignored.
type Syncer struct {
	sink           ObjectSink
	bucket, prefix string
	dir            string

	mu   sync.Mutex
	seen map[string]fileStamp
}

type fileStamp struct {
	size  int64
	mtime time.Time
}

// NewSyncer records the current contents of dir as already synced: create
// it after SyncDown and before the container starts.
func NewSyncer(ctx context.Context, sink ObjectSink, s3Uri, dir string) (*Syncer, error) {
	bucket, prefix, err := checkpointPrefix(s3Uri)
	if err != nil {
		return nil, fmt.Errorf("checkpoint sync: %w", err)
	}
	s := &Syncer{sink: sink, bucket: bucket, prefix: prefix, dir: dir, seen: map[string]fileStamp{}}
	err = walkPath(ctx, dir, func(e fileEntry) error {
		if e.info.Mode().IsRegular() {
			s.seen[e.rel] = fileStamp{e.info.Size(), e.info.ModTime()}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint sync: %w", err)
	}
	return s, nil
}

// Scan uploads the files that changed (size or modification time) since
// they were last uploaded and have not been modified for SettleTime. Call it
// periodically while the container runs.
func (s *Syncer) Scan(ctx context.Context) error { return s.scan(ctx, SettleTime) }

// Flush uploads every changed file, however recent: the final sync after
// the container exited.
func (s *Syncer) Flush(ctx context.Context) error { return s.scan(ctx, 0) }

func (s *Syncer) scan(ctx context.Context, settle time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return fmt.Errorf("checkpoint sync: %w", err)
	}
	defer root.Close()
	now := time.Now()
	var errs []error
	err = walkTree(ctx, root, func(e fileEntry) error {
		if !e.info.Mode().IsRegular() {
			return nil
		}
		stamp := fileStamp{e.info.Size(), e.info.ModTime()}
		if old, ok := s.seen[e.rel]; ok && old.size == stamp.size && old.mtime.Equal(stamp.mtime) {
			return nil
		}
		if now.Sub(stamp.mtime) < settle {
			return nil // still being written: next time
		}
		err := uploadFile(ctx, s.sink, s.bucket, s.prefix+e.rel, root, e.rel, e.info)
		switch {
		case err == nil:
			s.seen[e.rel] = stamp
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, fs.ErrNotExist):
			// removed meanwhile
		default:
			if now, serr := root.Lstat(e.rel); serr == nil && os.SameFile(now, e.info) &&
				now.Size() == stamp.size && now.ModTime().Equal(stamp.mtime) {
				errs = append(errs, fmt.Errorf("%s: %w", e.rel, err))
			} // else it changed meanwhile: retried next time
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("checkpoint sync to %s: %w", S3URI(s.bucket, s.prefix), errors.Join(errs...))
	}
	return nil
}
