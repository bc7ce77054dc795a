package registry

import (
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ConformanceVersion pins the OCI distribution-spec conformance suite
// (github.com/opencontainers/distribution-spec/conformance, a program
// configured by OCI_* environment variables) that scripts/registry-conformance
// installs.
const ConformanceVersion = "v0.0.0-20260831232431-97274622c111"

// conformanceEnv configures the suite for this registry. Everything the
// spec's push, pull, content discovery (tag list and referrers, the latter
// served by Wharf in front of distribution) and content management
// categories need runs; the data sets switched off are features
// distribution/v3.1.2 does not have:
//   - OCI_DATA_SHA512: blobs and manifests are sha256 only;
//   - OCI_DATA_NONDISTRIBUTABLE: foreign layer URLs are refused (no
//     manifest URL allow-list is configured);
//   - OCI_API_BLOBS_MOUNT_ANONYMOUS: a mount needs a source repository (and
//     the caller must own it).
var conformanceEnv = []string{
	"OCI_TLS=disabled",
	"OCI_VERSION=1.1",
	"OCI_REPO1=conformance/repo1",
	"OCI_REPO2=conformance/repo2",
	"OCI_LOG=warn",
	"OCI_API_PULL=true",
	"OCI_API_PUSH=true",
	"OCI_API_BLOBS_DELETE=true",
	"OCI_API_MANIFESTS_DELETE=true",
	"OCI_API_TAGS_DELETE=true",
	"OCI_API_TAGS_LIST=true",
	"OCI_API_BLOBS_UPLOAD_CANCEL=true",
	"OCI_API_BLOBS_MOUNT_ANONYMOUS=false",
	"OCI_API_REFERRER=true",
	"OCI_DATA_SUBJECT=true",
	"OCI_DATA_SUBJECT_MISSING=true",
	"OCI_DATA_SUBJECT_LIST=true",
	"OCI_DATA_SHA512=false",
	"OCI_DATA_NONDISTRIBUTABLE=false",
}

type junitSuites struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Skipped  int `xml:"skipped,attr"`
	Disabled int `xml:"disabled,attr"`
	Suites   []struct {
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Status    string `xml:"status,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Data    string `xml:",cdata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Data    string `xml:",cdata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestConformance runs the OCI distribution-spec conformance suite against
// a registry on 127.0.0.1. It needs WHARF_CONFORMANCE=1 and the suite's
// binary in OCI_CONFORMANCE_BIN (scripts/registry-conformance does both).
// Extra OCI_* variables in the environment override conformanceEnv.
func TestConformance(t *testing.T) {
	if os.Getenv("WHARF_CONFORMANCE") != "1" {
		t.Skip("set WHARF_CONFORMANCE=1 and OCI_CONFORMANCE_BIN (see scripts/registry-conformance)")
	}
	bin := os.Getenv("OCI_CONFORMANCE_BIN")
	if bin == "" {
		t.Fatal("OCI_CONFORMANCE_BIN is not set")
	}
	e := newEnv(t)
	results := os.Getenv("OCI_RESULTS_DIR")
	if results == "" {
		results = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = t.TempDir() // it looks for oci-conformance.yaml in its working directory
	env := append([]string{}, conformanceEnv...)
	env = append(env, "OCI_REGISTRY="+e.host, "OCI_USERNAME="+keyA, "OCI_PASSWORD="+secretA, "OCI_RESULTS_DIR="+results)
	cmd.Env = append(env, os.Environ()...) // later entries win
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("conformance suite ran in %v", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("conformance binary: %v\n%s", err, out)
	}
	if i := strings.Index(string(out), "OCI Conformance Result"); i >= 0 {
		t.Logf("\n%s", out[i:])
	} else {
		t.Logf("\n%s", out)
	}
	raw, err := os.ReadFile(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var j junitSuites
	if err := xml.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	passed := j.Tests - j.Failures - j.Errors - j.Skipped - j.Disabled
	t.Logf("conformance: %d tests, %d passed, %d failed, %d errors, %d skipped, %d disabled (results in %s)",
		j.Tests, passed, j.Failures, j.Errors, j.Skipped, j.Disabled, results)
	for _, s := range j.Suites {
		for _, c := range s.Cases {
			switch {
			case c.Failure != nil:
				t.Errorf("FAIL %s / %s: %s\n%s", c.Classname, c.Name, c.Failure.Message, c.Failure.Data)
			case c.Error != nil:
				t.Errorf("ERROR %s / %s: %s\n%s", c.Classname, c.Name, c.Error.Message, c.Error.Data)
			}
		}
	}
	if j.Tests == 0 || passed == 0 {
		t.Fatal("no conformance test passed")
	}
}
