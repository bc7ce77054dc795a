// Package fs is the local-filesystem implementation of blob.Store.
//
// Layout under the root directory:
//
//	index.db               SQLite index: (bucket, key) → data file, size, ETag, attributes, checksums
//	LOCK                   held (flock) by the one process that has the store open
//	objects/<2 hex>/<id>   object data, named by a random 128-bit id
//	tmp/<id>.tmp           writes in progress
//	uploads/<uploadID>/    multipart uploads; parts are files <n>.<16 hex>
//
// Keys are never turned into paths, so no key can reach outside the root.
// A write streams into tmp/, is renamed into objects/ and only then becomes
// visible through a single index transaction; the file of a replaced or
// deleted object is removed after that transaction commits. A crash can leave
// unreferenced files behind, never a visible partial object; GC removes them.
package fs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wharfml/wharf/internal/blob"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Directory and file names under the root.
const (
	dirObjects = "objects"
	dirTmp     = "tmp"
	dirUploads = "uploads"
	indexName  = "index.db"
	lockName   = "LOCK"
)

const schemaVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS objects (
	bucket    TEXT    NOT NULL,
	key       BLOB    NOT NULL,
	file      TEXT    NOT NULL,
	size      INTEGER NOT NULL,
	etag      TEXT    NOT NULL,
	modtime   INTEGER NOT NULL,
	attrs     TEXT    NOT NULL,
	checksums TEXT    NOT NULL,
	parts     INTEGER NOT NULL,
	PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS objects_file ON objects (file);
CREATE TABLE IF NOT EXISTS uploads (
	id        TEXT    NOT NULL PRIMARY KEY,
	bucket    TEXT    NOT NULL,
	key       BLOB    NOT NULL,
	initiated INTEGER NOT NULL,
	attrs     TEXT    NOT NULL,
	algorithm TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uploads_key ON uploads (bucket, key, initiated, id);
CREATE INDEX IF NOT EXISTS uploads_initiated ON uploads (initiated);
CREATE TABLE IF NOT EXISTS parts (
	upload_id TEXT    NOT NULL,
	number    INTEGER NOT NULL,
	file      TEXT    NOT NULL,
	size      INTEGER NOT NULL,
	etag      TEXT    NOT NULL,
	modtime   INTEGER NOT NULL,
	checksums TEXT    NOT NULL,
	PRIMARY KEY (upload_id, number)
) WITHOUT ROWID;
`

// Option configures Open.
type Option func(*config)

type config struct {
	sync  bool
	grace time.Duration
}

// WithSync controls durability against power loss (on by default). With
// sync, a write fsyncs its data file and the directory it is renamed into
// before the index commits, and the index commits with synchronous=FULL, so
// an acknowledged write survives a machine crash. Without it (index at
// synchronous=NORMAL) a machine crash can lose recent writes and deletes and
// can leave objects whose data file is empty or missing (Get then fails
// rather than return wrong data). A crash of the process alone loses nothing
// either way. Cost on the 2-core development VM: a 1 MiB Put takes about
// 3 ms without sync and 7 ms with it (4 and 12 ms under load), a 16 MiB Put
// 32 and 60 ms; once writes outrun the page cache the disk is the limit
// either way. Tests and scratch stores can turn it off.
func WithSync(sync bool) Option {
	return func(c *config) { c.sync = sync }
}

// WithGracePeriod sets how old an unreferenced temporary, data or part file
// must be before GC removes it (default one hour). Files of writes in progress
// in this process are never removed, whatever their age.
func WithGracePeriod(d time.Duration) Option {
	return func(c *config) { c.grace = d }
}

// Store is a blob.Store on a local directory. It is safe for concurrent use;
// only one Store (in one process) may have a root open at a time.
type Store struct {
	root string
	cfg  config
	db   *sql.DB
	lock *os.File

	// writeMu serialises index write transactions: cheaper than letting
	// SQLite's busy handler poll for the write lock.
	writeMu sync.Mutex

	activeMu sync.Mutex
	active   map[string]int // root-relative paths of files being written

	stmtGet  *sql.Stmt
	stmtList *sql.Stmt

	closeOnce sync.Once
	closeErr  error
}

var _ blob.Store = (*Store)(nil)

// Open opens (creating if needed) the store rooted at root.
func Open(root string, opts ...Option) (*Store, error) {
	cfg := config{sync: true, grace: time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", root, err)
	}
	lock, err := lockFile(filepath.Join(abs, lockName))
	if err != nil {
		return nil, fmt.Errorf("open blob store %s: %w", root, err)
	}
	s := &Store{root: abs, cfg: cfg, lock: lock, active: make(map[string]int)}
	if err := s.init(); err != nil {
		if s.db != nil {
			s.db.Close()
		}
		unlockFile(lock)
		return nil, fmt.Errorf("open blob store %s: %w", root, err)
	}
	return s, nil
}

func (s *Store) init() error {
	// The 256 shard directories under objects/ are made when first needed.
	for _, d := range []string{dirObjects, dirTmp, dirUploads} {
		if err := os.MkdirAll(filepath.Join(s.root, d), 0o700); err != nil {
			return err
		}
	}
	// With sync, commits fsync the WAL too (FULL): an acknowledged write is
	// durable, and a replaced file is never unlinked before the commit that
	// replaced it is on disk.
	syncMode := "NORMAL"
	if s.cfg.sync {
		syncMode = "FULL"
	}
	dsn := "file:" + uriEscape(filepath.Join(s.root, indexName)) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(" + syncMode + ")&_pragma=busy_timeout(5000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	s.db = db
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx := context.Background()
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > schemaVersion {
		return fmt.Errorf("index schema version %d is newer than this program's %d", version, schemaVersion)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if version < schemaVersion {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
			return err
		}
	}
	if s.stmtGet, err = db.PrepareContext(ctx,
		`SELECT file, size, etag, modtime, attrs, checksums, parts FROM objects WHERE bucket = ? AND key = ?`); err != nil {
		return err
	}
	if s.stmtList, err = db.PrepareContext(ctx,
		`SELECT key, size, etag, modtime, attrs, checksums, parts FROM objects
		 WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?`); err != nil {
		return err
	}
	return nil
}

// Root returns the store's absolute root directory.
func (s *Store) Root() string { return s.root }

// Close closes the index and releases the root. Reads already opened with Get
// remain usable.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.db.Close()
		unlockFile(s.lock)
	})
	return s.closeErr
}

// uriEscape escapes the characters that would end or corrupt the path part
// of an SQLite URI filename.
func uriEscape(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand.Read does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// newFileID returns a new random data file id (32 hex digits).
func newFileID() string { return randomHex(16) }

// objectPath is the root-relative path of a data file.
func objectPath(id string) string { return filepath.Join(dirObjects, id[:2], id) }

func (s *Store) abs(rel string) string { return filepath.Join(s.root, rel) }

// markActive records that rel is being written, so GC leaves it alone.
func (s *Store) markActive(rel string) {
	s.activeMu.Lock()
	s.active[rel]++
	s.activeMu.Unlock()
}

func (s *Store) unmarkActive(rel string) {
	s.activeMu.Lock()
	if s.active[rel]--; s.active[rel] <= 0 {
		delete(s.active, rel)
	}
	s.activeMu.Unlock()
}

func (s *Store) isActive(rel string) bool {
	s.activeMu.Lock()
	defer s.activeMu.Unlock()
	return s.active[rel] > 0
}

// writeTx runs fn in an immediate write transaction, serialised in-process.
func (s *Store) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// The transaction must not be aborted half way by the caller's context
	// once files have been moved into place; callers check ctx beforehand.
	tx, err := s.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// removeFile removes a root-relative file if it exists.
func (s *Store) removeFile(rel string) {
	_ = os.Remove(s.abs(rel)) // on failure the file is left for GC
}

// syncDir fsyncs a directory so a rename into it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
