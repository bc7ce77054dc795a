package ecr

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/registry"
)

// CreateRepository creates a repository owned by the caller's account.
func (s *Service) CreateRepository(ctx context.Context, in *ecr.CreateRepositoryInput) (*ecr.CreateRepositoryOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.RepositoryName)
	if err := s.checkRegistry(id, "CreateRepository", in.RegistryId, name); err != nil {
		return nil, err
	}
	if !registry.ValidRepositoryName(name) {
		return nil, invalidParameter("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*' and be at most %d characters'", registry.MaxRepositoryNameLength)
	}
	mut, patterns, err := mutability(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters)
	if err != nil {
		return nil, err
	}
	if ec := in.EncryptionConfiguration; ec != nil && ec.EncryptionType != "" && ec.EncryptionType != types.EncryptionTypeAes256 {
		return nil, invalidParameter("Encryption type %s is not supported by this registry; use AES256.", ec.EncryptionType)
	}
	repo := registry.Repository{
		Name:                 name,
		AccountID:            id.AccountID,
		CreatedAt:            s.now().Truncate(time.Millisecond),
		ImageTagMutability:   mut,
		MutabilityExclusions: patterns,
	}
	if in.ImageScanningConfiguration != nil {
		repo.ScanOnPush = in.ImageScanningConfiguration.ScanOnPush
	}
	for _, t := range in.Tags {
		repo.Tags = append(repo.Tags, registry.RepositoryTag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)})
	}
	err = s.Registry.CreateRepository(ctx, repo)
	if errors.Is(err, registry.ErrRepositoryExists) {
		if cur, gerr := s.Registry.Repos().GetRepository(ctx, name); gerr == nil && cur.AccountID != id.AccountID {
			return nil, awsjson.Errorf("RepositoryAlreadyExistsException", http.StatusBadRequest,
				"The repository name '%s' is already used by another account; repository names are unique in this registry", name)
		}
		return nil, awsjson.Errorf("RepositoryAlreadyExistsException", http.StatusBadRequest,
			"The repository with name '%s' already exists in the registry with id '%s'", name, id.AccountID)
	}
	if err != nil {
		return nil, err
	}
	r := s.describe(ctx, repo)
	return &ecr.CreateRepositoryOutput{Repository: &r}, nil
}

// DescribeRepositories describes the named repositories, or all of the
// caller's, sorted by name.
func (s *Service) DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput) (*ecr.DescribeRepositoriesOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkRegistry(id, "DescribeRepositories", in.RegistryId, ""); err != nil {
		return nil, err
	}
	out := &ecr.DescribeRepositoriesOutput{Repositories: []types.Repository{}}
	if len(in.RepositoryNames) > 0 {
		if in.NextToken != nil || in.MaxResults != nil {
			return nil, invalidParameter("Invalid parameter: nextToken and maxResults cannot be used with repositoryNames")
		}
		for _, n := range in.RepositoryNames {
			_, repo, err := s.repository(ctx, "DescribeRepositories", in.RegistryId, aws.String(n))
			if err != nil {
				return nil, err
			}
			out.Repositories = append(out.Repositories, s.describe(ctx, repo))
		}
		return out, nil
	}
	after, err := parsePageToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	repos, err := s.Registry.Repos().ListRepositories(ctx, id.AccountID)
	if err != nil {
		return nil, err
	}
	limit := maxResults(in.MaxResults, 100)
	for _, r := range repos {
		if r.Name <= after {
			continue
		}
		if len(out.Repositories) == limit {
			out.NextToken = pageToken(*out.Repositories[limit-1].RepositoryName)
			break
		}
		out.Repositories = append(out.Repositories, s.describe(ctx, r))
	}
	return out, nil
}

// DeleteRepository deletes a repository; with force, also its images.
func (s *Service) DeleteRepository(ctx context.Context, in *ecr.DeleteRepositoryInput) (*ecr.DeleteRepositoryOutput, error) {
	id, repo, err := s.repository(ctx, "DeleteRepository", in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if !in.Force {
		has, err := s.Registry.HasImages(ctx, repo.Name)
		if err != nil {
			return nil, err
		}
		if has {
			return nil, awsjson.Errorf("RepositoryNotEmptyException", http.StatusBadRequest,
				"The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", repo.Name, id.AccountID)
		}
	}
	if err := s.Registry.DeleteRepository(ctx, repo.Name); err != nil {
		if errors.Is(err, registry.ErrRepositoryNotFound) {
			return nil, repositoryNotFound(repo.Name, id.AccountID)
		}
		return nil, err
	}
	r := s.describe(ctx, repo)
	return &ecr.DeleteRepositoryOutput{Repository: &r}, nil
}

// PutImageTagMutability changes whether a repository's tags can be moved.
func (s *Service) PutImageTagMutability(ctx context.Context, in *ecr.PutImageTagMutabilityInput) (*ecr.PutImageTagMutabilityOutput, error) {
	id, repo, err := s.repository(ctx, "PutImageTagMutability", in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	mut, patterns, err := mutability(in.ImageTagMutability, in.ImageTagMutabilityExclusionFilters)
	if err != nil {
		return nil, err
	}
	repo.ImageTagMutability = mut
	repo.MutabilityExclusions = patterns
	if err := s.Registry.Repos().UpdateRepository(ctx, repo); err != nil {
		if errors.Is(err, registry.ErrRepositoryNotFound) {
			return nil, repositoryNotFound(repo.Name, id.AccountID)
		}
		return nil, err
	}
	return &ecr.PutImageTagMutabilityOutput{
		RegistryId:                         aws.String(id.AccountID),
		RepositoryName:                     aws.String(repo.Name),
		ImageTagMutability:                 types.ImageTagMutability(mut),
		ImageTagMutabilityExclusionFilters: exclusionFilters(patterns),
	}, nil
}
