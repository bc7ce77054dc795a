// Package blobdriver is a distribution/v3 storagedriver.StorageDriver over
// Wharf's object store (blob.Store), so the embedded registry keeps its data
// wherever Wharf keeps objects (the local filesystem today, S3 later).
//
// Driver paths ("/docker/registry/v2/...") become keys without the leading
// slash in one bucket (namespace). Directories are implicit: a path is a
// directory when some key starts with path+"/", and List is a delimited
// prefix listing.
//
// Streamed writes (blob uploads) go to a file under a local temporary
// directory that mirrors the driver path, so an upload can be resumed by a
// later request (Writer with append) on the same node. Commit moves the
// file into the object store (FilePutter: a rename, the data neither copied
// nor read again) or else copies it with one Put and removes it; only then
// is the content visible. Cancel, or Delete of an enclosing directory,
// removes it.
//
// The object store has no rename. Move uses the store's Rename method when it
// has one (see Renamer) and otherwise copies (Get, Put) and deletes.
package blobdriver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/wharfml/wharf/internal/blob"
)

// Name is the driver's name, as distribution reports it in errors.
const Name = "wharf"

// Renamer is implemented by object stores that can move an object to a new
// key cheaply (the filesystem store: an index update). Rename replaces any
// object at to and returns an error wrapping blob.ErrNotFound if from does
// not exist.
type Renamer interface {
	Rename(ctx context.Context, bucket, from, to string) error
}

// FilePutter is implemented by object stores that can take a local file as
// an object's data without copying it (the filesystem store, when the file
// is on its filesystem: a rename into its data directory). PutFile moves the
// file at path, of size bytes, in as bucket/key; the file is gone after a
// successful call. The object's ETag need not be an MD5: the registry
// never reads ETags, and distribution verifies each blob's digest. An error
// wrapping errors.ErrUnsupported (say, the file is on another filesystem)
// makes the driver copy the data with Put instead.
type FilePutter interface {
	PutFile(ctx context.Context, bucket, key, path string, size int64) (blob.ObjectInfo, error)
}

// StaleUploadAge is how old an unfinished local upload file must be before
// New removes it. It matches the registry's upload purge age.
const StaleUploadAge = 7 * 24 * time.Hour

// writeBufferSize buffers streamed writes to the local upload file.
const writeBufferSize = 256 << 10

// listPage is the page size of the object store listings the driver makes.
const listPage = 1000

// Driver implements storagedriver.StorageDriver. It is safe for concurrent use.
type Driver struct {
	store  blob.Store
	bucket string
	tmp    string
}

var _ storagedriver.StorageDriver = (*Driver)(nil)

// New returns a driver keeping objects in bucket of store and unfinished
// uploads under tempDir (created if needed). Upload files older than
// StaleUploadAge left there by an earlier run are removed.
func New(store blob.Store, bucket, tempDir string) (*Driver, error) {
	if store == nil || bucket == "" || tempDir == "" {
		return nil, errors.New("blobdriver: store, bucket and temp dir are required")
	}
	abs, err := filepath.Abs(tempDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("blobdriver: create temp dir: %w", err)
	}
	removeStale(abs, time.Now().Add(-StaleUploadAge))
	return &Driver{store: store, bucket: bucket, tmp: abs}, nil
}

// removeStale deletes old files (and then empty directories) under root.
func removeStale(root string, before time.Time) {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p != root {
				dirs = append(dirs, p)
			}
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().Before(before) {
			_ = os.Remove(p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // only succeeds when empty
	}
}

// Name implements storagedriver.StorageDriver.
func (d *Driver) Name() string { return Name }

// checkPath validates a driver path: absolute, slash-separated components of
// [A-Za-z0-9._-], none of them "." or "..". Root ("/") is allowed only where
// allowRoot says so.
func checkPath(p string, allowRoot bool) error {
	if p == "/" && allowRoot {
		return nil
	}
	if !storagedriver.PathRegexp.MatchString(p) {
		return storagedriver.InvalidPathError{Path: p, DriverName: Name}
	}
	for _, c := range strings.Split(p[1:], "/") {
		if c == "." || c == ".." {
			return storagedriver.InvalidPathError{Path: p, DriverName: Name}
		}
	}
	return nil
}

// key maps a driver path to an object key.
func key(p string) string { return strings.TrimPrefix(p, "/") }

// dirPrefix is the key prefix of everything under directory p.
func dirPrefix(p string) string {
	if p == "/" {
		return ""
	}
	return key(p) + "/"
}

// localPath is where an unfinished streamed write to p lives.
func (d *Driver) localPath(p string) string {
	return filepath.Join(d.tmp, filepath.FromSlash(key(p)))
}

func (d *Driver) notFound(p string) error {
	return storagedriver.PathNotFoundError{Path: p, DriverName: Name}
}

// wrap converts an object store error for path p.
func (d *Driver) wrap(p string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blob.ErrNotFound):
		return d.notFound(p)
	case errors.Is(err, blob.ErrInvalidKey):
		return storagedriver.InvalidPathError{Path: p, DriverName: Name}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return storagedriver.Error{DriverName: Name, Detail: err}
}

