package scan

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"io"
	"regexp"
	"strings"
)

type fileKind int

const (
	kindNone fileKind = iota
	kindOSRelease
	kindDpkg
	kindApk
	kindPython
	kindNpm
	kindPasswd
)

// classify decides from the path alone whether a file is package metadata.
func classify(p string) fileKind {
	switch p {
	case "etc/os-release", "usr/lib/os-release":
		return kindOSRelease
	case "var/lib/dpkg/status":
		return kindDpkg
	case "lib/apk/db/installed":
		return kindApk
	case "etc/passwd":
		return kindPasswd
	}
	dir, base := splitLast(p)
	if dir == "var/lib/dpkg/status.d" {
		if strings.HasSuffix(base, ".md5sums") || strings.HasPrefix(base, ".") {
			return kindNone
		}
		return kindDpkg
	}
	_, parent := splitLast(dir)
	switch {
	case base == "METADATA" && strings.HasSuffix(parent, ".dist-info"):
		return kindPython
	case base == "PKG-INFO" && strings.HasSuffix(parent, ".egg-info"):
		return kindPython
	case strings.HasSuffix(base, ".egg-info") && strings.Contains(p, "-packages/"):
		return kindPython // a single-file egg-info
	case base == "package.json":
		i := strings.LastIndex(p, "node_modules/")
		if i < 0 {
			return kindNone
		}
		rest := strings.Split(p[i+len("node_modules/"):], "/")
		if len(rest) == 2 && !strings.HasPrefix(rest[0], "@") && !strings.HasPrefix(rest[0], ".") {
			return kindNpm
		}
		if len(rest) == 3 && strings.HasPrefix(rest[0], "@") {
			return kindNpm
		}
	}
	return kindNone
}

func splitLast(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func parseOSRelease(data []byte) OSInfo {
	var o OSInfo
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch k {
		case "ID":
			o.ID = strings.ToLower(v)
		case "VERSION_ID":
			o.VersionID = v
		case "PRETTY_NAME":
			o.PrettyName = v
		}
	}
	return o
}

// stanzas splits a deb822-like control file into field maps. Continuation
// lines (starting with a space or tab) are ignored: no field we use spans lines.
func stanzas(data []byte, sep byte) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
			cur = map[string]string{}
		}
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		i := bytes.IndexByte(line, sep)
		if i <= 0 {
			continue
		}
		cur[string(line[:i])] = strings.TrimSpace(string(line[i+1:]))
	}
	flush()
	return out
}

// parseDpkgStatus reads /var/lib/dpkg/status or a status.d file.
func parseDpkgStatus(data []byte) []Package {
	var out []Package
	for _, st := range stanzas(data, ':') {
		name, ver := st["Package"], st["Version"]
		if name == "" || ver == "" {
			continue
		}
		if status, ok := st["Status"]; ok {
			f := strings.Fields(status)
			if len(f) < 3 || f[2] != "installed" {
				continue
			}
		}
		pkg := Package{Name: name, Version: ver, SourceName: name, SourceVersion: ver}
		if src := st["Source"]; src != "" {
			n, v, hasV := strings.Cut(src, " ")
			pkg.SourceName = n
			if hasV {
				v = strings.TrimSpace(v)
				v = strings.TrimSuffix(strings.TrimPrefix(v, "("), ")")
				if v = strings.TrimSpace(v); v != "" {
					pkg.SourceVersion = v
				}
			}
		}
		out = append(out, pkg)
	}
	return out
}

// parseApkInstalled reads /lib/apk/db/installed.
func parseApkInstalled(data []byte) []Package {
	var out []Package
	for _, st := range stanzas(data, ':') {
		name, ver := st["P"], st["V"]
		if name == "" || ver == "" {
			continue
		}
		origin := st["o"]
		if origin == "" {
			origin = name
		}
		out = append(out, Package{Name: name, Version: ver, SourceName: origin, SourceVersion: ver})
	}
	return out
}

var pep503 = regexp.MustCompile(`[-_.]+`)

// NormalizePyPI returns the PEP 503 normalised project name.
func NormalizePyPI(name string) string {
	return strings.ToLower(pep503.ReplaceAllString(name, "-"))
}

// parsePythonMetadata reads the RFC 822 header of METADATA / PKG-INFO.
func parsePythonMetadata(data []byte) (Package, bool) {
	var name, ver string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			break // end of headers
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "name":
			if name == "" {
				name = strings.TrimSpace(v)
			}
		case "version":
			if ver == "" {
				ver = strings.TrimSpace(v)
			}
		}
	}
	if name == "" || ver == "" {
		return Package{}, false
	}
	return Package{Ecosystem: "PyPI", Name: NormalizePyPI(name), Version: ver}, true
}

func parsePackageJSON(data []byte) (Package, bool) {
	var pj struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if json.Unmarshal(data, &pj) != nil || pj.Name == "" || pj.Version == "" {
		return Package{}, false
	}
	return Package{Ecosystem: "npm", Name: pj.Name, Version: pj.Version}, true
}

// goPackages reads Go build info from a spooled executable.
func goPackages(r io.ReaderAt, p string) []Package {
	bi, err := buildinfo.Read(r)
	if err != nil {
		return nil
	}
	var out []Package
	if gv := goStdlibVersion(bi.GoVersion); gv != "" {
		out = append(out, Package{Ecosystem: "Go", Name: "stdlib", Version: gv, Path: p})
	}
	if m := bi.Main; m.Path != "" && m.Version != "" && m.Version != "(devel)" {
		out = append(out, Package{Ecosystem: "Go", Name: m.Path, Version: m.Version, Path: p})
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		if d.Path == "" || d.Version == "" || d.Version == "(devel)" {
			continue
		}
		out = append(out, Package{Ecosystem: "Go", Name: d.Path, Version: d.Version, Path: p})
	}
	return out
}

// goStdlibVersion turns "go1.21.5 X:boringcrypto" into "1.21.5" ("go1.22" → "1.22.0").
func goStdlibVersion(v string) string {
	v, _, _ = strings.Cut(v, " ")
	if !strings.HasPrefix(v, "go1") {
		return ""
	}
	v = strings.TrimPrefix(v, "go")
	if strings.Count(v, ".") == 1 && !strings.ContainsAny(v, "abcdefghijklmnopqrstuvwxyz-") {
		v += ".0"
	}
	return v
}
