// Package logs keeps the output of training, transform and endpoint
// containers (container-contract.md §2.12) and serves it through a subset of
// the CloudWatch Logs API (AWS JSON 1.1, X-Amz-Target
// "Logs_20140328.<Operation>", signing name "logs"; see Register).
//
// The data model is CloudWatch's: per account, log groups hold log streams,
// which hold events (timestamp in epoch milliseconds, ingestion time,
// message). Everything lives in one SQLite database of its own. Controllers
// write through Writers (Store.Stream), which batch lines into one
// transaction per 200 ms or 1000 lines and cap what a stream may store, so a
// container flooding its output costs bounded disk, memory and CPU.
//
// Events of a stream are ordered by (timestamp, sequence), the sequence being
// a database-wide counter assigned at ingestion; it also serves as eventId
// and as the resume point of paging tokens.
package logs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Defaults for Options.
const (
	DefaultMaxBytesPerStream = 64 << 20  // 64 MiB of messages per stream
	DefaultMaxEventBytes     = 256 << 10 // CloudWatch's event size limit
	DefaultFlushInterval     = 200 * time.Millisecond
	DefaultFlushLines        = 1000
	flushBytes               = 1 << 20 // buffered message bytes forcing a flush
)

// Options tune a Store. The zero value means every default.
type Options struct {
	// MaxBytesPerStream caps the message bytes stored in one stream
	// (default 64 MiB; negative: no cap). Once reached, one marker event is
	// written and further lines are dropped and counted.
	MaxBytesPerStream int64
	// MaxEventBytes truncates longer messages (default 256 KiB).
	MaxEventBytes int
	// FlushInterval is how long a Writer may buffer lines (default 200 ms).
	FlushInterval time.Duration
	// FlushLines is the number of buffered lines forcing a flush
	// (default 1000).
	FlushLines int
	// Now is the clock for ingestion and creation times (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxBytesPerStream == 0 {
		o.MaxBytesPerStream = DefaultMaxBytesPerStream
	}
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = DefaultMaxEventBytes
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.FlushLines <= 0 {
		o.FlushLines = DefaultFlushLines
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// ErrClosed is returned by operations on a closed Store or Writer.
var ErrClosed = errors.New("logs: closed")

// errStreamGone is returned when a Writer's stream was deleted under it.
var errStreamGone = errors.New("logs: log stream was deleted")

// Store is the log database. It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	opts Options
	key  []byte // signs paging tokens; kept in the database across restarts

	writeMu sync.Mutex   // serialises write transactions (SQLite has one writer)
	batches atomic.Int64 // event transactions committed (for tests)

	mu      sync.Mutex
	writers map[*Writer]struct{}
	closed  bool
}

const schemaVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS groups (
	id      INTEGER PRIMARY KEY,
	account TEXT NOT NULL,
	name    TEXT NOT NULL,
	created INTEGER NOT NULL,
	UNIQUE (account, name)
);
CREATE TABLE IF NOT EXISTS streams (
	id             INTEGER PRIMARY KEY,
	group_id       INTEGER NOT NULL,
	name           TEXT NOT NULL,
	created        INTEGER NOT NULL,
	first_event    INTEGER,
	last_event     INTEGER,
	last_ingestion INTEGER,
	stored_bytes   INTEGER NOT NULL DEFAULT 0,
	capped         INTEGER NOT NULL DEFAULT 0,
	UNIQUE (group_id, name)
);
CREATE TABLE IF NOT EXISTS events (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	group_id  INTEGER NOT NULL,
	stream_id INTEGER NOT NULL,
	ts        INTEGER NOT NULL,
	ingested  INTEGER NOT NULL,
	message   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_stream_ts ON events (stream_id, ts, id);
CREATE INDEX IF NOT EXISTS events_group_ts ON events (group_id, ts, id);
`

// Open opens (creating if needed) the log database at path. At most one
// Options may be given.
func Open(ctx context.Context, path string, opts ...Options) (*Store, error) {
	if len(opts) > 1 {
		return nil, errors.New("logs: Open takes at most one Options")
	}
	var o Options
	if len(opts) == 1 {
		o = opts[0]
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open log db %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db, opts: o.withDefaults(), writers: map[*Writer]struct{}{}}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open log db %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this program's %d", version, schemaVersion)
	}
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if _, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO meta (key, value) VALUES ('token_key', ?)`, key); err != nil {
		return err
	}
	return s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'token_key'`).Scan(&s.key)
}

// Close closes every open Writer (flushing it) and then the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ws := make([]*Writer, 0, len(s.writers))
	for w := range s.writers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	var errs []error
	for _, w := range ws {
		if err := w.Close(); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}

func (s *Store) nowMS() int64 { return s.opts.Now().UnixMilli() }

// groupRow is a log group as stored.
type groupRow struct {
	id      int64
	account string
	name    string
	created int64
}

// streamRow is a log stream as stored.
type streamRow struct {
	id            int64
	groupID       int64
	name          string
	created       int64
	firstEvent    sql.NullInt64
	lastEvent     sql.NullInt64
	lastIngestion sql.NullInt64
	storedBytes   int64
}

const streamCols = `id, group_id, name, created, first_event, last_event, last_ingestion, stored_bytes`

func scanStream(sc interface{ Scan(...any) error }) (streamRow, error) {
	var r streamRow
	err := sc.Scan(&r.id, &r.groupID, &r.name, &r.created, &r.firstEvent, &r.lastEvent, &r.lastIngestion, &r.storedBytes)
	return r, err
}

// group returns the caller's group name, or sql.ErrNoRows.
func (s *Store) group(ctx context.Context, account, name string) (groupRow, error) {
	g := groupRow{account: account, name: name}
	err := s.db.QueryRowContext(ctx, `SELECT id, created FROM groups WHERE account = ? AND name = ?`,
		account, name).Scan(&g.id, &g.created)
	return g, err
}

// stream returns the named stream of group groupID, or sql.ErrNoRows.
func (s *Store) stream(ctx context.Context, groupID int64, name string) (streamRow, error) {
	return scanStream(s.db.QueryRowContext(ctx, `SELECT `+streamCols+` FROM streams WHERE group_id = ? AND name = ?`, groupID, name))
}

// createGroup inserts a group; created reports whether it is new.
func (s *Store) createGroup(ctx context.Context, account, name string) (id int64, created bool, err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	res, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO groups (account, name, created) VALUES (?, ?, ?)`,
		account, name, s.nowMS())
	if err != nil {
		return 0, false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		id, err = res.LastInsertId()
		return id, true, err
	}
	g, err := s.group(ctx, account, name)
	return g.id, false, err
}

