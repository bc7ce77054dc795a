package server_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/wharfml/wharf/internal/admin"
	"github.com/wharfml/wharf/internal/testimage"
)

// sbomEnv is a server with one account that owns a scan-on-push repository.
type sbomEnv struct {
	*env
	acct admin.Credentials
	ecr  *ecr.Client
	host string
}

func startSBOM(t *testing.T, repo string) *sbomEnv {
	t.Helper()
	e := start(t)
	acct := e.account(t, "acme")
	client := ecr.New(ecr.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1",
		Credentials: e.creds(*acct.AccessKeyId, *acct.SecretAccessKey)})
	if _, err := client.CreateRepository(context.Background(), &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo),
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true}}); err != nil {
		t.Fatal(err)
	}
	return &sbomEnv{env: e, acct: acct, ecr: client, host: strings.TrimPrefix(e.url, "http://")}
}

// waitScan polls DescribeImageScanFindings until the scan of tag is done.
func (e *sbomEnv) waitScan(t *testing.T, repo, tag string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		out, err := e.ecr.DescribeImageScanFindings(context.Background(), &ecr.DescribeImageScanFindingsInput{
			RepositoryName: aws.String(repo), ImageId: &ecrtypes.ImageIdentifier{ImageTag: aws.String(tag)}})
		if err != nil && apiCode(err) != "ScanNotFoundException" {
			t.Fatal(err)
		}
		if err == nil && out.ImageScanStatus.Status != ecrtypes.ScanStatusInProgress {
			if out.ImageScanStatus.Status != ecrtypes.ScanStatusComplete {
				t.Fatalf("scan %s: %s", out.ImageScanStatus.Status, aws.ToString(out.ImageScanStatus.Description))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("scan did not finish")
		}
	}
}

// getJSON GETs path with Basic credentials and decodes a JSON reply.
func getJSON(t *testing.T, url, user, pass string, out any) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header
}

