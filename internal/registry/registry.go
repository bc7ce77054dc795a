// Package registry is Wharf's OCI distribution registry (the /v2/ API that
// docker, skopeo and crane speak), served on Wharf's single listener.
//
// It embeds distribution/v3's registry application (registry/handlers) with
// a configuration built in code, over a storage driver that keeps every
// object in Wharf's object store (package blobdriver, namespace "_registry"),
// and puts a front handler before it that
//
//   - authenticates HTTP Basic credentials: an access key id and secret, or
//     user "AWS" with an ECR authorization token (see IssueToken), answering
//     401 with a Basic challenge otherwise, as `docker login` expects;
//   - authorises by repository ownership: a repository belongs to the account
//     that created it (ECR CreateRepository, or the first push), names are
//     global, and other accounts get 403 DENIED for pull, push and delete;
//   - serves the catalog itself, listing only the caller's repositories;
//   - refuses to move an existing tag of a repository whose tags are
//     immutable (ECR imageTagMutability);
//   - reports each successful manifest push to Config.OnPush;
//   - serves the OCI 1.1 referrers API, which distribution v3.1.2 lacks.
//
// Ownership records live in a RepoStore (by default JSON objects in the
// object store, see NewBlobRepoStore).
//
// # Referrers
//
// A manifest PUT whose OCI manifest or index has a subject first writes an
// index entry, <repository>/_referrers/<subject>/<manifest> in the storage
// layout (the descriptor the API lists: media type, size, artifactType,
// annotations), then passes the PUT on and answers OCI-Subject. Listing
// skips entries whose manifest is not in the repository (a failed push, a
// deletion racing the listing); manifest deletion removes the entry, and
// garbage collection removes stale entries and re-creates missing ones.
//
// # Garbage collection
//
// distribution's own MarkAndSweep needs a read-only registry. GarbageCollect
// runs while pushes are served: it marks what every manifest revision of
// every repository references (config, layers, index children, subject,
// recursively) and removes blobs that are unmarked and old: their data and
// every repository link to them were written more than the grace period
// ago. The race it must win is a push that finds an old unreferenced blob
// already present (blob HEAD, mount, or an upload whose content exists) and
// then puts a manifest referencing it while the collector sweeps. Two
// mechanisms close it:
//
//   - In process, a guard (gcGuard): requests that make content live hold a
//     read lock and, while a collection runs, note the digests involved; the
//     collector deletes in small batches under the write lock, after marking
//     the noted digests and what they reference. A manifest PUT holds the
//     lock across distribution's verification of its blobs and the write of
//     its link, so it either completes before a batch (and its blobs are
//     marked) or starts after it and is refused with MANIFEST_BLOB_UNKNOWN,
//     never stored over a deleted blob. Starting a collection waits for the
//     requests in flight, so pushes that noted nothing are visible to its
//     listing.
//   - Across time, timestamps in storage: a blob HEAD that finds the
//     repository's link older than five minutes rewrites it, a mount or an
//     upload writes a new link, so a push started before the collection
//     keeps its blobs young for the grace period (default one hour). This
//     also protects pushes served by another node sharing the storage,
//     where the lock does not reach; the collector re-reads a candidate's
//     links just before deleting it.
//
// Uploads with no write for the grace period are purged too (distribution's
// own purger also runs, for uploads older than a week).
package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/api/errcode"
	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/gorilla/mux"
	"github.com/opencontainers/go-digest"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/registry/blobdriver"
)

// Bucket is the blob namespace holding the registry's content (blobs,
// manifests, tags, upload state) in distribution's storage layout.
const Bucket = "_registry"

// DefaultRealm is the Basic auth realm when Config.Realm is empty.
const DefaultRealm = "Wharf Registry"

// maxManifestBytes is distribution's manifest size limit; the front handler
// reads at most this much of a manifest PUT body.
const maxManifestBytes = 4 << 20

