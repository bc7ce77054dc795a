// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, pure Go). The SQL sticks to the dialect PostgreSQL
// shares ($N placeholders) so a PostgreSQL store can reuse it.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/wharfml/wharf/internal/store"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a store.Store backed by one SQLite file.
type Store struct {
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and applies pending
// migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open metadata db %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate metadata db %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	provider, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"))
	if err != nil {
		return err
	}
	_, err = provider.Up(ctx)
	return err
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// isUnique reports whether err is a uniqueness violation.
func isUnique(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") ||
		strings.Contains(err.Error(), "constraint failed: PRIMARY KEY"))
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Accounts and keys.

func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO accounts (id, name, created_ms) VALUES ($1, $2, $3)`, a.ID, a.Name, ms(a.Created))
	if isUnique(err) {
		return fmt.Errorf("create account %q: %w", a.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.Name, err)
	}
	return nil
}

func (s *Store) GetAccount(ctx context.Context, id string) (store.Account, error) {
	var a store.Account
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, created_ms FROM accounts WHERE id = $1`, id).Scan(&a.ID, &a.Name, &created)
	if err != nil {
		return a, notFound(err, "get account "+id)
	}
	a.Created = fromMS(created)
	return a, nil
}

func (s *Store) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, created_ms FROM accounts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		var a store.Account
		var created int64
		if err := rows.Scan(&a.ID, &a.Name, &created); err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		a.Created = fromMS(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *Store) CreateAccessKey(ctx context.Context, k store.AccessKey) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO access_keys (id, secret, account_id, created_ms) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Secret, k.AccountID, ms(k.Created))
	if isUnique(err) {
		return fmt.Errorf("create access key %s: %w", k.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create access key %s: %w", k.ID, err)
	}
	return nil
}

func (s *Store) GetAccessKey(ctx context.Context, id string) (store.AccessKey, error) {
	var k store.AccessKey
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, secret, account_id, created_ms FROM access_keys WHERE id = $1`, id).
		Scan(&k.ID, &k.Secret, &k.AccountID, &created)
	if err != nil {
		return k, notFound(err, "get access key "+id)
	}
	k.Created = fromMS(created)
	return k, nil
}

func (s *Store) ListAccessKeys(ctx context.Context, accountID string) ([]store.AccessKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, secret, account_id, created_ms FROM access_keys WHERE account_id = $1 ORDER BY created_ms, id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	defer rows.Close()
	var out []store.AccessKey
	for rows.Next() {
		var k store.AccessKey
		var created int64
		if err := rows.Scan(&k.ID, &k.Secret, &k.AccountID, &created); err != nil {
			return nil, fmt.Errorf("list access keys: %w", err)
		}
		k.Created = fromMS(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *Store) DeleteAccessKey(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "delete access key "+id, `DELETE FROM access_keys WHERE id = $1`, id)
}

func (s *Store) deleteOne(ctx context.Context, what, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// Buckets.

func (s *Store) CreateBucket(ctx context.Context, b store.Bucket) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO buckets (name, owner, region, created_ms) VALUES ($1, $2, $3, $4)`,
		b.Name, b.Owner, b.Region, ms(b.Created))
	if isUnique(err) {
		return fmt.Errorf("create bucket %s: %w", b.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", b.Name, err)
	}
	return nil
}

func (s *Store) GetBucket(ctx context.Context, name string) (store.Bucket, error) {
	var b store.Bucket
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT name, owner, region, created_ms FROM buckets WHERE name = $1`, name).
		Scan(&b.Name, &b.Owner, &b.Region, &created)
	if err != nil {
		return b, notFound(err, "get bucket "+name)
	}
	b.Created = fromMS(created)
	return b, nil
}

func (s *Store) ListBuckets(ctx context.Context, owner string) ([]store.Bucket, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, owner, region, created_ms FROM buckets WHERE owner = $1 ORDER BY name`, owner)
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	defer rows.Close()
	var out []store.Bucket
	for rows.Next() {
		var b store.Bucket
		var created int64
		if err := rows.Scan(&b.Name, &b.Owner, &b.Region, &created); err != nil {
			return nil, fmt.Errorf("list buckets: %w", err)
		}
		b.Created = fromMS(created)
		out = append(out, b)
	}
	return out, rows.Err()
}

