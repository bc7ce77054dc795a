package scan

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// SPDXMediaType is the media type of SPDX JSON documents.
const SPDXMediaType = "application/spdx+json"

// SPDX renders the SBOM as an SPDX 2.3 JSON document: one package for the
// image (sub), one for the OS if identified, one per component with its
// package URL, and relationships DOCUMENT DESCRIBES image CONTAINS each.
// Wharf does not analyse licences or files, so those fields say NOASSERTION
// or are left out, as the specification allows.
func (s *SBOM) SPDX(sub Subject) ([]byte, error) {
	created := time.Now()
	if !sub.Created.IsZero() {
		created = sub.Created
	}
	name, ns := "image", "urn:uuid:"+uuid.NewString()
	if sub.named() {
		name = sub.Repository + "@" + sub.Digest
		host := sub.Registry
		if host == "" {
			host = "wharf.invalid" // reserved: names no real host
		}
		ns = "https://" + host + "/spdx/" + url.PathEscape(sub.Repository) + "/" + sub.Digest + "/" + sub.id("spdx")
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      name,
		DocumentNamespace: ns,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "wharf-scan"}},
			Created:  created.UTC().Format("2006-01-02T15:04:05Z"),
		},
	}
	root := &spdx.Package{
		PackageName: name, PackageSPDXIdentifier: "Image", PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose: "CONTAINER",
	}
	if sub.named() {
		root.PackageName, root.PackageVersion = sub.Repository, sub.Digest
		root.PackageExternalReferences = []*spdx.PackageExternalReference{purlRef(sub.PURL())}
	}
	doc.Packages = append(doc.Packages, root)
	doc.Relationships = append(doc.Relationships, relationship("DOCUMENT", "DESCRIBES", root.PackageSPDXIdentifier))
	if s.OS.ID != "" {
		p := &spdx.Package{
			PackageName: s.OS.ID, PackageVersion: s.OS.VersionID, PackageSPDXIdentifier: "OperatingSystem",
			PackageDownloadLocation: "NOASSERTION", PrimaryPackagePurpose: "OPERATING-SYSTEM", PackageDescription: s.OS.PrettyName,
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, relationship(root.PackageSPDXIdentifier, "CONTAINS", p.PackageSPDXIdentifier))
	}
	for i, pkg := range s.Packages {
		p := &spdx.Package{
			PackageName:             pkg.Name,
			PackageVersion:          pkg.Version,
			PackageSPDXIdentifier:   common.ElementID(fmt.Sprintf("Package-%d-%s", i+1, spdxIDPart(pkg.Name))),
			PackageDownloadLocation: "NOASSERTION",
			PrimaryPackagePurpose:   "LIBRARY",
			PackageExternalReferences: []*spdx.PackageExternalReference{
				purlRef(pkg.PURL(s.OS)),
			},
		}
		if pkg.SourceName != "" && pkg.SourceName != pkg.Name {
			p.PackageSourceInfo = "built from source package " + strings.TrimSpace(pkg.SourceName+" "+pkg.SourceVersion)
		}
		if pkg.Path != "" {
			p.PackageComment = "found in /" + pkg.Path + " (" + pkg.Ecosystem + ")"
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, relationship(root.PackageSPDXIdentifier, "CONTAINS", p.PackageSPDXIdentifier))
	}
	var b bytes.Buffer
	if err := spdxjson.Write(doc, &b, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func purlRef(purl string) *spdx.PackageExternalReference {
	return &spdx.PackageExternalReference{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: purl}
}

func relationship(a common.ElementID, kind string, b common.ElementID) *spdx.Relationship {
	return &spdx.Relationship{RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: kind}
}

// spdxIDPart keeps what an SPDX identifier allows (letters, digits, '.', '-').
func spdxIDPart(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() > 64 {
		return b.String()[:64]
	}
	return b.String()
}