// Config configures New.
type Config struct {
	// Blobs is the object store; the registry uses namespaces Bucket and
	// MetaBucket (the latter only with the default RepoStore).
	Blobs blob.Store
	// TempDir holds unfinished blob uploads (created if needed). Resuming an
	// upload must reach the node that holds its file.
	TempDir string
	// Auth checks credentials.
	Auth Authenticator
	// Logger receives the registry's logs (distribution's own, routed through
	// it: request logs at Debug). Nil means slog.Default().
	Logger *slog.Logger
	// Realm is the realm of the Basic challenge; empty means DefaultRealm.
	Realm string
	// Key (at least 16 bytes) signs ECR authorization tokens and upload
	// state. It must be the same on every node and across restarts, or
	// tokens and in-progress uploads become invalid. Empty: a random key.
	Key []byte
	// Repos keeps repository records; nil means NewBlobRepoStore(Blobs).
	Repos RepoStore
	// OnPush, if set, is called after each successful manifest push, once
	// the response has been written. It runs on the request's goroutine:
	// queue slow work (scans) rather than doing it inline.
	OnPush func(ctx context.Context, ev PushEvent)
	// Now is the clock for tokens; nil means time.Now.
	Now func() time.Time
}

// PushEvent describes a manifest pushed to the registry.
type PushEvent struct {
	AccountID  string // the pusher's (and repository owner's) account
	Repository string
	Digest     string // manifest digest, "sha256:..."
	Tag        string // the tag pushed, or "" for a push by digest
	MediaType  string // manifest media type as sent
	ScanOnPush bool   // the repository's imageScanningConfiguration.scanOnPush
}

// Registry serves the OCI distribution API under /v2/. It is an
// http.Handler; mount it for paths "/v2" and "/v2/...".
type Registry struct {
	cfg             Config
	log             *slog.Logger
	repos           RepoStore
	driver          *blobdriver.Driver
	app             *handlers.App
	ns              distribution.Namespace
	tokenKey        []byte
	challengeHeader string
	tagLocks        [64]sync.Mutex
	createLocks     [64]sync.Mutex
	gc              gcGuard
	uploads         uploadLocks
	gcHook          func(stage string) // tests: called between a collection's phases
	linkRefreshAge  time.Duration
}

// New builds a registry. Close it when done.
func New(ctx context.Context, cfg Config) (rg *Registry, err error) {
	if cfg.Blobs == nil || cfg.TempDir == "" || cfg.Auth == nil {
		return nil, errors.New("registry: Blobs, TempDir and Auth are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	key := cfg.Key
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		cfg.Logger.Warn("registry: no key configured; ECR tokens and uploads in progress will not survive a restart")
	} else if len(key) < 16 {
		return nil, errors.New("registry: Key must be at least 16 bytes")
	}
	drv, err := blobdriver.New(cfg.Blobs, Bucket, cfg.TempDir)
	if err != nil {
		return nil, err
	}
	rg = &Registry{
		cfg:             cfg,
		log:             cfg.Logger,
		repos:           cfg.Repos,
		driver:          drv,
		tokenKey:        subkey(key, "wharf registry: ECR authorization token"),
		challengeHeader: basicChallenge(cfg.Realm),
		linkRefreshAge:  linkRefreshAge,
	}
	if rg.repos == nil {
		rg.repos = NewBlobRepoStore(cfg.Blobs)
	}
	registerGlobals()
	routeLogs(cfg.Logger)

	dc := &configuration.Configuration{}
	dc.Storage = configuration.Storage{
		driverName: configuration.Parameters{paramDriver: drv},
		"delete":   configuration.Parameters{"enabled": true},
		"redirect": configuration.Parameters{"disable": true},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{
			"enabled": true, "age": "168h", "interval": "24h", "dryrun": false,
		}},
	}
	dc.Auth = configuration.Auth{authName: configuration.Parameters{
		paramController: &accessController{challenge: rg.challengeHeader},
	}}
	dc.Middleware = map[string][]configuration.Middleware{
		"registry": {{Name: captureName, Options: configuration.Parameters{
			paramCapture: func(ns distribution.Namespace) { rg.ns = ns },
		}}},
	}
	dc.HTTP.Secret = hex.EncodeToString(subkey(key, "wharf registry: upload state"))
	defer func() {
		// NewApp panics on configuration errors.
		if p := recover(); p != nil {
			rg, err = nil, fmt.Errorf("registry: %v", p)
		}
	}()
	rg.app = handlers.NewApp(ctx, dc)
	if rg.ns == nil {
		rg.app.Shutdown()
		return nil, errors.New("registry: storage namespace not captured")
	}
	return rg, nil
}

