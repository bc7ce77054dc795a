package fs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/wharfml/wharf/internal/blob"
)

// Rename moves an object to another key of the same bucket atomically,
// replacing any object at the destination. It only changes the index, so
// it costs the same for any size (the registry moves every pushed layer
// from its upload path to its content address).
func (s *Store) Rename(ctx context.Context, bucket, from, to string) error {
	if err := checkNames(bucket, from); err != nil {
		return fmt.Errorf("rename %s/%s: %w", bucket, from, err)
	}
	if err := checkNames(bucket, to); err != nil {
		return fmt.Errorf("rename %s/%s: %w", bucket, to, err)
	}
	if from == to {
		_, err := s.Head(ctx, bucket, from)
		return err
	}
	var replaced string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM objects WHERE bucket = ? AND key = ?`, bucket, []byte(from)).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return blob.ErrNotFound
		}
		err := tx.QueryRow(`DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING file`, bucket, []byte(to)).Scan(&replaced)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.Exec(`UPDATE objects SET key = ? WHERE bucket = ? AND key = ?`, []byte(to), bucket, []byte(from))
		return err
	})
	if err != nil {
		return fmt.Errorf("rename %s/%s to %s: %w", bucket, from, to, err)
	}
	if replaced != "" {
		s.removeFile(objectPath(replaced))
	}
	return nil
}
