package testimage

import (
	"context"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	for _, name := range []string{Contract, ContractEntrypoint} {
		ref := Build(t, name)
		if again := Build(t, name); again != ref {
			t.Fatalf("second Build(%s) = %s, want %s", name, again, ref)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		img, err := Client(t).ImageInspect(ctx, ref)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		cfg := img.Config
		if cfg.Labels[ProgramLabel] != name {
			t.Errorf("%s: label %s = %q", ref, ProgramLabel, cfg.Labels[ProgramLabel])
		}
		wantEP := name == ContractEntrypoint
		if (len(cfg.Entrypoint) > 0) != wantEP || len(cfg.Cmd) != 0 {
			t.Errorf("%s: Entrypoint %q Cmd %q", ref, cfg.Entrypoint, cfg.Cmd)
		}
		t.Logf("%s: %s, %d bytes", ref, img.ID, img.Size)
	}
}

func TestBuildUnknown(t *testing.T) {
	if _, err := build(Client(t), "no-such-program"); err == nil {
		t.Fatal("want error")
	}
}

func TestUniqueSaveRemove(t *testing.T) {
	ref := Unique(t)
	if b := Save(t, ref); len(b) < 512 {
		t.Fatalf("save: %d bytes", len(b))
	}
	Remove(t, ref)
	Remove(t, ref) // missing is fine
}