// Close stops the registry's background work (the upload purger).
func (rg *Registry) Close() error { return rg.app.Shutdown() }

// Repos returns the repository record store.
func (rg *Registry) Repos() RepoStore { return rg.repos }

func (rg *Registry) now() time.Time {
	if rg.cfg.Now != nil {
		return rg.cfg.Now()
	}
	return time.Now()
}

// routes matches requests to distribution's route names and variables.
var routes = v2.Router()

// ServeHTTP implements http.Handler.
func (rg *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.URL.Path != "/v2" && !strings.HasPrefix(r.URL.Path, "/v2/") {
		http.NotFound(w, r)
		return
	}
	id, ok := rg.authenticate(w, r)
	if !ok {
		return
	}
	ctx := awsapi.WithIdentity(r.Context(), id)
	user := id.AccessKeyID
	if user == "" {
		user = id.AccountID
	}
	if hasDotSegment(r.URL.Path) {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeNameInvalid.WithDetail("path has empty, \".\" or \"..\" segments"))
		return
	}
	var match mux.RouteMatch
	if !routes.Match(r, &match) || match.Route == nil {
		if name, ref, ok := referrersPath(r.URL.Path); ok {
			rg.serveReferrers(w, r.WithContext(ctx), id, name, ref)
			return
		}
		// distribution answers 404 (or redirects /v2 to /v2/).
		rg.app.ServeHTTP(w, r.WithContext(withGrant(ctx, &grant{user: user})))
		return
	}
	route := match.Route.GetName()
	switch route {
	case v2.RouteNameBase:
		rg.app.ServeHTTP(w, r.WithContext(withGrant(ctx, &grant{user: user})))
		return
	case v2.RouteNameCatalog:
		rg.serveCatalog(w, r.WithContext(ctx), id)
		return
	}

	name := match.Vars["name"]
	if !ValidRepositoryName(name) {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeNameInvalid.WithDetail("invalid repository name "+strconv.Quote(name)))
		return
	}
	push := r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch
	repo, ok := rg.authorize(ctx, w, id, name, push)
	if !ok {
		return
	}
	g := &grant{user: user, repos: []string{name}}

	var mount digest.Digest
	if route == v2.RouteNameBlobUpload && r.Method == http.MethodPost {
		if from := r.URL.Query().Get("from"); from != "" {
			if rg.owns(ctx, id, from) {
				g.repos = append(g.repos, from)
				mount, _ = digest.Parse(r.URL.Query().Get("mount"))
			} else {
				// Not the caller's: start a normal upload instead of
				// mounting (the spec's fallback), revealing nothing.
				q := r.URL.Query()
				q.Del("from")
				q.Del("mount")
				r = cloneWithQuery(r, q)
			}
		}
	}
	r = r.WithContext(withGrant(ctx, g))
	if route == v2.RouteNameBlobUploadChunk {
		defer rg.uploads.use(match.Vars["uuid"])()
	}

	// Requests that make content live hold the garbage collector's guard
	// (see gcGuard).
	switch {
	case route == v2.RouteNameManifest && r.Method == http.MethodPut:
		rg.putManifest(w, r, id, repo, match.Vars["reference"])
	case route == v2.RouteNameManifest && r.Method == http.MethodDelete:
		rg.deleteManifest(w, r, name, match.Vars["reference"])
	case route == v2.RouteNameManifest && r.Method == http.MethodHead:
		d, err := digest.Parse(match.Vars["reference"])
		if err != nil {
			rg.app.ServeHTTP(w, r)
			return
		}
		release := rg.gc.hold(d)
		defer release()
		rg.app.ServeHTTP(w, r)
	case route == v2.RouteNameBlob && r.Method == http.MethodHead:
		d, err := digest.Parse(match.Vars["digest"])
		if err != nil {
			rg.app.ServeHTTP(w, r)
			return
		}
		release := rg.gc.hold(d)
		defer release()
		rec := &statusWriter{ResponseWriter: w}
		rg.app.ServeHTTP(rec, r)
		if rec.status == http.StatusOK {
			rg.refreshLayerLink(r.Context(), name, d)
		}
	case mount != "":
		release := rg.gc.hold(mount)
		defer release()
		rg.app.ServeHTTP(w, r)
	case route == v2.RouteNameBlobUploadChunk && r.Method == http.MethodPut:
		// The upload completes once the body is in: hold the guard from
		// then on (not while a large body streams in).
		d, _ := digest.Parse(r.URL.Query().Get("digest"))
		body := &onEOF{ReadCloser: r.Body}
		release := func() {}
		body.fn = func() { release = rg.gc.hold(d) }
		r.Body = body
		defer func() { release() }()
		rg.app.ServeHTTP(w, r)
	default:
		rg.app.ServeHTTP(w, r)
	}
}