// GetContent implements storagedriver.StorageDriver.
func (d *Driver) GetContent(ctx context.Context, p string) ([]byte, error) {
	if err := checkPath(p, false); err != nil {
		return nil, err
	}
	rc, info, err := d.store.Get(ctx, d.bucket, key(p), nil)
	if err != nil {
		return nil, d.wrap(p, err)
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, max(info.Size, 0)+bytes.MinRead))
	if _, err := buf.ReadFrom(rc); err != nil {
		return nil, d.wrap(p, err)
	}
	return buf.Bytes(), nil
}

// PutContent implements storagedriver.StorageDriver.
func (d *Driver) PutContent(ctx context.Context, p string, content []byte) error {
	if err := checkPath(p, false); err != nil {
		return err
	}
	_, err := d.store.Put(ctx, d.bucket, key(p), bytes.NewReader(content), blob.PutOptions{Size: int64(len(content))})
	return d.wrap(p, err)
}

// Reader implements storagedriver.StorageDriver. An offset at or past the end
// gives an empty reader.
func (d *Driver) Reader(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	if err := checkPath(p, false); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, storagedriver.InvalidOffsetError{Path: p, Offset: offset, DriverName: Name}
	}
	var rng *blob.Range
	if offset > 0 {
		rng = &blob.Range{Start: offset, Length: -1}
	}
	rc, _, err := d.store.Get(ctx, d.bucket, key(p), rng)
	if err != nil {
		return nil, d.wrap(p, err)
	}
	return rc, nil
}

// Writer implements storagedriver.StorageDriver. Without append it starts an
// empty local file; with append it continues the local file of an earlier
// writer, or else a local copy of the committed object at p, or else an
// empty file.
func (d *Driver) Writer(ctx context.Context, p string, appendTo bool) (storagedriver.FileWriter, error) {
	if err := checkPath(p, false); err != nil {
		return nil, err
	}
	lp := d.localPath(p)
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flags = os.O_WRONLY | os.O_APPEND
	}
	var f *os.File
	var err error
	// removeLocal may delete a directory another upload just found empty
	// (garbage collection purges uploads in bursts); creating again fixes
	// that race.
	for attempt := 0; attempt < 10; attempt++ {
		if err = os.MkdirAll(filepath.Dir(lp), 0o700); err != nil {
			continue
		}
		f, err = os.OpenFile(lp, flags, 0o600)
		if appendTo && errors.Is(err, fs.ErrNotExist) {
			f, err = d.localCopy(ctx, p, lp)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, storagedriver.Error{DriverName: Name, Detail: err}
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, storagedriver.Error{DriverName: Name, Detail: err}
	}
	return &fileWriter{d: d, path: p, local: lp, f: f, bw: bufio.NewWriterSize(f, writeBufferSize), size: info.Size()}, nil
}

