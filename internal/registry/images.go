package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrImageNotFound: no manifest with that digest, or no such tag.
var ErrImageNotFound = errors.New("registry: image not found")

// Image describes one manifest in a repository, for the ECR API.
type Image struct {
	Digest    string
	MediaType string // the manifest's media type
	// ArtifactType is the manifest's artifactType, else its config's media type.
	ArtifactType string
	// Size is the sum of the layer sizes (compressed, as pushed); for an index,
	// the largest of its manifests present in the repository.
	Size     int64
	PushedAt time.Time
	Tags     []string // sorted
	Subject  string   // the subject's digest, for OCI 1.1 referrers
	// Manifests lists the digests an index references.
	Manifests []string
}

// storage layout paths (distribution's, version 2).
const repositoriesRoot = "/docker/registry/v2/repositories/"

func (rg *Registry) repository(ctx context.Context, name string) (distribution.Repository, error) {
	if !ValidRepositoryName(name) {
		return nil, fmt.Errorf("registry: invalid repository name %q", name)
	}
	named, err := reference.WithName(name)
	if err != nil {
		return nil, err
	}
	return rg.ns.Repository(ctx, named)
}

// ResolveTag returns the digest a tag points to, or ErrImageNotFound.
func (rg *Registry) ResolveTag(ctx context.Context, repoName, tag string) (string, error) {
	repo, err := rg.repository(ctx, repoName)
	if err != nil {
		return "", err
	}
	desc, err := repo.Tags(ctx).Get(ctx, tag)
	if err != nil {
		var unknown distribution.ErrTagUnknown
		if errors.As(err, &unknown) || isNotFound(err) {
			return "", ErrImageNotFound
		}
		return "", err
	}
	return desc.Digest.String(), nil
}

func isNotFound(err error) bool {
	var pnf storagedriver.PathNotFoundError
	var ru distribution.ErrRepositoryUnknown
	var mu distribution.ErrManifestUnknownRevision
	return errors.As(err, &pnf) || errors.As(err, &ru) || errors.As(err, &mu) ||
		errors.Is(err, distribution.ErrBlobUnknown)
}

// tagMap returns digest → tags for a repository.
func (rg *Registry) tagMap(ctx context.Context, repo distribution.Repository) (map[string][]string, error) {
	ts := repo.Tags(ctx)
	tags, err := ts.All(ctx)
	if err != nil {
		if isNotFound(err) {
			return map[string][]string{}, nil
		}
		return nil, err
	}
	out := make(map[string][]string, len(tags))
	for _, t := range tags {
		desc, err := ts.Get(ctx, t)
		if err != nil {
			var unknown distribution.ErrTagUnknown
			if errors.As(err, &unknown) || isNotFound(err) {
				continue // deleted meanwhile
			}
			return nil, err
		}
		out[desc.Digest.String()] = append(out[desc.Digest.String()], t)
	}
	for _, ts := range out {
		sort.Strings(ts)
	}
	return out, nil
}

// digests returns the digests of all manifests in a repository, sorted.
func (rg *Registry) digests(ctx context.Context, repo distribution.Repository) ([]digest.Digest, error) {
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	en, ok := ms.(distribution.ManifestEnumerator)
	if !ok {
		return nil, errors.New("registry: manifest store cannot enumerate")
	}
	var out []digest.Digest
	err = en.Enumerate(ctx, func(d digest.Digest) error {
		out = append(out, d)
		return nil
	})
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// HasImages reports whether a repository holds any manifest.
func (rg *Registry) HasImages(ctx context.Context, repoName string) (bool, error) {
	repo, err := rg.repository(ctx, repoName)
	if err != nil {
		return false, err
	}
	ds, err := rg.digests(ctx, repo)
	return len(ds) > 0, err
}

// manifestDoc is the part of image manifests and indexes Image needs.
type manifestDoc struct {
	MediaType    string `json:"mediaType"`
	ArtifactType string `json:"artifactType"`
	Config       *struct {
		MediaType string `json:"mediaType"`
	} `json:"config"`
	Layers []struct {
		Size int64 `json:"size"`
	} `json:"layers"`
	Manifests []struct {
		Digest string `json:"digest"`
	} `json:"manifests"`
	Subject *struct {
		Digest string `json:"digest"`
	} `json:"subject"`
}

// Manifest returns a manifest's bytes and description (without Tags).
func (rg *Registry) Manifest(ctx context.Context, repoName, dgst string) (Image, []byte, error) {
	repo, err := rg.repository(ctx, repoName)
	if err != nil {
		return Image{}, nil, err
	}
	d, err := digest.Parse(dgst)
	if err != nil {
		return Image{}, nil, ErrImageNotFound
	}
	return rg.manifest(ctx, repo, d)
}

func (rg *Registry) manifest(ctx context.Context, repo distribution.Repository, d digest.Digest) (Image, []byte, error) {
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return Image{}, nil, err
	}
	m, err := ms.Get(ctx, d)
	if err != nil {
		if isNotFound(err) {
			return Image{}, nil, ErrImageNotFound
		}
		return Image{}, nil, err
	}
	mediaType, payload, err := m.Payload()
	if err != nil {
		return Image{}, nil, err
	}
	img := Image{Digest: d.String(), MediaType: mediaType}
	var doc manifestDoc
	if err := json.Unmarshal(payload, &doc); err == nil {
		if img.MediaType == "" {
			img.MediaType = doc.MediaType
		}
		img.ArtifactType = doc.ArtifactType
		if img.ArtifactType == "" && doc.Config != nil {
			img.ArtifactType = doc.Config.MediaType
		}
		for _, l := range doc.Layers {
			img.Size += l.Size
		}
		for _, c := range doc.Manifests {
			img.Manifests = append(img.Manifests, c.Digest)
		}
		if doc.Subject != nil {
			img.Subject = doc.Subject.Digest
		}
	}
	if img.MediaType == "" {
		img.MediaType = v1.MediaTypeImageManifest
	}
	link := repositoriesRoot + repo.Named().Name() + "/_manifests/revisions/" + d.Algorithm().String() + "/" + d.Encoded() + "/link"
	if fi, err := rg.driver.Stat(ctx, link); err == nil {
		img.PushedAt = fi.ModTime()
	}
	return img, payload, nil
}

