package fs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wharfml/wharf/internal/blob"
)

// maxPartNumber is the highest part number, as in S3.
const maxPartNumber = 10000

// validUploadID reports whether id has the form of our upload ids (32
// lower-case hex digits). Anything else is not found, and never used in a path.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func uploadDir(id string) string { return filepath.Join(dirUploads, id) }

// CreateUpload implements blob.Store.
func (s *Store) CreateUpload(ctx context.Context, bucket, key string, attrs blob.Attrs, checksumAlgorithm string) (blob.Upload, error) {
	up, err := s.createUpload(ctx, bucket, key, attrs, checksumAlgorithm)
	if err != nil {
		return blob.Upload{}, fmt.Errorf("create upload %s/%s: %w", bucket, key, err)
	}
	return up, nil
}

func (s *Store) createUpload(ctx context.Context, bucket, key string, attrs blob.Attrs, alg string) (blob.Upload, error) {
	if err := checkNames(bucket, key); err != nil {
		return blob.Upload{}, err
	}
	alg = strings.ToUpper(alg)
	if !validAlgorithm(alg) {
		return blob.Upload{}, fmt.Errorf("unknown checksum algorithm %q: %w", alg, blob.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return blob.Upload{}, err
	}
	up := blob.Upload{
		ID:                randomHex(16),
		Bucket:            bucket,
		Key:               key,
		Initiated:         time.Now().UTC(),
		Attrs:             attrs,
		ChecksumAlgorithm: alg,
	}
	dir := uploadDir(up.ID)
	s.markActive(dir)
	defer s.unmarkActive(dir)
	if err := os.Mkdir(s.abs(dir), 0o700); err != nil {
		return blob.Upload{}, err
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO uploads (id, bucket, key, initiated, attrs, algorithm) VALUES (?, ?, ?, ?, ?, ?)`,
			up.ID, bucket, []byte(key), up.Initiated.UnixNano(), encodeAttrs(attrs), alg)
		return err
	})
	if err != nil {
		os.RemoveAll(s.abs(dir))
		return blob.Upload{}, err
	}
	return up, nil
}

// GetUpload implements blob.Store.
func (s *Store) GetUpload(ctx context.Context, bucket, key, uploadID string) (blob.Upload, error) {
	up, err := s.getUpload(ctx, bucket, key, uploadID)
	if err != nil {
		return blob.Upload{}, fmt.Errorf("get upload %s/%s %s: %w", bucket, key, uploadID, err)
	}
	return up, nil
}

// getUpload returns the upload if it exists and belongs to bucket/key.
func (s *Store) getUpload(ctx context.Context, bucket, key, id string) (blob.Upload, error) {
	if err := checkNames(bucket, key); err != nil {
		return blob.Upload{}, err
	}
	if !validUploadID(id) {
		return blob.Upload{}, blob.ErrNotFound
	}
	var (
		initiated  int64
		attrs, alg string
	)
	err := s.db.QueryRowContext(ctx, `SELECT initiated, attrs, algorithm FROM uploads WHERE id = ? AND bucket = ? AND key = ?`,
		id, bucket, []byte(key)).Scan(&initiated, &attrs, &alg)
	if errors.Is(err, sql.ErrNoRows) {
		return blob.Upload{}, blob.ErrNotFound
	}
	if err != nil {
		return blob.Upload{}, fmt.Errorf("index: %w", err)
	}
	a, err := decodeAttrs(attrs)
	if err != nil {
		return blob.Upload{}, err
	}
	return blob.Upload{ID: id, Bucket: bucket, Key: key, Initiated: time.Unix(0, initiated).UTC(), Attrs: a, ChecksumAlgorithm: alg}, nil
}

// uploadExists checks, inside a transaction, that the upload still exists
// and belongs to bucket/key.
func uploadExists(tx *sql.Tx, bucket, key, id string) error {
	var one int
	err := tx.QueryRow(`SELECT 1 FROM uploads WHERE id = ? AND bucket = ? AND key = ?`, id, bucket, []byte(key)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return blob.ErrNotFound
	}
	return err
}

// PutPart implements blob.Store. The upload's checksum algorithm is always
// computed for the part (and verified if opts.Checksums carries a value).
func (s *Store) PutPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, opts blob.PutOptions) (blob.PartInfo, error) {
	p, err := s.putPart(ctx, bucket, key, uploadID, n, r, opts)
	if err != nil {
		return blob.PartInfo{}, fmt.Errorf("put part %d of %s/%s %s: %w", n, bucket, key, uploadID, err)
	}
	return p, nil
}

func (s *Store) putPart(ctx context.Context, bucket, key, id string, n int, r io.Reader, opts blob.PutOptions) (blob.PartInfo, error) {
	if n < 1 || n > maxPartNumber {
		return blob.PartInfo{}, fmt.Errorf("part number %d not in 1..%d: %w", n, maxPartNumber, blob.ErrInvalidArgument)
	}
	up, err := s.getUpload(ctx, bucket, key, id)
	if err != nil {
		return blob.PartInfo{}, err
	}
	want, err := parseChecksums(opts.Checksums, up.ChecksumAlgorithm)
	if err != nil {
		return blob.PartInfo{}, err
	}
	sp, err := s.spool(ctx, r, opts, want)
	if err != nil {
		return blob.PartInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		s.discard(sp)
		return blob.PartInfo{}, err
	}
	name := strconv.Itoa(n) + "." + randomHex(8)
	dst := filepath.Join(uploadDir(id), name)
	if err := s.place(sp, dst, false); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return blob.PartInfo{}, blob.ErrNotFound // aborted meanwhile
		}
		return blob.PartInfo{}, fmt.Errorf("store part file: %w", err)
	}
	defer s.unmarkActive(dst)
	part := blob.PartInfo{Number: n, Size: sp.size, ETag: sp.etag, ModTime: time.Now().UTC(), Checksums: nilIfEmpty(sp.sums)}
	var oldFile string
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := uploadExists(tx, bucket, key, id); err != nil {
			return err
		}
		err := tx.QueryRow(`SELECT file FROM parts WHERE upload_id = ? AND number = ?`, id, n).Scan(&oldFile)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(`INSERT INTO parts (upload_id, number, file, size, etag, modtime, checksums) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (upload_id, number) DO UPDATE SET file = excluded.file, size = excluded.size,
				etag = excluded.etag, modtime = excluded.modtime, checksums = excluded.checksums`,
			id, n, name, part.Size, part.ETag, part.ModTime.UnixNano(), encodeSums(part.Checksums))
		return err
	})
	if err != nil {
		s.removeFile(dst)
		return blob.PartInfo{}, err
	}
	if oldFile != "" {
		s.removeFile(filepath.Join(uploadDir(id), oldFile))
	}
	return part, nil
}

// ListParts implements blob.Store.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, after, max int) ([]blob.PartInfo, bool, error) {
	parts, more, err := s.listParts(ctx, bucket, key, uploadID, after, max)
	if err != nil {
		return nil, false, fmt.Errorf("list parts of %s/%s %s: %w", bucket, key, uploadID, err)
	}
	return parts, more, nil
}

func (s *Store) listParts(ctx context.Context, bucket, key, id string, after, max int) ([]blob.PartInfo, bool, error) {
	if _, err := s.getUpload(ctx, bucket, key, id); err != nil {
		return nil, false, err
	}
	if max <= 0 {
		max = 1000
	}
	rows, err := s.db.QueryContext(ctx, `SELECT number, size, etag, modtime, checksums FROM parts
		WHERE upload_id = ? AND number > ? ORDER BY number LIMIT ?`, id, after, max+1)
	if err != nil {
		return nil, false, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var parts []blob.PartInfo
	more := false
	for rows.Next() {
		if len(parts) == max {
			more = true
			break
		}
		var (
			p    blob.PartInfo
			mod  int64
			sums string
		)
		if err := rows.Scan(&p.Number, &p.Size, &p.ETag, &mod, &sums); err != nil {
			return nil, false, fmt.Errorf("index: %w", err)
		}
		p.ModTime = time.Unix(0, mod).UTC()
		if p.Checksums, err = decodeSums(sums); err != nil {
			return nil, false, err
		}
		parts = append(parts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("index: %w", err)
	}
	return parts, more, nil
}

// ListUploads implements blob.Store.
func (s *Store) ListUploads(ctx context.Context, bucket, prefix string) ([]blob.Upload, error) {
	ups, err := s.listUploads(ctx, bucket, prefix)
	if err != nil {
		return nil, fmt.Errorf("list uploads of %s: %w", bucket, err)
	}
	return ups, nil
}

func (s *Store) listUploads(ctx context.Context, bucket, prefix string) ([]blob.Upload, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	lo, hi := prefix, keyMax
	if prefix != "" {
		if next, ok := successor(prefix); ok && next < keyMax {
			hi = next
		}
	}
	if lo == "" {
		lo = "\x00"
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, key, initiated, attrs, algorithm FROM uploads
		WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key, initiated, id`, bucket, []byte(lo), []byte(hi))
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	var ups []blob.Upload
	for rows.Next() {
		var (
			up         blob.Upload
			key        []byte
			initiated  int64
			attrs, alg string
		)
		if err := rows.Scan(&up.ID, &key, &initiated, &attrs, &alg); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		up.Bucket, up.Key, up.Initiated, up.ChecksumAlgorithm = bucket, string(key), time.Unix(0, initiated).UTC(), alg
		if up.Attrs, err = decodeAttrs(attrs); err != nil {
			return nil, err
		}
		ups = append(ups, up)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return ups, nil
}

// AbortUpload implements blob.Store.
func (s *Store) AbortUpload(ctx context.Context, bucket, key, uploadID string) error {
	if err := s.abortUpload(ctx, bucket, key, uploadID); err != nil {
		return fmt.Errorf("abort upload %s/%s %s: %w", bucket, key, uploadID, err)
	}
	return nil
}

func (s *Store) abortUpload(ctx context.Context, bucket, key, id string) error {
	if err := checkNames(bucket, key); err != nil {
		return err
	}
	if !validUploadID(id) {
		return blob.ErrNotFound
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM uploads WHERE id = ? AND bucket = ? AND key = ?`, id, bucket, []byte(key))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return blob.ErrNotFound
		}
		_, err = tx.Exec(`DELETE FROM parts WHERE upload_id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	os.RemoveAll(s.abs(uploadDir(id))) // leftovers are removed by GC
	return nil
}

// errPartChanged: a part was replaced or removed while being assembled.
var errPartChanged = errors.New("part changed during completion")

type partRow struct {
	file, etag, sums string
	size             int64
}

// CompleteUpload implements blob.Store. The parts are concatenated into a new
// data file with copy_file_range (io.Copy between files), so completion does
// not read the data through user space.
func (s *Store) CompleteUpload(ctx context.Context, bucket, key, uploadID string, parts []blob.CompletedPart) (blob.ObjectInfo, error) {
	info, err := s.completeUpload(ctx, bucket, key, uploadID, parts)
	if err != nil {
		return blob.ObjectInfo{}, fmt.Errorf("complete upload %s/%s %s: %w", bucket, key, uploadID, err)
	}
	return info, nil
}

func (s *Store) completeUpload(ctx context.Context, bucket, key, id string, parts []blob.CompletedPart) (blob.ObjectInfo, error) {
	if err := checkNames(bucket, key); err != nil {
		return blob.ObjectInfo{}, err
	}
	up, err := s.getUpload(ctx, bucket, key, id)
	if err != nil {
		return blob.ObjectInfo{}, err
	}
	if len(parts) == 0 {
		return blob.ObjectInfo{}, fmt.Errorf("no parts named: %w", blob.ErrInvalidPart)
	}
	for i, p := range parts {
		if p.Number < 1 || p.Number > maxPartNumber {
			return blob.ObjectInfo{}, fmt.Errorf("part number %d: %w", p.Number, blob.ErrInvalidPart)
		}
		if i > 0 && p.Number <= parts[i-1].Number {
			return blob.ObjectInfo{}, fmt.Errorf("part %d after part %d: %w", p.Number, parts[i-1].Number, blob.ErrInvalidPartOrder)
		}
	}
	for attempt := 0; ; attempt++ {
		info, err := s.completeOnce(ctx, up, parts)
		if errors.Is(err, errPartChanged) && attempt < 3 {
			continue
		}
		return info, err
	}
}

func (s *Store) completeOnce(ctx context.Context, up blob.Upload, parts []blob.CompletedPart) (blob.ObjectInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT number, file, size, etag, checksums FROM parts WHERE upload_id = ?`, up.ID)
	if err != nil {
		return blob.ObjectInfo{}, fmt.Errorf("index: %w", err)
	}
	have := make(map[int]partRow)
	for rows.Next() {
		var n int
		var p partRow
		if err := rows.Scan(&n, &p.file, &p.size, &p.etag, &p.sums); err != nil {
			rows.Close()
			return blob.ObjectInfo{}, fmt.Errorf("index: %w", err)
		}
		have[n] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return blob.ObjectInfo{}, fmt.Errorf("index: %w", err)
	}

	use := make([]partRow, len(parts))
	etags := make([]string, len(parts))
	var sums []string
	var total int64
	for i, p := range parts {
		row, ok := have[p.Number]
		if !ok {
			return blob.ObjectInfo{}, fmt.Errorf("part %d was not uploaded: %w", p.Number, blob.ErrInvalidPart)
		}
		if cleanETag(p.ETag) != row.etag {
			return blob.ObjectInfo{}, fmt.Errorf("part %d has ETag %s, not %s: %w", p.Number, row.etag, p.ETag, blob.ErrInvalidPart)
		}
		use[i], etags[i] = row, row.etag
		total += row.size
	}
	for i, row := range use[:len(use)-1] {
		if row.size < blob.MinPartSize {
			return blob.ObjectInfo{}, fmt.Errorf("part %d has %d bytes, less than %d: %w", parts[i].Number, row.size, blob.MinPartSize, blob.ErrEntityTooSmall)
		}
	}
	etag, err := multipartETag(etags)
	if err != nil {
		return blob.ObjectInfo{}, err
	}
	var checksums map[string]string
	if alg := up.ChecksumAlgorithm; alg != "" {
		for i, row := range use {
			m, err := decodeSums(row.sums)
			if err != nil {
				return blob.ObjectInfo{}, err
			}
			if m[alg] == "" {
				return blob.ObjectInfo{}, fmt.Errorf("part %d has no %s checksum", parts[i].Number, alg)
			}
			sums = append(sums, m[alg])
		}
		c, err := compositeChecksum(alg, sums)
		if err != nil {
			return blob.ObjectInfo{}, err
		}
		checksums = map[string]string{alg: c}
	}

	sp, err := s.concat(ctx, up.ID, use, total)
	if err != nil {
		return blob.ObjectInfo{}, err
	}
	sp.etag, sp.sums = etag, checksums
	info := blob.ObjectInfo{
		Bucket:    up.Bucket,
		Key:       up.Key,
		Size:      total,
		ETag:      etag,
		Attrs:     up.Attrs,
		Checksums: checksums,
		PartCount: len(parts),
	}
	if err := ctx.Err(); err != nil {
		s.discard(sp)
		return blob.ObjectInfo{}, err
	}
	err = s.commitObject(ctx, sp, &info, nil, func(tx *sql.Tx) error {
		if err := uploadExists(tx, up.Bucket, up.Key, up.ID); err != nil {
			return err
		}
		files := make(map[int]string, len(have))
		rows, err := tx.Query(`SELECT number, file FROM parts WHERE upload_id = ?`, up.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var n int
			var file string
			if err := rows.Scan(&n, &file); err != nil {
				rows.Close()
				return err
			}
			files[n] = file
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i, p := range parts {
			if files[p.Number] != use[i].file {
				return errPartChanged
			}
		}
		if _, err := tx.Exec(`DELETE FROM parts WHERE upload_id = ?`, up.ID); err != nil {
			return err
		}
		_, err = tx.Exec(`DELETE FROM uploads WHERE id = ?`, up.ID)
		return err
	})
	if err != nil {
		return blob.ObjectInfo{}, err
	}
	os.RemoveAll(s.abs(uploadDir(up.ID))) // leftovers are removed by GC
	return info, nil
}

// concat copies the parts' files into a new temporary file.
func (s *Store) concat(ctx context.Context, id string, use []partRow, total int64) (sp *spooled, err error) {
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
	var written int64
	for _, row := range use {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pf, err := os.Open(s.abs(filepath.Join(uploadDir(id), row.file)))
		if errors.Is(err, os.ErrNotExist) {
			return nil, errPartChanged
		}
		if err != nil {
			return nil, fmt.Errorf("open part: %w", err)
		}
		// *os.File to *os.File: copy_file_range on Linux.
		n, err := io.Copy(f, pf)
		pf.Close()
		written += n
		if err != nil {
			return nil, fmt.Errorf("copy part: %w", err)
		}
		if n != row.size {
			return nil, fmt.Errorf("part file has %d bytes, index says %d", n, row.size)
		}
	}
	if written != total {
		return nil, fmt.Errorf("assembled %d bytes, expected %d", written, total)
	}
	if s.cfg.sync {
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("sync: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close temporary file: %w", err)
	}
	return &spooled{tmp: rel, size: written}, nil
}
