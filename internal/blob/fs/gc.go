package fs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wharfml/wharf/internal/blob"
)

// GCStats counts what GC removed.
type GCStats struct {
	TempFiles   int   // files under tmp/
	DataFiles   int   // unreferenced files under objects/
	PartFiles   int   // unreferenced part files of live uploads
	UploadDirs  int   // upload directories without an upload
	Uploads     int   // expired multipart uploads (aborted)
	BytesFreed  int64 // size of the removed files
	AbortErrors int   // expired uploads that could not be aborted
}

// GC removes what crashes and expired uploads leave behind: temporary files,
// data files the index does not reference (a crash between rename and
// commit, or between commit and removing a replaced file), unreferenced part
// files and upload directories, and multipart uploads initiated more than
// olderThan ago (olderThan <= 0 expires none). Unreferenced files younger
// than the grace period (WithGracePeriod) and files of writes in progress
// are kept, so GC is safe while the store is in use.
func (s *Store) GC(ctx context.Context, olderThan time.Duration) (GCStats, error) {
	var st GCStats
	if err := s.gc(ctx, olderThan, &st); err != nil {
		return st, fmt.Errorf("gc %s: %w", s.root, err)
	}
	return st, nil
}

func (s *Store) gc(ctx context.Context, olderThan time.Duration, st *GCStats) error {
	now := time.Now()
	cutoff := now.Add(-s.cfg.grace)

	if olderThan > 0 {
		if err := s.expireUploads(ctx, now.Add(-olderThan), st); err != nil {
			return err
		}
	}

	// tmp/: every file not being written and older than the grace period.
	if err := s.sweepDir(ctx, dirTmp, cutoff, func() (map[string]bool, error) { return nil, nil }, &st.TempFiles, st); err != nil {
		return err
	}

	// objects/<shard>/: files the index does not reference.
	for i := 0; i < 256; i++ {
		shard := filepath.Join(dirObjects, fmt.Sprintf("%02x", i))
		lo := fmt.Sprintf("%02x", i)
		hi, _ := successor(lo)
		lookup := func() (map[string]bool, error) {
			return s.referenced(ctx, `SELECT file FROM objects WHERE file >= ? AND file < ?`, lo, hi)
		}
		if err := s.sweepDir(ctx, shard, cutoff, lookup, &st.DataFiles, st); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}

	// uploads/: directories without an upload, and unreferenced part files.
	ents, err := os.ReadDir(s.abs(dirUploads))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		id := e.Name()
		dir := uploadDir(id)
		if s.isActive(dir) {
			continue
		}
		live := false
		if validUploadID(id) && e.IsDir() {
			var one int
			err := s.db.QueryRowContext(ctx, `SELECT 1 FROM uploads WHERE id = ?`, id).Scan(&one)
			live = err == nil
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if !live {
			info, err := e.Info()
			if err != nil || info.ModTime().After(cutoff) {
				continue
			}
			st.BytesFreed += dirSize(s.abs(dir))
			if err := os.RemoveAll(s.abs(dir)); err == nil {
				st.UploadDirs++
			}
			continue
		}
		lookup := func() (map[string]bool, error) {
			return s.referenced(ctx, `SELECT file FROM parts WHERE upload_id = ?`, id)
		}
		if err := s.sweepDir(ctx, dir, cutoff, lookup, &st.PartFiles, st); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // completed or aborted meanwhile
			}
			return err
		}
	}
	return nil
}

// sweepDir removes the files in dir (root-relative) that are not being
// written, were last modified before cutoff, and are not in the set returned
// by lookup (called after the candidates were chosen, so that a file
// committed meanwhile is seen as referenced).
func (s *Store) sweepDir(ctx context.Context, dir string, cutoff time.Time,
	lookup func() (map[string]bool, error), count *int, st *GCStats) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(s.abs(dir))
	if err != nil {
		return err
	}
	type cand struct {
		name string
		size int64
	}
	var cands []cand
	for _, e := range ents {
		rel := filepath.Join(dir, e.Name())
		if s.isActive(rel) {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		cands = append(cands, cand{e.Name(), info.Size()})
	}
	if len(cands) == 0 {
		return nil
	}
	ref, err := lookup()
	if err != nil {
		return err
	}
	for _, c := range cands {
		if ref[c.name] {
			continue
		}
		if err := os.RemoveAll(s.abs(filepath.Join(dir, c.name))); err == nil {
			*count++
			st.BytesFreed += c.size
		}
	}
	return nil
}

// referenced runs a query returning file names and collects them.
func (s *Store) referenced(ctx context.Context, query string, args ...any) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	m := make(map[string]bool)
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		m[f] = true
	}
	return m, rows.Err()
}

// expireUploads aborts the uploads initiated before t.
func (s *Store) expireUploads(ctx context.Context, t time.Time, st *GCStats) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, bucket, key FROM uploads WHERE initiated < ?`, t.UnixNano())
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	type up struct {
		id, bucket string
		key        []byte
	}
	var ups []up
	for rows.Next() {
		var u up
		if err := rows.Scan(&u.id, &u.bucket, &u.key); err != nil {
			rows.Close()
			return fmt.Errorf("index: %w", err)
		}
		ups = append(ups, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	for _, u := range ups {
		if err := ctx.Err(); err != nil {
			return err
		}
		size := dirSize(s.abs(uploadDir(u.id)))
		if err := s.abortUpload(ctx, u.bucket, string(u.key), u.id); err != nil {
			if !errors.Is(err, blob.ErrNotFound) {
				st.AbortErrors++
			}
			continue
		}
		st.Uploads++
		st.BytesFreed += size
	}
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
