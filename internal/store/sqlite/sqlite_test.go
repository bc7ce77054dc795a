package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wharfml/wharf/internal/store"
	"github.com/wharfml/wharf/internal/store/sqlite"
	"github.com/wharfml/wharf/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "wharf.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestReopen: data survives closing and reopening the file, and migrations
// are not re-applied.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wharf.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, store.Account{ID: "123456789012", Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if a, err := s.GetAccount(ctx, "123456789012"); err != nil || a.Name != "acme" {
		t.Fatalf("after reopen: %+v %v", a, err)
	}
}
