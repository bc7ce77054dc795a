// Package scan builds a software bill of materials (SBOM) from an OCI/Docker
// image and matches it offline against OSV advisories.
//
// Layers are streamed top-down (newest first) exactly once; whiteouts and
// opaque directories of upper layers hide the entries of lower layers. Nothing
// from a layer is written to disk except, one at a time, an ELF executable that
// is spooled to a temporary file so debug/buildinfo can read it.
package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Package is one component found in an image.
type Package struct {
	// Ecosystem is the OSV ecosystem the package is matched in, e.g.
	// "Debian:12", "Ubuntu:22.04", "Alpine:v3.19", "Go", "PyPI", "npm".
	// OS packages of an unidentified OS carry the bare name ("Debian", "Alpine").
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	// SourceName/SourceVersion: the dpkg source package (Source: field) or the
	// apk origin; empty for language packages.
	SourceName    string `json:"sourceName,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	// Path is the file the package was found in (no leading slash).
	Path string `json:"path"`
}

// OSInfo is what /etc/os-release says.
type OSInfo struct {
	ID         string `json:"id,omitempty"`
	VersionID  string `json:"versionId,omitempty"`
	PrettyName string `json:"prettyName,omitempty"`
}

// SBOM is the inventory of one image.
type SBOM struct {
	OS       OSInfo    `json:"os"`
	Packages []Package `json:"packages"`
	// Warnings lists files that were skipped (too large, unparsable).
	Warnings []string `json:"warnings,omitempty"`
	// Stats about the walk.
	Layers        int   `json:"layers"`
	Entries       int   `json:"entries"`
	BytesRead     int64 `json:"bytesRead"`
	GoBinaries    int   `json:"goBinaries"`
	ELFsInspected int   `json:"elfsInspected"`
}

// Options bound the work an Inventory may do. Zero fields take the defaults.
type Options struct {
	// MaxEntries is the total number of tar entries over all layers
	// (default 2,000,000). Exceeding it fails the scan with ErrTooManyEntries.
	MaxEntries int
	// MaxMetadataSize caps a metadata file (dpkg status, METADATA, package.json …)
	// read into memory (default 8 MiB); larger files are skipped with a warning.
	MaxMetadataSize int64
	// MaxBinarySize caps an executable spooled for Go build info (default 256 MiB).
	MaxBinarySize int64
	// MaxTotalBytes caps the uncompressed bytes over all layers (default 64 GiB);
	// exceeding it fails the scan with ErrTooLarge.
	MaxTotalBytes int64
	// TempDir for spooled executables (default os.TempDir()).
	TempDir string
	// MaxWarnings kept in the SBOM (default 100).
	MaxWarnings int
	// WarnImageSize: the contract check warns about images whose layers
	// are larger than this uncompressed (default 10 GiB, a Wharf choice).
	WarnImageSize int64
}

var (
	// ErrTooManyEntries is returned when the layers hold more entries than allowed.
	ErrTooManyEntries = errors.New("scan: image has too many filesystem entries")
	// ErrTooLarge is returned when the uncompressed layers exceed the byte cap.
	ErrTooLarge = errors.New("scan: image uncompressed size exceeds the limit")
)

func (o Options) withDefaults() Options {
	if o.MaxEntries <= 0 {
		o.MaxEntries = 2_000_000
	}
	if o.MaxMetadataSize <= 0 {
		o.MaxMetadataSize = 8 << 20
	}
	if o.MaxBinarySize <= 0 {
		o.MaxBinarySize = 256 << 20
	}
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = 64 << 30
	}
	if o.MaxWarnings <= 0 {
		o.MaxWarnings = 100
	}
	if o.WarnImageSize <= 0 {
		o.WarnImageSize = 10 << 30
	}
	return o
}

// Inventory builds the SBOM of img with default Options.
func Inventory(ctx context.Context, img v1.Image) (*SBOM, error) {
	return InventoryWithOptions(ctx, img, Options{})
}

// shadow flags recorded per path (hashed) from upper layers.
const (
	flagFile     uint8 = 1 << iota // a non-directory: hides the path and everything below
	flagDir                        // a directory: hides a lower non-directory at the same path
	flagWhiteout                   // .wh.<name>: hides the path and everything below
	flagOpaque                     // .wh..wh..opq: hides everything below (not the dir itself)
	// The two below are set only with flagFile, on the one visible entry of a
	// path, for the contract check (contract.go).
	flagExec // a regular file or hard link with an execute bit
	flagLink // a symlink; its target is in walker.links
)

type walker struct {
	ctx   context.Context
	opts  Options
	seed  maphash.Seed
	upper map[uint64]uint8 // from layers above the current one
	cur   map[uint64]uint8 // the current layer, merged into upper when it ends
	sbom  *SBOM

	osRelease map[string][]byte // path -> content (etc/os-release, usr/lib/os-release)
	dpkg      []rawFile
	apk       []rawFile
	goPkgs    []Package
	langPkgs  []Package
	counter   *countingReader

	links     map[uint64]string // visible symlinks: path hash -> target
	linkBytes int               // the targets' total length, capped by maxLinkBytes
	passwd    []byte            // etc/passwd, to tell whether the image's user is root
}

// Symlink targets kept for the contract check are bounded: the kernel
// refuses targets of PATH_MAX or more, and a hostile image must not make
// the scanner hold more than maxLinkBytes of them (real images hold a few
// hundred kilobytes). A target beyond either limit is kept as one that
// resolves nowhere.
const (
	maxLinkTarget = 4095
	maxLinkBytes  = 64 << 20
	noTarget      = "/\x00"
)

type rawFile struct {
	path string
	data []byte
}

// InventoryWithOptions builds the SBOM of img within the given bounds.
func InventoryWithOptions(ctx context.Context, img v1.Image, opts Options) (*SBOM, error) {
	w, err := walk(ctx, img, opts)
	if err != nil {
		return nil, err
	}
	return w.sbom, nil
}

// Analyze streams img's layers once and returns its SBOM and the contract
// check of its config against the merged filesystem. An unreadable config
// yields a Contract that says so rather than an error.
func Analyze(ctx context.Context, img v1.Image, opts Options) (*SBOM, *Contract, error) {
	w, err := walk(ctx, img, opts)
	if err != nil {
		return nil, nil, err
	}
	return w.sbom, w.contract(img), nil
}

func walk(ctx context.Context, img v1.Image, opts Options) (*walker, error) {
	opts = opts.withDefaults()
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("scan: listing layers: %w", err)
	}
	w := &walker{
		ctx:       ctx,
		opts:      opts,
		seed:      maphash.MakeSeed(),
		upper:     map[uint64]uint8{},
		sbom:      &SBOM{Layers: len(layers)},
		osRelease: map[string][]byte{},
		counter:   &countingReader{limit: opts.MaxTotalBytes},
		links:     map[uint64]string{},
	}
	for i := len(layers) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := w.walkLayer(layers[i], i); err != nil {
			return nil, err
		}
	}
	w.sbom.BytesRead = w.counter.n
	w.finish()
	return w, nil
}

func (w *walker) warnf(format string, args ...any) {
	if len(w.sbom.Warnings) < w.opts.MaxWarnings {
		w.sbom.Warnings = append(w.sbom.Warnings, fmt.Sprintf(format, args...))
	}
}

func (w *walker) hash(p string) uint64 { return maphash.String(w.seed, p) }

// hidden reports whether an entry at p in the current layer is hidden by an upper layer.
func (w *walker) hidden(p string, isDir bool) bool {
	if f := w.upper[w.hash(p)]; f&(flagFile|flagWhiteout) != 0 || (!isDir && f&flagDir != 0) {
		return true
	}
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if w.upper[w.hash(d)]&(flagFile|flagWhiteout|flagOpaque) != 0 {
			return true
		}
	}
	return false
}

// cleanName turns a tar entry name into a slash path relative to the image root.
// Names are only ever used as strings: "../" cannot climb above the root.
func cleanName(name string) string {
	p := path.Clean("/" + strings.ReplaceAll(name, "\\", "/"))
	return strings.TrimPrefix(p, "/")
}

func (w *walker) walkLayer(layer v1.Layer, idx int) (err error) {
	rc, err := layer.Uncompressed()
	if err != nil {
		return fmt.Errorf("scan: layer %d: %w", idx, err)
	}
	defer rc.Close()
	w.counter.r = rc
	w.cur = map[uint64]uint8{}
	tr := tar.NewReader(w.counter)
	for {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			// Count the end-of-archive padding too, so BytesRead is the
			// layer's full uncompressed size. Only the byte cap matters here.
			if _, err := io.Copy(io.Discard, w.counter); errors.Is(err, ErrTooLarge) {
				return err
			}
			break
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return err
			}
			return fmt.Errorf("scan: layer %d: reading tar: %w", idx, err)
		}
		w.sbom.Entries++
		if w.sbom.Entries > w.opts.MaxEntries {
			return fmt.Errorf("%w (limit %d)", ErrTooManyEntries, w.opts.MaxEntries)
		}
		p := cleanName(hdr.Name)
		if p == "" || p == "." {
			continue
		}
		dir, base := path.Split(p)
		dir = strings.TrimSuffix(dir, "/")
		if strings.HasPrefix(base, ".wh.") {
			if base == ".wh..wh..opq" {
				if dir != "" {
					w.cur[w.hash(dir)] |= flagOpaque
				} else {
					// Opaque root: everything below is hidden. Model as whiteout of every
					// top-level name is impossible without listing; mark a sentinel.
					w.cur[w.hash("")] |= flagOpaque
				}
			} else {
				target := path.Join(dir, strings.TrimPrefix(base, ".wh."))
				w.cur[w.hash(target)] |= flagWhiteout
			}
			continue
		}
		isDir := hdr.Typeflag == tar.TypeDir
		if w.hidden(p, isDir) || w.upper[w.hash("")]&flagOpaque != 0 {
			continue
		}
		h := w.hash(p)
		if isDir {
			w.cur[h] |= flagDir
			continue
		}
		if w.cur[h]&flagFile != 0 {
			continue // duplicate within a layer: the first seen is kept
		}
		w.cur[h] |= flagFile
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			// Never followed here; recorded so the contract check can resolve
			// PATH lookups inside the merged filesystem.
			w.cur[h] |= flagLink
			target := hdr.Linkname
			if len(target) > maxLinkTarget || w.linkBytes+len(target) > maxLinkBytes {
				if len(target) <= maxLinkTarget {
					w.warnf("%s: symlink not recorded, over %d bytes of symlink targets", p, maxLinkBytes)
				}
				target = noTarget
			}
			w.linkBytes += len(target)
			w.links[h] = target
			continue
		case tar.TypeLink:
			if w.hardLinkExecutable(hdr) {
				w.cur[h] |= flagExec
			}
			continue
		case tar.TypeReg:
			if hdr.Mode&0o111 != 0 {
				w.cur[h] |= flagExec
			}
		default:
			continue // devices, FIFOs
		}
		if err := w.inspect(p, hdr, tr); err != nil {
			return err
		}
	}
	for k, v := range w.cur {
		w.upper[k] |= v
	}
	w.cur = nil
	return nil
}

// inspect looks at one visible regular file.
func (w *walker) inspect(p string, hdr *tar.Header, r io.Reader) error {
	switch kind := classify(p); kind {
	case kindNone:
		if hdr.Mode&0o111 != 0 && hdr.Size >= 4 {
			return w.inspectExecutable(p, hdr, r)
		}
		return nil
	default:
		data, ok := w.readSmall(p, hdr, r)
		if !ok {
			return nil
		}
		switch kind {
		case kindOSRelease:
			w.osRelease[p] = data
		case kindPasswd:
			w.passwd = data
		case kindDpkg:
			w.dpkg = append(w.dpkg, rawFile{p, data})
		case kindApk:
			w.apk = append(w.apk, rawFile{p, data})
		case kindPython:
			if pkg, ok := parsePythonMetadata(data); ok {
				pkg.Path = p
				w.langPkgs = append(w.langPkgs, pkg)
			}
		case kindNpm:
			if pkg, ok := parsePackageJSON(data); ok {
				pkg.Path = p
				w.langPkgs = append(w.langPkgs, pkg)
			}
		}
	}
	return nil
}

func (w *walker) readSmall(p string, hdr *tar.Header, r io.Reader) ([]byte, bool) {
	if hdr.Size > w.opts.MaxMetadataSize {
		w.warnf("%s: skipped, %d bytes exceeds the metadata limit of %d", p, hdr.Size, w.opts.MaxMetadataSize)
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(r, w.opts.MaxMetadataSize+1))
	if err != nil {
		w.warnf("%s: %v", p, err)
		return nil, false
	}
	return data, true
}

var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

func (w *walker) inspectExecutable(p string, hdr *tar.Header, r io.Reader) error {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil // truncated entry: the tar reader reports it on Next
	}
	if !bytes.Equal(head[:], elfMagic) {
		return nil
	}
	if hdr.Size > w.opts.MaxBinarySize {
		w.warnf("%s: executable of %d bytes not inspected (limit %d)", p, hdr.Size, w.opts.MaxBinarySize)
		return nil
	}
	w.sbom.ELFsInspected++
	f, err := os.CreateTemp(w.opts.TempDir, "wharf-scan-*.bin")
	if err != nil {
		return fmt.Errorf("scan: spooling %s: %w", p, err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if _, err := f.Write(head[:]); err != nil {
		return fmt.Errorf("scan: spooling %s: %w", p, err)
	}
	if _, err := io.Copy(f, io.LimitReader(r, w.opts.MaxBinarySize)); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return fmt.Errorf("scan: spooling %s: %w", p, err)
	}
	pkgs := goPackages(f, p)
	if len(pkgs) > 0 {
		w.sbom.GoBinaries++
		w.goPkgs = append(w.goPkgs, pkgs...)
	}
	return nil
}

// finish parses the collected OS metadata and fills in ecosystems.
func (w *walker) finish() {
	s := w.sbom
	if d, ok := w.osRelease["etc/os-release"]; ok {
		s.OS = parseOSRelease(d)
	} else if d, ok := w.osRelease["usr/lib/os-release"]; ok {
		s.OS = parseOSRelease(d)
	}
	debEco, apkEco := osEcosystems(s.OS)
	sort.Slice(w.dpkg, func(i, j int) bool { return w.dpkg[i].path < w.dpkg[j].path })
	for _, f := range w.dpkg {
		for _, pkg := range parseDpkgStatus(f.data) {
			pkg.Ecosystem, pkg.Path = debEco, f.path
			s.Packages = append(s.Packages, pkg)
		}
	}
	for _, f := range w.apk {
		for _, pkg := range parseApkInstalled(f.data) {
			pkg.Ecosystem, pkg.Path = apkEco, f.path
			s.Packages = append(s.Packages, pkg)
		}
	}
	s.Packages = append(s.Packages, w.goPkgs...)
	s.Packages = append(s.Packages, w.langPkgs...)
	sort.SliceStable(s.Packages, func(i, j int) bool {
		a, b := s.Packages[i], s.Packages[j]
		if a.Ecosystem != b.Ecosystem {
			return a.Ecosystem < b.Ecosystem
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Path < b.Path
	})
	if s.Packages == nil {
		s.Packages = []Package{}
	}
}

// osEcosystems returns the OSV ecosystems for dpkg and apk packages.
func osEcosystems(o OSInfo) (deb, apk string) {
	deb, apk = "Debian", "Alpine"
	switch o.ID {
	case "debian":
		if major, _, _ := strings.Cut(o.VersionID, "."); major != "" {
			deb = "Debian:" + major
		}
	case "ubuntu":
		if o.VersionID != "" {
			deb = "Ubuntu:" + o.VersionID
		} else {
			deb = "Ubuntu"
		}
	case "alpine":
		parts := strings.Split(o.VersionID, ".")
		if len(parts) >= 2 {
			apk = "Alpine:v" + parts[0] + "." + parts[1]
		}
	}
	return deb, apk
}

type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n, fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, c.limit)
	}
	return n, err
}