// createStream inserts a stream into group groupID; created reports whether
// it is new.
func (s *Store) createStream(ctx context.Context, groupID int64, name string) (id int64, created bool, err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	res, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO streams (group_id, name, created) VALUES (?, ?, ?)`,
		groupID, name, s.nowMS())
	if err != nil {
		return 0, false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		id, err = res.LastInsertId()
		return id, true, err
	}
	st, err := s.stream(ctx, groupID, name)
	return st.id, false, err
}

// DeleteStreams deletes the streams of account's group whose names start
// with prefix ("" deletes them all), with their events. A missing group is
// not an error. Writers still open on deleted streams fail their next flush.
func (s *Store) DeleteStreams(ctx context.Context, account, group, prefix string) error {
	g, err := s.group(ctx, account, group)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	sel := `SELECT id FROM streams WHERE group_id = ?1 AND name >= ?2 AND name < ?3 AND substr(name, 1, length(?2)) = ?2`
	if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE stream_id IN (`+sel+`)`, g.id, prefix, prefixEnd(prefix)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM streams WHERE id IN (`+sel+`)`, g.id, prefix, prefixEnd(prefix)); err != nil {
		return err
	}
	return tx.Commit()
}

// prefixEnd is an upper bound for names starting with prefix: name >= prefix
// AND name < prefixEnd(prefix) selects them (with a substr check for names
// holding U+10FFFF after the prefix).
func prefixEnd(prefix string) string { return prefix + "\U0010FFFF" }

// pendingEvent is an event on its way into the database.
type pendingEvent struct {
	ts  int64
	msg string
}

// appendResult reports what appendEvents did.
type appendResult struct {
	stored  int   // events stored (not counting a cap marker)
	dropped int   // events dropped because the stream is full
	capped  bool  // the stream is (now) full
	total   int64 // the stream's stored bytes afterwards
}

// capMarker is the event written once when a stream reaches its cap.
func capMarker(limit int64) string {
	return fmt.Sprintf("[wharf] log limit of %d bytes reached for this stream; further output is dropped", limit)
}

// appendEvents stores evs in stream streamID in one transaction, honouring
// the stream cap: events that would push the stream past it are dropped, and
// the first time that happens a marker event is stored. extra events (the
// writer's "dropped K lines" note) are stored regardless of the cap.
func (s *Store) appendEvents(ctx context.Context, streamID int64, evs []pendingEvent, extra ...pendingEvent) (appendResult, error) {
	var res appendResult
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	var groupID, stored int64
	var capped bool
	err = tx.QueryRowContext(ctx, `SELECT group_id, stored_bytes, capped FROM streams WHERE id = ?`, streamID).Scan(&groupID, &stored, &capped)
	if errors.Is(err, sql.ErrNoRows) {
		return res, errStreamGone
	}
	if err != nil {
		return res, err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO events (group_id, stream_id, ts, ingested, message) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return res, err
	}
	defer ins.Close()
	now := s.nowMS()
	limit := s.opts.MaxBytesPerStream
	first, last := int64(0), int64(0)
	var added int64
	n := 0
	put := func(e pendingEvent) error {
		if _, err := ins.ExecContext(ctx, groupID, streamID, e.ts, now, e.msg); err != nil {
			return err
		}
		if n == 0 || e.ts < first {
			first = e.ts
		}
		if n == 0 || e.ts > last {
			last = e.ts
		}
		n++
		added += int64(len(e.msg))
		return nil
	}
	for _, e := range evs {
		if capped || (limit > 0 && stored+added+int64(len(e.msg)) > limit) {
			if !capped {
				capped = true
				if err := put(pendingEvent{ts: e.ts, msg: capMarker(limit)}); err != nil {
					return res, err
				}
			}
			res.dropped++
			continue
		}
		if err := put(e); err != nil {
			return res, err
		}
		res.stored++
	}
	for _, e := range extra {
		if err := put(e); err != nil {
			return res, err
		}
	}
	if n > 0 {
		_, err = tx.ExecContext(ctx, `UPDATE streams SET
			stored_bytes = stored_bytes + ?2,
			first_event = CASE WHEN first_event IS NULL OR first_event > ?3 THEN ?3 ELSE first_event END,
			last_event = CASE WHEN last_event IS NULL OR last_event < ?4 THEN ?4 ELSE last_event END,
			last_ingestion = ?5,
			capped = ?6
			WHERE id = ?1`, streamID, added, first, last, now, capped)
		if err != nil {
			return res, err
		}
	}
	if err := tx.Commit(); err != nil {
		return res, err
	}
	s.batches.Add(1)
	res.capped, res.total = capped, stored+added
	return res, nil
}

// truncateMessage cuts msg to at most max bytes at a UTF-8 boundary and
// replaces invalid UTF-8 with U+FFFD, so stored sizes and JSON output agree.
func truncateMessage(msg string, max int) string {
	if len(msg) > max {
		msg = msg[:runeStart(msg, max)]
	}
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if len(msg) > max { // replacements made it longer
		msg = msg[:runeStart(msg, max)]
	}
	return msg
}

// runeStart backs i (< len(s)) up to the start of the UTF-8 sequence holding
// byte i (at most 3 bytes back), so s[:i] does not end inside a rune.
func runeStart(s string, i int) int {
	for k := 0; k < 3 && i > 0 && s[i]&0xC0 == 0x80; k++ {
		i--
	}
	return i
}
