// Command scan measures the image scanner (inventory + advisory match +
// contract check) on a generated multi-layer image on disk, beside the
// floor any scanner has to pay: reading and gunzipping the same layers.
//
//	go run ./bench/scan [-size 500MB] [-layers 5]
//
// The image is written to a temp dir as gzip layer files: incompressible
// random file contents (mostly large files, some small ones, a few marked
// executable), plus a Debian dpkg status, os-release, Python dist-info
// metadata, this program's own Go binary (so Go module inventory runs) and
// train/serve executables for the contract check. The scanner reads it
// through go-containerregistry's compressed-image adapter, as it reads
// images from Wharf's registry.
//
// It prints bytes, wall time, MB/s, the peak Go heap in use (sampled with
// runtime/metrics every 2 ms) and the peak RSS (VmHWM of /proc/self/status,
// reset before each phase through /proc/self/clear_refs) for the reference
// and the scan, and the ratios.
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/wharfml/wharf/internal/scan"
)

func main() {
	sizeFlag := flag.String("size", "500MB", "uncompressed image size (MB/GB are decimal, MiB/GiB binary)")
	nLayers := flag.Int("layers", 5, "number of layers")
	dir := flag.String("dir", "", "directory for the image (default: a temp dir, removed at the end)")
	bigFile := flag.String("file-size", "8MiB", "size of the large random files")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the scan to this file")
	flag.Parse()
	size, err := parseSize(*sizeFlag)
	if err != nil {
		log.Fatal(err)
	}
	big, err := parseSize(*bigFile)
	if err != nil {
		log.Fatal(err)
	}
	if *nLayers < 1 {
		log.Fatal("-layers must be at least 1")
	}
	root := *dir
	if root == "" {
		if root, err = os.MkdirTemp("", "wharf-bench-scan"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(root)
	}

	start := time.Now()
	img, layers, err := buildImage(root, size, *nLayers, big)
	if err != nil {
		log.Fatal(err)
	}
	var compressed, uncompressed int64
	for _, l := range layers {
		compressed += l.size
		uncompressed += l.tarSize
	}
	fmt.Printf("image: %d layers, %s uncompressed (tar), %s compressed, built in %s in %s\n",
		len(layers), human(uncompressed), human(compressed), time.Since(start).Round(time.Millisecond), root)
	fmt.Printf("go %s, GOMAXPROCS %d, GOGC %s\n\n", runtime.Version(), runtime.GOMAXPROCS(0), envOr("GOGC", "100"))

	db, err := advisories(root)
	if err != nil {
		log.Fatal(err)
	}

	// Reference: read and gunzip every layer, nothing else.
	ref := measure(func() error {
		for _, l := range layers {
			f, err := os.Open(l.path)
			if err != nil {
				return err
			}
			zr, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
			if err == nil {
				_, err = io.Copy(io.Discard, zr)
			}
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})

	// The scanner, as scan.Service runs it.
	var sbom *scan.SBOM
	var contract *scan.Contract
	var findings []scan.Finding
	res := measure(func() error {
		if *cpuprofile != "" {
			f, err := os.Create(*cpuprofile)
			if err != nil {
				return err
			}
			defer f.Close()
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
		var err error
		sbom, contract, err = scan.Analyze(context.Background(), img, scan.Options{TempDir: root})
		if err != nil {
			return err
		}
		findings = db.Match(sbom)
		return nil
	})

	fmt.Printf("%-33s %10s %10s %10s %12s %12s\n", "", "bytes", "wall", "MB/s", "peak heap", "peak RSS")
	row := func(name string, m result) {
		fmt.Printf("%-33s %10s %10s %10.0f %12s %12s\n", name, human(uncompressed), m.wall.Round(time.Millisecond),
			float64(uncompressed)/1e6/m.wall.Seconds(), human(int64(m.peakHeap)), human(m.peakRSS))
	}
	row("read+gunzip (reference)", ref)
	row("scan (inventory+match+contract)", res)
	fmt.Printf("\nratio scan/reference: time %.2fx, peak heap %.2fx, peak RSS %.2fx\n",
		res.wall.Seconds()/ref.wall.Seconds(), float64(res.peakHeap)/float64(max(ref.peakHeap, 1)), float64(res.peakRSS)/float64(max(ref.peakRSS, 1)))
	fmt.Printf("MB/s counts uncompressed bytes; peak heap = Go heap in use, peak RSS = VmHWM since the phase began\n\n")

	fmt.Printf("scan found: %d packages, %d findings, %d entries, %d Go binaries, %s read\n",
		len(sbom.Packages), len(findings), sbom.Entries, sbom.GoBinaries, human(sbom.BytesRead))
	fmt.Printf("contract: train=%v (%s); serve=%v (%s); %s compressed, %s uncompressed; %d warnings\n",
		contract.TrainInvocable, contract.TrainReason, contract.ServeInvocable, contract.ServeReason,
		human(contract.CompressedSize), human(contract.UncompressedSize), len(contract.Warnings))
	if sbom.BytesRead != uncompressed || contract.UncompressedSize != uncompressed || contract.CompressedSize != compressed {
		log.Fatalf("size mismatch: scanner read %d (contract %d/%d), image has %d/%d", sbom.BytesRead,
			contract.UncompressedSize, contract.CompressedSize, uncompressed, compressed)
	}
}

type result struct {
	wall     time.Duration
	peakHeap uint64
	peakRSS  int64
}

// measure runs f from a clean slate (GC'd heap returned to the OS, peak
// RSS reset) and samples the heap while it runs.
func measure(f func() error) result {
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	sample := func() {
		metrics.Read(samples)
		if v := samples[0].Value.Uint64() + samples[1].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	start := time.Now()
	err := f()
	wall := time.Since(start)
	close(stop)
	<-done
	sample()
	if err != nil {
		log.Fatal(err)
	}
	return result{wall: wall, peakHeap: peak.Load(), peakRSS: peakRSS()}
}

// resetPeakRSS resets VmHWM to the current RSS (Linux, "5" in clear_refs).
func resetPeakRSS() {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		log.Printf("cannot reset peak RSS (%v): the RSS column is the process peak", err)
	}
}

func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// diskLayer is one gzip layer file.
type diskLayer struct {
	path    string
	digest  v1.Hash
	diffID  v1.Hash
	size    int64 // compressed
	tarSize int64
}

// diskImage is an OCI image whose layers are files.
type diskImage struct {
	manifest, config []byte
	layers           []*diskLayer
}

// The two types implement partial's compressed image and layer, as the
// registry's stored images do; partial supplies the rest (DiffID,
// Uncompressed with gunzip).
func (l *diskLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *diskLayer) Size() (int64, error)                { return l.size, nil }
func (l *diskLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *diskLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

func (d *diskImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (d *diskImage) RawManifest() ([]byte, error)        { return d.manifest, nil }
func (d *diskImage) RawConfigFile() ([]byte, error)      { return d.config, nil }
func (d *diskImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range d.layers {
		if l.digest == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no layer %s", h)
}

// buildImage writes nLayers gzip layers holding about size bytes of files.
func buildImage(dir string, size int64, nLayers int, big int64) (v1.Image, []*diskLayer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	goBin, err := os.ReadFile(self)
	if err != nil {
		return nil, nil, err
	}
	rng := rand.NewChaCha8([32]byte{'w', 'h', 'a', 'r', 'f'})
	var layers []*diskLayer
	per := size / int64(nLayers)
	for i := 0; i < nLayers; i++ {
		l, err := writeLayer(filepath.Join(dir, fmt.Sprintf("layer-%d.tar.gz", i)), func(tw *tar.Writer) error {
			if i == 0 {
				if err := baseFiles(tw, goBin); err != nil {
					return err
				}
			}
			return randomFiles(tw, rng, i, per, big)
		})
		if err != nil {
			return nil, nil, err
		}
		layers = append(layers, l)
	}
	cfg := v1.ConfigFile{
		Architecture: "amd64", OS: "linux",
		Config: v1.Config{
			Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONUNBUFFERED=1"},
			ExposedPorts: map[string]struct{}{"8080/tcp": {}},
			User:         "1000",
			WorkingDir:   "/opt/program",
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.OCILayer, Size: l.size, Digest: l.digest})
	}
	img := &diskImage{layers: layers}
	if img.config, err = json.Marshal(cfg); err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(img.config)
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(img.config)),
		Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
	if img.manifest, err = json.Marshal(m); err != nil {
		return nil, nil, err
	}
	v1img, err := partial.CompressedToImage(img)
	return v1img, layers, err
}

// writeLayer writes a gzip tar layer, hashing both streams as it goes.
func writeLayer(path string, fill func(*tar.Writer) error) (*diskLayer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zsum, tsum := sha256.New(), sha256.New()
	zcount := &counter{w: io.MultiWriter(f, zsum)}
	zw, _ := gzip.NewWriterLevel(zcount, gzip.BestSpeed)
	tcount := &counter{w: io.MultiWriter(zw, tsum)}
	tw := tar.NewWriter(tcount)
	if err := fill(tw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &diskLayer{path: path, digest: hashOf(zsum), diffID: hashOf(tsum), size: zcount.n, tarSize: tcount.n}, f.Close()
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func hashOf(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

func add(tw *tar.Writer, name string, mode int64, body []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(body)
	return err
}

// baseFiles: what the inventory and contract check look for.
func baseFiles(tw *tar.Writer, goBin []byte) error {
	var status strings.Builder
	for i := 0; i < 400; i++ {
		fmt.Fprintf(&status, "Package: lib%03d\nStatus: install ok installed\nSource: src%03d\nVersion: 1.%d.0-1\nDescription: package %d\n\n", i, i/4, i, i)
	}
	status.WriteString("Package: libssl3\nStatus: install ok installed\nSource: openssl\nVersion: 3.0.11-1~deb12u2\n\n")
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{
		{"etc/os-release", 0o644, []byte("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nmodel:x:1000:1000::/opt/program:/bin/sh\n")},
		{"var/lib/dpkg/status", 0o644, []byte(status.String())},
		{"usr/local/bin/wharf-bench", 0o755, goBin},
		{"usr/local/bin/train", 0o755, []byte("#!/bin/sh\nexec python3 /opt/program/train.py \"$@\"\n")},
		{"opt/program/serve", 0o755, []byte("#!/bin/sh\nexec python3 /opt/program/serve.py\n")},
	} {
		if err := add(tw, f.name, f.mode, f.body); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "usr/local/bin/serve", Typeflag: tar.TypeSymlink, Linkname: "../../../opt/program/serve"}); err != nil {
		return err
	}
	for _, p := range []struct{ name, version string }{{"numpy", "1.26.4"}, {"torch", "2.2.0"}, {"PyYAML", "5.3.1"}, {"requests", "2.31.0"}} {
		dist := fmt.Sprintf("usr/local/lib/python3.11/site-packages/%s-%s.dist-info/METADATA", p.name, p.version)
		if err := add(tw, dist, 0o644, []byte("Metadata-Version: 2.1\nName: "+p.name+"\nVersion: "+p.version+"\n")); err != nil {
			return err
		}
	}
	return nil
}

// randomFiles writes about n bytes of incompressible files: for every file
// of size big, 60 small ones (4-64 KiB, about a fifth of the bytes with the
// default 8 MiB), as in images full of libraries and Python sources; one
// file in 8 is executable.
func randomFiles(tw *tar.Writer, rng *rand.ChaCha8, layer int, n, big int64) error {
	buf := make([]byte, 256<<10)
	var written int64
	for i := 0; written < n; i++ {
		sz := big
		if i%61 != 0 {
			sz = int64(4<<10 + rng.Uint64()%(60<<10))
		}
		sz = min(sz, n-written)
		mode := int64(0o644)
		if i%8 == 0 {
			mode = 0o755
		}
		name := fmt.Sprintf("data/layer%d/d%03d/f%06d.bin", layer, i%256, i)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: sz, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		for left := sz; left > 0; {
			k := min(int64(len(buf)), left)
			rng.Read(buf[:k])
			if _, err := tw.Write(buf[:k]); err != nil {
				return err
			}
			left -= k
		}
		written += sz
	}
	return nil
}

func advisories(dir string) (*scan.DB, error) {
	adv := filepath.Join(dir, "advisories")
	if err := os.MkdirAll(adv, 0o755); err != nil {
		return nil, err
	}
	rec := `{"id": "BENCH-1", "modified": "2026-01-01T00:00:00Z", "summary": "openssl",
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.15-1~deb12u1"}]}]}]}`
	if err := os.WriteFile(filepath.Join(adv, "BENCH-1.json"), []byte(rec), 0o644); err != nil {
		return nil, err
	}
	return scan.LoadAdvisories(adv)
}

func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"G", 1e9}, {"M", 1e6}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("bad size %q", s)
			}
			return int64(v * float64(u.mult)), nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad size %q (e.g. 500MB, 2GB, 1GiB)", s)
	}
	return v, nil
}

func human(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