// Images describes every manifest in a repository, sorted by digest.
func (rg *Registry) Images(ctx context.Context, repoName string) ([]Image, error) {
	repo, err := rg.repository(ctx, repoName)
	if err != nil {
		return nil, err
	}
	ds, err := rg.digests(ctx, repo)
	if err != nil {
		return nil, err
	}
	tags, err := rg.tagMap(ctx, repo)
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(ds))
	byDigest := make(map[string]int, len(ds))
	for _, d := range ds {
		img, _, err := rg.manifest(ctx, repo, d)
		if errors.Is(err, ErrImageNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		img.Tags = tags[img.Digest]
		byDigest[img.Digest] = len(out)
		out = append(out, img)
	}
	for i := range out {
		if len(out[i].Manifests) == 0 {
			continue
		}
		var size int64
		for _, c := range out[i].Manifests {
			if j, ok := byDigest[c]; ok && out[j].Size > size {
				size = out[j].Size
			}
		}
		out[i].Size = size
	}
	return out, nil
}

// Untag removes a tag (ErrImageNotFound if there is none).
func (rg *Registry) Untag(ctx context.Context, repoName, tag string) error {
	repo, err := rg.repository(ctx, repoName)
	if err != nil {
		return err
	}
	if _, err := rg.ResolveTag(ctx, repoName, tag); err != nil {
		return err
	}
	if err := repo.Tags(ctx).Untag(ctx, tag); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// DeleteImage deletes a manifest and every tag pointing to it
// (ErrImageNotFound if there is no such manifest). Blobs stay until garbage
// collection.
func (rg *Registry) DeleteImage(ctx context.Context, repoName, dgst string) error {
	repo, err := rg.repository(ctx, repoName)
	if err != nil {
		return err
	}
	d, err := digest.Parse(dgst)
	if err != nil {
		return ErrImageNotFound
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return err
	}
	subject := rg.subjectOf(ctx, repoName, d)
	if err := ms.Delete(ctx, d); err != nil {
		if isNotFound(err) {
			return ErrImageNotFound
		}
		return err
	}
	if subject != "" {
		if err := rg.unindexReferrer(ctx, repoName, subject, d); err != nil {
			return err
		}
	}
	ts := repo.Tags(ctx)
	tags, err := ts.Lookup(ctx, v1.Descriptor{Digest: d})
	if err != nil {
		return err
	}
	for _, t := range tags {
		if err := ts.Untag(ctx, t); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}

// DeleteRepositoryContent removes a repository's manifests, tags, blob links,
// referrers index and uploads from storage, leaving repositories nested under its name
// alone (distribution's own Remove would delete those too). Blobs stay until
// garbage collection.
func (rg *Registry) DeleteRepositoryContent(ctx context.Context, repoName string) error {
	if !ValidRepositoryName(repoName) {
		return fmt.Errorf("registry: invalid repository name %q", repoName)
	}
	for _, sub := range []string{"_manifests", "_layers", referrersDir, "_uploads"} {
		err := rg.driver.Delete(ctx, path.Join(repositoriesRoot, repoName, sub))
		var pnf storagedriver.PathNotFoundError
		if err != nil && !errors.As(err, &pnf) {
			return err
		}
	}
	return nil
}
