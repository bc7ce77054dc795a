package ecr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/registry"
)

// digestRE is ECR's image digest pattern.
var digestRE = regexp.MustCompile(`^[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+$`)

// listKey orders ListImages entries: by digest, then tag ("" for untagged).
func listKey(id types.ImageIdentifier) string {
	return aws.ToString(id.ImageDigest) + "\x00" + aws.ToString(id.ImageTag)
}

// wantTagStatus applies a TAGGED/UNTAGGED/ANY filter.
func wantTagStatus(status types.TagStatus, tagged bool) bool {
	switch status {
	case types.TagStatusTagged:
		return tagged
	case types.TagStatusUntagged:
		return !tagged
	}
	return true
}

// ListImages lists the image ids of a repository: one per tag, and one
// (digest only) per untagged image.
func (s *Service) ListImages(ctx context.Context, in *ecr.ListImagesInput) (*ecr.ListImagesOutput, error) {
	_, repo, err := s.repository(ctx, "ListImages", in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	after, err := parsePageToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &ecr.ListImagesOutput{ImageIds: []types.ImageIdentifier{}}
	var status types.TagStatus
	if in.Filter != nil {
		status = in.Filter.TagStatus
		if in.Filter.ImageStatus == types.ImageStatusFilterArchived {
			return out, nil // images are never archived here
		}
	}
	imgs, err := s.Registry.Images(ctx, repo.Name)
	if err != nil {
		return nil, err
	}
	var ids []types.ImageIdentifier
	for _, img := range imgs {
		if !wantTagStatus(status, len(img.Tags) > 0) {
			continue
		}
		if len(img.Tags) == 0 {
			ids = append(ids, types.ImageIdentifier{ImageDigest: aws.String(img.Digest)})
		}
		for _, t := range img.Tags {
			ids = append(ids, types.ImageIdentifier{ImageDigest: aws.String(img.Digest), ImageTag: aws.String(t)})
		}
	}
	limit := maxResults(in.MaxResults, 100)
	for _, id := range ids { // sorted: images by digest, tags sorted
		if after != "" && listKey(id) <= after {
			continue
		}
		if len(out.ImageIds) == limit {
			out.NextToken = pageToken(listKey(out.ImageIds[limit-1]))
			break
		}
		out.ImageIds = append(out.ImageIds, id)
	}
	return out, nil
}

func (s *Service) detail(repo registry.Repository, img registry.Image) types.ImageDetail {
	d := types.ImageDetail{
		RegistryId:             aws.String(repo.AccountID),
		RepositoryName:         aws.String(repo.Name),
		ImageDigest:            aws.String(img.Digest),
		ImageSizeInBytes:       aws.Int64(img.Size),
		ImageManifestMediaType: aws.String(img.MediaType),
		ImageStatus:            types.ImageStatusActive,
	}
	if len(img.Tags) > 0 {
		d.ImageTags = img.Tags
	}
	if !img.PushedAt.IsZero() {
		d.ImagePushedAt = aws.Time(img.PushedAt.UTC())
	}
	if img.ArtifactType != "" {
		d.ArtifactMediaType = aws.String(img.ArtifactType)
	}
	if img.Subject != "" {
		d.SubjectManifestDigest = aws.String(img.Subject)
	}
	return d
}

// imageIDString renders an image id the way ECR's messages do.
func imageIDString(id types.ImageIdentifier) string {
	q := func(p *string) string {
		if p == nil {
			return "null"
		}
		return "'" + *p + "'"
	}
	return fmt.Sprintf("{imageDigest:%s, imageTag:%s}", q(id.ImageDigest), q(id.ImageTag))
}

// DescribeImages describes the given images, or all of a repository's
// (sorted by digest). Scan status and findings come with scanning.
func (s *Service) DescribeImages(ctx context.Context, in *ecr.DescribeImagesInput) (*ecr.DescribeImagesOutput, error) {
	id, repo, err := s.repository(ctx, "DescribeImages", in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if len(in.ImageIds) > 0 && (in.NextToken != nil || in.MaxResults != nil) {
		return nil, invalidParameter("Invalid parameter: nextToken and maxResults cannot be used with imageIds")
	}
	after, err := parsePageToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &ecr.DescribeImagesOutput{ImageDetails: []types.ImageDetail{}}
	if in.Filter != nil && in.Filter.ImageStatus == types.ImageStatusFilterArchived {
		return out, nil
	}
	imgs, err := s.Registry.Images(ctx, repo.Name)
	if err != nil {
		return nil, err
	}
	if len(in.ImageIds) > 0 {
		seen := map[string]bool{}
		for _, want := range in.ImageIds {
			img, ok := findImage(imgs, want)
			if !ok {
				return nil, awsjson.Errorf("ImageNotFoundException", http.StatusBadRequest,
					"The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'",
					imageIDString(want), repo.Name, id.AccountID)
			}
			if !seen[img.Digest] {
				seen[img.Digest] = true
				out.ImageDetails = append(out.ImageDetails, s.withScan(ctx, repo, s.detail(repo, img)))
			}
		}
		return out, nil
	}
	var status types.TagStatus
	if in.Filter != nil {
		status = in.Filter.TagStatus
	}
	limit := maxResults(in.MaxResults, 100)
	for _, img := range imgs {
		if !wantTagStatus(status, len(img.Tags) > 0) || (after != "" && img.Digest <= after) {
			continue
		}
		if len(out.ImageDetails) == limit {
			out.NextToken = pageToken(*out.ImageDetails[limit-1].ImageDigest)
			break
		}
		out.ImageDetails = append(out.ImageDetails, s.withScan(ctx, repo, s.detail(repo, img)))
	}
	return out, nil
}

// findImage finds the image an id names: by digest, by tag, or both (which
// must agree).
func findImage(imgs []registry.Image, id types.ImageIdentifier) (registry.Image, bool) {
	for _, img := range imgs {
		if id.ImageDigest != nil && *id.ImageDigest != img.Digest {
			continue
		}
		if id.ImageTag != nil && !slices.Contains(img.Tags, *id.ImageTag) {
			continue
		}
		if id.ImageDigest == nil && id.ImageTag == nil {
			return registry.Image{}, false
		}
		return img, true
	}
	return registry.Image{}, false
}

func failure(id types.ImageIdentifier, code types.ImageFailureCode, reason string) types.ImageFailure {
	return types.ImageFailure{ImageId: &id, FailureCode: code, FailureReason: aws.String(reason)}
}

// resolve finds the digest an image id names, or the failure to report.
func (s *Service) resolve(ctx context.Context, repo string, id types.ImageIdentifier) (string, *types.ImageFailure, error) {
	if id.ImageDigest == nil && id.ImageTag == nil {
		f := failure(id, types.ImageFailureCodeMissingDigestAndTag, "Invalid request parameters: both tag and digest cannot be null")
		return "", &f, nil
	}
	if id.ImageDigest != nil && !digestRE.MatchString(*id.ImageDigest) {
		f := failure(id, types.ImageFailureCodeInvalidImageDigest, "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'")
		return "", &f, nil
	}
	notFound := failure(id, types.ImageFailureCodeImageNotFound, "Requested image not found")
	if id.ImageTag == nil {
		return *id.ImageDigest, nil, nil
	}
	dgst, err := s.Registry.ResolveTag(ctx, repo, *id.ImageTag)
	if errors.Is(err, registry.ErrImageNotFound) {
		return "", &notFound, nil
	}
	if err != nil {
		return "", nil, err
	}
	if id.ImageDigest != nil && *id.ImageDigest != dgst {
		f := failure(id, types.ImageFailureCodeImageTagDoesNotMatchDigest, "Invalid request parameters: given tag does not map to the given digest")
		return "", &f, nil
	}
	return dgst, nil, nil
}

// BatchGetImage returns manifests.
func (s *Service) BatchGetImage(ctx context.Context, in *ecr.BatchGetImageInput) (*ecr.BatchGetImageOutput, error) {
	_, repo, err := s.repository(ctx, "BatchGetImage", in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	out := &ecr.BatchGetImageOutput{Images: []types.Image{}, Failures: []types.ImageFailure{}}
	for _, want := range in.ImageIds {
		dgst, f, err := s.resolve(ctx, repo.Name, want)
		if err != nil {
			return nil, err
		}
		if f != nil {
			out.Failures = append(out.Failures, *f)
			continue
		}
		img, body, err := s.Registry.Manifest(ctx, repo.Name, dgst)
		if errors.Is(err, registry.ErrImageNotFound) {
			out.Failures = append(out.Failures, failure(want, types.ImageFailureCodeImageNotFound, "Requested image not found"))
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(in.AcceptedMediaTypes) > 0 && !slices.Contains(in.AcceptedMediaTypes, img.MediaType) {
			out.Failures = append(out.Failures, failure(want, types.ImageFailureCodeImageNotFound,
				"Requested image not found: its manifest media type "+img.MediaType+" is not among acceptedMediaTypes"))
			continue
		}
		out.Images = append(out.Images, types.Image{
			RegistryId:             aws.String(repo.AccountID),
			RepositoryName:         aws.String(repo.Name),
			ImageId:                &types.ImageIdentifier{ImageDigest: aws.String(dgst), ImageTag: want.ImageTag},
			ImageManifest:          aws.String(string(body)),
			ImageManifestMediaType: aws.String(img.MediaType),
		})
	}
	return out, nil
}

// BatchDeleteImage deletes images by digest (with all their tags) and
// removes tags; removing an image's last tag deletes the image, as in ECR.
// An image that an index in the repository references is not deleted
// (ImageReferencedByManifestList).
func (s *Service) BatchDeleteImage(ctx context.Context, in *ecr.BatchDeleteImageInput) (*ecr.BatchDeleteImageOutput, error) {
	_, repo, err := s.repository(ctx, "BatchDeleteImage", in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	out := &ecr.BatchDeleteImageOutput{ImageIds: []types.ImageIdentifier{}, Failures: []types.ImageFailure{}}
	imgs, err := s.Registry.Images(ctx, repo.Name)
	if err != nil {
		return nil, err
	}
	// tags and parents (indexes referencing each digest), kept current as
	// this request deletes.
	tags := map[string][]string{}
	parents := map[string][]string{}
	for _, img := range imgs {
		tags[img.Digest] = img.Tags
		for _, c := range img.Manifests {
			parents[c] = append(parents[c], img.Digest)
		}
	}
	deleteImage := func(dgst string) error {
		if err := s.Registry.DeleteImage(ctx, repo.Name, dgst); err != nil {
			return err
		}
		delete(tags, dgst)
		for c, ps := range parents {
			parents[c] = slices.DeleteFunc(ps, func(p string) bool { return p == dgst })
		}
		return nil
	}
	for _, want := range in.ImageIds {
		dgst, f, err := s.resolve(ctx, repo.Name, want)
		if err != nil {
			return nil, err
		}
		if f != nil {
			out.Failures = append(out.Failures, *f)
			continue
		}
		current, exists := tags[dgst]
		if !exists {
			out.Failures = append(out.Failures, failure(want, types.ImageFailureCodeImageNotFound, "Requested image not found"))
			continue
		}
		untagOnly := want.ImageTag != nil && want.ImageDigest == nil && len(current) > 1
		if !untagOnly && len(parents[dgst]) > 0 {
			out.Failures = append(out.Failures, failure(want, types.ImageFailureCodeImageReferencedByManifestList,
				"Requested image referenced by manifest list: ["+strings.Join(parents[dgst], ", ")+"]"))
			continue
		}
		if untagOnly {
			err = s.Registry.Untag(ctx, repo.Name, *want.ImageTag)
			tags[dgst] = slices.DeleteFunc(slices.Clone(current), func(t string) bool { return t == *want.ImageTag })
		} else {
			err = deleteImage(dgst)
		}
		if errors.Is(err, registry.ErrImageNotFound) {
			out.Failures = append(out.Failures, failure(want, types.ImageFailureCodeImageNotFound, "Requested image not found"))
			continue
		}
		if err != nil {
			return nil, err
		}
		out.ImageIds = append(out.ImageIds, types.ImageIdentifier{ImageDigest: aws.String(dgst), ImageTag: want.ImageTag})
	}
	return out, nil
}
