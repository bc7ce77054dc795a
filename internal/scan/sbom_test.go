package scan

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
)

func sampleSBOM(t *testing.T) *SBOM {
	t.Helper()
	return inventory(t, image(t, debianBase(t), layer(t,
		file("usr/lib/python3/dist-packages/PyYAML-5.3.1.dist-info/METADATA", "Name: PyYAML\nVersion: 5.3.1\n"),
		file("app/node_modules/@babel/core/package.json", `{"name": "@babel/core", "version": "7.0.0"}`),
	)))
}

var sampleSubject = Subject{Registry: "127.0.0.1:8080", Repository: "team/algo", Digest: "sha256:" + strings.Repeat("ab", 32),
	Created: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}

// TestSPDXRequiredFields checks the SPDX 2.3 JSON output field by field
// (as raw JSON, not through the library that wrote it), then that the
// library's own reader and validator accept it.
func TestSPDXRequiredFields(t *testing.T) {
	s := sampleSBOM(t)
	b, err := s.SPDX(sampleSubject)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SPDXID, SPDXVersion, DataLicense, Name, DocumentNamespace string
		CreationInfo                                              *struct {
			Created  string
			Creators []string
		}
		Packages []struct {
			SPDXID, Name, VersionInfo, DownloadLocation, PrimaryPackagePurpose string
			FilesAnalyzed                                                      *bool
			ExternalRefs                                                       []struct{ ReferenceCategory, ReferenceType, ReferenceLocator string }
		}
		Relationships []struct{ SpdxElementId, RelatedSpdxElement, RelationshipType string }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXID != "SPDXRef-DOCUMENT" || doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.Name != "team/algo@"+sampleSubject.Digest {
		t.Fatalf("header: %s", b[:300])
	}
	if !strings.HasPrefix(doc.DocumentNamespace, "https://127.0.0.1:8080/spdx/team%2Falgo/sha256:") || strings.Contains(doc.DocumentNamespace, "#") {
		t.Errorf("namespace %q", doc.DocumentNamespace)
	}
	if doc.CreationInfo == nil || doc.CreationInfo.Created != "2026-03-04T05:06:07Z" || len(doc.CreationInfo.Creators) != 1 || doc.CreationInfo.Creators[0] != "Tool: wharf-scan" {
		t.Errorf("creationInfo %+v", doc.CreationInfo)
	}
	idRE := regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)
	ids := map[string]bool{"SPDXRef-DOCUMENT": true}
	purls := map[string]string{}
	for _, p := range doc.Packages {
		if !idRE.MatchString(p.SPDXID) || ids[p.SPDXID] || p.Name == "" || p.DownloadLocation != "NOASSERTION" {
			t.Errorf("package %+v", p)
		}
		ids[p.SPDXID] = true
		if p.SPDXID == "SPDXRef-OperatingSystem" {
			continue
		}
		if p.VersionInfo == "" || len(p.ExternalRefs) != 1 || p.ExternalRefs[0].ReferenceCategory != "PACKAGE-MANAGER" || p.ExternalRefs[0].ReferenceType != "purl" {
			t.Errorf("package %+v", p)
			continue
		}
		purls[p.ExternalRefs[0].ReferenceLocator] = p.Name
	}
	for purl, name := range map[string]string{
		"pkg:oci/algo@sha256%3A" + strings.Repeat("ab", 32) + "?repository_url=127.0.0.1:8080/team/algo": "team/algo",
		"pkg:deb/debian/libssl3@3.0.11-1~deb12u1%2Bb1?distro=debian-12&upstream=openssl":                 "libssl3",
		"pkg:deb/debian/bash@5.2.15-2%2Bb2?distro=debian-12":                                             "bash",
		"pkg:pypi/pyyaml@5.3.1":       "pyyaml",
		"pkg:npm/%40babel/core@7.0.0": "@babel/core",
	} {
		if purls[purl] != name {
			t.Errorf("purl %s: package %q (all: %v)", purl, purls[purl], purls)
		}
	}
	if len(doc.Packages) != len(s.Packages)+2 || len(doc.Relationships) != len(doc.Packages) {
		t.Errorf("%d packages, %d relationships for %d components", len(doc.Packages), len(doc.Relationships), len(s.Packages))
	}
	for _, r := range doc.Relationships {
		if !ids[r.SpdxElementId] || !ids[r.RelatedSpdxElement] {
			t.Errorf("relationship to an unknown element: %+v", r)
		}
	}
	if r := doc.Relationships[0]; r.SpdxElementId != "SPDXRef-DOCUMENT" || r.RelationshipType != "DESCRIBES" || r.RelatedSpdxElement != "SPDXRef-Image" {
		t.Errorf("first relationship %+v", r)
	}

	parsed, err := spdxjson.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(parsed); err != nil {
		t.Fatal(err)
	}
	described, err := spdxlib.GetDescribedPackageIDs(parsed)
	if err != nil || len(described) != 1 || described[0] != "Image" {
		t.Fatalf("described: %v %v", described, err)
	}

	// One scan, one document: fetching it again gives the same bytes.
	again, _ := s.SPDX(sampleSubject)
	if !bytes.Equal(again, b) {
		t.Error("SPDX output differs between calls for one scan")
	}
}

func TestCycloneDXSubject(t *testing.T) {
	s := sampleSBOM(t)
	b, err := s.CycloneDXFor(sampleSubject)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		BOMFormat, SpecVersion, SerialNumber string
		Metadata                             struct {
			Timestamp string
			Component struct{ Type, Name, Version, Purl string }
		}
		Components []struct{ Purl string }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	c := doc.Metadata.Component
	if doc.BOMFormat != "CycloneDX" || doc.SpecVersion != "1.5" || !strings.HasPrefix(doc.SerialNumber, "urn:uuid:") ||
		doc.Metadata.Timestamp != "2026-03-04T05:06:07Z" || c.Type != "container" || c.Name != "team/algo" ||
		c.Version != sampleSubject.Digest || !strings.HasPrefix(c.Purl, "pkg:oci/algo@sha256%3A") {
		t.Fatalf("header %+v", doc)
	}
	if len(doc.Components) != len(s.Packages)+1 { // + the OS
		t.Errorf("%d components for %d packages", len(doc.Components), len(s.Packages))
	}
	if again, _ := s.CycloneDXFor(sampleSubject); !bytes.Equal(again, b) {
		t.Error("CycloneDX output differs between calls for one scan")
	}
}