// TestSBOMOverREST: push an image with a dpkg database (go-containerregistry
// speaking the registry protocol with an access key), let scan on push run,
// then fetch its SBOM in both formats and its contract check with HTTP
// Basic auth; another account is refused.
func TestSBOMOverREST(t *testing.T) {
	e := startSBOM(t, "team/algo")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name, body string
		mode       int64
	}{
		{"etc/os-release", "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12\"\n", 0o644},
		{"var/lib/dpkg/status", "Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nSource: openssl\n\n" +
			"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nSource: zlib\n", 0o644},
		{"opt/program/serve", "#!/bin/sh\nexec python3 -m server\n", 0o755},
	} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, f.body)
	}
	tw.Close()
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, _ := mutate.AppendLayers(empty.Image, layer)
	img, _ = mutate.Config(img, v1.Config{Env: []string{"PATH=/opt/program:/usr/bin"}, ExposedPorts: map[string]struct{}{"8080/tcp": {}}})
	ref, _ := name.ParseReference(e.host+"/team/algo:1", name.Insecure)
	key, secret := *e.acct.AccessKeyId, *e.acct.SecretAccessKey
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: key, Password: secret})); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	dgst := d.String()
	e.waitScan(t, "team/algo", "1")
	base := e.url + "/api/v1/registry/repositories/team/algo/images/" + dgst

	wantPurls := map[string]string{
		"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12&upstream=openssl": "libssl3",
		"pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?distro=debian-12&upstream=zlib":      "zlib1g",
	}
	var cdx struct {
		BOMFormat, SpecVersion string
		Components             []struct{ Name, Version, Purl string }
	}
	status, hdr := getJSON(t, base+"/sbom", key, secret, &cdx)
	if status != 200 || hdr.Get("Content-Type") != "application/vnd.cyclonedx+json" || cdx.BOMFormat != "CycloneDX" || cdx.SpecVersion != "1.5" {
		t.Fatalf("cyclonedx: %d %s %+v", status, hdr.Get("Content-Type"), cdx)
	}
	got := map[string]string{}
	for _, c := range cdx.Components {
		got[c.Purl] = c.Name
	}
	for purl, n := range wantPurls {
		if got[purl] != n {
			t.Errorf("cyclonedx: no %s for %s in %v", purl, n, got)
		}
	}

	var spdx struct {
		SPDXID, SPDXVersion, DataLicense, DocumentNamespace string
		CreationInfo                                        struct{ Created string }
		Packages                                            []struct {
			SPDXID, Name, VersionInfo, DownloadLocation string
			ExternalRefs                                []struct{ ReferenceType, ReferenceLocator string }
		}
	}
	status, hdr = getJSON(t, base+"/sbom?format=spdx", key, secret, &spdx)
	if status != 200 || hdr.Get("Content-Type") != "application/spdx+json" || spdx.SPDXVersion != "SPDX-2.3" ||
		spdx.DataLicense != "CC0-1.0" || spdx.SPDXID != "SPDXRef-DOCUMENT" || spdx.DocumentNamespace == "" || spdx.CreationInfo.Created == "" {
		t.Fatalf("spdx: %d %s %+v", status, hdr.Get("Content-Type"), spdx)
	}
	got = map[string]string{}
	for _, p := range spdx.Packages {
		for _, r := range p.ExternalRefs {
			if r.ReferenceType == "purl" {
				got[r.ReferenceLocator] = p.Name
			}
		}
	}
	for purl, n := range wantPurls {
		if got[purl] != n {
			t.Errorf("spdx: no %s for %s in %v", purl, n, got)
		}
	}

	var c struct {
		TrainInvocable, ServeInvocable bool
		ServeReason, AcceptBindToPort  string
		ExposedPorts                   []string
		CompressedSize                 int64
		UncompressedSize               int64
	}
	if status, _ := getJSON(t, base+"/contract", key, secret, &c); status != 200 || c.TrainInvocable || !c.ServeInvocable ||
		c.ServeReason != "/opt/program/serve is executable on PATH" || c.UncompressedSize < int64(len(layerBytes)) || c.CompressedSize == 0 {
		t.Fatalf("contract: %d %+v", status, c)
	}

	// Another account: 403 with a JSON error; an unknown image: 404.
	other := e.account(t, "globex")
	var apiErr struct{ Code, Message string }
	if status, _ := getJSON(t, base+"/sbom?format=spdx", *other.AccessKeyId, *other.SecretAccessKey, &apiErr); status != 403 || apiErr.Code != "AccessDenied" {
		t.Fatalf("other account: %d %+v", status, apiErr)
	}
	if status, _ := getJSON(t, e.url+"/api/v1/registry/repositories/team/algo/images/sha256:"+strings.Repeat("1", 64)+"/sbom", key, secret, &apiErr); status != 404 || apiErr.Code != "ImageNotFound" {
		t.Fatalf("unknown image: %d %+v", status, apiErr)
	}
}

// TestSBOMContractOfDockerBuild: the contract check reads the config the
// Docker builder writes: a shell-form ENTRYPOINT is stored as
// /bin/sh -c "...", so 'train' never reaches the program.
func TestSBOMContractOfDockerBuild(t *testing.T) {
	testimage.Client(t) // skips (or fails with WHARF_REQUIRE_DOCKER=1) without a Docker Engine
	e := startSBOM(t, "shellform")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sh"), []byte("#!/bin/true\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "train"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY sh /bin/sh\nCOPY train /usr/local/bin/train\n"+
		"LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true\nENTRYPOINT /usr/local/bin/train --verbose\n"), 0o644)
	ref := e.host + "/shellform:1"
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
	docker("login", e.host, "-u", *e.acct.AccessKeyId, "-p", *e.acct.SecretAccessKey)
	docker("push", ref)
	e.waitScan(t, "shellform", "1")

	var c struct {
		TrainInvocable       bool
		TrainReason          string
		Entrypoint, Warnings []string
		AcceptBindToPort     string
	}
	status, _ := getJSON(t, e.url+"/api/v1/registry/repositories/shellform/images/1/contract", *e.acct.AccessKeyId, *e.acct.SecretAccessKey, &c)
	if status != 200 || c.TrainInvocable || !strings.Contains(c.TrainReason, "shell form: 'train' becomes $0") ||
		len(c.Entrypoint) != 3 || c.Entrypoint[0] != "/bin/sh" || c.Entrypoint[1] != "-c" || c.AcceptBindToPort != "true" {
		t.Fatalf("contract: %d %+v", status, c)
	}
}
