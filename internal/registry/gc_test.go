package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/wharfml/wharf/internal/blob"
)

// gcPusher speaks the push protocol over HTTP as docker does (HEAD each
// blob, mount or upload what is missing, put the manifest), from any
// goroutine: it returns errors instead of failing the test.
type gcPusher struct {
	base, user, pass string
}

// pushError is a refused request, in the protocol's terms.
type pushError struct {
	step   string
	status int
	code   string
	body   string
}

func (e *pushError) Error() string {
	return fmt.Sprintf("%s: %d %s %s", e.step, e.status, e.code, e.body)
}

func (p *gcPusher) do(method, target string, body []byte, hdr ...string) (*http.Response, []byte, error) {
	if !strings.HasPrefix(target, "http") {
		target = p.base + target
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if body == nil {
		req.Body = http.NoBody
	}
	req.SetBasicAuth(p.user, p.pass)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func refused(step string, resp *http.Response, body []byte) error {
	var e struct{ Errors []struct{ Code string } }
	_ = json.Unmarshal(body, &e)
	code := ""
	if len(e.Errors) > 0 {
		code = e.Errors[0].Code
	}
	return &pushError{step: step, status: resp.StatusCode, code: code, body: string(body)}
}

func withDigest(loc, d string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + d
}

// pushBlob makes data present in repo: nothing if a HEAD finds it, else a
// mount from mountFrom (if set), else a chunked upload (POST, PATCH, PUT
// with no body).
func (p *gcPusher) pushBlob(repo string, data []byte, mountFrom string) error {
	d := digestOf(data)
	resp, body, err := p.do("HEAD", "/v2/"+repo+"/blobs/"+d, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	if resp.StatusCode != http.StatusNotFound {
		return refused("HEAD blob", resp, body)
	}
	target := "/v2/" + repo + "/blobs/uploads/"
	if mountFrom != "" {
		target += "?mount=" + d + "&from=" + mountFrom
	}
	resp, body, err = p.do("POST", target, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusCreated {
		return nil // mounted
	}
	if resp.StatusCode != http.StatusAccepted {
		return refused("POST upload", resp, body)
	}
	resp, body, err = p.do("PATCH", resp.Header.Get("Location"), data, "Content-Type", "application/octet-stream")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return refused("PATCH upload", resp, body)
	}
	resp, body, err = p.do("PUT", withDigest(resp.Header.Get("Location"), d), nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return refused("PUT upload", resp, body)
	}
	return nil
}

// putImage pushes an image of config and layers as repo:tag.
func (p *gcPusher) putImage(repo, tag string, config []byte, layers ...[]byte) error {
	for _, b := range append([][]byte{config}, layers...) {
		if err := p.pushBlob(repo, b, ""); err != nil {
			return err
		}
	}
	return p.putManifest(repo, tag, ociImage(config, layers...))
}

func (p *gcPusher) putManifest(repo, ref string, m []byte) error {
	resp, body, err := p.do("PUT", "/v2/"+repo+"/manifests/"+ref, m, "Content-Type", ociManifest)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return refused("PUT manifest", resp, body)
	}
	return nil
}

// ociImage is an OCI image manifest over a config and layers.
func ociImage(config []byte, layers ...[]byte) []byte {
	var ls []string
	for _, l := range layers {
		ls = append(ls, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}`, digestOf(l), len(l)))
	}
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[%s]}`,
		ociManifest, digestOf(config), len(config), strings.Join(ls, ",")))
}

// verifyPulled pulls repo:ref and checks the manifest's digest and every
// blob's digest and size.
func (p *gcPusher) verifyPulled(repo, ref, wantDigest string) error {
	resp, m, err := p.do("GET", "/v2/"+repo+"/manifests/"+ref, nil, "Accept", ociManifest+", "+ociIndex)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return refused("GET manifest "+repo+":"+ref, resp, m)
	}
	if got := digestOf(m); got != wantDigest {
		return fmt.Errorf("%s:%s is %s, want %s", repo, ref, got, wantDigest)
	}
	var doc struct {
		Config ociDescriptorSize
		Layers []ociDescriptorSize
	}
	if err := json.Unmarshal(m, &doc); err != nil {
		return err
	}
	for _, desc := range append([]ociDescriptorSize{doc.Config}, doc.Layers...) {
		resp, b, err := p.do("GET", "/v2/"+repo+"/blobs/"+desc.Digest, nil)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return refused("GET blob "+desc.Digest+" of "+repo+":"+ref, resp, b)
		}
		if digestOf(b) != desc.Digest || int64(len(b)) != desc.Size {
			return fmt.Errorf("blob %s of %s:%s: got %d bytes with digest %s", desc.Digest, repo, ref, len(b), digestOf(b))
		}
	}
	return nil
}

