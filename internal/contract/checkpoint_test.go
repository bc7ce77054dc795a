package contract

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCheckpointSync(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	s.put(t, "ck", "job/ckpt/epoch-1.pt", []byte("e1"))
	s.put(t, "ck", "job/ckpt/sub/state.json", []byte("{}"))
	s.put(t, "ck", "job/ckpt2/other.pt", []byte("not mine"))
	dir := t.TempDir()
	if err := SyncDown(ctx, s, "s3://ck/job/ckpt", dir); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"epoch-1.pt": "e1", "sub/state.json": "{}"} {
		if b, _ := os.ReadFile(filepath.Join(dir, rel)); string(b) != want {
			t.Errorf("%s = %q", rel, b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "other.pt")); !os.IsNotExist(err) {
		t.Error("synced a sibling prefix")
	}

	syncer, err := NewSyncer(ctx, s, "s3://ck/job/ckpt/", dir)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	write := func(rel, content string, mtime time.Time) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
	}
	write("epoch-2.pt", "e2", past)
	write("deep/new.bin", "n", past)
	write("fresh.pt", "still writing", time.Now())
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("host secret"), 0o644)
	os.Symlink(secret, filepath.Join(dir, "leak"))
	if err := syncer.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{
		"job/ckpt/epoch-1.pt": 0, "job/ckpt/sub/state.json": 0, // synced down, unchanged
		"job/ckpt/epoch-2.pt": 1, "job/ckpt/deep/new.bin": 1,
		"job/ckpt/fresh.pt": 0, // not settled yet
		"job/ckpt/leak":     0,
	} {
		if got := s.putCount(key); got != want {
			t.Errorf("after Scan, %s uploaded %d times, want %d", key, got, want)
		}
	}
	if string(s.get(t, "ck", "job/ckpt/deep/new.bin")) != "n" {
		t.Error("wrong content")
	}

	write("epoch-1.pt", "e1 changed", past.Add(time.Second))
	if err := syncer.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syncer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{
		"job/ckpt/epoch-1.pt": 1, "job/ckpt/epoch-2.pt": 1, "job/ckpt/deep/new.bin": 1,
		"job/ckpt/fresh.pt": 1, "job/ckpt/leak": 0, "job/ckpt/sub/state.json": 0,
	} {
		if got := s.putCount(key); got != want {
			t.Errorf("after Flush, %s uploaded %d times, want %d", key, got, want)
		}
	}
	if string(s.get(t, "ck", "job/ckpt/epoch-1.pt")) != "e1 changed" {
		t.Error("changed file not re-uploaded")
	}

	s.put(t, "ck", "bad/../x", []byte("x"))
	wantClientError(t, SyncDown(ctx, s, "s3://ck/bad", t.TempDir()), "unsafe checkpoint object key")
	if err := SyncDown(ctx, s, "s3://ck/none/", t.TempDir()); err != nil {
		t.Errorf("empty checkpoint prefix: %v", err)
	}
}
