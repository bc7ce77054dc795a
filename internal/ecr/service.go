// Package ecr implements the subset of the Amazon ECR API (AWS JSON 1.1,
// X-Amz-Target "AmazonEC2ContainerRegistry_V20150921.<Operation>") that
// manages Wharf's registry: repositories, images, tag mutability and the
// authorization tokens `aws ecr get-login-password | docker login` uses.
//
// Repositories and images are the registry's (package registry): a
// repository belongs to the account that created it, by CreateRepository or
// by its first push, and names are global. Each account has one registry,
// whose id is the account id; operations act on the caller's registry. A
// repository of another account is not in it (RepositoryNotFoundException);
// naming another account's registryId is AccessDeniedException.
package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/registry"
)

// TargetPrefix is the X-Amz-Target prefix of ECR operations. Clients sign
// requests with SigV4 service name "ecr" (the endpoint host prefix is
// "api.ecr").
const TargetPrefix = "AmazonEC2ContainerRegistry_V20150921."

// SigningName is the SigV4 service name of ECR requests.
const SigningName = "ecr"

// Service holds what the ECR handlers share.
type Service struct {
	Registry *registry.Registry
	Region   string
	// Endpoint is the registry's URL (scheme://host:port) used for
	// repositoryUri and proxyEndpoint when the request's context has none
	// (see WithEndpoint); empty means "http://localhost".
	Endpoint string
	// Scans, if set, serves StartImageScan and DescribeImageScanFindings.
	Scans Scans
}

// Register adds every implemented operation to r (whose Model should be
// shapes.MustLoad("ecr") and TargetPrefix TargetPrefix).
func (s *Service) Register(r *awsjson.Router) {
	awsjson.Handle(r, "CreateRepository", s.CreateRepository)
	awsjson.Handle(r, "DescribeRepositories", s.DescribeRepositories)
	awsjson.Handle(r, "DeleteRepository", s.DeleteRepository)
	awsjson.Handle(r, "PutImageTagMutability", s.PutImageTagMutability)
	awsjson.Handle(r, "ListImages", s.ListImages)
	awsjson.Handle(r, "DescribeImages", s.DescribeImages)
	awsjson.Handle(r, "BatchGetImage", s.BatchGetImage)
	awsjson.Handle(r, "BatchDeleteImage", s.BatchDeleteImage)
	awsjson.Handle(r, "GetAuthorizationToken", s.GetAuthorizationToken)
	awsjson.Handle(r, "StartImageScan", s.StartImageScan)
	awsjson.Handle(r, "DescribeImageScanFindings", s.DescribeImageScanFindings)
}

type endpointKey struct{}

// WithEndpoint returns ctx carrying the registry URL as the client sees it:
// the request's Host with https if the connection is TLS or
// X-Forwarded-Proto says so, else http. The server calls it for ECR
// requests so repositoryUri and proxyEndpoint name the host clients used.
func WithEndpoint(ctx context.Context, r *http.Request) context.Context {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return context.WithValue(ctx, endpointKey{}, scheme+"://"+r.Host)
}

// Handler wraps next (an ECR awsjson.Router) with WithEndpoint.
func Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithEndpoint(r.Context(), r)))
	})
}

func (s *Service) endpoint(ctx context.Context) string {
	if e, ok := ctx.Value(endpointKey{}).(string); ok && e != "" {
		return e
	}
	if s.Endpoint != "" {
		return strings.TrimSuffix(s.Endpoint, "/")
	}
	return "http://localhost"
}

// registryHost is the host[:port] part of image references.
func (s *Service) registryHost(ctx context.Context) string {
	e := s.endpoint(ctx)
	if i := strings.Index(e, "://"); i >= 0 {
		e = e[i+3:]
	}
	return e
}

func (s *Service) region() string {
	if s.Region == "" {
		return "us-east-1"
	}
	return s.Region
}

func (s *Service) repositoryARN(account, name string) string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", s.region(), account, name)
}

// caller returns the authenticated identity; the server's auth layer always
// sets it, so its absence is a wiring fault.
func caller(ctx context.Context) (awsapi.Identity, error) {
	id, ok := awsapi.IdentityFrom(ctx)
	if !ok {
		return id, awsjson.Errorf("MissingAuthenticationTokenException", http.StatusForbidden, "Missing Authentication Token")
	}
	return id, nil
}

func invalidParameter(format string, args ...any) error {
	return awsjson.Errorf("InvalidParameterException", http.StatusBadRequest, format, args...)
}

func repositoryNotFound(name, registryID string) error {
	return awsjson.Errorf("RepositoryNotFoundException", http.StatusBadRequest,
		"The repository with name '%s' does not exist in the registry with id '%s'", name, registryID)
}

