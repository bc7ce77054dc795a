package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

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
// VPC (see docs). Containers holds 1–15 containers: a serial inference
// pipeline (InferenceExecutionConfig.Mode Serial, the default) or, in Direct
// mode, a multi-container model whose invocations name one container.
// ModelPackageName is not supported yet.
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
	if err := s.checkModel(ctx, id.AccountID, in); err != nil {
		return nil, err
	}
	arn := s.arn(id.AccountID, TypeModel, name)
	now := s.now()
	doc := sm.DescribeModelOutput{
		ModelName:                in.ModelName,
		ModelArn:                 aws.String(arn),
		PrimaryContainer:         in.PrimaryContainer,
		InferenceExecutionConfig: in.InferenceExecutionConfig,
		ExecutionRoleArn:         in.ExecutionRoleArn,
		VpcConfig:                in.VpcConfig,
		CreationTime:             aws.Time(now),
		EnableNetworkIsolation:   aws.Bool(aws.ToBool(in.EnableNetworkIsolation)),
	}
	if len(in.Containers) > 0 {
		doc.Containers = in.Containers
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

// Limits of CreateModel's Containers.
const (
	maxContainers = 15
	// maxEnvBytes bounds the keys and values of all containers' Environment maps together.
	maxEnvBytes = 32 << 10
)

// checkModel applies the checks beyond the shape model to the model's
// containers (PrimaryContainer, or each of Containers) and pins each image
// to its digest in place.
func (s *Service) checkModel(ctx context.Context, account string, in *sm.CreateModelInput) error {
	if len(aws.ToString(in.ModelName)) > 63 {
		return validationError("1 validation error detected: Value '%s' at 'modelName' failed to satisfy constraint: Member must have length less than or equal to 63", aws.ToString(in.ModelName))
	}
	switch {
	case in.PrimaryContainer != nil && len(in.Containers) > 0:
		return validationError("Specify either PrimaryContainer or Containers, not both.")
	case in.PrimaryContainer == nil && len(in.Containers) == 0:
		return validationError("Either PrimaryContainer or Containers must be specified.")
	case len(in.Containers) > maxContainers:
		return validationError("1 validation error detected: Value at 'containers' failed to satisfy constraint: Member must have length less than or equal to %d", maxContainers)
	}
	direct := false
	if iec := in.InferenceExecutionConfig; iec != nil {
		switch iec.Mode {
		case "":
			return validationError("1 validation error detected: Value null at 'inferenceExecutionConfig.mode' failed to satisfy constraint: Member must not be null")
		case types.InferenceExecutionModeSerial:
		case types.InferenceExecutionModeDirect:
			direct = true
		default:
			return validationError("1 validation error detected: Value '%s' at 'inferenceExecutionConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Serial, Direct]", iec.Mode)
		}
	}
	if direct && in.PrimaryContainer != nil {
		return validationError("InferenceExecutionConfig.Mode Direct needs Containers: it names the container each invocation goes to.")
	}
	if in.ExecutionRoleArn != nil {
		if err := checkRole("executionRoleArn", aws.ToString(in.ExecutionRoleArn), account); err != nil {
			return err
		}
	}

	// A pipeline's containers are named in logs, errors and Direct
	// invocations by ContainerHostname: all or none of them have one (all,
	// in Direct mode), and no two the same.
	named, envBytes := 0, 0
	hostnames := map[string]bool{}
	for i := range in.Containers {
		hn := aws.ToString(in.Containers[i].ContainerHostname)
		if hn == "" {
			continue
		}
		named++
		if hostnames[strings.ToLower(hn)] {
			return validationError("Containers: ContainerHostname %q is given to more than one container; hostnames must be unique within a model.", hn)
		}
		hostnames[strings.ToLower(hn)] = true
	}
	switch {
	case direct && named < len(in.Containers):
		return validationError("InferenceExecutionConfig.Mode Direct requires a ContainerHostname for every container: invocations pick the container by it.")
	case named > 0 && named < len(in.Containers):
		return validationError("Containers: give every container of an inference pipeline a ContainerHostname, or none of them.")
	}

	if in.PrimaryContainer != nil {
		return s.checkContainer(ctx, account, in.PrimaryContainer, "primaryContainer", &envBytes)
	}
	for i := range in.Containers {
		if err := s.checkContainer(ctx, account, &in.Containers[i], fmt.Sprintf("containers.%d.member", i+1), &envBytes); err != nil {
			return err
		}
	}
	return nil
}

// checkContainer checks one container definition (member names it in
// errors), adds the size of its Environment to envBytes and pins its image.
func (s *Service) checkContainer(ctx context.Context, account string, c *types.ContainerDefinition, member string, envBytes *int) error {
	switch {
	case c.ModelPackageName != nil:
		return validationError("%s.modelPackageName: models from model packages are not supported yet; give Image and ModelDataUrl.", member)
	case c.ModelDataSource != nil:
		return validationError("%s.modelDataSource is not supported yet; use ModelDataUrl.", member)
	case len(c.AdditionalModelDataSources) > 0:
		return validationError("%s.additionalModelDataSources is not supported.", member)
	case c.ImageConfig != nil && c.ImageConfig.RepositoryAccessMode == types.RepositoryAccessModeVpc:
		return validationError("%s.imageConfig.repositoryAccessMode Vpc is not supported; push the image to Wharf or the local Docker Engine.", member)
	case c.Mode == types.ContainerModeMultiModel:
		return validationError("%s.mode MultiModel is not supported yet.", member)
	case c.MultiModelConfig != nil:
		return validationError("%s.multiModelConfig is not supported yet.", member)
	case aws.ToString(c.Image) == "":
		return validationError("1 validation error detected: Value null at '%s.image' failed to satisfy constraint: Member must not be null", member)
	case len(aws.ToString(c.Image)) > 255:
		return validationError("1 validation error detected: Value '%s' at '%s.image' failed to satisfy constraint: Member must have length less than or equal to 255", aws.ToString(c.Image), member)
	case len(aws.ToString(c.ContainerHostname)) > 63:
		return validationError("%s.containerHostname must have length less than or equal to 63.", member)
	case c.ContainerHostname != nil && !hostnameRE.MatchString(*c.ContainerHostname):
		return validationError("1 validation error detected: Value '%s' at '%s.containerHostname' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", *c.ContainerHostname, member)
	}
	if len(c.Environment) > 100 {
		return validationError("%s.environment: at most 100 entries are allowed.", member)
	}
	for k, v := range c.Environment {
		if !envKeyRE.MatchString(k) || len(k) > 1024 || len(v) > 1024 {
			return validationError("%s.environment: invalid entry %q (keys match [a-zA-Z_][a-zA-Z0-9_]*, keys and values at most 1024 characters).", member, k)
		}
		*envBytes += len(k) + len(v)
	}
	if *envBytes > maxEnvBytes {
		return validationError("%s.environment: the Environment maps of the model's containers hold more than %d bytes of keys and values together.", member, maxEnvBytes)
	}
	if s.Images != nil {
		pinned, err := s.Images(ctx, account, aws.ToString(c.Image))
		if err != nil {
			return validationError("Requested image %s not found or not accessible: %v", aws.ToString(c.Image), err)
		}
		c.Image = aws.String(pinned)
	}
	if url := aws.ToString(c.ModelDataUrl); url != "" {
		if err := s.checkObject(ctx, account, member+".modelDataUrl", url); err != nil {
			return err
		}
	}
	return nil
}

var hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

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