// localCopy creates the local file lp holding the committed object at p (or
// nothing if there is none), opened for appending.
func (d *Driver) localCopy(ctx context.Context, p, lp string) (*os.File, error) {
	f, err := os.OpenFile(lp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	rc, _, err := d.store.Get(ctx, d.bucket, key(p), nil)
	if errors.Is(err, blob.ErrNotFound) {
		return f, nil
	}
	if err == nil {
		_, err = io.Copy(f, rc)
		rc.Close()
	}
	if err != nil {
		f.Close()
		os.Remove(lp)
		return nil, err
	}
	return f, nil
}

// Stat implements storagedriver.StorageDriver. Directories have size 0 and
// no modification time.
func (d *Driver) Stat(ctx context.Context, p string) (storagedriver.FileInfo, error) {
	if err := checkPath(p, true); err != nil {
		return nil, err
	}
	if p != "/" {
		info, err := d.store.Head(ctx, d.bucket, key(p))
		if err == nil {
			return fileInfo(p, info), nil
		}
		if !errors.Is(err, blob.ErrNotFound) {
			return nil, d.wrap(p, err)
		}
	}
	res, err := d.store.List(ctx, d.bucket, blob.ListOptions{Prefix: dirPrefix(p), MaxKeys: 1})
	if err != nil {
		return nil, d.wrap(p, err)
	}
	if len(res.Objects) == 0 && len(res.CommonPrefixes) == 0 {
		return nil, d.notFound(p)
	}
	return dirInfo(p), nil
}

func fileInfo(p string, info blob.ObjectInfo) storagedriver.FileInfo {
	return storagedriver.FileInfoInternal{FileInfoFields: storagedriver.FileInfoFields{
		Path: p, Size: info.Size, ModTime: info.ModTime,
	}}
}

func dirInfo(p string) storagedriver.FileInfo {
	return storagedriver.FileInfoInternal{FileInfoFields: storagedriver.FileInfoFields{Path: p, IsDir: true}}
}

// List implements storagedriver.StorageDriver: the direct children of
// directory p, sorted. A path with no children is not found, except root.
func (d *Driver) List(ctx context.Context, p string) ([]string, error) {
	infos, err := d.list(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, fi := range infos {
		out[i] = fi.Path()
	}
	return out, nil
}

// list returns the direct children of p with what the listing tells of them.
func (d *Driver) list(ctx context.Context, p string) ([]storagedriver.FileInfo, error) {
	if err := checkPath(p, true); err != nil {
		return nil, err
	}
	prefix := dirPrefix(p)
	var out []storagedriver.FileInfo
	opts := blob.ListOptions{Prefix: prefix, Delimiter: "/", MaxKeys: listPage}
	for {
		res, err := d.store.List(ctx, d.bucket, opts)
		if err != nil {
			return nil, d.wrap(p, err)
		}
		for _, o := range res.Objects {
			out = append(out, fileInfo("/"+o.Key, o))
		}
		for _, cp := range res.CommonPrefixes {
			out = append(out, dirInfo("/"+strings.TrimSuffix(cp, "/")))
		}
		if !res.IsTruncated {
			break
		}
		opts.StartAfter = res.NextStartAfter
	}
	if len(out) == 0 && p != "/" {
		return nil, d.notFound(p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path() < out[j].Path() })
	return out, nil
}

// Move implements storagedriver.StorageDriver for objects (the registry
// never moves directories).
func (d *Driver) Move(ctx context.Context, src, dst string) error {
	if err := checkPath(src, false); err != nil {
		return err
	}
	if err := checkPath(dst, false); err != nil {
		return err
	}
	if src == dst {
		_, err := d.store.Head(ctx, d.bucket, key(src))
		return d.wrap(src, err)
	}
	if r, ok := d.store.(Renamer); ok {
		return d.wrap(src, r.Rename(ctx, d.bucket, key(src), key(dst)))
	}
	rc, info, err := d.store.Get(ctx, d.bucket, key(src), nil)
	if err != nil {
		return d.wrap(src, err)
	}
	_, err = d.store.Put(ctx, d.bucket, key(dst), rc, blob.PutOptions{Size: info.Size})
	rc.Close()
	if err != nil {
		return d.wrap(dst, err)
	}
	return d.wrap(src, d.store.Delete(ctx, d.bucket, key(src)))
}

// Delete implements storagedriver.StorageDriver: the object at p and
// everything under p, including unfinished local uploads.
func (d *Driver) Delete(ctx context.Context, p string) error {
	if err := checkPath(p, false); err != nil {
		return err
	}
	found := false
	if _, err := d.store.Head(ctx, d.bucket, key(p)); err == nil {
		if err := d.store.Delete(ctx, d.bucket, key(p)); err != nil {
			return d.wrap(p, err)
		}
		found = true
	} else if !errors.Is(err, blob.ErrNotFound) {
		return d.wrap(p, err)
	}
	opts := blob.ListOptions{Prefix: dirPrefix(p), MaxKeys: listPage}
	for {
		res, err := d.store.List(ctx, d.bucket, opts)
		if err != nil {
			return d.wrap(p, err)
		}
		for _, o := range res.Objects {
			if err := d.store.Delete(ctx, d.bucket, o.Key); err != nil {
				return d.wrap("/"+o.Key, err)
			}
			found = true
		}
		if !res.IsTruncated {
			break
		}
		opts.StartAfter = res.NextStartAfter
	}
	lp := d.localPath(p)
	if _, err := os.Lstat(lp); err == nil {
		if err := os.RemoveAll(lp); err != nil {
			return storagedriver.Error{DriverName: Name, Detail: err}
		}
		_ = d.removeLocal(lp)
		found = true
	}
	if !found {
		return d.notFound(p)
	}
	return nil
}

// LocalStat describes the local file of an unfinished streamed write to p
// (an upload's data, which only this node has), or returns an error
// satisfying errors.Is(err, fs.ErrNotExist).
func (d *Driver) LocalStat(p string) (fs.FileInfo, error) {
	if err := checkPath(p, false); err != nil {
		return nil, err
	}
	return os.Stat(d.localPath(p))
}

// RedirectURL implements storagedriver.StorageDriver: content is always
// served by the registry itself.
func (d *Driver) RedirectURL(*http.Request, string) (string, error) { return "", nil }

// Walk implements storagedriver.StorageDriver with distribution's fallback
// walk (its order, ErrSkipDir, ErrFilledBuffer and start-after semantics),
// answering the walk's Stat calls from the listing it just made so each
// directory costs one listing.
func (d *Driver) Walk(ctx context.Context, p string, f storagedriver.WalkFn, options ...func(*storagedriver.WalkOptions)) error {
	if err := checkPath(p, true); err != nil {
		return err
	}
	w := &walker{Driver: d, seen: map[string]storagedriver.FileInfo{}}
	return storagedriver.WalkFallback(ctx, w, p, f, options...)
}

// walker remembers what List saw so the following Stat needs no request.
type walker struct {
	*Driver
	seen map[string]storagedriver.FileInfo
}

func (w *walker) List(ctx context.Context, p string) ([]string, error) {
	infos, err := w.Driver.list(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, fi := range infos {
		out[i] = fi.Path()
		w.seen[fi.Path()] = fi
	}
	return out, nil
}

func (w *walker) Stat(ctx context.Context, p string) (storagedriver.FileInfo, error) {
	if fi, ok := w.seen[p]; ok {
		delete(w.seen, p)
		return fi, nil
	}
	return w.Driver.Stat(ctx, p)
}

// fileWriter is a streamed write into a local file, published by Commit.
type fileWriter struct {
	d     *Driver
	path  string
	local string
	f     *os.File
	bw    *bufio.Writer
	size  int64

	closed, committed, cancelled bool
}

func (w *fileWriter) Write(p []byte) (int, error) {
	switch {
	case w.closed:
		return 0, errors.New("blobdriver: write to closed writer")
	case w.committed:
		return 0, errors.New("blobdriver: write to committed writer")
	case w.cancelled:
		return 0, errors.New("blobdriver: write to cancelled writer")
	}
	n, err := w.bw.Write(p)
	w.size += int64(n)
	return n, err
}

func (w *fileWriter) Size() int64 { return w.size }

// Close releases the writer. Unless it was committed or cancelled, the data
// written so far stays in the local file for a later Writer with append.
func (w *fileWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.f == nil {
		return nil
	}
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// Cancel discards the unfinished data written, by this writer and earlier
// ones. Unlike distribution's own drivers it also works after Close (the
// registry cancels an upload whose digest check failed after committing and
// closing it; succeeding lets it go on to remove the upload's directory).
func (w *fileWriter) Cancel(context.Context) error {
	w.cancelled = true
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	return w.d.removeLocal(w.local)
}

// Commit stores the whole local file as the object at the writer's path
// (moving it in if the store is a FilePutter, else with one Put) and removes
// the local file. The writer is closed afterwards either way; on failure the
// data stays in the local file for a later Writer with append.
func (w *fileWriter) Commit(ctx context.Context) error {
	switch {
	case w.closed:
		return errors.New("blobdriver: writer already closed")
	case w.committed:
		return errors.New("blobdriver: writer already committed")
	case w.cancelled:
		return errors.New("blobdriver: writer already cancelled")
	}
	if err := w.bw.Flush(); err != nil {
		return storagedriver.Error{DriverName: Name, Detail: err}
	}
	if err := w.f.Close(); err != nil {
		w.f = nil
		return storagedriver.Error{DriverName: Name, Detail: err}
	}
	w.f = nil
	if err := w.publish(ctx); err != nil {
		// The data stays in the local file; a new writer can resume it.
		w.closed = true
		return err
	}
	w.committed = true
	if err := w.d.removeLocal(w.local); err != nil {
		return storagedriver.Error{DriverName: Name, Detail: err}
	}
	return nil
}

// publish stores the local file as the object at the writer's path.
func (w *fileWriter) publish(ctx context.Context) error {
	if fp, ok := w.d.store.(FilePutter); ok {
		_, err := fp.PutFile(ctx, w.d.bucket, key(w.path), w.local, w.size)
		if err == nil || !errors.Is(err, errors.ErrUnsupported) {
			return w.d.wrap(w.path, err)
		}
	}
	rf, err := os.Open(w.local)
	if err != nil {
		return storagedriver.Error{DriverName: Name, Detail: err}
	}
	defer rf.Close()
	_, err = w.d.store.Put(ctx, w.d.bucket, key(w.path), rf, blob.PutOptions{Size: w.size})
	return w.d.wrap(w.path, err)
}

// removeLocal removes a local upload file and the directories above it that
// it leaves empty.
func (d *Driver) removeLocal(lp string) error {
	if err := os.Remove(lp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for dir := filepath.Dir(lp); dir != d.tmp && strings.HasPrefix(dir, d.tmp+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}