// putManifest handles a manifest push: it enforces tag immutability, keeps
// the referrers index, answers OCI-Subject and reports success.
func (rg *Registry) putManifest(w http.ResponseWriter, r *http.Request, id awsapi.Identity, repo Repository, ref string) {
	ctx := r.Context()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestBytes+1))
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeManifestInvalid.WithDetail(err.Error()))
		return
	}
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	tag := ""
	alg := digest.Canonical
	if d, err := digest.Parse(ref); err != nil {
		tag = ref
	} else {
		alg = d.Algorithm()
	}
	if tag != "" && repo.TagImmutable(tag) {
		unlock, ok := rg.checkImmutableTag(ctx, w, repo, tag, body)
		if !ok {
			return
		}
		defer unlock()
	}
	dg := alg.FromBytes(body)
	contentType := r.Header.Get("Content-Type")
	live := []digest.Digest{dg}
	var doc ociDoc
	var subject digest.Digest
	if len(body) <= maxManifestBytes && json.Unmarshal(body, &doc) == nil {
		live = append(live, doc.references()...)
		subject, _ = doc.subject(contentType)
	}
	release := rg.gc.hold(live...)
	defer release()
	// The index entry is written first, so a crash cannot leave a referrer
	// that is not listed; entries of pushes that failed are skipped when
	// listing and removed by garbage collection.
	if subject != "" {
		desc := doc.referrerDescriptor(contentType, dg, int64(len(body)))
		if err := rg.indexReferrer(ctx, repo.Name, subject, desc); err != nil {
			rg.log.ErrorContext(ctx, "registry: index referrer", "repository", repo.Name, "digest", dg, "err", err)
			_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown)
			return
		}
	}
	rec := &statusWriter{ResponseWriter: w, onHeader: func(h http.Header, code int) {
		if code == http.StatusCreated && subject != "" {
			h.Set("OCI-Subject", subject.String())
		}
	}}
	rg.app.ServeHTTP(rec, r)
	release()
	if rec.status != http.StatusCreated {
		if subject != "" {
			if ok, err := rg.hasRevision(ctx, repo.Name, dg); err == nil && !ok {
				_ = rg.unindexReferrer(ctx, repo.Name, subject, dg)
			}
		}
		return
	}
	if rg.cfg.OnPush != nil {
		rg.cfg.OnPush(context.WithoutCancel(ctx), PushEvent{
			AccountID:  id.AccountID,
			Repository: repo.Name,
			Digest:     rec.Header().Get("Docker-Content-Digest"),
			Tag:        tag,
			MediaType:  contentType,
			ScanOnPush: repo.ScanOnPush,
		})
	}
}

// deleteManifest handles a manifest DELETE, dropping the manifest's
// referrers index entry when it goes.
func (rg *Registry) deleteManifest(w http.ResponseWriter, r *http.Request, name, ref string) {
	ctx := r.Context()
	d, err := digest.Parse(ref)
	if err != nil {
		rg.app.ServeHTTP(w, r) // deletes a tag
		return
	}
	subject := rg.subjectOf(ctx, name, d)
	rec := &statusWriter{ResponseWriter: w}
	rg.app.ServeHTTP(rec, r)
	if rec.status == http.StatusAccepted && subject != "" {
		if err := rg.unindexReferrer(ctx, name, subject, d); err != nil {
			rg.log.WarnContext(ctx, "registry: unindex referrer", "repository", name, "digest", d, "err", err)
		}
	}
}

