package sagemaker

import (
	"context"
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/store"
)

// CreateModelPackageGroup creates a group that versioned model packages join.
func (s *Service) CreateModelPackageGroup(ctx context.Context, in *sm.CreateModelPackageGroupInput) (*sm.CreateModelPackageGroupOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.ModelPackageGroupName)
	arn := s.arn(id.AccountID, typeModelPackageGroup, name)
	now := s.now()
	doc := sm.DescribeModelPackageGroupOutput{
		ModelPackageGroupName:        in.ModelPackageGroupName,
		ModelPackageGroupArn:         aws.String(arn),
		ModelPackageGroupDescription: in.ModelPackageGroupDescription,
		CreationTime:                 aws.Time(now),
		CreatedBy:                    &types.UserContext{},
		ModelPackageGroupStatus:      types.ModelPackageGroupStatusCompleted,
	}
	err = s.create(ctx, store.Resource{
		Account: id.AccountID, Type: typeModelPackageGroup, Name: name, ARN: arn,
		Status: string(doc.ModelPackageGroupStatus), Created: now, Modified: now,
	}, &doc, in.Tags)
	if errors.Is(err, store.ErrExists) {
		return nil, validationError("Model Package Group already exists: %s", arn)
	}
	if err != nil {
		return nil, err
	}
	return &sm.CreateModelPackageGroupOutput{ModelPackageGroupArn: aws.String(arn)}, nil
}

// getModelPackageGroup loads a group by name or ARN, answering the service's
// not-found error for missing groups and for other accounts' groups alike.
func (s *Service) getModelPackageGroup(ctx context.Context, nameOrARN string) (store.Resource, *sm.DescribeModelPackageGroupOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return store.Resource{}, nil, err
	}
	notFound := validationError("ModelPackageGroup %s does not exist.", nameOrARN)
	name, ok := s.nameFromArnOrName(nameOrARN, id.AccountID, typeModelPackageGroup)
	if !ok {
		return store.Resource{}, nil, notFound
	}
	var doc sm.DescribeModelPackageGroupOutput
	r, err := s.get(ctx, id.AccountID, typeModelPackageGroup, name, &doc)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil, notFound
	}
	return r, &doc, err
}

// DescribeModelPackageGroup returns a group.
func (s *Service) DescribeModelPackageGroup(ctx context.Context, in *sm.DescribeModelPackageGroupInput) (*sm.DescribeModelPackageGroupOutput, error) {
	_, doc, err := s.getModelPackageGroup(ctx, aws.ToString(in.ModelPackageGroupName))
	return doc, err
}

// ListModelPackageGroups lists the caller's groups.
func (s *Service) ListModelPackageGroups(ctx context.Context, in *sm.ListModelPackageGroupsInput) (*sm.ListModelPackageGroupsOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	out := &sm.ListModelPackageGroupsOutput{ModelPackageGroupSummaryList: []types.ModelPackageGroupSummary{}}
	// Groups shared from other accounts (RAM) do not exist in Wharf.
	if in.CrossAccountFilterOption == types.CrossAccountFilterOptionCrossAccount {
		return out, nil
	}
	rs, next, err := s.list(ctx, id.AccountID, typeModelPackageGroup, listParams{
		MaxResults: in.MaxResults, NextToken: in.NextToken, NameContains: in.NameContains,
		SortBy: string(in.SortBy), SortOrder: string(in.SortOrder),
		CreatedAfter: in.CreationTimeAfter, CreatedBefore: in.CreationTimeBefore,
	})
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		var doc sm.DescribeModelPackageGroupOutput
		if err := awsjson.Unmarshal(r.Doc, &doc); err != nil {
			return nil, err
		}
		out.ModelPackageGroupSummaryList = append(out.ModelPackageGroupSummaryList, types.ModelPackageGroupSummary{
			ModelPackageGroupName:        doc.ModelPackageGroupName,
			ModelPackageGroupArn:         doc.ModelPackageGroupArn,
			ModelPackageGroupDescription: doc.ModelPackageGroupDescription,
			CreationTime:                 doc.CreationTime,
			ModelPackageGroupStatus:      doc.ModelPackageGroupStatus,
		})
	}
	if next != "" {
		out.NextToken = aws.String(next)
	}
	return out, nil
}

// DeleteModelPackageGroup deletes an empty group.
func (s *Service) DeleteModelPackageGroup(ctx context.Context, in *sm.DeleteModelPackageGroupInput) (*sm.DeleteModelPackageGroupOutput, error) {
	r, _, err := s.getModelPackageGroup(ctx, aws.ToString(in.ModelPackageGroupName))
	if err != nil {
		return nil, err
	}
	// Versioned model packages do not exist yet (CreateModelPackage lands with
	// the algorithms/model packages issue); that change adds the
	// ConflictException for groups that still hold versions.
	if err := s.Store.DeleteResource(ctx, r.Account, r.Type, r.Name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, awsjson.Errorf("ValidationException", http.StatusBadRequest, "ModelPackageGroup %s does not exist.", r.Name)
		}
		return nil, err
	}
	return &sm.DeleteModelPackageGroupOutput{}, nil
}
