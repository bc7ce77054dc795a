package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/osv-scalibr/semantic"
)

type entry struct {
	name     string
	body     string
	mode     int64
	typeflag byte
	link     string
}

func file(name, body string) entry { return entry{name: name, body: body, mode: 0o644} }

func tarBytes(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		tf := e.typeflag
		if tf == 0 {
			tf = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Mode: mode, Typeflag: tf, Linkname: e.link, Format: tar.FormatPAX}
		if tf == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if tf == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layer(t testing.TB, entries ...entry) v1.Layer {
	t.Helper()
	b := tarBytes(t, entries)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func image(t testing.TB, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func inventory(t testing.TB, img v1.Image) *SBOM {
	t.Helper()
	s, err := Inventory(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func advisories(t testing.TB, records map[string]string) *DB {
	t.Helper()
	dir := t.TempDir()
	for name, body := range records {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err := LoadAdvisories(dir)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func findPkg(s *SBOM, name string) (Package, bool) {
	for _, p := range s.Packages {
		if p.Name == name {
			return p, true
		}
	}
	return Package{}, false
}

const debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
`

const dpkgStatus = `Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u1)
Version: 3.0.11-1~deb12u1+b1
Description: Secure Sockets Layer toolkit
 multi-line description

Package: zlib1g
Status: install ok installed
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: removed-pkg
Status: deinstall ok config-files
Version: 1.0

Package: bash
Status: install ok installed
Version: 5.2.15-2+b2
`

const osvOpenSSL = `{
  "id": "DSA-9999-1", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2024-0001"],
  "summary": "openssl: bad thing", "details": "Long description.",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]},
   {"package": {"ecosystem": "Debian:11", "name": "openssl"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.9"}]}]}],
  "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/DSA-9999-1"}]
}`

// Also affects the binary package name "libssl3", which must NOT match: OSV
// Debian records name source packages.
const osvBinaryName = `{"id": "DSA-0000-1", "modified": "2024-01-01T00:00:00Z",
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "libssl3"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}`

// zlib: fixed below the installed version: no finding.
const osvZlibFixed = `{"id": "DSA-0001-1", "modified": "2024-01-01T00:00:00Z",
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "zlib"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:1.2.11.dfsg-1"}]}]}]}`

func debianBase(t testing.TB) v1.Layer {
	return layer(t,
		entry{name: "etc/", typeflag: tar.TypeDir, mode: 0o755},
		entry{name: "etc/os-release", typeflag: tar.TypeSymlink, link: "../usr/lib/os-release"},
		file("usr/lib/os-release", debianOSRelease),
		file("var/lib/dpkg/status", dpkgStatus),
	)
}

func TestDebianSourcePackageFinding(t *testing.T) {
	db := advisories(t, map[string]string{"a.json": osvOpenSSL, "b/c.json": osvBinaryName, "z.json": osvZlibFixed})
	s := inventory(t, image(t, debianBase(t)))
	if s.OS.ID != "debian" || s.OS.VersionID != "12" {
		t.Fatalf("os = %+v", s.OS)
	}
	p, ok := findPkg(s, "libssl3")
	if !ok || p.SourceName != "openssl" || p.SourceVersion != "3.0.11-1~deb12u1" || p.Ecosystem != "Debian:12" || p.Path != "var/lib/dpkg/status" {
		t.Fatalf("libssl3 = %+v (%v)", p, ok)
	}
	if z, _ := findPkg(s, "zlib1g"); z.SourceName != "zlib" || z.SourceVersion != "1:1.2.13.dfsg-1" {
		t.Fatalf("zlib1g = %+v", z)
	}
	if _, ok := findPkg(s, "removed-pkg"); ok {
		t.Fatal("config-files package listed")
	}
	fs := db.Match(s)
	if len(fs) != 1 {
		t.Fatalf("findings = %+v", fs)
	}
	f := fs[0]
	if f.ID != "DSA-9999-1" || f.Severity != SeverityCritical || f.FixedVersion != "3.0.13-1~deb12u1" ||
		f.Package.Name != "libssl3" || f.URI != "https://security-tracker.debian.org/tracker/DSA-9999-1" ||
		len(f.Aliases) != 1 || f.Description != "Long description." {
		t.Fatalf("finding = %+v", f)
	}
}

func TestDebianWhiteoutRemovesPackage(t *testing.T) {
	db := advisories(t, map[string]string{"a.json": osvOpenSSL})
	// dpkg status replaced by one without libssl3.
	img := image(t, debianBase(t), layer(t, file("var/lib/dpkg/.wh.status", "")))
	s := inventory(t, img)
	if len(s.Packages) != 0 {
		t.Fatalf("packages = %+v", s.Packages)
	}
	if fs := db.Match(s); len(fs) != 0 {
		t.Fatalf("findings after whiteout = %+v", fs)
	}
	// Opaque directory: var/lib/dpkg hidden, new status without openssl.
	img = image(t, debianBase(t), layer(t,
		file("var/lib/dpkg/.wh..wh..opq", ""),
		file("var/lib/dpkg/status", "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n")))
	s = inventory(t, img)
	if len(s.Packages) != 1 || s.Packages[0].Name != "bash" {
		t.Fatalf("packages after opaque = %+v", s.Packages)
	}
	if fs := db.Match(s); len(fs) != 0 {
		t.Fatalf("findings after opaque = %+v", fs)
	}
	// A whiteout of the parent directory hides it too; an upper file replacing
	// a lower one wins.
	img = image(t, debianBase(t), layer(t, file("var/lib/.wh.dpkg", "")))
	if s := inventory(t, img); len(s.Packages) != 0 {
		t.Fatalf("packages after dir whiteout = %+v", s.Packages)
	}
}

func TestDpkgStatusD(t *testing.T) {
	// distroless layout: one file per package, md5sums ignored.
	img := image(t, layer(t,
		file("etc/os-release", debianOSRelease),
		file("var/lib/dpkg/status.d/libssl3", "Package: libssl3\nVersion: 3.0.11-1~deb12u1\nSource: openssl\n"),
		file("var/lib/dpkg/status.d/libssl3.md5sums", "abc  usr/lib/x\n"),
	))
	db := advisories(t, map[string]string{"a.json": osvOpenSSL})
	s := inventory(t, img)
	if len(s.Packages) != 1 || s.Packages[0].SourceName != "openssl" || s.Packages[0].SourceVersion != "3.0.11-1~deb12u1" {
		t.Fatalf("packages = %+v", s.Packages)
	}
	if fs := db.Match(s); len(fs) != 1 {
		t.Fatalf("findings = %+v", fs)
	}
}

func TestAlpineOrigin(t *testing.T) {
	img := image(t, layer(t,
		file("etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n"),
		file("lib/apk/db/installed", "C:Q1abc=\nP:libcrypto3\nV:3.1.4-r0\nA:x86_64\no:openssl\n\nP:musl\nV:1.2.4_git20230717-r4\no:musl\n"),
	))
	db := advisories(t, map[string]string{"Alpine/x.json": `{"id": "ALPINE-CVE-1", "modified": "2024-01-01T00:00:00Z",
	  "database_specific": {"severity": "IMPORTANT"},
	  "affected": [{"package": {"ecosystem": "Alpine:v3.19", "name": "openssl"},
	    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r5"}]}]}]}`})
	s := inventory(t, img)
	p, ok := findPkg(s, "libcrypto3")
	if !ok || p.Ecosystem != "Alpine:v3.19" || p.SourceName != "openssl" {
		t.Fatalf("libcrypto3 = %+v", p)
	}
	fs := db.Match(s)
	if len(fs) != 1 || fs[0].Severity != SeverityHigh || fs[0].FixedVersion != "3.1.4-r5" {
		t.Fatalf("findings = %+v", fs)
	}
}

// xTextVersion is the golang.org/x/text version the test binary is built with.
const xTextVersion = "v0.43.0"

func buildGoBinary(t *testing.T) []byte {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain")
	}
	// Build in a throw-away module so the repository's go.mod is never touched.
	src, err := os.ReadFile("testdata/gobin/main.go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module example.com/gobin\n\ngo 1.22\n\nrequire golang.org/x/text " + xTextVersion + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "app")
	cmd := exec.Command("go", "build", "-mod=mod", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOSUMDB=off", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoBinary(t *testing.T) {
	bin := buildGoBinary(t)
	img := image(t, layer(t,
		entry{name: "usr/local/bin/app", body: string(bin), mode: 0o755},
		entry{name: "usr/local/bin/not-exec", body: string(bin), mode: 0o644},
		entry{name: "usr/local/bin/script", body: "#!/bin/sh\necho hi\n", mode: 0o755},
	))
	s := inventory(t, img)
	if s.GoBinaries != 1 {
		t.Fatalf("go binaries = %d", s.GoBinaries)
	}
	text, ok := findPkg(s, "golang.org/x/text")
	if !ok || text.Version != xTextVersion || text.Ecosystem != "Go" || text.Path != "usr/local/bin/app" {
		t.Fatalf("x/text = %+v", text)
	}
	std, ok := findPkg(s, "stdlib")
	want := strings.TrimPrefix(runtime.Version(), "go")
	if !ok || std.Version != want {
		t.Fatalf("stdlib = %+v, want %s", std, want)
	}
	// OSV Go records carry versions without the "v" prefix.
	db := advisories(t, map[string]string{
		"go/text.json": `{"id": "GO-2099-0001", "modified": "2024-01-01T00:00:00Z",
		  "database_specific": {"severity": "MODERATE"},
		  "affected": [{"package": {"ecosystem": "Go", "name": "golang.org/x/text"},
		    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.40.0"}, {"fixed": "0.44.0"}]}]}]}`,
		"go/std.json": `{"id": "GO-2099-0002", "modified": "2024-01-01T00:00:00Z",
		  "affected": [{"package": {"ecosystem": "Go", "name": "stdlib"},
		    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.99.0"}]}]}]}`,
		"go/old.json": `{"id": "GO-2099-0003", "modified": "2024-01-01T00:00:00Z",
		  "affected": [{"package": {"ecosystem": "Go", "name": "golang.org/x/text"},
		    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.3.8"}]}]}]}`,
	})
	fs := db.Match(s)
	got := map[string]Finding{}
	for _, f := range fs {
		got[f.ID] = f
	}
	if len(fs) != 2 || got["GO-2099-0001"].Severity != SeverityMedium || got["GO-2099-0001"].FixedVersion != "0.44.0" ||
		got["GO-2099-0002"].Package.Name != "stdlib" || got["GO-2099-0002"].Severity != SeverityUndefined {
		t.Fatalf("findings = %+v", fs)
	}
}

func TestPythonAndNpm(t *testing.T) {
	img := image(t, layer(t,
		file("usr/lib/python3/dist-packages/PyYAML-5.3.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: PyYAML\nVersion: 5.3.1\n\nName: not-me\n"),
		file("usr/local/lib/python3.11/site-packages/Foo_Bar.egg-info/PKG-INFO", "Metadata-Version: 1.0\nName: Foo_Bar\nVersion: 1.0\n"),
		file("app/node_modules/lodash/package.json", `{"name": "lodash", "version": "4.17.20"}`),
		file("app/node_modules/lodash/fp/package.json", `{"name": "ignored", "version": "1"}`),
		file("app/node_modules/@babel/core/package.json", `{"name": "@babel/core", "version": "7.0.0"}`),
		file("app/package.json", `{"name": "app", "version": "1.0.0"}`),
	))
	s := inventory(t, img)
	if p, ok := findPkg(s, "pyyaml"); !ok || p.Ecosystem != "PyPI" || p.Version != "5.3.1" {
		t.Fatalf("pyyaml = %+v", p)
	}
	if p, ok := findPkg(s, "foo-bar"); !ok || p.Version != "1.0" {
		t.Fatalf("foo-bar = %+v", s.Packages)
	}
	if _, ok := findPkg(s, "@babel/core"); !ok {
		t.Fatalf("@babel/core missing: %+v", s.Packages)
	}
	if _, ok := findPkg(s, "ignored"); ok {
		t.Fatal("nested package.json counted")
	}
	if _, ok := findPkg(s, "app"); ok {
		t.Fatal("top-level package.json counted")
	}
	if len(s.Packages) != 4 {
		t.Fatalf("packages = %+v", s.Packages)
	}
	db := advisories(t, map[string]string{
		"PyPI/a.json": `{"id": "GHSA-aaaa", "modified": "2024-01-01T00:00:00Z",
		  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}],
		  "affected": [{"package": {"ecosystem": "PyPI", "name": "PyYAML"}, "versions": ["5.3", "5.3.1"]}]}`,
		"npm/a.json": `{"id": "GHSA-bbbb", "modified": "2024-01-01T00:00:00Z", "database_specific": {"severity": "LOW"},
		  "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
		    "ranges": [{"type": "SEMVER", "events": [{"introduced": "4.0.0"}, {"last_affected": "4.17.20"}]}]}]}`,
	})
	fs := db.Match(s)
	if len(fs) != 2 || fs[0].ID != "GHSA-aaaa" || fs[0].Severity != SeverityMedium || fs[1].Severity != SeverityLow {
		t.Fatalf("findings = %+v", fs)
	}
}

func TestHostileLayers(t *testing.T) {
	cwd, _ := os.Getwd()
	before, _ := os.ReadDir(cwd)
	img := image(t, layer(t,
		file("../../etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
		file("/../../../tmp/evil", "x"),
		entry{name: "etc/os-release", typeflag: tar.TypeSymlink, link: "/etc/shadow"},
		entry{name: "usr/lib/os-release", typeflag: tar.TypeLink, link: "../../../../etc/shadow"},
		entry{name: "var/lib/dpkg/status", typeflag: tar.TypeSymlink, link: "../../../../etc/passwd"},
		entry{name: "lib/apk/db", typeflag: tar.TypeSymlink, link: "/"},
	))
	s := inventory(t, img)
	if s.OS.ID != "" || len(s.Packages) != 0 {
		t.Fatalf("hostile image produced %+v", s)
	}
	after, _ := os.ReadDir(cwd)
	if len(after) != len(before) {
		t.Fatal("scan wrote into the working directory")
	}

	// Entry-count cap.
	var many []entry
	for i := 0; i < 50; i++ {
		many = append(many, file("f/"+strings.Repeat("x", i+1), ""))
	}
	_, err := InventoryWithOptions(context.Background(), image(t, layer(t, many...)), Options{MaxEntries: 20})
	if !errors.Is(err, ErrTooManyEntries) {
		t.Fatalf("entry cap: err = %v", err)
	}

	// Metadata size cap: skipped with a warning.
	big := dpkgStatus + strings.Repeat("#", 4096)
	s, err = InventoryWithOptions(context.Background(), image(t, layer(t, file("var/lib/dpkg/status", big))), Options{MaxMetadataSize: 1024})
	if err != nil || len(s.Packages) != 0 || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "metadata limit") {
		t.Fatalf("size cap: %v %+v", err, s)
	}

	// Tar bomb: a highly compressible huge entry stops at the byte cap.
	bomb := &genLayer{files: 1, fileSize: 64 << 20, zero: true}
	_, err = InventoryWithOptions(context.Background(), image(t, bomb), Options{MaxTotalBytes: 8 << 20})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("byte cap: err = %v", err)
	}

	// Garbage instead of a tar: an error, not a panic.
	junk, _ := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(strings.Repeat("not a tar archive ", 100))), nil
	})
	if _, err := Inventory(context.Background(), image(t, junk)); err == nil {
		t.Fatal("garbage layer accepted")
	}

	// Cancelled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Inventory(ctx, image(t, debianBase(t))); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
}

func TestLoadAdvisories(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("loose/DSA-9999-1.json", osvOpenSSL)
	write("bad.json", `{"id": "X", "affected": [`)
	write("noid.json", `{"summary": "no id"}`)
	write("withdrawn.json", `{"id": "W-1", "withdrawn": "2024-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "Debian:12", "name": "bash"}, "versions": ["5.2.15-2+b2"]}]}`)
	write("readme.txt", "ignored")
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for name, body := range map[string]string{
		"GHSA-1.json": `{"id": "GHSA-1", "modified": "2024-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "PyPI", "name": "Py_YAML"}, "versions": ["1.0"]}]}`,
		"GHSA-2.json": `{"id": "GHSA-2", "modified": "2024-01-01T00:00:00Z", "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"}, "versions": ["1.0"]}]}`,
		"broken.json": `not json`,
		// A newer copy of the loose record wins.
		"DSA-9999-1.json": strings.Replace(osvOpenSSL, "2024-01-01", "2025-01-01", 1),
	} {
		w, _ := zw.Create(name)
		io.WriteString(w, body)
	}
	zw.Close()
	write("PyPI/all.zip", zb.String())
	write("Broken/all.zip", "PK not really a zip")

	db, err := LoadAdvisories(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := db.Stats()
	if st.Records != 3 || st.Malformed != 4 || st.Withdrawn != 1 || st.Zips != 2 || st.Files != 4 || st.Duplicates != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if st.Ecosystems["PyPI"] != 2 || st.Ecosystems["Debian:12"] != 1 {
		t.Fatalf("ecosystems = %+v", st.Ecosystems)
	}
	if refs := db.index["PyPI"]["py-yaml"]; len(refs) != 1 {
		t.Fatalf("PEP 503 index: %+v", db.index["PyPI"])
	}
	if refs := db.index["Debian:12"]["openssl"]; len(refs) != 1 || refs[0].adv.rec.Modified != "2025-01-01T00:00:00Z" {
		t.Fatal("newest duplicate not kept")
	}
	if _, err := LoadAdvisories(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing dir accepted")
	}
}

func TestCVSS3(t *testing.T) {
	for vec, want := range map[string]float64{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H": 9.8,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N": 6.1,
		"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H": 7.8,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H": 10.0,
		"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:N": 0,
		"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N": 5.9,
		"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N": 1.6,
	} {
		got, ok := CVSS3BaseScore(vec)
		if !ok || got != want {
			t.Errorf("%s = %v (%v), want %v", vec, got, ok, want)
		}
	}
	if _, ok := CVSS3BaseScore("CVSS:3.1/AV:X"); ok {
		t.Error("bad vector accepted")
	}
	if scoreSeverity(0) != SeverityInformational || scoreSeverity(9.0) != SeverityCritical || scoreSeverity(3.9) != SeverityLow {
		t.Error("score mapping")
	}
}

func TestRangeEvaluation(t *testing.T) {
	aff := func(js string) *osvAffected {
		var a osvAffected
		if err := json.Unmarshal([]byte(js), &a); err != nil {
			t.Fatal(err)
		}
		return &a
	}
	two := aff(`{"ranges": [{"type": "ECOSYSTEM", "events": [
		{"introduced": "1.0.0"}, {"fixed": "1.2.0"}, {"introduced": "2.0.0"}, {"fixed": "2.1.3"}]}]}`)
	for ver, want := range map[string]bool{"0.9": false, "1.0.0": true, "1.1.9": true, "1.2.0": false, "1.9": false, "2.1.2": true, "2.1.3": false} {
		v, err := semantic.Parse(ver, "PyPI")
		if err != nil {
			t.Fatal(err)
		}
		if hit, _ := affects(two, "PyPI", ver, v); hit != want {
			t.Errorf("%s: %v want %v", ver, hit, want)
		}
	}
	v, _ := semantic.Parse("2.0.5", "PyPI")
	if _, fixed := affects(two, "PyPI", "2.0.5", v); fixed != "2.1.3" {
		t.Errorf("fixed = %q", fixed)
	}
	// Debian epochs and tildes.
	deb := aff(`{"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:2.0-1"}]}]}`)
	for ver, want := range map[string]bool{"2.5-1": true, "1:1.9": true, "1:2.0-1~deb12u1": true, "1:2.0-1": false, "2:0.1": false} {
		v, _ := semantic.Parse(ver, "Debian:12")
		if hit, _ := affects(deb, "Debian:12", ver, v); hit != want {
			t.Errorf("debian %s: %v want %v", ver, hit, want)
		}
	}
}

func TestCycloneDX(t *testing.T) {
	bin := buildGoBinary(t)
	img := image(t, debianBase(t), layer(t,
		entry{name: "bin/app", body: string(bin), mode: 0o755},
		file("app/node_modules/@babel/core/package.json", `{"name": "@babel/core", "version": "7.0.0"}`),
		file("usr/lib/python3/dist-packages/PyYAML-5.3.1.dist-info/METADATA", "Name: PyYAML\nVersion: 5.3.1\n"),
	))
	s := inventory(t, img)
	b, err := s.CycloneDX()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		BOMFormat, SpecVersion string
		Components             []struct{ Type, Name, Version, Purl string }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.BOMFormat != "CycloneDX" || doc.SpecVersion != "1.5" {
		t.Fatalf("header: %s", b)
	}
	purls := map[string]bool{}
	for _, c := range doc.Components {
		purls[c.Purl] = true
	}
	for _, want := range []string{
		"pkg:deb/debian/libssl3@3.0.11-1~deb12u1%2Bb1?distro=debian-12&upstream=openssl",
		"pkg:deb/debian/bash@5.2.15-2%2Bb2?distro=debian-12",
		"pkg:golang/golang.org/x/text@" + xTextVersion,
		"pkg:npm/%40babel/core@7.0.0",
		"pkg:pypi/pyyaml@5.3.1",
	} {
		if !purls[want] {
			t.Errorf("missing purl %s in %v", want, purls)
		}
	}
}

// genLayer streams a generated tar (pseudo-random or zero file content)
// without holding it in memory.
type genLayer struct {
	files    int
	fileSize int64
	seed     uint64
	zero     bool
}

func (g *genLayer) Uncompressed() (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		buf := make([]byte, 32<<10)
		x := g.seed | 1
		for i := 0; i < g.files; i++ {
			name := "data/" + strings.Repeat("d", i%7+1) + "/file-" + itoa(i)
			mode := int64(0o644)
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: g.fileSize, Typeflag: tar.TypeReg}); err != nil {
				pw.CloseWithError(err)
				return
			}
			for left := g.fileSize; left > 0; {
				n := int64(len(buf))
				if n > left {
					n = left
				}
				if !g.zero {
					for j := 0; j+8 <= int(n); j += 8 {
						x ^= x << 13
						x ^= x >> 7
						x ^= x << 17
						for k := 0; k < 8; k++ {
							buf[j+k] = byte(x >> (8 * k))
						}
					}
				}
				if _, err := tw.Write(buf[:n]); err != nil {
					pw.CloseWithError(err)
					return
				}
				left -= n
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr, nil
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func (g *genLayer) fakeHash() v1.Hash {
	h := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 48)}
	h.Hex += strings.Repeat("0", 16-len(itoa(int(g.seed)))) + itoa(int(g.seed))
	return h
}
func (g *genLayer) Digest() (v1.Hash, error)           { return g.fakeHash(), nil }
func (g *genLayer) DiffID() (v1.Hash, error)           { return g.fakeHash(), nil }
func (g *genLayer) Compressed() (io.ReadCloser, error) { return g.Uncompressed() }
func (g *genLayer) Size() (int64, error)               { return int64(g.files) * (g.fileSize + 1024), nil }
func (g *genLayer) MediaType() (types.MediaType, error) {
	return "application/vnd.oci.image.layer.v1.tar", nil
}

func BenchmarkInventory(b *testing.B) {
	// ~200 MB over 8 layers of 25 MB (100 files of 256 KiB each), plus metadata.
	layers := []v1.Layer{debianBase(b)}
	for i := 0; i < 8; i++ {
		layers = append(layers, &genLayer{files: 100, fileSize: 256 << 10, seed: uint64(i + 1)})
	}
	img := image(b, layers...)
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := Inventory(context.Background(), img)
		if err != nil {
			b.Fatal(err)
		}
		total += s.BytesRead
	}
	b.SetBytes(total / int64(b.N))
}