func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	return s.deleteOne(ctx, "delete bucket "+name, `DELETE FROM buckets WHERE name = $1`, name)
}

// Resources.

const resourceColumns = `account, type, name, arn, status, created_ms, modified_ms, version, doc`

func scanResource(sc interface{ Scan(...any) error }) (store.Resource, error) {
	var r store.Resource
	var created, modified int64
	var doc string
	if err := sc.Scan(&r.Account, &r.Type, &r.Name, &r.ARN, &r.Status, &created, &modified, &r.Version, &doc); err != nil {
		return r, err
	}
	r.Created, r.Modified, r.Doc = fromMS(created), fromMS(modified), []byte(doc)
	return r, nil
}

func (s *Store) CreateResource(ctx context.Context, r store.Resource) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO resources (account, type, name_lower, name, arn, status, created_ms, modified_ms, version, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)`,
		r.Account, r.Type, strings.ToLower(r.Name), r.Name, r.ARN, r.Status, ms(r.Created), ms(r.Modified), string(r.Doc))
	if isUnique(err) {
		return fmt.Errorf("create %s %q: %w", r.Type, r.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create %s %q: %w", r.Type, r.Name, err)
	}
	return nil
}

func (s *Store) GetResource(ctx context.Context, account, typ, name string) (store.Resource, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+resourceColumns+` FROM resources WHERE account = $1 AND type = $2 AND name_lower = $3`,
		account, typ, strings.ToLower(name))
	r, err := scanResource(row)
	if err != nil {
		return r, notFound(err, fmt.Sprintf("get %s %q", typ, name))
	}
	return r, nil
}

func (s *Store) UpdateResource(ctx context.Context, r store.Resource) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE resources SET status = $1, modified_ms = $2, doc = $3, version = version + 1
		WHERE account = $4 AND type = $5 AND name_lower = $6 AND version = $7`,
		r.Status, ms(r.Modified), string(r.Doc), r.Account, r.Type, strings.ToLower(r.Name), r.Version)
	if err != nil {
		return 0, fmt.Errorf("update %s %q: %w", r.Type, r.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.GetResource(ctx, r.Account, r.Type, r.Name); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("update %s %q: %w", r.Type, r.Name, store.ErrConflict)
	}
	return r.Version + 1, nil
}

