package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/wharfml/wharf/internal/blob"
)

// Errors of RepoStore implementations; test with errors.Is.
var (
	ErrRepositoryNotFound = errors.New("registry: repository not found")
	ErrRepositoryExists   = errors.New("registry: repository already exists")
)

// Tag mutability settings, as ECR names them.
const (
	Mutable                = "MUTABLE"
	Immutable              = "IMMUTABLE"
	ImmutableWithExclusion = "IMMUTABLE_WITH_EXCLUSION"
	MutableWithExclusion   = "MUTABLE_WITH_EXCLUSION"
)

// Repository is a repository's ownership record and settings. Names are
// global: one account owns a name.
type Repository struct {
	Name      string    `json:"name"`
	AccountID string    `json:"accountId"`
	CreatedAt time.Time `json:"createdAt"`
	// ImageTagMutability is Mutable (the default when empty), Immutable,
	// ImmutableWithExclusion or MutableWithExclusion.
	ImageTagMutability string `json:"imageTagMutability"`
	// MutabilityExclusions are wildcard tag patterns ("*" matches any run of
	// characters) that are the exception to the *WithExclusion settings.
	MutabilityExclusions []string `json:"imageTagMutabilityExclusionFilters,omitempty"`
	ScanOnPush           bool     `json:"scanOnPush"`
	// Tags are resource tags given to ECR CreateRepository.
	Tags []RepositoryTag `json:"tags,omitempty"`
}

// RepositoryTag is a resource tag of a repository.
type RepositoryTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TagImmutable reports whether an existing tag of the repository may not be
// moved to another image.
func (r Repository) TagImmutable(tag string) bool {
	switch r.ImageTagMutability {
	case Immutable:
		return true
	case ImmutableWithExclusion:
		return !matchesAny(r.MutabilityExclusions, tag)
	case MutableWithExclusion:
		return matchesAny(r.MutabilityExclusions, tag)
	}
	return false
}

func matchesAny(patterns []string, tag string) bool {
	for _, p := range patterns {
		// Filters hold only [0-9A-Za-z._*-], so path.Match's one special
		// character that can occur is "*", and tags contain no "/".
		if ok, _ := path.Match(p, tag); ok {
			return true
		}
	}
	return false
}

// RepoStore keeps repository records. Implementations are safe for
// concurrent use; CreateRepository must be atomic (the first of two
// concurrent creators wins, the other gets ErrRepositoryExists).
type RepoStore interface {
	CreateRepository(ctx context.Context, r Repository) error
	GetRepository(ctx context.Context, name string) (Repository, error)
	// UpdateRepository replaces an existing record (ErrRepositoryNotFound if
	// there is none).
	UpdateRepository(ctx context.Context, r Repository) error
	DeleteRepository(ctx context.Context, name string) error
	// ListRepositories returns an account's repositories sorted by name.
	ListRepositories(ctx context.Context, accountID string) ([]Repository, error)
}

// MetaBucket is the blob namespace of the blob-backed RepoStore.
const MetaBucket = "_registry-meta"

// NewBlobRepoStore returns a RepoStore keeping one JSON object per
// repository in store: MetaBucket/repositories/<name>.json, plus an empty
// index object MetaBucket/accounts/<account id>/<name> per repository for
// listing an account's repositories.
func NewBlobRepoStore(store blob.Store) RepoStore { return &blobRepoStore{store: store} }

type blobRepoStore struct{ store blob.Store }

func recordKey(name string) string         { return "repositories/" + name + ".json" }
func indexKey(account, name string) string { return "accounts/" + account + "/" + name }
func indexPrefix(account string) string    { return "accounts/" + account + "/" }
func (s *blobRepoStore) encode(r Repository) []byte {
	b, _ := json.Marshal(r)
	return b
}

