package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/wharfml/wharf/internal/blob"
)

// DefaultGCGrace is the grace period of `wharf admin registry-gc`.
const DefaultGCGrace = time.Hour

// linkRefreshAge: a blob HEAD that finds the repository's link older than
// this rewrites it, so a push that checked a layer's existence keeps the
// blob young for garbage collection (see the package documentation).
const linkRefreshAge = 5 * time.Minute

// gcBatch is how many deletions a collection makes per hold of the guard's
// write lock; it bounds how long manifest pushes wait for it.
const gcBatch = 64

// ErrGCRunning: GarbageCollect was called while another collection runs.
var ErrGCRunning = errors.New("registry: a garbage collection is already running")

// GCOptions configures GarbageCollect.
type GCOptions struct {
	// DryRun counts what would be removed and removes nothing.
	DryRun bool
	// Grace spares recent content: blobs whose data or any repository link
	// was written less than Grace ago, uploads with activity in it, and
	// (DeleteUntagged) manifests pushed in it. Negative is invalid.
	Grace time.Duration
	// DeleteUntagged also deletes manifests that no tag reaches, directly or
	// as an index child, subject or referrer of a manifest that stays.
	DeleteUntagged bool
}

// GCResult reports a collection.
type GCResult struct {
	BlobsMarked      int   // distinct digests referenced by manifests that stay
	BlobsDeleted     int   // blobs removed from storage
	BytesFreed       int64 // their sizes plus the purged uploads' data
	UploadsPurged    int
	ManifestsDeleted int // untagged manifests (DeleteUntagged)
	LinksDeleted     int // repository layer links of removed or missing blobs
	ReferrersFixed   int // referrers index entries added or removed
	Duration         time.Duration
	DryRun           bool
}

// gcGuard coordinates a collection with the requests that make content
// live: a manifest push, a blob HEAD or mount, the end of a blob upload, a
// manifest HEAD. Such a request holds the read lock while it runs and, when
// a collection is active, notes the digests it makes live. A collection
// deletes with the write lock held, after marking the noted digests (and
// what they reference), so a request either completes before a deletion
// batch, its digests noted, or runs after it and finds deleted content gone.
type gcGuard struct {
	mu     sync.RWMutex
	active bool // guarded by mu

	nmu   sync.Mutex
	noted []digest.Digest // guarded by nmu

	run sync.Mutex // one collection at a time
}

// hold takes the read lock, noting ds if a collection is active; call the
// returned function (idempotent) to release it.
func (g *gcGuard) hold(ds ...digest.Digest) func() {
	g.mu.RLock()
	if g.active && len(ds) > 0 {
		g.nmu.Lock()
		g.noted = append(g.noted, ds...)
		g.nmu.Unlock()
	}
	return sync.OnceFunc(g.mu.RUnlock)
}

// setActive switches noting on or off. Switching on waits for requests in
// flight, so every push that did not note its digests has completed and is
// visible in storage before the collection looks.
func (g *gcGuard) setActive(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active = on
	// Nobody notes while the write lock is held.
	g.nmu.Lock()
	g.noted = nil
	g.nmu.Unlock()
}

func (g *gcGuard) drain() []digest.Digest {
	g.nmu.Lock()
	defer g.nmu.Unlock()
	out := g.noted
	g.noted = nil
	return out
}

// uploadLocks keeps upload purging from pulling an upload out from under a
// request working on it (which would fail it with a 500): requests on an
// upload share its lock, purging needs it exclusively and skips uploads in
// use.
type uploadLocks struct {
	mu sync.Mutex
	m  map[string]*uploadLock
}

type uploadLock struct {
	rw   sync.RWMutex
	refs int
}

func (u *uploadLocks) get(id string) *uploadLock {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]*uploadLock{}
	}
	l := u.m[id]
	if l == nil {
		l = &uploadLock{}
		u.m[id] = l
	}
	l.refs++
	return l
}