type ociDescriptorSize struct {
	Digest string
	Size   int64
}

func (e *testEnv) gc(t *testing.T, opts GCOptions) GCResult {
	t.Helper()
	res, err := e.rg.GarbageCollect(context.Background(), opts)
	if err != nil {
		t.Fatalf("GarbageCollect(%+v): %v", opts, err)
	}
	return res
}

// storedBytes sums what is stored under a prefix of the registry's bucket.
func storedBytes(t *testing.T, store blob.Store, prefix string) (n int, size int64) {
	t.Helper()
	res, err := store.List(context.Background(), Bucket, blob.ListOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		n++
		size += o.Size
	}
	return n, size
}

func localBytes(t *testing.T, dir string) (size int64) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return size
}

// TestGCRemovesGarbage: an unreferenced blob, the blobs of a deleted image
// and an abandoned upload go once older than the grace period; a dry run
// reports exactly what the real run then removes; referenced content stays.
func TestGCRemovesGarbage(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, keyA, secretA)
	p := &gcPusher{base: e.srv.URL, user: keyA, pass: secretA}
	keep, r := c.pushImage("team/gc", "keep", "kept content")
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("push: %v", r)
	}
	stray := []byte(strings.Repeat("stray blob ", 100))
	if r := c.pushBlob("team/gc", stray); r.StatusCode != http.StatusCreated {
		t.Fatalf("push blob: %v", r)
	}
	goneDigest, r := c.pushImage("team/gc", "gone", "deleted content")
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("push: %v", r)
	}
	if r := c.do("DELETE", "/v2/team/gc/manifests/"+goneDigest, nil); r.StatusCode != http.StatusAccepted {
		t.Fatalf("delete manifest: %v", r)
	}
	goneManifest, goneConfig, goneLayer := image("deleted content")
	garbage := int64(len(stray) + len(goneManifest) + len(goneConfig) + len(goneLayer))

	// An upload started and abandoned.
	loc := c.do("POST", "/v2/team/gc/blobs/uploads/", nil).Header.Get("Location")
	r = c.do("PATCH", loc, bytes.Repeat([]byte("u"), 1000), "Content-Type", "application/octet-stream")
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %v", r)
	}
	uploadLoc := r.Header.Get("Location")
	_, uploadStored := storedBytes(t, e.blobs, reposPrefix+"team/gc/_uploads/")
	uploadBytes := uploadStored + localBytes(t, e.tmp)
	if uploadBytes < 1000 {
		t.Fatalf("upload holds %d bytes", uploadBytes)
	}

	// Everything is younger than the default grace period.
	if res := e.gc(t, GCOptions{Grace: DefaultGCGrace}); res.BlobsDeleted+res.UploadsPurged+res.LinksDeleted != 0 || res.BytesFreed != 0 {
		t.Fatalf("grace 1h removed something: %+v", res)
	}

	want := GCResult{BlobsMarked: 3, BlobsDeleted: 4, BytesFreed: garbage + uploadBytes, UploadsPurged: 1, LinksDeleted: 3}
	same := func(got GCResult, dry bool) {
		t.Helper()
		want.DryRun, got.Duration = dry, 0
		if got != want {
			t.Fatalf("dry run %v: got %+v, want %+v", dry, got, want)
		}
	}
	same(e.gc(t, GCOptions{DryRun: true}), true)
	if r := c.do("HEAD", "/v2/team/gc/blobs/"+digestOf(stray), nil); r.StatusCode != http.StatusOK {
		t.Fatalf("dry run removed the blob: %v", r)
	}
	if r := c.do("GET", uploadLoc, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("dry run removed the upload: %v", r)
	}

	same(e.gc(t, GCOptions{}), false)
	for _, d := range []string{digestOf(stray), digestOf(goneConfig), digestOf(goneLayer)} {
		if r := c.do("HEAD", "/v2/team/gc/blobs/"+d, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("blob %s after GC: %v", d, r)
		}
		if _, err := e.blobs.Head(context.Background(), Bucket, blobDataKey(mustDigest(t, d))); err == nil {
			t.Errorf("blob data %s still stored", d)
		}
	}
	if r := c.do("GET", uploadLoc, nil); r.StatusCode != http.StatusNotFound || r.errorCode() != "BLOB_UPLOAD_UNKNOWN" {
		t.Errorf("upload after GC: %v", r)
	}
	assertNoFiles(t, e.tmp)
	if n, _ := storedBytes(t, e.blobs, reposPrefix+"team/gc/_uploads/"); n != 0 {
		t.Errorf("%d upload objects left", n)
	}
	if err := p.verifyPulled("team/gc", "keep", keep); err != nil {
		t.Fatal(err)
	}
	// Nothing left to collect; the kept image's blobs are still marked.
	if res := e.gc(t, GCOptions{}); res.BlobsDeleted+res.UploadsPurged+res.LinksDeleted != 0 || res.BlobsMarked != 3 {
		t.Fatalf("second run: %+v", res)
	}
	// A blob deleted by GC can be pushed again.
	if r := c.pushBlob("team/gc", stray); r.StatusCode != http.StatusCreated {
		t.Fatalf("push again: %v", r)
	}
}

