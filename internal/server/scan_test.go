package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/wharfml/wharf/internal/server"
	"github.com/wharfml/wharf/internal/testimage"
)

// TestScanOnPush: a repository that scans on push gets the findings of an
// image whose dpkg database lists a package an OSV advisory covers.
func TestScanOnPush(t *testing.T) {
	testimage.Client(t) // skips (or fails with WHARF_REQUIRE_DOCKER=1) without a Docker Engine
	advisories := t.TempDir()
	os.WriteFile(filepath.Join(advisories, "DSA-0001.json"), []byte(`{
  "id": "DSA-0001-1", "modified": "2026-01-01T00:00:00Z", "aliases": ["CVE-2026-0001"],
  "summary": "openssl: remote code execution",
  "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.15-1~deb12u1"}]}]}],
  "database_specific": {"severity": "HIGH"},
  "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/DSA-0001-1"}]
}`), 0o644)
	e := start(t, func(c *server.Config) { c.AdvisoriesDir = advisories })
	acct := e.account(t, "acme")
	ctx := context.Background()
	client := ecr.New(ecr.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1",
		Credentials: e.creds(*acct.AccessKeyId, *acct.SecretAccessKey)})
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("vulnerable"),
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true}}); err != nil {
		t.Fatal(err)
	}

	// An image with a Debian 12 dpkg database listing libssl3 built from openssl 3.0.11.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.MkdirAll(filepath.Join(dir, "dpkg"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "os-release"), []byte("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "dpkg", "status"), []byte("Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nSource: openssl\n\nPackage: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nSource: zlib\n\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY etc/os-release /etc/os-release\nCOPY dpkg/status /var/lib/dpkg/status\n"), 0o644)
	host := strings.TrimPrefix(e.url, "http://")
	ref := host + "/vulnerable:1"
	config := t.TempDir()
	docker := func(args ...string) {
		t.Helper()
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+config, "DOCKER_BUILDKIT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
	}
	docker("build", "-q", "-t", ref, dir)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
	docker("login", host, "-u", *acct.AccessKeyId, "-p", *acct.SecretAccessKey)
	docker("push", ref)

	id := &ecrtypes.ImageIdentifier{ImageTag: aws.String("1")}
	var out *ecr.DescribeImageScanFindingsOutput
	deadline := time.Now().Add(time.Minute)
	for {
		var err error
		out, err = client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("vulnerable"), ImageId: id})
		if err != nil {
			t.Fatal(err)
		}
		if out.ImageScanStatus.Status != ecrtypes.ScanStatusInProgress || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out.ImageScanStatus.Status != ecrtypes.ScanStatusComplete {
		t.Fatalf("scan %s: %s", out.ImageScanStatus.Status, aws.ToString(out.ImageScanStatus.Description))
	}
	f := out.ImageScanFindings
	if len(f.Findings) != 1 || aws.ToString(f.Findings[0].Name) != "DSA-0001-1" || f.Findings[0].Severity != ecrtypes.FindingSeverityHigh ||
		f.FindingSeverityCounts["HIGH"] != 1 {
		t.Fatalf("findings %+v counts %v", f.Findings, f.FindingSeverityCounts)
	}
	attrs := map[string]string{}
	for _, a := range f.Findings[0].Attributes {
		attrs[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	if attrs["package_name"] != "libssl3" || attrs["package_version"] != "3.0.11-1~deb12u2" {
		t.Fatalf("attributes %v", attrs)
	}
	imgs, err := client.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("vulnerable")})
	if err != nil || imgs.ImageDetails[0].ImageScanStatus == nil || imgs.ImageDetails[0].ImageScanFindingsSummary.FindingSeverityCounts["HIGH"] != 1 {
		t.Fatalf("describe-images scan summary: %+v %v", imgs, err)
	}

	// On demand, too; an unknown image has no scan.
	if _, err := client.StartImageScan(ctx, &ecr.StartImageScanInput{RepositoryName: aws.String("vulnerable"), ImageId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = client.DescribeImageScanFindings(ctx, &ecr.DescribeImageScanFindingsInput{RepositoryName: aws.String("vulnerable"),
		ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String("nope")}})
	if apiCode(err) != "ImageNotFoundException" {
		t.Fatalf("unknown tag: %v", err)
	}
}