func (u *uploadLocks) put(id string, l *uploadLock) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(u.m, id)
	}
}

// use marks an upload in use by a request until the returned function runs.
func (u *uploadLocks) use(id string) func() {
	l := u.get(id)
	l.rw.RLock()
	return func() {
		l.rw.RUnlock()
		u.put(id, l)
	}
}

// tryPurge runs purge unless a request is using the upload.
func (u *uploadLocks) tryPurge(id string, purge func() error) (bool, error) {
	l := u.get(id)
	defer u.put(id, l)
	if !l.rw.TryLock() {
		return false, nil
	}
	defer l.rw.Unlock()
	return true, purge()
}

// GarbageCollect removes blobs no manifest references, repository links
// to them, stale uploads, stale referrers index entries and, with
// opts.DeleteUntagged, untagged manifests. It is safe while the registry
// serves pushes and pulls; see the package documentation for how.
func (rg *Registry) GarbageCollect(ctx context.Context, opts GCOptions) (GCResult, error) {
	if opts.Grace < 0 {
		return GCResult{}, errors.New("registry: negative grace period")
	}
	if !rg.gc.run.TryLock() {
		return GCResult{}, ErrGCRunning
	}
	defer rg.gc.run.Unlock()
	began := time.Now()
	rg.gc.setActive(true)
	defer rg.gc.setActive(false)
	c := &collector{
		rg: rg, opts: opts, cutoff: time.Now().Add(-opts.Grace),
		repos: map[string]*gcRepo{}, blobs: map[digest.Digest]blob.ObjectInfo{},
		manifests: map[digest.Digest]*gcManifest{},
		marked:    map[digest.Digest]struct{}{}, seen: map[digest.Digest]struct{}{},
	}
	c.res.DryRun = opts.DryRun
	err := c.collect(ctx)
	c.res.BlobsMarked = len(c.marked)
	c.res.Duration = time.Since(began)
	r := c.res
	log := rg.log.InfoContext
	if err != nil {
		log = rg.log.ErrorContext
	}
	log(ctx, "registry: garbage collection", "dry_run", r.DryRun, "grace", opts.Grace, "delete_untagged", opts.DeleteUntagged,
		"blobs_marked", r.BlobsMarked, "blobs_deleted", r.BlobsDeleted, "bytes_freed", r.BytesFreed,
		"uploads_purged", r.UploadsPurged, "manifests_deleted", r.ManifestsDeleted, "links_deleted", r.LinksDeleted,
		"referrers_fixed", r.ReferrersFixed, "duration", r.Duration, "err", err)
	return r, err
}

type collector struct {
	rg     *Registry
	opts   GCOptions
	cutoff time.Time // content written before it is old
	res    GCResult

	repos     map[string]*gcRepo
	blobs     map[digest.Digest]blob.ObjectInfo // blob data objects
	manifests map[digest.Digest]*gcManifest     // every revision's parsed payload
	marked    map[digest.Digest]struct{}        // live digests
	seen      map[digest.Digest]struct{}        // digests requests noted during the run
	doomed    []gcDoomed                        // untagged manifests to delete
}

type gcRepo struct {
	name        string
	revisions   map[digest.Digest]time.Time // manifest → link write time
	tagLinks    []string                    // keys of tags' current links
	tagIndex    map[digest.Digest][]string  // keys of tag history entries
	layers      map[digest.Digest]blob.ObjectInfo
	uploads     map[string]*gcUpload
	referrers   []gcReferrer
	deleted     map[digest.Digest]bool // manifests this run deleted
	hasReferrer map[digest.Digest]bool // manifests with an index entry
}

type gcUpload struct {
	size int64
	last time.Time // latest write to any of its files
}

type gcReferrer struct {
	key          string
	subject, ref digest.Digest
	mod          time.Time
}