func mustDigest(t *testing.T, s string) digest.Digest {
	t.Helper()
	d, err := digest.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestGCDeleteUntagged: untagged manifests go, with their blobs; what a
// tag reaches stays, including index children and referrers.
func TestGCDeleteUntagged(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, keyA, secretA)
	p := &gcPusher{base: e.srv.URL, user: keyA, pass: secretA}
	const repo = "team/untagged"
	tagged, r := c.pushImage(repo, "v1", "tagged")
	if r.StatusCode != http.StatusCreated {
		t.Fatal(r)
	}
	untagged, _, _ := image("untagged")
	if d, r := c.pushImage(repo, digestOf(untagged), "untagged"); r.StatusCode != http.StatusCreated || d != digestOf(untagged) {
		t.Fatal(r)
	}
	// An index (tagged) over a child pushed by digest only.
	childManifest, _, _ := image("child")
	child, r := c.pushImage(repo, digestOf(childManifest), "child")
	if r.StatusCode != http.StatusCreated {
		t.Fatal(r)
	}
	idx := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		ociIndex, ociManifest, child, len(childManifest)))
	if r := c.do("PUT", "/v2/"+repo+"/manifests/multi", idx, "Content-Type", ociIndex); r.StatusCode != http.StatusCreated {
		t.Fatal(r)
	}
	// An untagged referrer of the tagged image.
	sbom := c.pushArtifact(t, repo, "application/spdx+json", tagged, len(mustManifest(t, c, repo, tagged)), nil, []byte(`{"spdxVersion":"SPDX-2.3"}`))

	res := e.gc(t, GCOptions{DeleteUntagged: true})
	if res.ManifestsDeleted != 1 {
		t.Fatalf("deleted %d manifests, want 1 (the untagged image): %+v", res.ManifestsDeleted, res)
	}
	if res.BlobsDeleted != 3 { // its manifest, config and layer
		t.Errorf("deleted %d blobs, want 3: %+v", res.BlobsDeleted, res)
	}
	if r := c.do("HEAD", "/v2/"+repo+"/manifests/"+digestOf(untagged), nil, "Accept", ociManifest); r.StatusCode != http.StatusNotFound {
		t.Errorf("untagged manifest: %v", r)
	}
	for ref, d := range map[string]string{"v1": tagged, child: child} {
		if err := p.verifyPulled(repo, ref, d); err != nil {
			t.Error(err)
		}
	}
	if r := c.do("HEAD", "/v2/"+repo+"/manifests/"+sbom, nil, "Accept", ociManifest); r.StatusCode != http.StatusOK {
		t.Errorf("referrer of a tagged image: %v", r)
	}

	// Untag the image: it goes, and its referrer with it.
	if r := c.do("DELETE", "/v2/"+repo+"/manifests/v1", nil); r.StatusCode != http.StatusAccepted {
		t.Fatal(r)
	}
	res = e.gc(t, GCOptions{DeleteUntagged: true})
	if res.ManifestsDeleted != 2 {
		t.Fatalf("deleted %d manifests, want 2: %+v", res.ManifestsDeleted, res)
	}
	if r := c.do("GET", "/v2/"+repo+"/referrers/"+tagged, nil); r.StatusCode != http.StatusOK || strings.Contains(string(r.body), sbom) {
		t.Errorf("referrers after deleting them: %v", r)
	}
	if err := p.verifyPulled(repo, child, child); err != nil {
		t.Error(err)
	}
}

