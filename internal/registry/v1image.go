package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// OpenBlob opens a blob of a repository by digest.
func (rg *Registry) OpenBlob(ctx context.Context, repoName, dgst string) (io.ReadCloser, error) {
	repo, err := rg.repository(ctx, repoName)
	if err != nil {
		return nil, err
	}
	d, err := digest.Parse(dgst)
	if err != nil {
		return nil, ErrImageNotFound
	}
	rc, err := repo.Blobs(ctx).Open(ctx, d)
	if err != nil {
		if isNotFound(err) {
			return nil, ErrImageNotFound
		}
		return nil, fmt.Errorf("registry: open blob %s in %s: %w", dgst, repoName, err)
	}
	return rc, nil
}

// V1Image returns a stored image as a go-containerregistry image whose
// layers stream from the registry's storage (for scanning). For an image
// index it picks the linux/amd64 manifest, else the first one.
func (rg *Registry) V1Image(ctx context.Context, repoName, dgst string) (ggcrv1.Image, error) {
	img, raw, err := rg.Manifest(ctx, repoName, dgst)
	if err != nil {
		return nil, err
	}
	if len(img.Manifests) > 0 {
		var idx ggcrv1.IndexManifest
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("registry: parse index %s: %w", dgst, err)
		}
		child := idx.Manifests[0].Digest.String()
		for _, m := range idx.Manifests {
			if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == "amd64" {
				child = m.Digest.String()
				break
			}
		}
		return rg.V1Image(ctx, repoName, child)
	}
	return partial.CompressedToImage(&storedImage{ctx: ctx, rg: rg, repo: repoName, raw: raw, mediaType: img.MediaType})
}

// storedImage adapts a stored manifest to partial.CompressedImageCore.
type storedImage struct {
	ctx       context.Context
	rg        *Registry
	repo      string
	raw       []byte
	mediaType string
	manifest  *ggcrv1.Manifest
}

func (s *storedImage) RawManifest() ([]byte, error) { return s.raw, nil }

func (s *storedImage) MediaType() (ggcrtypes.MediaType, error) {
	return ggcrtypes.MediaType(s.mediaType), nil
}

func (s *storedImage) parsed() (*ggcrv1.Manifest, error) {
	if s.manifest == nil {
		m, err := ggcrv1.ParseManifest(bytes.NewReader(s.raw))
		if err != nil {
			return nil, err
		}
		s.manifest = m
	}
	return s.manifest, nil
}

func (s *storedImage) RawConfigFile() ([]byte, error) {
	m, err := s.parsed()
	if err != nil {
		return nil, err
	}
	rc, err := s.rg.OpenBlob(s.ctx, s.repo, m.Config.Digest.String())
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 16<<20))
}

func (s *storedImage) LayerByDigest(h ggcrv1.Hash) (partial.CompressedLayer, error) {
	m, err := s.parsed()
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if l.Digest == h {
			return &storedLayer{img: s, desc: l}, nil
		}
	}
	if m.Config.Digest == h {
		return &storedLayer{img: s, desc: m.Config}, nil
	}
	return nil, fmt.Errorf("registry: layer %s not in manifest", h)
}

// storedLayer is one layer blob, opened on demand.
type storedLayer struct {
	img  *storedImage
	desc ggcrv1.Descriptor
}

func (l *storedLayer) Digest() (ggcrv1.Hash, error) { return l.desc.Digest, nil }
func (l *storedLayer) Size() (int64, error)         { return l.desc.Size, nil }
func (l *storedLayer) MediaType() (ggcrtypes.MediaType, error) {
	return l.desc.MediaType, nil
}
func (l *storedLayer) Compressed() (io.ReadCloser, error) {
	return l.img.rg.OpenBlob(l.img.ctx, l.img.repo, l.desc.Digest.String())
}
