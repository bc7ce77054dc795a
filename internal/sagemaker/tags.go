package sagemaker

import (
	"context"
	"errors"
	"net/http"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/store"
)

// taggable checks that arn names an existing resource of the caller's and
// returns it. Other accounts' resources read as missing.
func (s *Service) taggable(ctx context.Context, arn string) (store.Resource, error) {
	id, err := caller(ctx)
	if err != nil {
		return store.Resource{}, err
	}
	notFound := validationError("Could not find resource %s.", arn)
	p, ok := parseARN(arn)
	if !ok || p.Account != id.AccountID || p.Region != s.Region {
		return store.Resource{}, notFound
	}
	r, err := s.Store.GetResource(ctx, p.Account, p.Type, p.Name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Resource{}, notFound
	}
	return r, err
}

func toStoreTags(tags []types.Tag) []store.Tag {
	out := make([]store.Tag, len(tags))
	for i, t := range tags {
		out[i] = store.Tag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)}
	}
	return out
}

func fromStoreTags(tags []store.Tag) []types.Tag {
	out := make([]types.Tag, len(tags))
	for i, t := range tags {
		out[i] = types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)}
	}
	return out
}

func checkTagKeysUnique(tags []types.Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		k := aws.ToString(t.Key)
		if seen[k] {
			return validationError("Duplicate tag key %q in the request.", k)
		}
		seen[k] = true
	}
	return nil
}

// AddTags adds or overwrites tags and returns the resource's tags.
func (s *Service) AddTags(ctx context.Context, in *sm.AddTagsInput) (*sm.AddTagsOutput, error) {
	r, err := s.taggable(ctx, aws.ToString(in.ResourceArn))
	if err != nil {
		return nil, err
	}
	if err := checkTagKeysUnique(in.Tags); err != nil {
		return nil, err
	}
	existing, err := s.Store.ListTags(ctx, r.ARN)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for _, t := range existing {
		keys[t.Key] = true
	}
	for _, t := range in.Tags {
		keys[aws.ToString(t.Key)] = true
	}
	if len(keys) > maxTags {
		return nil, awsjson.Errorf("ResourceLimitExceeded", http.StatusBadRequest, "Too many tags: %s would have %d, the limit is %d.", r.ARN, len(keys), maxTags)
	}
	if err := s.Store.PutTags(ctx, r.ARN, toStoreTags(in.Tags)); err != nil {
		return nil, err
	}
	all, err := s.Store.ListTags(ctx, r.ARN)
	if err != nil {
		return nil, err
	}
	return &sm.AddTagsOutput{Tags: fromStoreTags(all)}, nil
}

// ListTags pages through a resource's tags in key order.
func (s *Service) ListTags(ctx context.Context, in *sm.ListTagsInput) (*sm.ListTagsOutput, error) {
	r, err := s.taggable(ctx, aws.ToString(in.ResourceArn))
	if err != nil {
		return nil, err
	}
	all, err := s.Store.ListTags(ctx, r.ARN)
	if err != nil {
		return nil, err
	}
	limit := 50
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	start := 0
	if in.NextToken != nil && *in.NextToken != "" {
		tok, err := s.decodeToken(*in.NextToken)
		if err != nil || tok.Filters != "tags:"+r.ARN {
			return nil, validationError("Invalid pagination token.")
		}
		start = sort.Search(len(all), func(i int) bool { return all[i].Key > tok.Name })
	}
	out := &sm.ListTagsOutput{Tags: fromStoreTags(all[start:min(start+limit, len(all))])}
	if start+limit < len(all) {
		out.NextToken = aws.String(s.encodeToken(pageToken{Name: all[start+limit-1].Key, Filters: "tags:" + r.ARN}))
	}
	return out, nil
}

// DeleteTags removes the named keys; missing keys are ignored, as on the service.
func (s *Service) DeleteTags(ctx context.Context, in *sm.DeleteTagsInput) (*sm.DeleteTagsOutput, error) {
	r, err := s.taggable(ctx, aws.ToString(in.ResourceArn))
	if err != nil {
		return nil, err
	}
	if err := s.Store.DeleteTags(ctx, r.ARN, in.TagKeys); err != nil {
		return nil, err
	}
	return &sm.DeleteTagsOutput{}, nil
}