// TestGCManifestPutDuringSweep is the race the guard exists for: a push
// finds an old, unreferenced blob present and puts a manifest referencing
// it after the collector has marked. The blobs must survive.
func TestGCManifestPutDuringSweep(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, keyA, secretA)
	p := &gcPusher{base: e.srv.URL, user: keyA, pass: secretA}
	const repo = "team/race"
	d, r := c.pushImage(repo, "old", "raced")
	if r.StatusCode != http.StatusCreated {
		t.Fatal(r)
	}
	if r := c.do("DELETE", "/v2/"+repo+"/manifests/"+d, nil); r.StatusCode != http.StatusAccepted {
		t.Fatal(r)
	}
	m, cfg, layer := image("raced")
	ran := false
	e.rg.gcHook = func(stage string) {
		if stage != "marked" || ran {
			return
		}
		ran = true
		// docker's push: HEAD each blob (found), then the manifest.
		for _, b := range [][]byte{cfg, layer} {
			if err := p.pushBlob(repo, b, ""); err != nil {
				t.Errorf("push during GC: %v", err)
			}
		}
		if err := p.putManifest(repo, "again", m); err != nil {
			t.Errorf("manifest push during GC: %v", err)
		}
	}
	res := e.gc(t, GCOptions{})
	if !ran {
		t.Fatal("hook not called")
	}
	if res.BlobsDeleted != 0 {
		t.Fatalf("GC deleted %d blobs a concurrent push used: %+v", res.BlobsDeleted, res)
	}
	if err := p.verifyPulled(repo, "again", d); err != nil {
		t.Fatal(err)
	}

	// The same with only the HEADs during the collection and the manifest
	// after it: the blobs the push found are kept for it.
	if r := c.do("DELETE", "/v2/"+repo+"/manifests/"+d, nil); r.StatusCode != http.StatusAccepted {
		t.Fatal(r)
	}
	ran = false
	e.rg.gcHook = func(stage string) {
		if stage == "marked" && !ran {
			ran = true
			for _, b := range [][]byte{cfg, layer} {
				if err := p.pushBlob(repo, b, ""); err != nil {
					t.Errorf("HEAD during GC: %v", err)
				}
			}
		}
	}
	res = e.gc(t, GCOptions{})
	if res.BlobsDeleted != 1 { // only the deleted manifest's own payload
		t.Fatalf("deleted %d blobs, want 1: %+v", res.BlobsDeleted, res)
	}
	if err := p.putManifest(repo, "third", m); err != nil {
		t.Fatal(err)
	}
	if err := p.verifyPulled(repo, "third", d); err != nil {
		t.Fatal(err)
	}

	// Without a concurrent push the same blobs do go.
	e.rg.gcHook = nil
	if r := c.do("DELETE", "/v2/"+repo+"/manifests/"+d, nil); r.StatusCode != http.StatusAccepted {
		t.Fatal(r)
	}
	if res := e.gc(t, GCOptions{}); res.BlobsDeleted != 3 {
		t.Fatalf("deleted %d blobs, want 3: %+v", res.BlobsDeleted, res)
	}
}