type gcManifest struct {
	refs    []digest.Digest
	doc     *ociDoc // nil for a revision whose payload is missing
	size    int64
	subject digest.Digest
}

type gcDoomed struct {
	repo *gcRepo
	d    digest.Digest
}

func (c *collector) collect(ctx context.Context) error {
	// Links are listed before blobs: a blob whose link the first listing
	// misses was written after the collection started, so it is young.
	if err := c.scanRepositories(ctx); err != nil {
		return err
	}
	if err := c.scanBlobs(ctx); err != nil {
		return err
	}
	if err := c.loadManifests(ctx); err != nil {
		return err
	}
	if err := c.mark(ctx); err != nil {
		return err
	}
	if h := c.rg.gcHook; h != nil {
		h("marked")
	}
	if err := c.deleteManifests(ctx); err != nil {
		return err
	}
	if err := c.sweepBlobs(ctx); err != nil {
		return err
	}
	if err := c.fixReferrers(ctx); err != nil {
		return err
	}
	return c.purgeUploads(ctx)
}

func (c *collector) list(ctx context.Context, prefix string, fn func(blob.ObjectInfo)) error {
	opts := blob.ListOptions{Prefix: prefix, MaxKeys: listPage}
	for {
		res, err := c.rg.cfg.Blobs.List(ctx, Bucket, opts)
		if err != nil {
			return err
		}
		for _, o := range res.Objects {
			fn(o)
		}
		if !res.IsTruncated {
			return nil
		}
		opts.StartAfter = res.NextStartAfter
	}
}

func parseDigestParts(alg, enc string) (digest.Digest, bool) {
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
	return d, d.Validate() == nil
}

// splitRepoKey splits a key below reposPrefix into the repository name,
// its reserved directory ("_manifests", ...) and the path below that.
// Name components never start with "_", so the first that does is it.
func splitRepoKey(rest string) (name, dir string, tail []string, ok bool) {
	parts := strings.Split(rest, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, "_") {
			if i == 0 {
				return "", "", nil, false
			}
			return strings.Join(parts[:i], "/"), p, parts[i+1:], true
		}
	}
	return "", "", nil, false
}

func (c *collector) repo(name string) *gcRepo {
	r := c.repos[name]
	if r == nil {
		r = &gcRepo{name: name, revisions: map[digest.Digest]time.Time{}, tagIndex: map[digest.Digest][]string{},
			layers: map[digest.Digest]blob.ObjectInfo{}, uploads: map[string]*gcUpload{},
			deleted: map[digest.Digest]bool{}, hasReferrer: map[digest.Digest]bool{}}
		c.repos[name] = r
	}
	return r
}

