package ecr

import (
	"context"
	"net/http"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/registry"
	"github.com/wharfml/wharf/internal/scan"
)

// Scans runs image scans and keeps their results.
type Scans interface {
	Enqueue(ctx context.Context, account, repo, digest string) error
	Get(ctx context.Context, account, repo, digest string) (scan.Result, bool, error)
}

// StartImageScan queues a scan of one image.
func (s *Service) StartImageScan(ctx context.Context, in *ecr.StartImageScanInput) (*ecr.StartImageScanOutput, error) {
	_, repo, err := s.repository(ctx, "StartImageScan", in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	dgst, err := s.scanTarget(ctx, repo.Name, repo.AccountID, in.ImageId)
	if err != nil {
		return nil, err
	}
	if s.Scans == nil {
		return nil, awsjson.Errorf("UnsupportedImageTypeException", http.StatusBadRequest, "Image scanning is not enabled on this installation.")
	}
	if err := s.Scans.Enqueue(ctx, repo.AccountID, repo.Name, dgst); err != nil {
		return nil, err
	}
	return &ecr.StartImageScanOutput{
		RegistryId: aws.String(repo.AccountID), RepositoryName: aws.String(repo.Name),
		ImageId:         &types.ImageIdentifier{ImageDigest: aws.String(dgst), ImageTag: in.ImageId.ImageTag},
		ImageScanStatus: &types.ImageScanStatus{Status: types.ScanStatusInProgress, Description: aws.String("The scan is in progress.")},
	}, nil
}

// scanTarget resolves an image id to a digest, answering ECR's errors.
func (s *Service) scanTarget(ctx context.Context, repo, account string, id *types.ImageIdentifier) (string, error) {
	if id == nil {
		return "", invalidParameter("Invalid parameter at 'imageId' failed to satisfy constraint: 'Member must not be null'")
	}
	dgst, fail, err := s.resolve(ctx, repo, *id)
	if err != nil {
		return "", err
	}
	if fail != nil {
		return "", awsjson.Errorf("ImageNotFoundException", http.StatusBadRequest,
			"The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'",
			imageIDString(*id), repo, account)
	}
	return dgst, nil
}

// DescribeImageScanFindings returns a scan's status and findings, most
// severe first, paged.
func (s *Service) DescribeImageScanFindings(ctx context.Context, in *ecr.DescribeImageScanFindingsInput) (*ecr.DescribeImageScanFindingsOutput, error) {
	_, repo, err := s.repository(ctx, "DescribeImageScanFindings", in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	dgst, err := s.scanTarget(ctx, repo.Name, repo.AccountID, in.ImageId)
	if err != nil {
		return nil, err
	}
	var res scan.Result
	found := false
	if s.Scans != nil {
		if res, found, err = s.Scans.Get(ctx, repo.AccountID, repo.Name, dgst); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, awsjson.Errorf("ScanNotFoundException", http.StatusBadRequest,
			"Image scan does not exist for the image with '%s' in the repository with name '%s' in the registry with id '%s'",
			imageIDString(*in.ImageId), repo.Name, repo.AccountID)
	}
	out := &ecr.DescribeImageScanFindingsOutput{
		RegistryId: aws.String(repo.AccountID), RepositoryName: aws.String(repo.Name),
		ImageId:         &types.ImageIdentifier{ImageDigest: aws.String(dgst), ImageTag: in.ImageId.ImageTag},
		ImageScanStatus: &types.ImageScanStatus{Status: types.ScanStatus(res.Status), Description: aws.String(res.Description)},
	}
	if res.Status != scan.StatusComplete {
		return out, nil
	}
	findings := append([]scan.Finding(nil), res.Findings...)
	sort.SliceStable(findings, func(i, j int) bool { return severityRank(findings[i].Severity) < severityRank(findings[j].Severity) })
	after, err := parsePageToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	start := 0
	if after != "" {
		if start, err = strconv.Atoi(after); err != nil || start < 0 || start > len(findings) {
			return nil, invalidParameter("Invalid parameter at 'nextToken': the token is not valid")
		}
	}
	limit := maxResults(in.MaxResults, 100)
	end := min(start+limit, len(findings))
	isf := &types.ImageScanFindings{
		ImageScanCompletedAt:  aws.Time(res.CompletedAt),
		FindingSeverityCounts: map[string]int32{},
		Findings:              []types.ImageScanFinding{},
	}
	if !res.AdvisoriesAt.IsZero() {
		isf.VulnerabilitySourceUpdatedAt = aws.Time(res.AdvisoriesAt)
	}
	for sev, n := range res.SeverityCounts() {
		isf.FindingSeverityCounts[sev] = n
	}
	for _, f := range findings[start:end] {
		isf.Findings = append(isf.Findings, types.ImageScanFinding{
			Name: aws.String(f.ID), Severity: types.FindingSeverity(f.Severity), Uri: aws.String(f.URI),
			Description: aws.String(firstNonEmpty(f.Summary, f.Description)),
			Attributes: []types.Attribute{
				{Key: aws.String("package_name"), Value: aws.String(f.Package.Name)},
				{Key: aws.String("package_version"), Value: aws.String(f.Package.Version)},
				{Key: aws.String("fixed_version"), Value: aws.String(f.FixedVersion)},
			},
		})
	}
	out.ImageScanFindings = isf
	if end < len(findings) {
		out.NextToken = pageToken(strconv.Itoa(end))
	}
	return out, nil
}

func severityRank(s string) int {
	switch types.FindingSeverity(s) {
	case types.FindingSeverityCritical:
		return 0
	case types.FindingSeverityHigh:
		return 1
	case types.FindingSeverityMedium:
		return 2
	case types.FindingSeverityLow:
		return 3
	case types.FindingSeverityInformational:
		return 4
	}
	return 5
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// withScan adds an image's scan status and finding counts, if it was scanned.
func (s *Service) withScan(ctx context.Context, repo registry.Repository, d types.ImageDetail) types.ImageDetail {
	if s.Scans == nil {
		return d
	}
	res, ok, err := s.Scans.Get(ctx, repo.AccountID, repo.Name, aws.ToString(d.ImageDigest))
	if err != nil || !ok {
		return d
	}
	d.ImageScanStatus = &types.ImageScanStatus{Status: types.ScanStatus(res.Status), Description: aws.String(res.Description)}
	if res.Status == scan.StatusComplete {
		d.ImageScanFindingsSummary = &types.ImageScanFindingsSummary{
			ImageScanCompletedAt: aws.Time(res.CompletedAt), FindingSeverityCounts: res.SeverityCounts(),
		}
		if !res.AdvisoriesAt.IsZero() {
			d.ImageScanFindingsSummary.VulnerabilitySourceUpdatedAt = aws.Time(res.AdvisoriesAt)
		}
	}
	return d
}
