package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfml/wharf/internal/blob"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	anon := e.client(t, "", "")
	r := anon.do("GET", "/v2/", nil)
	if r.StatusCode != http.StatusUnauthorized || r.errorCode() != "UNAUTHORIZED" {
		t.Fatalf("anonymous /v2/: %v", r)
	}
	if got := r.Header.Get("WWW-Authenticate"); got != `Basic realm="Wharf Registry"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	if got := r.Header.Get("Docker-Distribution-API-Version"); got != "registry/2.0" {
		t.Errorf("Docker-Distribution-API-Version = %q", got)
	}
	if r := e.client(t, keyA, "wrong").do("GET", "/v2/", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: %v", r)
	}
	if r := e.client(t, "AKIAUNKNOWN", secretA).do("GET", "/v2/", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown key: %v", r)
	}
	// Every route needs credentials, not only the base.
	if r := anon.do("GET", "/v2/team/app/tags/list", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous tags list: %v", r)
	}
	r = e.client(t, keyA, secretA).do("GET", "/v2/", nil)
	if r.StatusCode != http.StatusOK || strings.TrimSpace(string(r.body)) != "{}" {
		t.Fatalf("authenticated /v2/: %v", r)
	}
}

func TestECRTokenAuthentication(t *testing.T) {
	now := time.Now()
	e := newEnv(t, func(c *Config) { c.Now = func() time.Time { return now } })
	tok, exp := e.rg.IssueToken(keyA)
	if d := exp.Sub(now); d < TokenTTL-time.Second || d > TokenTTL {
		t.Errorf("expiry in %v, want %v", d, TokenTTL)
	}
	if r := e.client(t, TokenUser, tok).do("GET", "/v2/", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("token login: %v", r)
	}
	// The token acts as its key's account.
	c := e.client(t, TokenUser, tok)
	if _, r := c.pushImage("team/tok", "1", "t"); r.StatusCode != http.StatusCreated {
		t.Fatalf("push with token: %v", r)
	}
	if repo, err := e.rg.Repos().GetRepository(context.Background(), "team/tok"); err != nil || repo.AccountID != accountA {
		t.Fatalf("repository = %+v, %v", repo, err)
	}

	for name, bad := range map[string]string{
		"tampered mac":     tok[:len(tok)-2] + "AA",
		"tampered payload": tokenPrefix + "QUtJQUJCQkJCQkJCQkJCQkJCQkIKOTk5OTk5OTk5OQ" + tok[strings.LastIndex(tok, "."):],
		"not a token":      secretA,
		"empty":            "",
	} {
		if r := e.client(t, TokenUser, bad).do("GET", "/v2/", nil); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v", name, r)
		}
	}
	// The access key's secret is not a password for user AWS, nor the token one for the key.
	if r := e.client(t, keyA, tok).do("GET", "/v2/", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("token as secret: %v", r)
	}

	now = now.Add(TokenTTL + time.Second)
	if r := e.client(t, TokenUser, tok).do("GET", "/v2/", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: %v", r)
	}
	now = now.Add(-TokenTTL)
	tok2, _ := e.rg.IssueToken(keyA)
	e.auth.remove(keyA)
	if r := e.client(t, TokenUser, tok2).do("GET", "/v2/", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("token of a deleted key: %v", r)
	}
}

// TestTokenKey checks that tokens verify on another registry with the same
// key (another node, a restart) and not with a different key.
func TestTokenKey(t *testing.T) {
	e1 := newEnv(t)
	e2 := newEnv(t)
	e3 := newEnv(t, func(c *Config) { c.Key = []byte("another key, 16 bytes or more") })
	tok, _ := e1.rg.IssueToken(keyB)
	if r := e2.client(t, TokenUser, tok).do("GET", "/v2/", nil); r.StatusCode != http.StatusOK {
		t.Errorf("same key: %v", r)
	}
	if r := e3.client(t, TokenUser, tok).do("GET", "/v2/", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("other key: %v", r)
	}
}

func TestPushPull(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, keyA, secretA)
	dgst, r := c.pushImage("team/app", "v1", "one")
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("push: %v", r)
	}
	if got := r.Header.Get("Docker-Content-Digest"); got != dgst {
		t.Errorf("Docker-Content-Digest = %q, want %q", got, dgst)
	}
	m, cfg, _ := image("one")
	for _, ref := range []string{"v1", dgst} {
		r := c.do("GET", "/v2/team/app/manifests/"+ref, nil, "Accept", ociManifest)
		if r.StatusCode != http.StatusOK || string(r.body) != string(m) {
			t.Fatalf("GET manifest %s: %v", ref, r)
		}
	}
	if r := c.do("GET", "/v2/team/app/blobs/"+digestOf(cfg), nil); r.StatusCode != http.StatusOK || string(r.body) != string(cfg) {
		t.Fatalf("GET blob: %v", r)
	}
	r = c.do("GET", "/v2/team/app/tags/list", nil)
	var tags struct {
		Name string
		Tags []string
	}
	if json.Unmarshal(r.body, &tags); tags.Name != "team/app" || !reflect.DeepEqual(tags.Tags, []string{"v1"}) {
		t.Fatalf("tags: %v", r)
	}
	ev := e.pushes()
	want := PushEvent{AccountID: accountA, Repository: "team/app", Digest: dgst, Tag: "v1", MediaType: ociManifest}
	if len(ev) != 1 || ev[0] != want {
		t.Fatalf("push events = %+v, want [%+v]", ev, want)
	}
	// The content lives in the object store's _registry namespace.
	res, err := e.blobs.List(context.Background(), Bucket, blob.ListOptions{Prefix: "docker/registry/v2/blobs/sha256/"})
	if err != nil || len(res.Objects)+len(res.CommonPrefixes) == 0 {
		t.Fatalf("no blobs in %s: %+v %v", Bucket, res, err)
	}

	// Finished uploads leave nothing behind: no upload state in the store,
	// no files in the temp dir.
	if res, err := e.blobs.List(context.Background(), Bucket, blob.ListOptions{Prefix: "docker/registry/v2/repositories/team/app/_uploads/"}); err != nil || len(res.Objects) != 0 {
		t.Errorf("upload state left: %+v %v", res.Objects, err)
	}
	assertNoFiles(t, e.tmp)

	// A wrong digest is refused and leaves nothing behind.
	loc := c.do("POST", "/v2/team/app/blobs/uploads/", nil).Header.Get("Location")
	bad := c.do("PUT", loc+"&digest="+digestOf([]byte("other")), []byte("data"))
	if bad.StatusCode != http.StatusBadRequest || bad.errorCode() != "DIGEST_INVALID" {
		t.Errorf("wrong digest: %v", bad)
	}
	if r := c.do("HEAD", "/v2/team/app/blobs/"+digestOf([]byte("data")), nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("blob of a failed upload: %v", r)
	}
	assertNoFiles(t, e.tmp)
	// A manifest naming missing blobs is refused.
	m2, _, _ := image("never pushed")
	if r := c.do("PUT", "/v2/team/app/manifests/broken", m2, "Content-Type", ociManifest); r.StatusCode != http.StatusBadRequest || r.errorCode() != "MANIFEST_BLOB_UNKNOWN" {
		t.Errorf("manifest with missing blobs: %v", r)
	}
}

func TestChunkedResumableUpload(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, keyA, secretA)
	data := []byte(strings.Repeat("0123456789", 1000))
	r := c.do("POST", "/v2/team/chunks/blobs/uploads/", nil)
	loc := r.Header.Get("Location")
	r = c.do("PATCH", loc, data[:4000], "Content-Type", "application/octet-stream", "Content-Range", "0-3999")
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH 1: %v", r)
	}
	loc = r.Header.Get("Location")
	// Ask where the upload stands, then continue from there.
	r = c.do("GET", loc, nil)
	if r.StatusCode != http.StatusNoContent || r.Header.Get("Range") != "0-3999" {
		t.Fatalf("upload status: %v Range=%q", r, r.Header.Get("Range"))
	}
	r = c.do("PATCH", loc, data[4000:], "Content-Type", "application/octet-stream", "Content-Range", "4000-9999")
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH 2: %v", r)
	}
	loc = r.Header.Get("Location")
	r = c.do("PUT", loc+"&digest="+digestOf(data), nil)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %v", r)
	}
	if r := c.do("GET", "/v2/team/chunks/blobs/"+digestOf(data), nil); string(r.body) != string(data) {
		t.Fatalf("blob: %v", r)
	}

	// An abandoned upload is invisible; cancelling it removes its data.
	loc = c.do("POST", "/v2/team/chunks/blobs/uploads/", nil).Header.Get("Location")
	r = c.do("PATCH", loc, []byte("partial"), "Content-Type", "application/octet-stream")
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %v", r)
	}
	if r := c.do("HEAD", "/v2/team/chunks/blobs/"+digestOf([]byte("partial")), nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("partial upload visible: %v", r)
	}
	if r := c.do("DELETE", r.Header.Get("Location"), nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("cancel: %v", r)
	}
	assertNoFiles(t, e.tmp)
}

func TestOwnership(t *testing.T) {
	e := newEnv(t)
	a := e.client(t, keyA, secretA)
	b := e.client(t, keyB, secretB)
	dgst, r := a.pushImage("team/private", "v1", "a")
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("push: %v", r)
	}
	_, cfg, _ := image("a")
	denied := map[string]*response{
		"pull by tag":    b.do("GET", "/v2/team/private/manifests/v1", nil),
		"pull by digest": b.do("GET", "/v2/team/private/manifests/"+dgst, nil),
		"head blob":      b.do("HEAD", "/v2/team/private/blobs/"+digestOf(cfg), nil),
		"get blob":       b.do("GET", "/v2/team/private/blobs/"+digestOf(cfg), nil),
		"tags":           b.do("GET", "/v2/team/private/tags/list", nil),
		"start upload":   b.do("POST", "/v2/team/private/blobs/uploads/", nil),
		"delete":         b.do("DELETE", "/v2/team/private/manifests/"+dgst, nil),
	}
	if _, r := b.pushImage("team/private", "v1", "b"); true {
		denied["push"] = r
	}
	for what, r := range denied {
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("%s by another account: %v", what, r)
		} else if r.Method() != "HEAD" && r.errorCode() != "DENIED" {
			t.Errorf("%s: error code %q, want DENIED", what, r.errorCode())
		}
	}
	// Still A's, unchanged.
	if r := a.do("GET", "/v2/team/private/manifests/v1", nil, "Accept", ociManifest); r.StatusCode != http.StatusOK || digestOf(r.body) != dgst {
		t.Fatalf("owner pull: %v", r)
	}

	// B cannot mount A's blob into its own repository: the request becomes
	// a plain upload (202), not a mount (201).
	r = b.do("POST", "/v2/team/mine/blobs/uploads/?mount="+digestOf(cfg)+"&from=team/private", nil)
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("cross-account mount: %v", r)
	}
	// A can mount between its own repositories.
	r = a.do("POST", "/v2/team/other/blobs/uploads/?mount="+digestOf(cfg)+"&from=team/private", nil)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("same-account mount: %v", r)
	}

	// Catalogs list only the caller's repositories.
	for _, tc := range []struct {
		c    *client
		want []string
	}{{a, []string{"team/other", "team/private"}}, {b, []string{"team/mine"}}} {
		r := tc.c.do("GET", "/v2/_catalog", nil)
		var cat struct{ Repositories []string }
		if json.Unmarshal(r.body, &cat); !reflect.DeepEqual(cat.Repositories, tc.want) {
			t.Errorf("catalog of %s = %v, want %v", tc.c.user, r, tc.want)
		}
	}
	r = a.do("GET", "/v2/_catalog?n=1", nil)
	if !strings.Contains(string(r.body), `["team/other"]`) || !strings.Contains(r.Header.Get("Link"), "last=team%2Fother") {
		t.Errorf("catalog page: %v Link=%q", r, r.Header.Get("Link"))
	}
	r = a.do("GET", "/v2/_catalog?n=1&last=team/other", nil)
	if !strings.Contains(string(r.body), `["team/private"]`) || r.Header.Get("Link") != "" {
		t.Errorf("catalog page 2: %v Link=%q", r, r.Header.Get("Link"))
	}

	// A repository nobody owns is unknown for reads, and a push creates it.
	if r := b.do("GET", "/v2/nobody/manifests/latest", nil); r.StatusCode != http.StatusNotFound || r.errorCode() != "NAME_UNKNOWN" {
		t.Errorf("pull of unknown repository: %v", r)
	}
}

func (r *response) Method() string { return r.Request.Method }

func TestRepositoryNames(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, keyA, secretA)
	for _, p := range []string{
		"/v2/Team/app/tags/list",           // upper case
		"/v2/team/../etc/tags/list",        // dot segments
		"/v2/team/%2e%2e/etc/tags/list",    // encoded
		"/v2/team//app/tags/list",          // empty segment
		"/v2/-team/tags/list",              // bad component
		"/v2/127.0.0.1:5000/app/tags/list", // host part
		"/v2/" + strings.Repeat("a", 256) + "/tags/list",
	} {
		r := c.do("GET", p, nil)
		if r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %v", p, r)
		}
	}
	if r := c.do("POST", "/v2/team/%2e%2e/blobs/uploads/", nil); r.StatusCode == http.StatusAccepted {
		t.Errorf("upload into a dot-dot name accepted")
	}
	for _, n := range []string{"a", "a/b", "a.b_c__d---e/f0", "0"} {
		if !ValidRepositoryName(n) {
			t.Errorf("ValidRepositoryName(%q) = false", n)
		}
	}
	for _, n := range []string{"", "A", "a/", "/a", "a//b", "a/../b", "a/./b", "a..b", "a_-b", "a___b", "_a", "a:1"} {
		if ValidRepositoryName(n) {
			t.Errorf("ValidRepositoryName(%q) = true", n)
		}
	}
}

func TestImmutableTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t, keyA, secretA)
	d1, r := c.pushImage("team/imm", "v1", "one")
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("push: %v", r)
	}
	repo, _ := e.rg.Repos().GetRepository(ctx, "team/imm")
	repo.ImageTagMutability = Immutable
	if err := e.rg.Repos().UpdateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	_, r = c.pushImage("team/imm", "v1", "two")
	if r.StatusCode != http.StatusBadRequest || r.errorCode() != "TAG_INVALID" ||
		r.errorMessage() != "The image tag 'v1' already exists in the 'team/imm' repository and cannot be overwritten because the repository is immutable." {
		t.Fatalf("re-push of an immutable tag: %v", r)
	}
	if got, _ := e.rg.ResolveTag(ctx, "team/imm", "v1"); got != d1 {
		t.Fatalf("tag moved to %s", got)
	}
	// The same content again is harmless; a new tag and a push by digest work.
	if _, r := c.pushImage("team/imm", "v1", "one"); r.StatusCode != http.StatusCreated {
		t.Errorf("same content again: %v", r)
	}
	if _, r := c.pushImage("team/imm", "v2", "two"); r.StatusCode != http.StatusCreated {
		t.Errorf("new tag: %v", r)
	}
	d3, _, _ := image("three")
	if _, r := c.pushImage("team/imm", digestOf(d3), "three"); r.StatusCode != http.StatusCreated {
		t.Errorf("push by digest: %v", r)
	}

	// Exclusions.
	repo.ImageTagMutability = ImmutableWithExclusion
	repo.MutabilityExclusions = []string{"latest", "dev-*"}
	if err := e.rg.Repos().UpdateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	for tag, immutable := range map[string]bool{"latest": false, "dev-1": false, "v1": true, "devx": true} {
		if repo.TagImmutable(tag) != immutable {
			t.Errorf("IMMUTABLE_WITH_EXCLUSION: TagImmutable(%q) = %v", tag, !immutable)
		}
	}
	repo.ImageTagMutability = MutableWithExclusion
	if !repo.TagImmutable("dev-2") || repo.TagImmutable("v9") {
		t.Error("MUTABLE_WITH_EXCLUSION wrong")
	}
	repo.ImageTagMutability = Mutable
	if repo.TagImmutable("v1") {
		t.Error("MUTABLE wrong")
	}
}

func TestImagesAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t, keyA, secretA)
	d1, _ := c.pushImage("team/img", "v1", "one")
	c.pushImage("team/img", "latest", "one")
	d2, _ := c.pushImage("team/img", "v2", "two")
	// A nested repository, which deleting team/img must not touch.
	dn, _ := c.pushImage("team/img/nested", "v1", "nested")

	imgs, err := e.rg.Images(ctx, "team/img")
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Fatalf("images = %+v", imgs)
	}
	_, _, layer := image("one")
	for _, img := range imgs {
		if img.MediaType != ociManifest || img.ArtifactType != "application/vnd.oci.image.config.v1+json" ||
			img.Size != int64(len(layer)) || img.PushedAt.IsZero() || time.Since(img.PushedAt) > time.Minute {
			t.Errorf("image %+v", img)
		}
		want := map[string][]string{d1: {"latest", "v1"}, d2: {"v2"}}[img.Digest]
		if !reflect.DeepEqual(img.Tags, want) {
			t.Errorf("%s tags = %v, want %v", img.Digest, img.Tags, want)
		}
	}
	if _, body, err := e.rg.Manifest(ctx, "team/img", d1); err != nil || digestOf(body) != d1 {
		t.Fatalf("Manifest: %v", err)
	}
	if err := e.rg.Untag(ctx, "team/img", "latest"); err != nil {
		t.Fatal(err)
	}
	if err := e.rg.Untag(ctx, "team/img", "latest"); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("Untag of a missing tag: %v", err)
	}
	if err := e.rg.DeleteImage(ctx, "team/img", d2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rg.ResolveTag(ctx, "team/img", "v2"); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("tag of a deleted image: %v", err)
	}
	if err := e.rg.DeleteImage(ctx, "team/img", d2); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if r := c.do("GET", "/v2/team/img/manifests/"+d2, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted manifest still served: %v", r)
	}
	if has, err := e.rg.HasImages(ctx, "team/img"); !has || err != nil {
		t.Fatalf("HasImages = %v, %v", has, err)
	}
	if err := e.rg.DeleteRepositoryContent(ctx, "team/img"); err != nil {
		t.Fatal(err)
	}
	if has, err := e.rg.HasImages(ctx, "team/img"); has || err != nil {
		t.Fatalf("HasImages after delete = %v, %v", has, err)
	}
	if got, err := e.rg.ResolveTag(ctx, "team/img/nested", "v1"); got != dn || err != nil {
		t.Fatalf("nested repository damaged: %v %v", got, err)
	}
	if imgs, err := e.rg.Images(ctx, "team/never"); err != nil || len(imgs) != 0 {
		t.Fatalf("Images of an empty repository: %v %v", imgs, err)
	}
}

func TestRepoStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.rg.Repos()
	r := Repository{Name: "x/y", AccountID: accountA, ImageTagMutability: Mutable, CreatedAt: time.Now().UTC()}
	if err := s.CreateRepository(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRepository(ctx, Repository{Name: "x/y", AccountID: accountB}); !errors.Is(err, ErrRepositoryExists) {
		t.Fatalf("second create: %v", err)
	}
	if got, _ := s.ListRepositories(ctx, accountB); len(got) != 0 {
		t.Fatalf("loser lists %v", got)
	}
	if got, _ := s.ListRepositories(ctx, accountA); len(got) != 1 || got[0].Name != "x/y" {
		t.Fatalf("owner lists %v", got)
	}
	r.ScanOnPush = true
	if err := s.UpdateRepository(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetRepository(ctx, "x/y"); !got.ScanOnPush {
		t.Fatal("update lost")
	}
	if err := s.DeleteRepository(ctx, "x/y"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRepository(ctx, r); !errors.Is(err, ErrRepositoryNotFound) {
		t.Fatalf("update after delete: %v", err)
	}
	if got, _ := s.ListRepositories(ctx, accountA); len(got) != 0 {
		t.Fatalf("lists deleted %v", got)
	}
	if _, err := s.GetRepository(ctx, "../x"); !errors.Is(err, ErrRepositoryNotFound) {
		t.Fatalf("get of an invalid name: %v", err)
	}
}

// assertNoFiles fails if any regular file is under dir.
func assertNoFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("file left in the upload temp dir: %s", p)
		}
		return nil
	})
}

// The first push to a new name creates the repository from whichever of
// the client's parallel layer uploads comes first; the others' uploads must
// survive that (creation once cleared storage after the record existed and
// destroyed uploads already started).
func TestFirstPushParallelUploads(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, keyA, secretA)
	for i := range 10 {
		repo := fmt.Sprintf("fresh/repo-%d", i)
		var wg sync.WaitGroup
		codes := make([]int, 8)
		for j := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[j] = c.pushBlob(repo, []byte(fmt.Sprintf("layer %d of %s", j, repo))).StatusCode
			}()
		}
		wg.Wait()
		for j, code := range codes {
			if code != http.StatusCreated {
				t.Fatalf("%s: upload %d answered %d", repo, j, code)
			}
		}
	}
}
