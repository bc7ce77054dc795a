package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/contract"
	"github.com/wharfml/wharf/internal/store"
)

// TypeModel is the store type (and ARN type) of models.
const TypeModel = "model"

// ImageChecker reports whether an image can be run for account: present in
// the container engine, or in a Wharf registry repository the account may
// pull from (the controller pulls it when a job or endpoint starts). It
// returns the reference to store: registry images are pinned to the digest
// their tag names now, so a re-pushed tag never changes what runs. A
// non-nil error is a refusal whose text is shown to the caller.
type ImageChecker func(ctx context.Context, account, ref string) (pinned string, err error)

// CreateModel validates a model (api.md §7) and stores it. Models have no
// lifecycle of their own: transform jobs and endpoints read them when they start.
//
// VpcConfig is accepted and ignored: Wharf containers never join a customer
// VPC (see docs). Serial inference pipelines (more than one container) and
// ModelPackageName are not supported yet.
func (s *Service) CreateModel(ctx context.Context, in *sm.CreateModelInput) (*sm.CreateModelOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.ModelName)
	if name == "" {
		return nil, validationError("1 validation error detected: Value null at 'modelName' failed to satisfy constraint: Member must not be null")
	}
	if !modelNameRE.MatchString(name) {
		return nil, validationError("1 validation error detected: Value '%s' at 'modelName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?$", name)
	}
	container, err := s.checkModel(ctx, id.AccountID, in)
	if err != nil {
		return nil, err
	}
	arn := s.arn(id.AccountID, TypeModel, name)
	now := s.now()
	doc := sm.DescribeModelOutput{
		ModelName:                in.ModelName,
		ModelArn:                 aws.String(arn),
		PrimaryContainer:         container,
		InferenceExecutionConfig: in.InferenceExecutionConfig,
		ExecutionRoleArn:         in.ExecutionRoleArn,
		VpcConfig:                in.VpcConfig,
		CreationTime:             aws.Time(now),
		EnableNetworkIsolation:   aws.Bool(aws.ToBool(in.EnableNetworkIsolation)),
	}
	if len(in.Containers) > 0 {
		doc.PrimaryContainer, doc.Containers = nil, in.Containers
	}
	err = s.create(ctx, store.Resource{
		Account: id.AccountID, Type: TypeModel, Name: name, ARN: arn, Status: "Created", Created: now, Modified: now,
	}, &doc, in.Tags)
	if errors.Is(err, store.ErrExists) {
		return nil, validationError("Cannot create already existing model %q.", arn)
	}
	if err != nil {
		return nil, err
	}
	return &sm.CreateModelOutput{ModelArn: aws.String(arn)}, nil
}

var modelNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$`)

// checkModel applies the checks beyond the shape model and returns the
// model's one container.
func (s *Service) checkModel(ctx context.Context, account string, in *sm.CreateModelInput) (*types.ContainerDefinition, error) {
	if len(aws.ToString(in.ModelName)) > 63 {
		return nil, validationError("1 validation error detected: Value '%s' at 'modelName' failed to satisfy constraint: Member must have length less than or equal to 63", aws.ToString(in.ModelName))
	}
	c := in.PrimaryContainer
	member := "primaryContainer"
	switch {
	case c != nil && len(in.Containers) > 0:
		return nil, validationError("Specify either PrimaryContainer or Containers, not both.")
	case len(in.Containers) > 1:
		return nil, validationError("Containers: serial inference pipelines are not supported yet; give exactly one container.")
	case len(in.Containers) == 1:
		c, member = &in.Containers[0], "containers.1.member"
	case c == nil:
		return nil, validationError("Either PrimaryContainer or Containers must be specified.")
	}
	if in.ExecutionRoleArn != nil {
		if err := checkRole("executionRoleArn", aws.ToString(in.ExecutionRoleArn), account); err != nil {
			return nil, err
		}
	}
	switch {
	case c.ModelPackageName != nil:
		return nil, validationError("%s.modelPackageName: models from model packages are not supported yet; give Image and ModelDataUrl.", member)
	case c.ModelDataSource != nil:
		return nil, validationError("%s.modelDataSource is not supported yet; use ModelDataUrl.", member)
	case len(c.AdditionalModelDataSources) > 0:
		return nil, validationError("%s.additionalModelDataSources is not supported.", member)
	case c.ImageConfig != nil && c.ImageConfig.RepositoryAccessMode == types.RepositoryAccessModeVpc:
		return nil, validationError("%s.imageConfig.repositoryAccessMode Vpc is not supported; push the image to Wharf or the local Docker Engine.", member)
	case c.Mode == types.ContainerModeMultiModel:
		return nil, validationError("%s.mode MultiModel is not supported yet.", member)
	case c.MultiModelConfig != nil:
		return nil, validationError("%s.multiModelConfig is not supported yet.", member)
	case aws.ToString(c.Image) == "":
		return nil, validationError("1 validation error detected: Value null at '%s.image' failed to satisfy constraint: Member must not be null", member)
	case len(aws.ToString(c.Image)) > 255:
		return nil, validationError("1 validation error detected: Value '%s' at '%s.image' failed to satisfy constraint: Member must have length less than or equal to 255", aws.ToString(c.Image), member)
	case len(aws.ToString(c.ContainerHostname)) > 63:
		return nil, validationError("%s.containerHostname must have length less than or equal to 63.", member)
	}
	if len(c.Environment) > 100 {
		return nil, validationError("%s.environment: at most 100 entries are allowed.", member)
	}
	for k, v := range c.Environment {
		if !envKeyRE.MatchString(k) || len(k) > 1024 || len(v) > 1024 {
			return nil, validationError("%s.environment: invalid entry %q (keys match [a-zA-Z_][a-zA-Z0-9_]*, keys and values at most 1024 characters).", member, k)
		}
	}
	if s.Images != nil {
		pinned, err := s.Images(ctx, account, aws.ToString(c.Image))
		if err != nil {
			return nil, validationError("Requested image %s not found or not accessible: %v", aws.ToString(c.Image), err)
		}
		c.Image = aws.String(pinned)
	}
	if url := aws.ToString(c.ModelDataUrl); url != "" {
		if err := s.checkObject(ctx, account, member+".modelDataUrl", url); err != nil {
			return nil, err
		}
	}
	return c, nil
}

var envKeyRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// checkObject: uri names an existing object in a bucket the caller owns.
func (s *Service) checkObject(ctx context.Context, account, member, uri string) error {
	if err := s.checkBucket(ctx, account, member, uri); err != nil {
		return err
	}
	bucket, key, _ := contract.ParseS3URI(uri)
	if key == "" || key[len(key)-1] == '/' {
		return validationError("Value '%s' at '%s' must name one S3 object (a model.tar.gz).", uri, member)
	}
	if _, err := s.Blobs.Head(ctx, bucket, key); err != nil {
		if errors.Is(err, blob.ErrNotFound) {
			return validationError("Could not find model data at %s: the object does not exist.", uri)
		}
		return fmt.Errorf("head %s: %w", uri, err)
	}
	return nil
}

// getModel loads a model of the caller; missing and foreign models read the same.
func (s *Service) getModel(ctx context.Context, name string) (store.Resource, *sm.DescribeModelOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return store.Resource{}, nil, err
	}
	var doc sm.DescribeModelOutput
	r, err := s.get(ctx, id.AccountID, TypeModel, name, &doc)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil, validationError("Could not find model %q.", s.arn(id.AccountID, TypeModel, name))
	}
	return r, &doc, err
}

// DescribeModel returns a model.
func (s *Service) DescribeModel(ctx context.Context, in *sm.DescribeModelInput) (*sm.DescribeModelOutput, error) {
	_, doc, err := s.getModel(ctx, aws.ToString(in.ModelName))
	return doc, err
}

// ListModels lists the caller's models (newest first by default).
func (s *Service) ListModels(ctx context.Context, in *sm.ListModelsInput) (*sm.ListModelsOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rs, next, err := s.list(ctx, id.AccountID, TypeModel, listParams{
		MaxResults: in.MaxResults, NextToken: in.NextToken, NameContains: in.NameContains,
		SortBy: string(in.SortBy), SortOrder: string(in.SortOrder),
		CreatedAfter: in.CreationTimeAfter, CreatedBefore: in.CreationTimeBefore, DefaultDescending: true,
	})
	if err != nil {
		return nil, err
	}
	out := &sm.ListModelsOutput{Models: []types.ModelSummary{}}
	for _, r := range rs {
		var doc sm.DescribeModelOutput
		if err := awsjson.Unmarshal(r.Doc, &doc); err != nil {
			return nil, err
		}
		out.Models = append(out.Models, types.ModelSummary{ModelName: doc.ModelName, ModelArn: doc.ModelArn, CreationTime: doc.CreationTime})
	}
	if next != "" {
		out.NextToken = aws.String(next)
	}
	return out, nil
}

// DeleteModel deletes a model; jobs and endpoints already using it are unaffected.
func (s *Service) DeleteModel(ctx context.Context, in *sm.DeleteModelInput) (*sm.DeleteModelOutput, error) {
	r, _, err := s.getModel(ctx, aws.ToString(in.ModelName))
	if err != nil {
		return nil, err
	}
	if err := s.Store.DeleteResource(ctx, r.Account, r.Type, r.Name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, validationError("Could not find model %q.", r.ARN)
		}
		return nil, err
	}
	if tags, err := s.Store.ListTags(ctx, r.ARN); err == nil && len(tags) > 0 {
		keys := make([]string, len(tags))
		for i, t := range tags {
			keys[i] = t.Key
		}
		_ = s.Store.DeleteTags(ctx, r.ARN, keys) // a re-created model must not inherit them
	}
	return &sm.DeleteModelOutput{}, nil
}