// subjectOf returns a stored manifest's subject, or "".
func (rg *Registry) subjectOf(ctx context.Context, repoName string, d digest.Digest) digest.Digest {
	repo, err := rg.repository(ctx, repoName)
	if err != nil {
		return ""
	}
	img, _, err := rg.manifest(ctx, repo, d)
	if err != nil || img.Subject == "" {
		return ""
	}
	s, err := digest.Parse(img.Subject)
	if err != nil {
		return ""
	}
	return s
}

// refreshLayerLink rewrites a repository's link to a blob if it is older
// than linkRefreshAge: a push that found the blob there keeps it young for
// garbage collection until its manifest arrives.
func (rg *Registry) refreshLayerLink(ctx context.Context, repoName string, d digest.Digest) {
	key := layerLinkKey(repoName, d)
	info, err := rg.cfg.Blobs.Head(ctx, Bucket, key)
	if err != nil || time.Since(info.ModTime) < rg.linkRefreshAge {
		return
	}
	link := []byte(d.String())
	if _, err := rg.cfg.Blobs.Put(ctx, Bucket, key, bytes.NewReader(link), blob.PutOptions{Size: int64(len(link))}); err != nil {
		rg.log.WarnContext(ctx, "registry: refresh layer link", "repository", repoName, "digest", d, "err", err)
	}
}

// onEOF calls fn once, when the body has been read to its end.
type onEOF struct {
	io.ReadCloser
	fn   func()
	done bool
}

func (b *onEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.fn()
	}
	return n, err
}

// errDenied answers access to another account's repository. Its message
// differs from the code's default on purpose: docker decodes an error whose
// message is the default (and has no detail) to a bare code, which its push
// does not recognise as final and retries for 50 seconds.
var errDenied = errcode.ErrorCodeDenied.WithMessage("requested access to the resource is denied: the repository belongs to another account")

// authorize resolves the repository for a request by id; a push to a name
// nobody owns creates it for id's account. On refusal it writes the response.
func (rg *Registry) authorize(ctx context.Context, w http.ResponseWriter, id awsapi.Identity, name string, push bool) (Repository, bool) {
	repo, err := rg.repos.GetRepository(ctx, name)
	if errors.Is(err, ErrRepositoryNotFound) {
		if !push {
			_ = errcode.ServeJSON(w, errcode.ErrorCodeNameUnknown.WithDetail(map[string]string{"name": name}))
			return repo, false
		}
		repo = Repository{Name: name, AccountID: id.AccountID, CreatedAt: rg.now().UTC().Truncate(time.Millisecond), ImageTagMutability: Mutable}
		err = rg.CreateRepository(ctx, repo)
		if errors.Is(err, ErrRepositoryExists) {
			repo, err = rg.repos.GetRepository(ctx, name)
		}
	}
	if err != nil {
		rg.log.ErrorContext(ctx, "registry: repository lookup", "repository", name, "err", err)
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown)
		return repo, false
	}
	if repo.AccountID != id.AccountID {
		rg.log.DebugContext(ctx, "registry: access denied", "repository", name, "account", id.AccountID, "owner", repo.AccountID)
		_ = errcode.ServeJSON(w, errDenied)
		return repo, false
	}
	return repo, true
}

// CreateRepository records a new repository (ErrRepositoryExists if the
// name is taken), first clearing any content a deleted repository of the
// same name left in storage, so a new owner never sees it. The clearing
// must come before the record: once the record exists, the owner's other
// requests (docker pushes layers in parallel, each of which may be the one
// that creates the repository) start uploads that clearing would destroy.
// A per-name lock keeps two creators in this process from clearing after
// each other's record.
func (rg *Registry) CreateRepository(ctx context.Context, repo Repository) error {
	if !ValidRepositoryName(repo.Name) {
		return fmt.Errorf("registry: invalid repository name %q", repo.Name)
	}
	if repo.ImageTagMutability == "" {
		repo.ImageTagMutability = Mutable
	}
	mu := rg.lockFor(&rg.createLocks, repo.Name)
	mu.Lock()
	defer mu.Unlock()
	if _, err := rg.repos.GetRepository(ctx, repo.Name); err == nil {
		return ErrRepositoryExists
	} else if !errors.Is(err, ErrRepositoryNotFound) {
		return err
	}
	if err := rg.DeleteRepositoryContent(ctx, repo.Name); err != nil {
		return err
	}
	return rg.repos.CreateRepository(ctx, repo)
}