func accessDenied(id awsapi.Identity, op, resource string) error {
	return awsjson.Errorf("AccessDeniedException", http.StatusBadRequest,
		"User: %s is not authorized to perform: ecr:%s on resource: %s", id.ARN(), op, resource)
}

// checkRegistry verifies an optional registryId names the caller's registry.
func (s *Service) checkRegistry(id awsapi.Identity, op string, registryID *string, repoName string) error {
	if registryID == nil || *registryID == id.AccountID {
		return nil
	}
	res := "arn:aws:ecr:" + s.region() + ":" + *registryID + ":repository/" + repoName
	if repoName == "" {
		res = "arn:aws:ecr:" + s.region() + ":" + *registryID + ":repository/*"
	}
	return accessDenied(id, op, res)
}

// repository loads the caller's repository name for operation op.
func (s *Service) repository(ctx context.Context, op string, registryID, name *string) (awsapi.Identity, registry.Repository, error) {
	id, err := caller(ctx)
	if err != nil {
		return id, registry.Repository{}, err
	}
	n := aws.ToString(name)
	if err := s.checkRegistry(id, op, registryID, n); err != nil {
		return id, registry.Repository{}, err
	}
	repo, err := s.Registry.Repos().GetRepository(ctx, n)
	if errors.Is(err, registry.ErrRepositoryNotFound) || (err == nil && repo.AccountID != id.AccountID) {
		return id, repo, repositoryNotFound(n, id.AccountID)
	}
	return id, repo, err
}

// describe renders a repository record the way ECR describes it.
func (s *Service) describe(ctx context.Context, r registry.Repository) types.Repository {
	mut := r.ImageTagMutability
	if mut == "" {
		mut = registry.Mutable
	}
	out := types.Repository{
		CreatedAt:                  aws.Time(r.CreatedAt),
		EncryptionConfiguration:    &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeAes256},
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: r.ScanOnPush},
		ImageTagMutability:         types.ImageTagMutability(mut),
		RegistryId:                 aws.String(r.AccountID),
		RepositoryArn:              aws.String(s.repositoryARN(r.AccountID, r.Name)),
		RepositoryName:             aws.String(r.Name),
		RepositoryUri:              aws.String(s.registryHost(ctx) + "/" + r.Name),
	}
	out.ImageTagMutabilityExclusionFilters = exclusionFilters(r.MutabilityExclusions)
	return out
}

func exclusionFilters(patterns []string) []types.ImageTagMutabilityExclusionFilter {
	if len(patterns) == 0 {
		return nil
	}
	out := make([]types.ImageTagMutabilityExclusionFilter, len(patterns))
	for i, p := range patterns {
		out[i] = types.ImageTagMutabilityExclusionFilter{
			FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard,
			Filter:     aws.String(p),
		}
	}
	return out
}

// mutability validates a tag mutability setting and its exclusion filters.
func mutability(m types.ImageTagMutability, filters []types.ImageTagMutabilityExclusionFilter) (string, []string, error) {
	if m == "" {
		m = types.ImageTagMutabilityMutable
	}
	withExclusion := m == types.ImageTagMutabilityImmutableWithExclusion || m == types.ImageTagMutabilityMutableWithExclusion
	switch {
	case withExclusion && len(filters) == 0:
		return "", nil, invalidParameter("imageTagMutabilityExclusionFilters must be specified when imageTagMutability is %s.", m)
	case !withExclusion && len(filters) > 0:
		return "", nil, invalidParameter("imageTagMutabilityExclusionFilters can only be specified when imageTagMutability is IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION.")
	case len(filters) > 5:
		return "", nil, invalidParameter("At most 5 imageTagMutabilityExclusionFilters can be specified.")
	}
	var patterns []string
	for _, f := range filters {
		if f.FilterType != types.ImageTagMutabilityExclusionFilterTypeWildcard {
			return "", nil, invalidParameter("Invalid imageTagMutabilityExclusionFilter filterType '%s'.", f.FilterType)
		}
		patterns = append(patterns, aws.ToString(f.Filter))
	}
	return string(m), patterns, nil
}

// pageToken encodes a resume point; tokens are opaque to clients.
func pageToken(after string) *string {
	return aws.String(base64.RawURLEncoding.EncodeToString([]byte(after)))
}

func parsePageToken(tok *string) (string, error) {
	if tok == nil {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	if err != nil || len(b) == 0 {
		return "", invalidParameter("Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'")
	}
	return string(b), nil
}

func maxResults(n *int32, def int) int {
	if n == nil || *n <= 0 {
		return def
	}
	return int(*n)
}

func (s *Service) now() time.Time { return time.Now().UTC() }
