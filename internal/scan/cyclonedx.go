package scan

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
)

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxComponent struct {
	BOMRef     string        `json:"bom-ref,omitempty"`
	Type       string        `json:"type"`
	Name       string        `json:"name"`
	Version    string        `json:"version,omitempty"`
	PURL       string        `json:"purl,omitempty"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxBOM struct {
	BOMFormat    string `json:"bomFormat"`
	SpecVersion  string `json:"specVersion"`
	SerialNumber string `json:"serialNumber"`
	Version      int    `json:"version"`
	Metadata     struct {
		Timestamp string `json:"timestamp"`
		Tools     struct {
			Components []cdxComponent `json:"components"`
		} `json:"tools"`
		Component *cdxComponent `json:"component,omitempty"`
	} `json:"metadata"`
	Components []cdxComponent `json:"components"`
}

// CycloneDXMediaType is the media type of CycloneDX JSON documents.
const CycloneDXMediaType = "application/vnd.cyclonedx+json"

// Subject names the image an SBOM document describes and when it was made.
type Subject struct {
	Registry   string // host[:port] the image is pulled from
	Repository string
	Digest     string // "sha256:..."
	// Created is the document's creation time: the scan's completion, so
	// documents of one scan are identical however often they are fetched.
	Created time.Time
}

func (sub Subject) named() bool { return sub.Repository != "" && sub.Digest != "" }

// id is a stable UUID for the documents of one scan of one image.
func (sub Subject) id(format string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(format+"|"+sub.Registry+"/"+sub.Repository+"@"+sub.Digest+"|"+sub.Created.UTC().Format(time.RFC3339Nano))).String()
}

// PURL is the image's package URL (pkg:oci).
func (sub Subject) PURL() string {
	name := strings.ToLower(sub.Repository[strings.LastIndexByte(sub.Repository, '/')+1:])
	q := ""
	if sub.Registry != "" {
		q = "?repository_url=" + qualifierEscape(sub.Registry+"/"+sub.Repository)
	}
	return "pkg:oci/" + purlEscape(name) + "@" + strings.ReplaceAll(purlEscape(sub.Digest), ":", "%3A") + q
}

// CycloneDX renders the SBOM as CycloneDX 1.5 JSON with package URLs.
func (s *SBOM) CycloneDX() ([]byte, error) { return s.CycloneDXFor(Subject{}) }

// CycloneDXFor renders the SBOM as CycloneDX 1.5 JSON describing sub
// (metadata.component), with a serial number stable for one scan.
func (s *SBOM) CycloneDXFor(sub Subject) ([]byte, error) {
	var b cdxBOM
	b.BOMFormat, b.SpecVersion, b.Version = "CycloneDX", "1.5", 1
	b.SerialNumber = "urn:uuid:" + uuid.NewString()
	created := time.Now()
	if !sub.Created.IsZero() {
		created = sub.Created
	}
	if sub.named() {
		b.SerialNumber = "urn:uuid:" + sub.id("cyclonedx")
		b.Metadata.Component = &cdxComponent{BOMRef: sub.PURL(), Type: "container", Name: sub.Repository, Version: sub.Digest, PURL: sub.PURL()}
	}
	b.Metadata.Timestamp = created.UTC().Format(time.RFC3339)
	b.Metadata.Tools.Components = []cdxComponent{{Type: "application", Name: "wharf-scan"}}
	b.Components = []cdxComponent{}
	if s.OS.ID != "" {
		b.Components = append(b.Components, cdxComponent{
			BOMRef: "os:" + s.OS.ID + "@" + s.OS.VersionID, Type: "operating-system",
			Name: s.OS.ID, Version: s.OS.VersionID,
		})
	}
	seen := map[string]bool{}
	for _, p := range s.Packages {
		purl := p.PURL(s.OS)
		ref := purl
		if seen[ref] {
			ref = purl + "#" + p.Path
			if seen[ref] {
				continue
			}
		}
		seen[ref] = true
		c := cdxComponent{BOMRef: ref, Type: "library", Name: p.Name, Version: p.Version, PURL: purl}
		if p.Path != "" {
			c.Properties = append(c.Properties, cdxProperty{"wharf:path", "/" + p.Path})
		}
		if p.SourceName != "" && p.SourceName != p.Name {
			c.Properties = append(c.Properties, cdxProperty{"wharf:source", p.SourceName})
		}
		if p.Ecosystem != "" {
			c.Properties = append(c.Properties, cdxProperty{"wharf:ecosystem", p.Ecosystem})
		}
		b.Components = append(b.Components, c)
	}
	// Purls carry '&' between qualifiers: keep them readable.
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&b); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// PURL returns the package URL of p; o gives the distro for OS packages.
func (p Package) PURL(o OSInfo) string {
	eco, _, _ := strings.Cut(p.Ecosystem, ":")
	ver := "@" + purlEscape(p.Version)
	switch eco {
	case "Debian", "Ubuntu":
		ns := strings.ToLower(eco)
		q := "?distro=" + purlEscape(ns+"-"+o.VersionID)
		if p.SourceName != "" && p.SourceName != p.Name {
			q += "&upstream=" + purlEscape(p.SourceName)
		}
		return "pkg:deb/" + ns + "/" + purlEscape(p.Name) + ver + q
	case "Alpine":
		q := ""
		if o.VersionID != "" {
			q = "?distro=" + purlEscape(o.VersionID)
		}
		return "pkg:apk/alpine/" + purlEscape(p.Name) + ver + q
	case "Go":
		segs := strings.Split(p.Name, "/")
		for i := range segs {
			segs[i] = purlEscape(segs[i])
		}
		return "pkg:golang/" + strings.Join(segs, "/") + ver
	case "PyPI":
		return "pkg:pypi/" + purlEscape(NormalizePyPI(p.Name)) + ver
	case "npm":
		if scope, name, ok := strings.Cut(p.Name, "/"); ok && strings.HasPrefix(scope, "@") {
			return "pkg:npm/" + purlEscape(scope) + "/" + purlEscape(name) + ver
		}
		return "pkg:npm/" + purlEscape(p.Name) + ver
	}
	return "pkg:generic/" + purlEscape(p.Name) + ver
}

// qualifierEscape percent-encodes a purl qualifier value, keeping '/' and ':'
// readable as the purl examples for repository_url do.
func qualifierEscape(s string) string {
	return strings.NewReplacer("%2F", "/").Replace(purlEscape(s))
}

// purlEscape percent-encodes everything but unreserved characters and ':'.
func purlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == ':' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