func (s *blobRepoStore) CreateRepository(ctx context.Context, r Repository) error {
	if !ValidRepositoryName(r.Name) || r.AccountID == "" {
		return fmt.Errorf("registry: invalid repository record %q", r.Name)
	}
	// Index first: a crash after it leaves an index entry without a record,
	// which listings skip.
	if _, err := s.store.Put(ctx, MetaBucket, indexKey(r.AccountID, r.Name), bytes.NewReader(nil), blob.PutOptions{Size: 0}); err != nil {
		return err
	}
	body := s.encode(r)
	_, err := s.store.Put(ctx, MetaBucket, recordKey(r.Name), bytes.NewReader(body),
		blob.PutOptions{Size: int64(len(body)), IfNoneMatch: "*", Attrs: blob.Attrs{ContentType: "application/json"}})
	if errors.Is(err, blob.ErrPrecondition) {
		// Keep the index entry if the winner is the same account.
		if cur, gerr := s.GetRepository(ctx, r.Name); gerr != nil || cur.AccountID != r.AccountID {
			_ = s.store.Delete(ctx, MetaBucket, indexKey(r.AccountID, r.Name))
		}
		return ErrRepositoryExists
	}
	return err
}

func (s *blobRepoStore) get(ctx context.Context, name string) (Repository, string, error) {
	if !ValidRepositoryName(name) {
		return Repository{}, "", ErrRepositoryNotFound
	}
	rc, info, err := s.store.Get(ctx, MetaBucket, recordKey(name), nil)
	if errors.Is(err, blob.ErrNotFound) {
		return Repository{}, "", ErrRepositoryNotFound
	}
	if err != nil {
		return Repository{}, "", err
	}
	defer rc.Close()
	var r Repository
	if err := json.NewDecoder(rc).Decode(&r); err != nil {
		return Repository{}, "", fmt.Errorf("registry: decode repository %q: %w", name, err)
	}
	return r, info.ETag, nil
}

func (s *blobRepoStore) GetRepository(ctx context.Context, name string) (Repository, error) {
	r, _, err := s.get(ctx, name)
	return r, err
}

func (s *blobRepoStore) UpdateRepository(ctx context.Context, r Repository) error {
	_, etag, err := s.get(ctx, r.Name)
	if err != nil {
		return err
	}
	body := s.encode(r)
	_, err = s.store.Put(ctx, MetaBucket, recordKey(r.Name), bytes.NewReader(body),
		blob.PutOptions{Size: int64(len(body)), IfMatch: etag, Attrs: blob.Attrs{ContentType: "application/json"}})
	if errors.Is(err, blob.ErrPrecondition) {
		// Deleted (or changed) meanwhile; report what is there now.
		if _, _, gerr := s.get(ctx, r.Name); gerr != nil {
			return gerr
		}
		return fmt.Errorf("registry: repository %q changed concurrently; retry", r.Name)
	}
	return err
}

func (s *blobRepoStore) DeleteRepository(ctx context.Context, name string) error {
	r, _, err := s.get(ctx, name)
	if err != nil {
		return err
	}
	if err := s.store.Delete(ctx, MetaBucket, recordKey(name)); err != nil {
		return err
	}
	return s.store.Delete(ctx, MetaBucket, indexKey(r.AccountID, name))
}

func (s *blobRepoStore) ListRepositories(ctx context.Context, accountID string) ([]Repository, error) {
	if accountID == "" || strings.Contains(accountID, "/") {
		return nil, nil
	}
	prefix := indexPrefix(accountID)
	var out []Repository
	opts := blob.ListOptions{Prefix: prefix, MaxKeys: 1000}
	for {
		res, err := s.store.List(ctx, MetaBucket, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range res.Objects {
			r, err := s.GetRepository(ctx, strings.TrimPrefix(o.Key, prefix))
			if errors.Is(err, ErrRepositoryNotFound) {
				continue // index entry of a failed create or an unfinished delete
			}
			if err != nil {
				return nil, err
			}
			if r.AccountID == accountID {
				out = append(out, r)
			}
		}
		if !res.IsTruncated {
			break
		}
		opts.StartAfter = res.NextStartAfter
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// nameRE is the repository name grammar of the OCI distribution spec: path
// components of lower-case letters and digits separated by ".", "_", "__" or
// runs of "-", joined by "/".
var nameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)

// MaxRepositoryNameLength is the longest repository name (distribution's limit).
const MaxRepositoryNameLength = 255

// ValidRepositoryName reports whether name is a valid repository name: the
// distribution spec's grammar (no empty, "." or ".." components, no upper
// case, no host part) and at most MaxRepositoryNameLength bytes.
func ValidRepositoryName(name string) bool {
	return len(name) <= MaxRepositoryNameLength && nameRE.MatchString(name)
}
