package registry

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BenchmarkPush pushes an image of random layers (WHARF_BENCH_PUSH_MB,
// default 500, in WHARF_BENCH_PUSH_LAYERS, default 5) to a fresh registry
// with go-containerregistry, five uploads at a time as docker does. It is
// the in-process counterpart of bench/registry/run.sh, for CPU profiles of
// the server side of a push:
//
//	go test -run '^$' -bench Push -benchtime 3x -cpuprofile cpu.out ./internal/registry
func BenchmarkPush(b *testing.B) {
	sizeMB := envInt(b, "WHARF_BENCH_PUSH_MB", 500)
	layers := envInt(b, "WHARF_BENCH_PUSH_LAYERS", 5)
	per := (sizeMB << 20) / layers
	rng := rand.NewChaCha8([32]byte{1})
	b.SetBytes(int64(per * layers))
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b)
		img := empty.Image
		var ls []v1.Layer
		for range layers {
			data := make([]byte, per)
			_, _ = rng.Read(data)
			l := static.NewLayer(data, types.DockerLayer)
			if _, err := l.Digest(); err != nil { // hashed before the clock starts
				b.Fatal(err)
			}
			ls = append(ls, l)
		}
		img, err := mutate.AppendLayers(img, ls...)
		if err != nil {
			b.Fatal(err)
		}
		ref, err := name.ParseReference(e.host+"/bench/big:1", name.Insecure)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: keyA, Password: secretA}), remote.WithJobs(5)); err != nil {
			b.Fatal(err)
		}
	}
}

func envInt(b *testing.B, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", key, v)
	}
	return n
}