func (c *collector) scanRepositories(ctx context.Context) error {
	err := c.list(ctx, reposPrefix, func(o blob.ObjectInfo) {
		name, dir, tail, ok := splitRepoKey(strings.TrimPrefix(o.Key, reposPrefix))
		if !ok {
			return
		}
		r := c.repo(name)
		switch dir {
		case "_manifests":
			switch {
			case len(tail) == 4 && tail[0] == "revisions" && tail[3] == "link":
				if d, ok := parseDigestParts(tail[1], tail[2]); ok {
					r.revisions[d] = o.ModTime
				}
			case len(tail) == 4 && tail[0] == "tags" && tail[2] == "current" && tail[3] == "link":
				r.tagLinks = append(r.tagLinks, o.Key)
			case len(tail) == 6 && tail[0] == "tags" && tail[2] == "index" && tail[5] == "link":
				if d, ok := parseDigestParts(tail[3], tail[4]); ok {
					r.tagIndex[d] = append(r.tagIndex[d], o.Key)
				}
			}
		case "_layers":
			if len(tail) == 3 && tail[2] == "link" {
				if d, ok := parseDigestParts(tail[0], tail[1]); ok {
					r.layers[d] = o
				}
			}
		case "_uploads":
			if len(tail) >= 2 {
				u := r.uploads[tail[0]]
				if u == nil {
					u = &gcUpload{}
					r.uploads[tail[0]] = u
				}
				u.size += o.Size
				u.last = later(u.last, o.ModTime)
			}
		case referrersDir:
			if len(tail) == 4 {
				s, ok1 := parseDigestParts(tail[0], tail[1])
				d, ok2 := parseDigestParts(tail[2], tail[3])
				if ok1 && ok2 {
					r.referrers = append(r.referrers, gcReferrer{key: o.Key, subject: s, ref: d, mod: o.ModTime})
					r.hasReferrer[d] = true
				}
			}
		}
	})
	if err != nil {
		return fmt.Errorf("registry gc: list repositories: %w", err)
	}
	// An upload's data stays in the node's local file until it completes;
	// each PATCH writes to it.
	for _, r := range c.repos {
		for id, u := range r.uploads {
			if fi, err := c.rg.driver.LocalStat("/" + reposPrefix + r.name + "/_uploads/" + id + "/data"); err == nil {
				u.size += fi.Size()
				u.last = later(u.last, fi.ModTime())
			}
		}
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (c *collector) scanBlobs(ctx context.Context) error {
	err := c.list(ctx, blobsPrefix, func(o blob.ObjectInfo) {
		// <alg>/<first two hex digits>/<hex>/data
		parts := strings.Split(strings.TrimPrefix(o.Key, blobsPrefix), "/")
		if len(parts) != 4 || parts[3] != "data" {
			return
		}
		if d, ok := parseDigestParts(parts[0], parts[2]); ok {
			c.blobs[d] = o
		}
	})
	if err != nil {
		return fmt.Errorf("registry gc: list blobs: %w", err)
	}
	return nil
}

// loadManifests reads every revision's payload once. A payload that cannot
// be parsed stops the collection: what it references is unknown.
func (c *collector) loadManifests(ctx context.Context) error {
	for _, r := range c.repos {
		for d := range r.revisions {
			if _, done := c.manifests[d]; done {
				continue
			}
			m := &gcManifest{}
			c.manifests[d] = m
			if _, ok := c.blobs[d]; !ok {
				continue // a dangling revision: nothing to mark through it
			}
			rc, info, err := c.rg.cfg.Blobs.Get(ctx, Bucket, blobDataKey(d), nil)
			if errors.Is(err, blob.ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("registry gc: read manifest %s: %w", d, err)
			}
			payload, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
			rc.Close()
			if err != nil {
				return fmt.Errorf("registry gc: read manifest %s: %w", d, err)
			}
			var doc ociDoc
			if err := json.Unmarshal(payload, &doc); err != nil {
				return fmt.Errorf("registry gc: manifest %s in %s: %w", d, r.name, err)
			}
			m.doc, m.size, m.refs = &doc, info.Size, doc.references()
			if s, ok := doc.subject(guessMediaType(&doc)); ok {
				m.subject = s
			}
		}
	}
	return nil
}

// guessMediaType is the media type of a stored manifest without one (OCI
// allows leaving it out).
func guessMediaType(doc *ociDoc) string {
	if doc.MediaType != "" {
		return doc.MediaType
	}
	if doc.Manifests != nil {
		return ociIndex
	}
	return ociImageManifest
}

// markLive marks d and everything reachable from it through manifests.
func (c *collector) markLive(d digest.Digest) {
	stack := []digest.Digest{d}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := c.marked[d]; ok {
			continue
		}
		c.marked[d] = struct{}{}
		if m := c.manifests[d]; m != nil {
			stack = append(stack, m.refs...)
		}
	}
}

func (c *collector) mark(ctx context.Context) error {
	names := make([]string, 0, len(c.repos))
	for n := range c.repos {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := c.repos[n]
		keep := r.revisions
		if c.opts.DeleteUntagged {
			var err error
			if keep, err = c.reachable(ctx, r); err != nil {
				return err
			}
			for d := range r.revisions {
				if _, ok := keep[d]; !ok {
					c.doomed = append(c.doomed, gcDoomed{repo: r, d: d})
				}
			}
		}
		for d := range keep {
			c.markLive(d)
		}
	}
	return nil
}

// reachable returns the manifests of r that stay with DeleteUntagged: the
// tagged and the young, and what they reach through index children,
// subjects and referrers.
func (c *collector) reachable(ctx context.Context, r *gcRepo) (map[digest.Digest]time.Time, error) {
	keep := map[digest.Digest]time.Time{}
	var queue []digest.Digest
	add := func(d digest.Digest) {
		if t, ok := r.revisions[d]; ok {
			if _, kept := keep[d]; !kept {
				keep[d] = t
				queue = append(queue, d)
			}
		}
	}
	for _, key := range r.tagLinks {
		b, err := c.rg.driver.GetContent(ctx, "/"+key)
		if err != nil {
			if isNotFound(err) {
				continue // untagged meanwhile
			}
			return nil, fmt.Errorf("registry gc: read tag link %s: %w", key, err)
		}
		if d, err := digest.Parse(strings.TrimSpace(string(b))); err == nil {
			add(d)
		}
	}
	referrersOf := map[digest.Digest][]digest.Digest{}
	for d, t := range r.revisions {
		if !t.Before(c.cutoff) {
			add(d)
		}
		if m := c.manifests[d]; m != nil && m.subject != "" {
			referrersOf[m.subject] = append(referrersOf[m.subject], d)
		}
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if m := c.manifests[d]; m != nil {
			for _, ref := range m.refs {
				add(ref)
			}
		}
		for _, ref := range referrersOf[d] {
			add(ref)
		}
	}
	return keep, nil
}

// batches runs fn for items 0..n-1 in batches with the guard's write lock
// held, each after marking what requests made live since the last one.
func (c *collector) batches(ctx context.Context, n int, fn func(i int) error) error {
	for start := 0; start < n; start += gcBatch {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := func() error {
			c.rg.gc.mu.Lock()
			defer c.rg.gc.mu.Unlock()
			for _, d := range c.rg.gc.drain() {
				c.seen[d] = struct{}{}
				c.markLive(d)
			}
			for i := start; i < min(n, start+gcBatch); i++ {
				if err := fn(i); err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *collector) delete(ctx context.Context, key string) error {
	if c.opts.DryRun {
		return nil
	}
	if err := c.rg.cfg.Blobs.Delete(ctx, Bucket, key); err != nil {
		return fmt.Errorf("registry gc: delete %s: %w", key, err)
	}
	return nil
}

func (c *collector) deleteManifests(ctx context.Context) error {
	return c.batches(ctx, len(c.doomed), func(i int) error {
		r, d := c.doomed[i].repo, c.doomed[i].d
		if _, ok := c.seen[d]; ok {
			return nil // pushed, tagged or looked up meanwhile
		}
		for _, key := range r.tagIndex[d] {
			if err := c.delete(ctx, key); err != nil {
				return err
			}
		}
		if m := c.manifests[d]; m != nil && m.subject != "" {
			if err := c.delete(ctx, referrerKey(r.name, m.subject, d)); err != nil {
				return err
			}
		}
		if err := c.delete(ctx, revisionKey(r.name, d)); err != nil {
			return err
		}
		r.deleted[d] = true
		c.res.ManifestsDeleted++
		return nil
	})
}

// sweepBlobs removes blobs that are unmarked and old, with every link to
// them, and old links to blobs that no longer exist.
func (c *collector) sweepBlobs(ctx context.Context) error {
	type link struct {
		key string
		mod time.Time
	}
	links := map[digest.Digest][]link{}
	for _, r := range c.repos {
		for d, o := range r.layers {
			links[d] = append(links[d], link{o.Key, o.ModTime})
		}
	}
	young := func(d digest.Digest) bool {
		for _, l := range links[d] {
			if !l.mod.Before(c.cutoff) {
				return true
			}
		}
		return false
	}
	var cands []digest.Digest
	for d, o := range c.blobs {
		if _, ok := c.marked[d]; !ok && o.ModTime.Before(c.cutoff) && !young(d) {
			cands = append(cands, d)
		}
	}
	for d := range links {
		if _, ok := c.blobs[d]; !ok && !young(d) {
			cands = append(cands, d) // links to a missing blob
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i] < cands[j] })
	return c.batches(ctx, len(cands), func(i int) error {
		d := cands[i]
		if _, ok := c.marked[d]; ok {
			return nil
		}
		// Re-read the links: a push on another node may have refreshed one
		// since the listing (a node's own pushes are in c.seen).
		for _, l := range links[d] {
			info, err := c.rg.cfg.Blobs.Head(ctx, Bucket, l.key)
			if err == nil && !info.ModTime.Before(c.cutoff) {
				return nil
			}
		}
		for _, l := range links[d] {
			if err := c.delete(ctx, l.key); err != nil {
				return err
			}
			c.res.LinksDeleted++
		}
		if o, ok := c.blobs[d]; ok {
			if err := c.delete(ctx, o.Key); err != nil {
				return err
			}
			c.res.BlobsDeleted++
			c.res.BytesFreed += o.Size
		}
		return nil
	})
}

// fixReferrers removes index entries of manifests that are gone and adds
// missing ones (a crash between the entry and the manifest, or manifests
// pushed before the index existed).
func (c *collector) fixReferrers(ctx context.Context) error {
	type fix struct {
		r     *gcRepo
		stale *gcReferrer
		add   digest.Digest
	}
	var fixes []fix
	for _, r := range c.repos {
		for i := range r.referrers {
			e := &r.referrers[i]
			if _, ok := r.revisions[e.ref]; !ok && e.mod.Before(c.cutoff) {
				fixes = append(fixes, fix{r: r, stale: e})
			}
		}
		for d := range r.revisions {
			if m := c.manifests[d]; m != nil && m.subject != "" && !r.hasReferrer[d] && !r.deleted[d] {
				fixes = append(fixes, fix{r: r, add: d})
			}
		}
	}
	return c.batches(ctx, len(fixes), func(i int) error {
		f := fixes[i]
		if f.stale != nil {
			if _, ok := c.seen[f.stale.ref]; ok {
				return nil // being pushed
			}
			c.res.ReferrersFixed++
			return c.delete(ctx, f.stale.key)
		}
		m := c.manifests[f.add]
		c.res.ReferrersFixed++
		if c.opts.DryRun {
			return nil
		}
		desc := m.doc.referrerDescriptor(guessMediaType(m.doc), f.add, m.size)
		if err := c.rg.indexReferrer(ctx, f.r.name, m.subject, desc); err != nil {
			return fmt.Errorf("registry gc: index referrer %s: %w", f.add, err)
		}
		return nil
	})
}

// purgeUploads removes uploads with no write since the cutoff and no
// request on this node working on them: their directory in storage and the
// node's local data file.
func (c *collector) purgeUploads(ctx context.Context) error {
	for _, r := range c.repos {
		for id, u := range r.uploads {
			if !u.last.Before(c.cutoff) {
				continue
			}
			purged, err := c.rg.uploads.tryPurge(id, func() error {
				if c.opts.DryRun {
					return nil
				}
				err := c.rg.driver.Delete(ctx, "/"+reposPrefix+r.name+"/_uploads/"+id)
				if err != nil && !isNotFound(err) {
					return fmt.Errorf("registry gc: purge upload %s of %s: %w", id, r.name, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if purged {
				c.res.UploadsPurged++
				c.res.BytesFreed += u.size
			}
		}
	}
	return nil
}