// TestGCWaitsForRequestsInFlight: a collection starts only after requests
// that hold the guard (and noted nothing, none being active) are done.
func TestGCWaitsForRequestsInFlight(t *testing.T) {
	e := newEnv(t)
	release := e.rg.gc.hold()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := e.rg.GarbageCollect(context.Background(), GCOptions{}); err != nil {
			t.Error(err)
		}
	}()
	// Wait for the collection to start (it holds the run lock)...
	for e.rg.gc.run.TryLock() {
		e.rg.gc.run.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	// ... and see it wait.
	select {
	case <-done:
		t.Fatal("GC ran while a push was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	// A second collection is refused meanwhile.
	if _, err := e.rg.GarbageCollect(context.Background(), GCOptions{}); err != ErrGCRunning {
		t.Errorf("concurrent GC: %v", err)
	}
	release()
	<-done
}

// gcStress pushes images from several goroutines for a while: new images
// (a unique config over two layers of a shared pool, mounted from another
// repository half the time) and, as often, images pushed and deleted
// before, whose blobs a push finds present (HEAD) while a collection may be
// removing them. One image in three is deleted again, so its blobs become
// garbage. It returns the images that are pushed (and not deleted) and the
// count of pushes refused by error code; a 5xx or an unexpected code fails
// the test.
func gcStress(t *testing.T, p *gcPusher, d time.Duration) (ok []gcPushed, refusedCodes map[string]int) {
	// Run for d and until 20 images are in (a slow machine, -race), at most
	// a minute.
	const enough = 20
	var kept atomic.Int64
	stop := make(chan struct{})
	go func() {
		time.Sleep(d)
		for end := time.Now().Add(time.Minute); kept.Load() < enough && time.Now().Before(end); {
			time.Sleep(50 * time.Millisecond)
		}
		close(stop)
	}()
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pool := make([][]byte, 8)
	for i := range pool {
		pool[i] = make([]byte, 2048+rng.IntN(4096))
		for j := range pool[i] {
			pool[i][j] = byte(rng.IntN(256))
		}
	}
	repos := []string{"gc/r0", "gc/r1", "gc/r2"}
	var mu sync.Mutex
	refusedCodes = map[string]int{}
	var wg sync.WaitGroup
	for g := range repos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			repo := repos[g]
			var mine []gcPushed
			var deleted [][][]byte // blobs of deleted images, config first
			for i := 0; running(); i++ {
				var blobs [][]byte
				if len(deleted) > 0 && rng.IntN(2) == 0 {
					k := rng.IntN(len(deleted))
					blobs = deleted[k]
					deleted = append(deleted[:k], deleted[k+1:]...)
				} else {
					a, b := rng.IntN(len(pool)), rng.IntN(len(pool)-1)
					if b >= a {
						b++
					}
					config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","pusher":%d,"n":%d,"t":%d}`, g, i, time.Now().UnixNano()))
					blobs = [][]byte{config, pool[a], pool[b]}
				}
				m := ociImage(blobs[0], blobs[1:]...)
				from := ""
				if rng.IntN(2) == 0 {
					from = repos[(g+1)%len(repos)]
				}
				tag := fmt.Sprintf("p%d-%d", g, i)
				var err error
				for _, bl := range blobs {
					if err = p.pushBlob(repo, bl, from); err != nil {
						break
					}
				}
				if err == nil {
					err = p.putManifest(repo, tag, m)
				}
				if err != nil {
					pe, isPE := err.(*pushError)
					mu.Lock()
					switch {
					case !isPE || pe.status >= 500:
						t.Errorf("push %s:%s: %v", repo, tag, err)
					case pe.step+" "+pe.code == "PUT manifest MANIFEST_BLOB_UNKNOWN",
						pe.code == "BLOB_UPLOAD_UNKNOWN" && (pe.step == "PATCH upload" || pe.step == "PUT upload"):
						refusedCodes[pe.step+" "+pe.code]++
					default:
						t.Errorf("push %s:%s refused with an unexpected error: %v", repo, tag, err)
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, gcPushed{repo, tag, digestOf(m), blobs})
				kept.Add(1)
				if i%3 == 2 {
					k := rng.IntN(len(mine))
					resp, body, err := p.do("DELETE", "/v2/"+repo+"/manifests/"+mine[k].digest, nil)
					if err != nil || resp.StatusCode != http.StatusAccepted {
						t.Errorf("delete %v: %v %v %s", mine[k], err, resp.StatusCode, body)
					}
					deleted = append(deleted, mine[k].blobs)
					mine = append(mine[:k], mine[k+1:]...)
					kept.Add(-1)
				}
			}
			mu.Lock()
			ok = append(ok, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(ok, func(i, j int) bool { return ok[i].tag < ok[j].tag })
	return ok, refusedCodes
}

type gcPushed struct {
	repo, tag, digest string
	blobs             [][]byte
}

// collectWhile runs collections every pause until stop is closed, cycling
// through graces, and returns the totals.
func collectWhile(t *testing.T, e *testEnv, stop <-chan struct{}, pause time.Duration, graces ...time.Duration) (runs int, total GCResult) {
	for {
		select {
		case <-stop:
			return runs, total
		case <-time.After(pause):
		}
		res, err := e.rg.GarbageCollect(context.Background(), GCOptions{Grace: graces[runs%len(graces)], DeleteUntagged: runs%2 == 1})
		if err != nil {
			t.Errorf("GC run %d: %v", runs, err)
			return runs, total
		}
		runs++
		total.BlobsDeleted += res.BlobsDeleted
		total.UploadsPurged += res.UploadsPurged
		total.ManifestsDeleted += res.ManifestsDeleted
		total.BytesFreed += res.BytesFreed
	}
}

func verifyAll(t *testing.T, p *gcPusher, ok []gcPushed, when string) {
	t.Helper()
	for _, im := range ok {
		if err := p.verifyPulled(im.repo, im.tag, im.digest); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
}

// TestGCConcurrentPushes runs collections while images are pushed (see
// gcStress) and then pulls every image whose push succeeded, verifying
// every digest, also after a final collection.
//
// With no grace period a push may be refused (in the protocol's terms)
// when a collection removed a blob it had uploaded or found; no push that
// succeeded may lose a blob. With a grace period well beyond a push's
// duration (and layer links refreshed by HEAD within it), no push is
// refused.
func TestGCConcurrentPushes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds")
	}
	for _, tc := range []struct {
		name       string
		noGrace    bool
		refusalsOK bool
	}{
		{name: "grace 0-10ms", noGrace: true, refusalsOK: true},
		{name: "grace longer than a push"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			p := &gcPusher{base: e.srv.URL, user: keyA, pass: secretA}
			// Timings scale with how long a push takes here (-race makes
			// it ten times slower).
			began := time.Now()
			if err := p.putImage("gc/calibrate", "1", []byte("calibration config"), []byte("calibration layer")); err != nil {
				t.Fatal(err)
			}
			push := time.Since(began)
			graces := []time.Duration{0, time.Millisecond, 10 * time.Millisecond}
			pause, run := max(50*time.Millisecond, 2*push), max(3*time.Second, 40*push)
			if !tc.noGrace {
				grace := max(1500*time.Millisecond, 20*push)
				graces, pause, run = []time.Duration{grace}, 20*time.Millisecond, 2*grace
				e.rg.linkRefreshAge = grace / 5
			}
			t.Logf("a push takes %v: graces %v, a collection every %v, pushing for %v", push, graces, pause, run)
			stop := make(chan struct{})
			var runs int
			var total GCResult
			done := make(chan struct{})
			go func() {
				defer close(done)
				runs, total = collectWhile(t, e, stop, pause, graces...)
			}()
			ok, refusals := gcStress(t, p, run)
			close(stop)
			<-done
			t.Logf("%d images pushed and kept, refusals %v; %d collections deleted %d blobs (%d bytes with uploads) and %d untagged manifests, purged %d uploads",
				len(ok), refusals, runs, total.BlobsDeleted, total.BytesFreed, total.ManifestsDeleted, total.UploadsPurged)
			if len(ok) == 0 || total.BlobsDeleted == 0 {
				t.Fatalf("exercised nothing: %d images, %d blobs deleted", len(ok), total.BlobsDeleted)
			}
			if !tc.refusalsOK && len(refusals) > 0 {
				t.Errorf("pushes refused with a grace period: %v", refusals)
			}
			verifyAll(t, p, ok, "after concurrent collections")
			res := e.gc(t, GCOptions{})
			verifyAll(t, p, ok, "after a final collection")
			if res := e.gc(t, GCOptions{}); res.BlobsDeleted != 0 || res.LinksDeleted != 0 {
				t.Errorf("a second quiet collection removed %+v", res)
			}
			t.Logf("final collection: %+v", res)
		})
	}
}

// TestGCRefreshesLinks: a blob HEAD that finds an old link rewrites it, so
// a push that found a blob keeps it for the grace period; without the HEAD
// the same blob goes.
func TestGCRefreshesLinks(t *testing.T) {
	e := newEnv(t)
	e.rg.linkRefreshAge = 50 * time.Millisecond
	c := e.client(t, keyA, secretA)
	data := []byte("a layer found by a HEAD")
	if r := c.pushBlob("team/refresh", data); r.StatusCode != http.StatusCreated {
		t.Fatal(r)
	}
	d := mustDigest(t, digestOf(data))
	key := layerLinkKey("team/refresh", d)
	head := func() time.Time {
		t.Helper()
		if r := c.do("HEAD", "/v2/team/refresh/blobs/"+d.String(), nil); r.StatusCode != http.StatusOK {
			t.Fatal(r)
		}
		info, err := e.blobs.Head(context.Background(), Bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		return info.ModTime
	}
	first := head()
	if again := head(); !again.Equal(first) {
		t.Errorf("a recent link was rewritten")
	}
	time.Sleep(150 * time.Millisecond)
	refreshed := head()
	if !refreshed.After(first) {
		t.Fatalf("old link not refreshed: %v, was %v", refreshed, first)
	}
	// The blob's data is 150ms old, its link fresh: a 100ms grace keeps it.
	if res := e.gc(t, GCOptions{Grace: 100 * time.Millisecond}); res.BlobsDeleted != 0 {
		t.Fatalf("deleted a blob a push just found: %+v", res)
	}
	time.Sleep(150 * time.Millisecond)
	if res := e.gc(t, GCOptions{Grace: 100 * time.Millisecond}); res.BlobsDeleted != 1 {
		t.Fatalf("unreferenced blob kept: %+v", res)
	}
}
