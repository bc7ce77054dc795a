package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/blob"
)

// Storage keys (in Bucket) of distribution's layout that Wharf reads
// directly, and of the referrers index Wharf adds beside it.
const (
	reposPrefix = "docker/registry/v2/repositories/"
	blobsPrefix = "docker/registry/v2/blobs/"
	// referrersDir is a reserved directory of each repository (like
	// distribution's "_manifests"): _referrers/<subject alg>/<subject
	// hex>/<referrer alg>/<referrer hex> holds the referrer's descriptor as
	// JSON. distribution skips "_" directories it does not know.
	referrersDir = "_referrers"
)

// Media types of the OCI image spec the referrers API deals in.
const (
	ociIndex         = v1.MediaTypeImageIndex
	ociImageManifest = v1.MediaTypeImageManifest
)

// ociDoc is what Wharf reads of a stored or pushed manifest of any of the
// JSON schemas distribution accepts (OCI manifest and index, Docker schema 2
// manifest and manifest list): the content it references and the OCI 1.1
// artifact fields.
type ociDoc struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *ociDescriptor    `json:"config"`
	Layers       []ociDescriptor   `json:"layers"`
	Manifests    []ociDescriptor   `json:"manifests"`
	Blobs        []ociDescriptor   `json:"blobs"` // the withdrawn OCI artifact manifest
	Subject      *ociDescriptor    `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

// references returns the valid digests the manifest points to: config,
// layers, index children, artifact blobs and subject.
func (d *ociDoc) references() []digest.Digest {
	var out []digest.Digest
	add := func(s string) {
		if dg, err := digest.Parse(s); err == nil {
			out = append(out, dg)
		}
	}
	if d.Config != nil {
		add(d.Config.Digest)
	}
	for _, l := range d.Layers {
		add(l.Digest)
	}
	for _, m := range d.Manifests {
		add(m.Digest)
	}
	for _, b := range d.Blobs {
		add(b.Digest)
	}
	if d.Subject != nil {
		add(d.Subject.Digest)
	}
	return out
}

// subject returns the manifest's subject digest if it is an OCI manifest or
// index with a valid one. contentType is the media type it was pushed with.
func (d *ociDoc) subject(contentType string) (digest.Digest, bool) {
	if d.Subject == nil {
		return "", false
	}
	mt := d.mediaType(contentType)
	if mt != ociImageManifest && mt != ociIndex {
		return "", false
	}
	s, err := digest.Parse(d.Subject.Digest)
	return s, err == nil
}

func (d *ociDoc) mediaType(contentType string) string {
	if d.MediaType != "" {
		return d.MediaType
	}
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt)
}

// referrerDescriptor is the descriptor the referrers API lists for a
// manifest: its artifactType is the manifest's, else (for an image manifest)
// its config's media type, as the distribution spec says.
func (d *ociDoc) referrerDescriptor(contentType string, dg digest.Digest, size int64) v1.Descriptor {
	desc := v1.Descriptor{MediaType: d.mediaType(contentType), Digest: dg, Size: size,
		ArtifactType: d.ArtifactType, Annotations: d.Annotations}
	if desc.ArtifactType == "" && desc.MediaType == ociImageManifest && d.Config != nil {
		desc.ArtifactType = d.Config.MediaType
	}
	return desc
}

func digestPath(d digest.Digest) string { return d.Algorithm().String() + "/" + d.Encoded() }

// revisionKey is the link that makes a manifest part of a repository.
func revisionKey(repo string, d digest.Digest) string {
	return reposPrefix + repo + "/_manifests/revisions/" + digestPath(d) + "/link"
}

func layerLinkKey(repo string, d digest.Digest) string {
	return reposPrefix + repo + "/_layers/" + digestPath(d) + "/link"
}

func blobDataKey(d digest.Digest) string {
	enc := d.Encoded()
	return blobsPrefix + d.Algorithm().String() + "/" + enc[:2] + "/" + enc + "/data"
}

func referrersPrefix(repo string, subject digest.Digest) string {
	return reposPrefix + repo + "/" + referrersDir + "/" + digestPath(subject) + "/"
}

func referrerKey(repo string, subject, ref digest.Digest) string {
	return referrersPrefix(repo, subject) + digestPath(ref)
}

// indexReferrer records that manifest desc of repo has subject.
func (rg *Registry) indexReferrer(ctx context.Context, repo string, subject digest.Digest, desc v1.Descriptor) error {
	b, err := json.Marshal(desc)
	if err != nil {
		return err
	}
	_, err = rg.cfg.Blobs.Put(ctx, Bucket, referrerKey(repo, subject, desc.Digest), bytes.NewReader(b),
		blob.PutOptions{Size: int64(len(b)), Attrs: blob.Attrs{ContentType: "application/json"}})
	return err
}

func (rg *Registry) unindexReferrer(ctx context.Context, repo string, subject, ref digest.Digest) error {
	return rg.cfg.Blobs.Delete(ctx, Bucket, referrerKey(repo, subject, ref))
}

// hasRevision reports whether a manifest is in a repository.
func (rg *Registry) hasRevision(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	_, err := rg.cfg.Blobs.Head(ctx, Bucket, revisionKey(repo, d))
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Referrers returns the descriptors of the manifests of a repository whose
// subject is subject, sorted by digest; artifactType, if not empty, keeps
// only those of that artifact type. Index entries of manifests no longer in
// the repository (deleted, or a push that failed) are skipped; garbage
// collection removes them.
func (rg *Registry) Referrers(ctx context.Context, repo string, subject digest.Digest, artifactType string) ([]v1.Descriptor, error) {
	if !ValidRepositoryName(repo) {
		return nil, ErrRepositoryNotFound
	}
	out := []v1.Descriptor{}
	opts := blob.ListOptions{Prefix: referrersPrefix(repo, subject), MaxKeys: listPage}
	for {
		res, err := rg.cfg.Blobs.List(ctx, Bucket, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range res.Objects {
			desc, err := rg.readReferrer(ctx, o.Key)
			if errors.Is(err, blob.ErrNotFound) {
				continue // removed meanwhile
			}
			if err != nil {
				return nil, err
			}
			if artifactType != "" && desc.ArtifactType != artifactType {
				continue
			}
			ok, err := rg.hasRevision(ctx, repo, desc.Digest)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, desc)
			}
		}
		if !res.IsTruncated {
			break
		}
		opts.StartAfter = res.NextStartAfter
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, nil
}

const listPage = 1000

func (rg *Registry) readReferrer(ctx context.Context, key string) (v1.Descriptor, error) {
	rc, _, err := rg.cfg.Blobs.Get(ctx, Bucket, key, nil)
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer rc.Close()
	var desc v1.Descriptor
	if err := json.NewDecoder(rc).Decode(&desc); err != nil {
		return v1.Descriptor{}, err
	}
	if err := desc.Digest.Validate(); err != nil {
		return v1.Descriptor{}, err
	}
	return desc, nil
}

// referrersPath matches GET /v2/<name>/referrers/<digest>, which
// distribution's router does not know.
func referrersPath(p string) (name, ref string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/referrers/")
	if i <= 0 {
		return "", "", false
	}
	name, ref = rest[:i], rest[i+len("/referrers/"):]
	if ref == "" || strings.Contains(ref, "/") {
		return "", "", false
	}
	return name, ref, true
}

// serveReferrers answers the OCI 1.1 referrers API: an image index of the
// manifests whose subject is the digest. A repository nobody owns has no
// referrers (the spec forbids 404 here); another account's is denied.
func (rg *Registry) serveReferrers(w http.ResponseWriter, r *http.Request, id awsapi.Identity, name, ref string) {
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnsupported)
		return
	}
	if !ValidRepositoryName(name) {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeNameInvalid.WithDetail("invalid repository name "+name))
		return
	}
	subject, err := digest.Parse(ref)
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeDigestInvalid.WithDetail(err.Error()))
		return
	}
	artifactType := r.URL.Query().Get("artifactType")
	descs := []v1.Descriptor{}
	repo, err := rg.repos.GetRepository(ctx, name)
	switch {
	case errors.Is(err, ErrRepositoryNotFound):
	case err != nil:
		rg.log.ErrorContext(ctx, "registry: repository lookup", "repository", name, "err", err)
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown)
		return
	case repo.AccountID != id.AccountID:
		_ = errcode.ServeJSON(w, errDenied)
		return
	default:
		if descs, err = rg.Referrers(ctx, name, subject, artifactType); err != nil {
			rg.log.ErrorContext(ctx, "registry: list referrers", "repository", name, "subject", subject, "err", err)
			_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown)
			return
		}
	}
	idx := v1.Index{MediaType: ociIndex, Manifests: descs}
	idx.SchemaVersion = 2
	body, err := json.Marshal(idx)
	if err != nil {
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown)
		return
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.Header().Set("Content-Type", ociIndex)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
