package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const ociIndexType = "application/vnd.oci.image.index.v1+json"

// emptyJSON is the OCI empty descriptor's content, the config of artifacts.
var emptyJSON = []byte("{}")

// artifactManifest is an OCI 1.1 artifact: empty config, one layer, a
// subject.
func artifactManifest(artifactType, subject string, subjectSize int, annotations map[string]string, layer []byte) []byte {
	ann := ""
	if annotations != nil {
		b, _ := json.Marshal(annotations)
		ann = `,"annotations":` + string(b)
	}
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":%q,`+
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},`+
		`"layers":[{"mediaType":"application/octet-stream","digest":%q,"size":%d}],`+
		`"subject":{"mediaType":%q,"digest":%q,"size":%d}%s}`,
		ociManifest, artifactType, digestOf(emptyJSON), digestOf(layer), len(layer), ociManifest, subject, subjectSize, ann))
}

// pushArtifact pushes an artifact referring to subject by digest and
// returns its digest. The PUT must answer OCI-Subject.
func (c *client) pushArtifact(t *testing.T, repo, artifactType, subject string, subjectSize int, annotations map[string]string, layer []byte) string {
	t.Helper()
	for _, b := range [][]byte{emptyJSON, layer} {
		if r := c.pushBlob(repo, b); r.StatusCode != http.StatusCreated {
			t.Fatalf("push blob: %v", r)
		}
	}
	m := artifactManifest(artifactType, subject, subjectSize, annotations, layer)
	d := digestOf(m)
	r := c.do("PUT", "/v2/"+repo+"/manifests/"+d, m, "Content-Type", ociManifest)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("push artifact: %v", r)
	}
	if got := r.Header.Get("OCI-Subject"); got != subject {
		t.Errorf("OCI-Subject = %q, want %q", got, subject)
	}
	return d
}

func mustManifest(t *testing.T, c *client, repo, ref string) []byte {
	t.Helper()
	r := c.do("GET", "/v2/"+repo+"/manifests/"+ref, nil, "Accept", ociManifest+", "+ociIndexType)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s: %v", ref, r)
	}
	return r.body
}

// referrers lists the referrers of subject and checks the response's shape.
func (c *client) referrers(t *testing.T, repo, subject, query string) ([]v1.Descriptor, *response) {
	t.Helper()
	r := c.do("GET", "/v2/"+repo+"/referrers/"+subject+query, nil)
	if r.StatusCode != http.StatusOK {
		return nil, r
	}
	if ct := r.Header.Get("Content-Type"); ct != ociIndexType {
		t.Errorf("Content-Type = %q", ct)
	}
	var idx v1.Index
	if err := json.Unmarshal(r.body, &idx); err != nil {
		t.Fatalf("referrers body: %v: %s", err, r.body)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ociIndexType || idx.Manifests == nil {
		t.Errorf("referrers response is not an OCI index: %s", r.body)
	}
	return idx.Manifests, r
}

func TestReferrers(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, keyA, secretA)
	const repo = "team/signed"
	subject, r := c.pushImage(repo, "v1", "signed image")
	if r.StatusCode != http.StatusCreated {
		t.Fatal(r)
	}
	if h := r.Header.Get("OCI-Subject"); h != "" {
		t.Errorf("OCI-Subject on a manifest without subject: %q", h)
	}
	subjectSize := len(mustManifest(t, c, repo, subject))

	// Nothing refers to it yet: an empty index, not 404.
	if descs, r := c.referrers(t, repo, subject, ""); r.StatusCode != http.StatusOK || len(descs) != 0 {
		t.Fatalf("empty referrers: %v %v", descs, r)
	}

	sbomLayer := []byte(`{"spdxVersion":"SPDX-2.3","name":"signed image"}`)
	ann := map[string]string{"org.opencontainers.image.created": "2026-01-02T03:04:05Z"}
	sbom := c.pushArtifact(t, repo, "application/spdx+json", subject, subjectSize, ann, sbomLayer)
	sig := c.pushArtifact(t, repo, "application/vnd.dev.cosign.simplesigning.v1+json", subject, subjectSize, nil, []byte("signature"))
	// An index can refer too; its artifactType is its own.
	idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":"application/vnd.example.bundle","manifests":[],`+
		`"subject":{"mediaType":%q,"digest":%q,"size":%d}}`, ociIndexType, ociManifest, subject, subjectSize))
	r = c.do("PUT", "/v2/"+repo+"/manifests/bundle", idx, "Content-Type", ociIndexType)
	if r.StatusCode != http.StatusCreated || r.Header.Get("OCI-Subject") != subject {
		t.Fatalf("index with subject: %v OCI-Subject=%q", r, r.Header.Get("OCI-Subject"))
	}
	sbomSize := len(mustManifest(t, c, repo, sbom))
	sigSize := len(mustManifest(t, c, repo, sig))

	want := map[string]v1.Descriptor{
		sbom: {MediaType: ociManifest, Digest: digest.Digest(sbom), Size: int64(sbomSize), ArtifactType: "application/spdx+json", Annotations: ann},
		sig:  {MediaType: ociManifest, Digest: digest.Digest(sig), Size: int64(sigSize), ArtifactType: "application/vnd.dev.cosign.simplesigning.v1+json"},
		digestOf(idx): {MediaType: ociIndexType, Digest: digest.Digest(digestOf(idx)), Size: int64(len(idx)),
			ArtifactType: "application/vnd.example.bundle"},
	}
	check := func(t *testing.T, c *client, query string, keys ...string) {
		t.Helper()
		descs, r := c.referrers(t, repo, subject, query)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("referrers%s: %v", query, r)
		}
		got := map[string]v1.Descriptor{}
		for _, d := range descs {
			got[d.Digest.String()] = d
		}
		exp := map[string]v1.Descriptor{}
		for _, k := range keys {
			exp[k] = want[k]
		}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("referrers%s:\n got %+v\nwant %+v", query, got, exp)
		}
		filtered := r.Header.Get("OCI-Filters-Applied")
		if (query != "") != (filtered == "artifactType") {
			t.Errorf("referrers%s: OCI-Filters-Applied = %q", query, filtered)
		}
	}
	check(t, c, "", sbom, sig, digestOf(idx))
	check(t, c, "?artifactType=application/spdx%2Bjson", sbom)
	check(t, c, "?artifactType=application/none")

	// Other accounts are denied; unauthenticated callers challenged; a
	// repository nobody owns has no referrers; a bad digest is a 400.
	b := e.client(t, keyB, secretB)
	if r := b.do("GET", "/v2/"+repo+"/referrers/"+subject, nil); r.StatusCode != http.StatusForbidden || r.errorCode() != "DENIED" {
		t.Errorf("other account: %v", r)
	}
	if r := e.client(t, "", "").do("GET", "/v2/"+repo+"/referrers/"+subject, nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous: %v", r)
	}
	if descs, r := c.referrers(t, "team/nobody", subject, ""); r.StatusCode != http.StatusOK || len(descs) != 0 {
		t.Errorf("unknown repository: %v", r)
	}
	if r := c.do("GET", "/v2/"+repo+"/referrers/sha256:nothex", nil); r.StatusCode != http.StatusBadRequest || r.errorCode() != "DIGEST_INVALID" {
		t.Errorf("bad digest: %v", r)
	}
	if r := c.do("DELETE", "/v2/"+repo+"/referrers/"+subject, nil); r.StatusCode != http.StatusMethodNotAllowed || r.errorCode() != "UNSUPPORTED" {
		t.Errorf("DELETE referrers: %v", r)
	}

	// A subject that does not exist is fine (the spec allows pushing the
	// referrer first).
	missing := digestOf([]byte("not pushed yet"))
	orphan := c.pushArtifact(t, repo, "application/spdx+json", missing, 123, nil, sbomLayer)
	if descs, _ := c.referrers(t, repo, missing, ""); len(descs) != 1 || descs[0].Digest.String() != orphan {
		t.Errorf("referrers of a missing subject: %+v", descs)
	}

	// Deleting a referrer removes it, from the list and from the index.
	if r := c.do("DELETE", "/v2/"+repo+"/manifests/"+sig, nil); r.StatusCode != http.StatusAccepted {
		t.Fatal(r)
	}
	check(t, c, "", sbom, digestOf(idx))
	if _, err := e.blobs.Head(context.Background(), Bucket, referrerKey(repo, digest.Digest(subject), digest.Digest(sig))); err == nil {
		t.Error("index entry of a deleted referrer left")
	}
	// ... also through the ECR API's DeleteImage.
	if err := e.rg.DeleteImage(context.Background(), repo, orphan); err != nil {
		t.Fatal(err)
	}
	if descs, _ := c.referrers(t, repo, missing, ""); len(descs) != 0 {
		t.Errorf("referrers after DeleteImage: %+v", descs)
	}

	// The index lives in storage: a new registry over it (a restart) lists
	// the same.
	rg2, err := New(context.Background(), Config{Blobs: e.blobs, TempDir: e.tmp, Auth: e.auth, Logger: testLogger(t), Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer rg2.Close()
	descs, err := rg2.Referrers(context.Background(), repo, digest.Digest(subject), "")
	if err != nil || len(descs) != 2 {
		t.Fatalf("after restart: %+v %v", descs, err)
	}

	// Garbage collection repairs the index: a lost entry comes back, an
	// entry of a manifest that is not there goes.
	if err := e.blobs.Delete(context.Background(), Bucket, referrerKey(repo, digest.Digest(subject), digest.Digest(sbom))); err != nil {
		t.Fatal(err)
	}
	check(t, c, "", digestOf(idx))
	ghost := v1.Descriptor{MediaType: ociManifest, Digest: digest.Digest(digestOf([]byte("ghost"))), Size: 5}
	if err := e.rg.indexReferrer(context.Background(), repo, digest.Digest(subject), ghost); err != nil {
		t.Fatal(err)
	}
	if res := e.gc(t, GCOptions{}); res.ReferrersFixed != 2 {
		t.Errorf("GC fixed %d referrers entries, want 2: %+v", res.ReferrersFixed, res)
	}
	check(t, c, "", sbom, digestOf(idx))
	if _, err := e.blobs.Head(context.Background(), Bucket, referrerKey(repo, digest.Digest(subject), ghost.Digest)); err == nil {
		t.Error("ghost entry left")
	}

	// Deleting the repository removes its index; a new owner of the name
	// sees none of it.
	if err := e.rg.DeleteRepository(context.Background(), repo); err != nil {
		t.Fatal(err)
	}
	if n, _ := storedBytes(t, e.blobs, reposPrefix+repo+"/"+referrersDir+"/"); n != 0 {
		t.Errorf("%d index entries left after deleting the repository", n)
	}
}

func TestReferrersPath(t *testing.T) {
	for p, want := range map[string][2]string{
		"/v2/a/referrers/sha256:00":           {"a", "sha256:00"},
		"/v2/a/b/referrers/sha256:00":         {"a/b", "sha256:00"},
		"/v2/a/referrers/referrers/sha256:00": {"a/referrers", "sha256:00"},
	} {
		name, ref, ok := referrersPath(p)
		if !ok || name != want[0] || ref != want[1] {
			t.Errorf("%s: %q %q %v", p, name, ref, ok)
		}
	}
	for _, p := range []string{"/v2/referrers/sha256:00", "/v2/a/referrers/", "/v2/a/referrers/x/y", "/v3/a/referrers/x"} {
		if _, _, ok := referrersPath(p); ok {
			t.Errorf("%s matched", p)
		}
	}
}
