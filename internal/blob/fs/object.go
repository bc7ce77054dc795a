package fs

import (
	"bytes"
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wharfml/wharf/internal/blob"
)

// validKey reports whether key is acceptable: 1..MaxKeyLength bytes of
// valid UTF-8 without NUL.
func validKey(key string) bool {
	if key == "" || len(key) > blob.MaxKeyLength || !utf8.ValidString(key) {
		return false
	}
	return !containsNUL(key)
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// checkNames validates a bucket and key.
func checkNames(bucket, key string) error {
	if bucket == "" || !utf8.ValidString(bucket) || containsNUL(bucket) {
		return fmt.Errorf("bucket name %q: %w", bucket, blob.ErrInvalidArgument)
	}
	if !validKey(key) {
		return blob.ErrInvalidKey
	}
	return nil
}

func checkBucket(bucket string) error {
	if bucket == "" || !utf8.ValidString(bucket) || containsNUL(bucket) {
		return fmt.Errorf("bucket name %q: %w", bucket, blob.ErrInvalidArgument)
	}
	return nil
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// spooled is data written to a file under tmp/ (marked active).
type spooled struct {
	tmp  string // root-relative
	size int64
	etag string            // hex MD5
	sums map[string]string // algorithm → base64
}

// spool streams r into a new temporary file, computing the MD5 and the
// checksums in want and verifying opts.Size, opts.ContentMD5 and expected
// checksums. On error nothing is left behind.
func (s *Store) spool(ctx context.Context, r io.Reader, opts blob.PutOptions, want wantSums) (sp *spooled, err error) {
	if opts.ContentMD5 != nil && len(opts.ContentMD5) != md5.Size {
		return nil, fmt.Errorf("Content-MD5 of %d bytes: %w", len(opts.ContentMD5), blob.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rel := filepath.Join(dirTmp, newFileID()+".tmp")
	s.markActive(rel)
	f, err := os.OpenFile(s.abs(rel), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		s.unmarkActive(rel)
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			s.removeFile(rel)
			s.unmarkActive(rel)
		}
	}()

	md5h := md5.New()
	hashWriters := []io.Writer{md5h}
	algs := want.algorithms()
	hashes := make([]hash.Hash, len(algs))
	for i, a := range algs {
		hashes[i], _ = newHash(a)
		hashWriters = append(hashWriters, hashes[i])
	}
	src := r
	if opts.Size >= 0 {
		src = io.LimitReader(r, opts.Size+1)
	}
	var n int64
	if opts.Size >= 0 && opts.Size <= pipelineMin {
		// Small objects: a goroutine hand-off costs more than it saves.
		bufp := copyBufPool.Get().(*[]byte)
		n, err = io.CopyBuffer(io.MultiWriter(append([]io.Writer{f}, hashWriters...)...), ctxReader{ctx, src}, *bufp)
		copyBufPool.Put(bufp)
	} else {
		n, err = copyHashed(f, ctxReader{ctx, src}, hashWriters)
	}
	if err != nil {
		return nil, fmt.Errorf("read data: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Size >= 0 && n > opts.Size {
		return nil, fmt.Errorf("data longer than the declared %d bytes: %w", opts.Size, io.ErrUnexpectedEOF)
	}
	if opts.Size >= 0 && n < opts.Size {
		return nil, fmt.Errorf("data ended after %d of the declared %d bytes: %w", n, opts.Size, io.ErrUnexpectedEOF)
	}
	sum := md5h.Sum(nil)
	if opts.ContentMD5 != nil && !bytes.Equal(sum, opts.ContentMD5) {
		return nil, fmt.Errorf("Content-MD5 %s, data has %s: %w",
			base64.StdEncoding.EncodeToString(opts.ContentMD5), base64.StdEncoding.EncodeToString(sum), blob.ErrBadDigest)
	}
	sums := make(map[string]string, len(algs))
	for i, a := range algs {
		got := hashes[i].Sum(nil)
		if exp := want[a]; exp != nil && !bytes.Equal(exp, got) {
			return nil, fmt.Errorf("%s checksum %s, data has %s: %w", a,
				base64.StdEncoding.EncodeToString(exp), base64.StdEncoding.EncodeToString(got), blob.ErrBadDigest)
		}
		sums[a] = base64.StdEncoding.EncodeToString(got)
	}
	if s.cfg.sync {
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("sync: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close temporary file: %w", err)
	}
	return &spooled{tmp: rel, size: n, etag: hex.EncodeToString(sum), sums: sums}, nil
}

// place renames a spooled file to dst (root-relative), which becomes active
// in its place; with sync on, dst's directory is synced. If mkdir is set a
// missing parent directory (an objects/ shard) is created. On error the
// spooled file is gone.
func (s *Store) place(sp *spooled, dst string, mkdir bool) error {
	s.markActive(dst)
	err := os.Rename(s.abs(sp.tmp), s.abs(dst))
	if mkdir && errors.Is(err, os.ErrNotExist) {
		dir := filepath.Dir(s.abs(dst))
		if err = os.Mkdir(dir, 0o700); err == nil || errors.Is(err, os.ErrExist) {
			if err = nil; s.cfg.sync {
				err = syncDir(filepath.Dir(dir))
			}
			if err == nil {
				err = os.Rename(s.abs(sp.tmp), s.abs(dst))
			}
		}
	}
	if err == nil && s.cfg.sync {
		err = syncDir(filepath.Dir(s.abs(dst)))
	}
	if err != nil {
		s.removeFile(sp.tmp)
		s.removeFile(dst)
		s.unmarkActive(dst)
	}
	s.unmarkActive(sp.tmp)
	return err
}

// discard removes a spooled file that will not be used.
func (s *Store) discard(sp *spooled) {
	s.removeFile(sp.tmp)
	s.unmarkActive(sp.tmp)
}

// checkPrecondition applies IfMatch/IfNoneMatch to the current state.
func checkPrecondition(exists bool, etag string, opts blob.PutOptions) error {
	if opts.IfMatch != "" {
		if !exists {
			return fmt.Errorf("If-Match %s: no current object: %w", opts.IfMatch, blob.ErrPrecondition)
		}
		if m := cleanETag(opts.IfMatch); m != "*" && m != etag {
			return fmt.Errorf("If-Match %s, current ETag %s: %w", opts.IfMatch, etag, blob.ErrPrecondition)
		}
	}
	if opts.IfNoneMatch != "" && exists {
		if m := cleanETag(opts.IfNoneMatch); m == "*" || m == etag {
			return fmt.Errorf("If-None-Match %s, current ETag %s: %w", opts.IfNoneMatch, etag, blob.ErrPrecondition)
		}
	}
	return nil
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, opts blob.PutOptions) (blob.ObjectInfo, error) {
	info, err := s.put(ctx, bucket, key, r, opts)
	if err != nil {
		return blob.ObjectInfo{}, fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return info, nil
}

func (s *Store) put(ctx context.Context, bucket, key string, r io.Reader, opts blob.PutOptions) (blob.ObjectInfo, error) {
	if err := checkNames(bucket, key); err != nil {
		return blob.ObjectInfo{}, err
	}
	want, err := parseChecksums(opts.Checksums, "")
	if err != nil {
		return blob.ObjectInfo{}, err
	}
	if opts.IfMatch != "" || opts.IfNoneMatch != "" {
		// Fail early rather than after reading all the data; the decisive
		// check is made again when committing.
		cur, _, err := s.lookup(ctx, bucket, key)
		if err != nil && !errors.Is(err, blob.ErrNotFound) {
			return blob.ObjectInfo{}, err
		}
		if err := checkPrecondition(err == nil, cur.ETag, opts); err != nil {
			return blob.ObjectInfo{}, err
		}
	}
	sp, err := s.spool(ctx, r, opts, want)
	if err != nil {
		return blob.ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		s.discard(sp)
		return blob.ObjectInfo{}, err
	}
	info := blob.ObjectInfo{
		Bucket:    bucket,
		Key:       key,
		Size:      sp.size,
		ETag:      sp.etag,
		Attrs:     opts.Attrs,
		Checksums: nilIfEmpty(sp.sums),
	}
	if err := s.commitObject(ctx, sp, &info, func(exists bool, etag string) error {
		return checkPrecondition(exists, etag, opts)
	}, nil); err != nil {
		return blob.ObjectInfo{}, err
	}
	return info, nil
}

// commitObject moves a spooled file into objects/ and makes it bucket/key in
// one index transaction: check (if not nil) vets the current state, extra (if
// not nil) runs in the same transaction. The replaced object's file is
// removed afterwards. info.ModTime is set.
func (s *Store) commitObject(ctx context.Context, sp *spooled, info *blob.ObjectInfo,
	check func(exists bool, etag string) error, extra func(*sql.Tx) error) error {
	id := newFileID()
	dst := objectPath(id)
	if err := s.place(sp, dst, true); err != nil {
		return fmt.Errorf("store data file: %w", err)
	}
	defer s.unmarkActive(dst)
	var oldFile string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var curFile, curETag string
		err := tx.QueryRow(`SELECT file, etag FROM objects WHERE bucket = ? AND key = ?`,
			info.Bucket, []byte(info.Key)).Scan(&curFile, &curETag)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		exists := err == nil
		if check != nil {
			if err := check(exists, curETag); err != nil {
				return err
			}
		}
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		info.ModTime = time.Now().UTC()
		_, err = tx.Exec(`INSERT INTO objects (bucket, key, file, size, etag, modtime, attrs, checksums, parts)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (bucket, key) DO UPDATE SET file = excluded.file, size = excluded.size,
				etag = excluded.etag, modtime = excluded.modtime, attrs = excluded.attrs,
				checksums = excluded.checksums, parts = excluded.parts`,
			info.Bucket, []byte(info.Key), id, info.Size, info.ETag, info.ModTime.UnixNano(),
			encodeAttrs(info.Attrs), encodeSums(info.Checksums), info.PartCount)
		if err != nil {
			return err
		}
		if exists {
			oldFile = curFile
		}
		return nil
	})
	if err != nil {
		s.removeFile(dst)
		return err
	}
	if oldFile != "" {
		s.removeFile(objectPath(oldFile))
	}
	return nil
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// lookup returns an object's info and data file id.
func (s *Store) lookup(ctx context.Context, bucket, key string) (blob.ObjectInfo, string, error) {
	var (
		file, etag, attrs, sums string
		size, mod               int64
		parts                   int
	)
	err := s.stmtGet.QueryRowContext(ctx, bucket, []byte(key)).Scan(&file, &size, &etag, &mod, &attrs, &sums, &parts)
	if errors.Is(err, sql.ErrNoRows) {
		return blob.ObjectInfo{}, "", blob.ErrNotFound
	}
	if err != nil {
		return blob.ObjectInfo{}, "", fmt.Errorf("index: %w", err)
	}
	info, err := makeInfo(bucket, key, size, etag, mod, attrs, sums, parts)
	return info, file, err
}

func makeInfo(bucket, key string, size int64, etag string, mod int64, attrs, sums string, parts int) (blob.ObjectInfo, error) {
	a, err := decodeAttrs(attrs)
	if err != nil {
		return blob.ObjectInfo{}, err
	}
	cs, err := decodeSums(sums)
	if err != nil {
		return blob.ObjectInfo{}, err
	}
	return blob.ObjectInfo{
		Bucket:    bucket,
		Key:       key,
		Size:      size,
		ETag:      etag,
		ModTime:   time.Unix(0, mod).UTC(),
		Attrs:     a,
		Checksums: cs,
		PartCount: parts,
	}, nil
}

// Head implements blob.Store.
func (s *Store) Head(ctx context.Context, bucket, key string) (blob.ObjectInfo, error) {
	if err := checkNames(bucket, key); err != nil {
		return blob.ObjectInfo{}, fmt.Errorf("head %s/%s: %w", bucket, key, err)
	}
	info, _, err := s.lookup(ctx, bucket, key)
	if err != nil {
		return blob.ObjectInfo{}, fmt.Errorf("head %s/%s: %w", bucket, key, err)
	}
	return info, nil
}

// Get implements blob.Store. The returned reader also implements io.Seeker,
// io.ReaderAt and io.WriterTo (which hands the open file to the destination's
// ReadFrom, so sendfile/copy_file_range apply). It stays readable if the
// object is replaced or deleted meanwhile.
func (s *Store) Get(ctx context.Context, bucket, key string, rng *blob.Range) (io.ReadCloser, blob.ObjectInfo, error) {
	rc, info, err := s.get(ctx, bucket, key, rng)
	if err != nil {
		return nil, blob.ObjectInfo{}, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return rc, info, nil
}

func (s *Store) get(ctx context.Context, bucket, key string, rng *blob.Range) (io.ReadCloser, blob.ObjectInfo, error) {
	if err := checkNames(bucket, key); err != nil {
		return nil, blob.ObjectInfo{}, err
	}
	// A concurrent replace or delete may remove the file between the lookup
	// and the open; look up again in that case.
	for attempt := 0; ; attempt++ {
		info, file, err := s.lookup(ctx, bucket, key)
		if err != nil {
			return nil, blob.ObjectInfo{}, err
		}
		f, err := os.Open(s.abs(objectPath(file)))
		if errors.Is(err, os.ErrNotExist) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, blob.ObjectInfo{}, fmt.Errorf("open data file: %w", err)
		}
		off, n := clipRange(rng, info.Size)
		return &fileReader{f: f, base: off, off: off, end: off + n}, info, nil
	}
}

// clipRange resolves rng against an object of size bytes.
func clipRange(rng *blob.Range, size int64) (off, n int64) {
	switch {
	case rng == nil:
		return 0, size
	case rng.Start < 0:
		n = min(-rng.Start, size)
		return size - n, n
	case rng.Start >= size:
		return size, 0
	}
	n = size - rng.Start
	if rng.Length >= 0 && rng.Length < n {
		n = rng.Length
	}
	return rng.Start, n
}

// fileReader reads the section [base, end) of a data file.
type fileReader struct {
	f              *os.File
	base, off, end int64
}

func (r *fileReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	if max := r.end - r.off; int64(len(p)) > max {
		p = p[:max]
	}
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF {
		if r.off < r.end {
			err = io.ErrUnexpectedEOF
		} else {
			err = nil
		}
	}
	return n, err
}

func (r *fileReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	off += r.base
	if off >= r.end {
		return 0, io.EOF
	}
	if max := r.end - off; int64(len(p)) > max {
		n, err := r.f.ReadAt(p[:max], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return r.f.ReadAt(p, off)
}

func (r *fileReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		offset += r.base
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.end
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if offset < r.base {
		return 0, errors.New("seek: negative position")
	}
	r.off = offset
	return offset - r.base, nil
}

// WriteTo copies the rest of the section to w through the file itself, so
// that w's ReadFrom can use sendfile or copy_file_range.
func (r *fileReader) WriteTo(w io.Writer) (int64, error) {
	if r.off >= r.end {
		return 0, nil
	}
	if _, err := r.f.Seek(r.off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.Copy(w, &io.LimitedReader{R: r.f, N: r.end - r.off})
	r.off += n
	if err == nil && r.off < r.end {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (r *fileReader) Close() error { return r.f.Close() }

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	if err := s.delete(ctx, bucket, key); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

func (s *Store) delete(ctx context.Context, bucket, key string) error {
	if err := checkNames(bucket, key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var file string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRow(`DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING file`,
			bucket, []byte(key)).Scan(&file)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if file != "" {
		s.removeFile(objectPath(file))
	}
	return nil
}