// DeleteResource removes a resource and its tags in one transaction.
func (s *Store) DeleteResource(ctx context.Context, account, typ, name string) error {
	what := fmt.Sprintf("delete %s %q", typ, name)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback()
	var arn string
	err = tx.QueryRowContext(ctx, `DELETE FROM resources WHERE account = $1 AND type = $2 AND name_lower = $3 RETURNING arn`,
		account, typ, strings.ToLower(name)).Scan(&arn)
	if err != nil {
		return notFound(err, what)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE arn = $1`, arn); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// sortColumn maps a sort key to its column; the second column breaks ties.
func sortColumn(sortBy string) (string, error) {
	switch sortBy {
	case "", store.SortByCreationTime:
		return "created_ms", nil
	case store.SortByName:
		return "name_lower", nil
	case store.SortByStatus:
		return "status", nil
	}
	return "", fmt.Errorf("list resources: unknown sort key %q", sortBy)
}

func (s *Store) ListResources(ctx context.Context, q store.ResourceQuery) ([]store.Resource, error) {
	col, err := sortColumn(q.SortBy)
	if err != nil {
		return nil, err
	}
	where := []string{"type = $1"}
	args := []any{q.Type}
	if q.Account != "" {
		args = append(args, q.Account)
		where = append(where, "account = $2")
	}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.NameContains != "" {
		add("instr(name_lower, ?) > 0", strings.ToLower(q.NameContains))
	}
	if q.Status != "" {
		add("status = ?", q.Status)
	}
	if len(q.Statuses) > 0 {
		var marks []string
		for _, st := range q.Statuses {
			args = append(args, st)
			marks = append(marks, "$"+strconv.Itoa(len(args)))
		}
		where = append(where, "status IN ("+strings.Join(marks, ", ")+")")
	}
	if !q.CreatedAfter.IsZero() {
		add("created_ms > ?", ms(q.CreatedAfter))
	}
	if !q.CreatedBefore.IsZero() {
		add("created_ms < ?", ms(q.CreatedBefore))
	}
	if !q.ModifiedAfter.IsZero() {
		add("modified_ms > ?", ms(q.ModifiedAfter))
	}
	if !q.ModifiedBefore.IsZero() {
		add("modified_ms < ?", ms(q.ModifiedBefore))
	}
	op, dir := ">", "ASC"
	if q.Descending {
		op, dir = "<", "DESC"
	}
	if q.AfterName != "" {
		var after any = q.AfterSortValue
		if col == "created_ms" {
			v, err := strconv.ParseInt(q.AfterSortValue, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("list resources: bad resume point %q", q.AfterSortValue)
			}
			after = v
		}
		args = append(args, after, q.AfterName)
		n := len(args)
		where = append(where, fmt.Sprintf("(%[1]s %[2]s $%[3]d OR (%[1]s = $%[3]d AND name_lower %[2]s $%[4]d))", col, op, n-1, n))
	}
	query := `SELECT ` + resourceColumns + ` FROM resources WHERE ` + strings.Join(where, " AND ") +
		fmt.Sprintf(" ORDER BY %s %s, name_lower %s", col, dir, dir)
	if q.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", q.Type, err)
	}
	defer rows.Close()
	var out []store.Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", q.Type, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Tags.

func (s *Store) PutTags(ctx context.Context, arn string, tags []store.Tag) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put tags on %s: %w", arn, err)
	}
	defer tx.Rollback()
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tags (arn, key, value) VALUES ($1, $2, $3)
			ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value`, arn, t.Key, t.Value); err != nil {
			return fmt.Errorf("put tags on %s: %w", arn, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("put tags on %s: %w", arn, err)
	}
	return nil
}

func (s *Store) ListTags(ctx context.Context, arn string) ([]store.Tag, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key, value FROM tags WHERE arn = $1 ORDER BY key`, arn)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", arn, err)
	}
	defer rows.Close()
	var out []store.Tag
	for rows.Next() {
		var t store.Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", arn, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Store) DeleteTags(ctx context.Context, arn string, keys []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete tags of %s: %w", arn, err)
	}
	defer tx.Rollback()
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE arn = $1 AND key = $2`, arn, k); err != nil {
			return fmt.Errorf("delete tags of %s: %w", arn, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete tags of %s: %w", arn, err)
	}
	return nil
}

// Metrics.

func (s *Store) AppendMetrics(ctx context.Context, arn string, points []store.MetricPoint) error {
	if len(points) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append metrics of %s: %w", arn, err)
	}
	defer tx.Rollback()
	for _, p := range points {
		if _, err := tx.ExecContext(ctx, `INSERT INTO metrics (arn, name, time_ms, value) VALUES ($1, $2, $3, $4)`,
			arn, p.Name, ms(p.Time), p.Value); err != nil {
			return fmt.Errorf("append metrics of %s: %w", arn, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append metrics of %s: %w", arn, err)
	}
	return nil
}

func (s *Store) ListMetrics(ctx context.Context, arn string) ([]store.MetricPoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, time_ms, value FROM metrics WHERE arn = $1 ORDER BY seq`, arn)
	if err != nil {
		return nil, fmt.Errorf("list metrics of %s: %w", arn, err)
	}
	defer rows.Close()
	var out []store.MetricPoint
	for rows.Next() {
		var p store.MetricPoint
		var t int64
		if err := rows.Scan(&p.Name, &t, &p.Value); err != nil {
			return nil, fmt.Errorf("list metrics of %s: %w", arn, err)
		}
		p.Time = fromMS(t)
		out = append(out, p)
	}
	return out, rows.Err()
}