// lockFor returns the lock of locks that key hashes to.
func (rg *Registry) lockFor(locks *[64]sync.Mutex, key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &locks[h.Sum32()%uint32(len(locks))]
}

// DeleteRepository removes a repository's content and then its record.
func (rg *Registry) DeleteRepository(ctx context.Context, name string) error {
	if err := rg.DeleteRepositoryContent(ctx, name); err != nil {
		return err
	}
	return rg.repos.DeleteRepository(ctx, name)
}

// owns reports whether name is a repository of id's account.
func (rg *Registry) owns(ctx context.Context, id awsapi.Identity, name string) bool {
	if !ValidRepositoryName(name) {
		return false
	}
	repo, err := rg.repos.GetRepository(ctx, name)
	return err == nil && repo.AccountID == id.AccountID
}

// checkImmutableTag refuses a manifest PUT (of body) that would move an
// existing immutable tag to different content. On success it returns with
// the tag's lock held, so a concurrent push cannot slip in.
func (rg *Registry) checkImmutableTag(ctx context.Context, w http.ResponseWriter, repo Repository, tag string, body []byte) (func(), bool) {
	mu := rg.lockFor(&rg.tagLocks, repo.Name+":"+tag)
	mu.Lock()
	current, err := rg.ResolveTag(ctx, repo.Name, tag)
	switch {
	case errors.Is(err, ErrImageNotFound):
		return mu.Unlock, true
	case err != nil:
		mu.Unlock()
		rg.log.ErrorContext(ctx, "registry: resolve tag", "repository", repo.Name, "tag", tag, "err", err)
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown)
		return nil, false
	}
	sum := sha256.Sum256(body)
	if current == digest.NewDigestFromBytes(digest.SHA256, sum[:]).String() {
		return mu.Unlock, true // same content again: nothing changes
	}
	mu.Unlock()
	_ = errcode.ServeJSON(w, errcode.ErrorCodeTagInvalid.WithMessage(fmt.Sprintf(
		"The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.",
		tag, repo.Name)))
	return nil, false
}

// serveCatalog lists the caller's repositories (GET /v2/_catalog?n=&last=).
func (rg *Registry) serveCatalog(w http.ResponseWriter, r *http.Request, id awsapi.Identity) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnsupported)
		return
	}
	q := r.URL.Query()
	n := -1
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			_ = errcode.ServeJSON(w, errcode.ErrorCodePaginationNumberInvalid.WithDetail(map[string]string{"n": s}))
			return
		}
		n = v
	}
	last := q.Get("last")
	repos, err := rg.repos.ListRepositories(r.Context(), id.AccountID)
	if err != nil {
		rg.log.ErrorContext(r.Context(), "registry: list repositories", "err", err)
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown)
		return
	}
	names := []string{}
	more := false
	for _, repo := range repos {
		if repo.Name <= last {
			continue
		}
		if n >= 0 && len(names) == n {
			more = true
			break
		}
		names = append(names, repo.Name)
	}
	if more && len(names) > 0 {
		v := url.Values{"n": {strconv.Itoa(n)}, "last": {names[len(names)-1]}}
		w.Header().Set("Link", fmt.Sprintf(`</v2/_catalog?%s>; rel="next"`, v.Encode()))
	}
	writeJSON(w, http.StatusOK, map[string][]string{"repositories": names})
}

// hasDotSegment reports whether a path has empty, "." or ".." segments
// (apart from a trailing slash), which gorilla/mux would clean and redirect.
func hasDotSegment(p string) bool {
	segs := strings.Split(strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/"), "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return true
		}
	}
	return false
}

func cloneWithQuery(r *http.Request, q url.Values) *http.Request {
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = q.Encode()
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	return r2
}

// statusWriter records the status code written; onHeader, if set, may add
// headers once the status is known.
type statusWriter struct {
	http.ResponseWriter
	status   int
	onHeader func(h http.Header, code int)
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		if s.onHeader != nil {
			s.onHeader(s.Header(), code)
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
