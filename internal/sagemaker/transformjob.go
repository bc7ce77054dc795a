package sagemaker

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/store"
	"github.com/wharfml/wharf/internal/transform"
)

// TypeTransformJob is the store type (and ARN type) of transform jobs.
const TypeTransformJob = "transform-job"

// Transform limits and defaults (api.md §2, §8).
const (
	maxPayloadInMB               = 100
	DefaultInvocationsTimeout    = 600
	DefaultInvocationsMaxRetries = 3
)

var entityNameRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

// CreateTransformJob validates a batch transform job and stores it
// InProgress; the transform controller runs it.
func (s *Service) CreateTransformJob(ctx context.Context, in *sm.CreateTransformJobInput) (*sm.CreateTransformJobOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkTransformJob(ctx, id.AccountID, in); err != nil {
		return nil, err
	}
	name := aws.ToString(in.TransformJobName)
	arn := s.arn(id.AccountID, TypeTransformJob, name)
	now := s.now()
	mcc := types.ModelClientConfig{
		InvocationsTimeoutInSeconds: aws.Int32(DefaultInvocationsTimeout),
		InvocationsMaxRetries:       aws.Int32(DefaultInvocationsMaxRetries),
	}
	if c := in.ModelClientConfig; c != nil {
		if c.InvocationsTimeoutInSeconds != nil {
			mcc.InvocationsTimeoutInSeconds = c.InvocationsTimeoutInSeconds
		}
		if c.InvocationsMaxRetries != nil {
			mcc.InvocationsMaxRetries = c.InvocationsMaxRetries
		}
	}
	input := *in.TransformInput
	if input.CompressionType == "" {
		input.CompressionType = types.CompressionTypeNone
	}
	if input.SplitType == "" {
		input.SplitType = types.SplitTypeNone
	}
	output := *in.TransformOutput
	if output.AssembleWith == "" {
		output.AssembleWith = types.AssemblyTypeNone
	}
	doc := sm.DescribeTransformJobOutput{
		TransformJobName:   in.TransformJobName,
		TransformJobArn:    aws.String(arn),
		TransformJobStatus: types.TransformJobStatusInProgress,
		ModelName:          in.ModelName,
		// MaxConcurrentTransforms, MaxPayloadInMB and BatchStrategy keep the
		// request's values (nil = unset) until the controller has asked the
		// container (container-contract.md §4.2) and writes the effective ones.
		MaxConcurrentTransforms: in.MaxConcurrentTransforms,
		MaxPayloadInMB:          in.MaxPayloadInMB,
		BatchStrategy:           in.BatchStrategy,
		ModelClientConfig:       &mcc,
		Environment:             in.Environment,
		TransformInput:          &input,
		TransformOutput:         &output,
		TransformResources:      in.TransformResources,
		DataProcessing:          in.DataProcessing,
		ExperimentConfig:        in.ExperimentConfig,
		CreationTime:            aws.Time(now),
	}
	if doc.MaxConcurrentTransforms != nil && *doc.MaxConcurrentTransforms == 0 {
		doc.MaxConcurrentTransforms = nil // 0 = ask the container
	}
	err = s.create(ctx, store.Resource{
		Account: id.AccountID, Type: TypeTransformJob, Name: name, ARN: arn,
		Status: string(doc.TransformJobStatus), Created: now, Modified: now,
	}, &doc, in.Tags)
	if errors.Is(err, store.ErrExists) {
		return nil, awsjson.Errorf("ResourceInUse", http.StatusBadRequest,
			"Job name must be unique within an AWS account and region, and a job with this name already exists (%s)", arn)
	}
	if err != nil {
		return nil, err
	}
	s.notify(TypeTransformJob)
	return &sm.CreateTransformJobOutput{TransformJobArn: aws.String(arn)}, nil
}

// checkTransformJob applies the checks beyond the shape model (api.md §8).
func (s *Service) checkTransformJob(ctx context.Context, account string, in *sm.CreateTransformJobInput) error {
	name := aws.ToString(in.TransformJobName)
	null := func(member string) error {
		return validationError("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	switch {
	case name == "":
		return null("transformJobName")
	case !entityNameRE.MatchString(name):
		return validationError("1 validation error detected: Value '%s' at 'transformJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)
	case aws.ToString(in.ModelName) == "":
		return null("modelName")
	case in.TransformInput == nil:
		return null("transformInput")
	case in.TransformOutput == nil:
		return null("transformOutput")
	case in.TransformResources == nil:
		return null("transformResources")
	case in.DataCaptureConfig != nil:
		return validationError("DataCaptureConfig is not supported.")
	case in.BatchStrategy != "" && in.BatchStrategy != types.BatchStrategyMultiRecord && in.BatchStrategy != types.BatchStrategySingleRecord:
		return validationError("1 validation error detected: Value '%s' at 'batchStrategy' failed to satisfy constraint: Member must satisfy enum value set: [MultiRecord, SingleRecord]", in.BatchStrategy)
	case aws.ToInt32(in.MaxConcurrentTransforms) < 0:
		return validationError("1 validation error detected: Value '%d' at 'maxConcurrentTransforms' failed to satisfy constraint: Member must have value greater than or equal to 0", aws.ToInt32(in.MaxConcurrentTransforms))
	case aws.ToInt32(in.MaxPayloadInMB) < 0 || aws.ToInt32(in.MaxPayloadInMB) > maxPayloadInMB:
		return validationError("1 validation error detected: Value '%d' at 'maxPayloadInMB' failed to satisfy constraint: Member must have value between 0 and %d", aws.ToInt32(in.MaxPayloadInMB), maxPayloadInMB)
	case int64(aws.ToInt32(in.MaxConcurrentTransforms))*int64(aws.ToInt32(in.MaxPayloadInMB)) > maxPayloadInMB:
		return validationError("MaxConcurrentTransforms (%d) multiplied by MaxPayloadInMB (%d) must not exceed %d.",
			aws.ToInt32(in.MaxConcurrentTransforms), aws.ToInt32(in.MaxPayloadInMB), maxPayloadInMB)
	case len(in.Environment) > 16:
		return validationError("1 validation error detected: Value at 'environment' failed to satisfy constraint: Member must have length less than or equal to 16")
	}
	for k, v := range in.Environment {
		if !envKeyRE.MatchString(k) || len(k) > 1024 || len(v) > 10240 {
			return validationError("Environment: invalid entry %q.", k)
		}
	}
	if c := in.ModelClientConfig; c != nil {
		if t := c.InvocationsTimeoutInSeconds; t != nil && (*t < 1 || *t > 3600) {
			return validationError("1 validation error detected: Value '%d' at 'modelClientConfig.invocationsTimeoutInSeconds' failed to satisfy constraint: Member must have value between 1 and 3600", *t)
		}
		if r := c.InvocationsMaxRetries; r != nil && (*r < 0 || *r > 3) {
			return validationError("1 validation error detected: Value '%d' at 'modelClientConfig.invocationsMaxRetries' failed to satisfy constraint: Member must have value between 0 and 3", *r)
		}
	}

	// Resources.
	rs := in.TransformResources
	if rs.InstanceType == "" {
		return null("transformResources.instanceType")
	}
	if _, err := s.Catalog.Lookup(string(rs.InstanceType)); err != nil {
		return validationError("Invalid value '%s' for transformResources.instanceType: %v.", rs.InstanceType, err)
	}
	if aws.ToInt32(rs.InstanceCount) < 1 {
		return validationError("1 validation error detected: Value '%d' at 'transformResources.instanceCount' failed to satisfy constraint: Member must have value greater than or equal to 1", aws.ToInt32(rs.InstanceCount))
	}
	if aws.ToString(rs.VolumeKmsKeyId) != "" {
		return validationError("TransformResources.VolumeKmsKeyId is not supported.")
	}

	// Input.
	ti := in.TransformInput
	if ti.DataSource == nil || ti.DataSource.S3DataSource == nil {
		return null("transformInput.dataSource.s3DataSource")
	}
	ds := ti.DataSource.S3DataSource
	switch ds.S3DataType {
	case types.S3DataTypeS3Prefix, types.S3DataTypeManifestFile:
	default:
		return validationError("TransformInput: S3DataType %s is not supported; use S3Prefix or ManifestFile.", ds.S3DataType)
	}
	switch ti.CompressionType {
	case "", types.CompressionTypeNone, types.CompressionTypeGzip:
	default:
		return validationError("1 validation error detected: Value '%s' at 'transformInput.compressionType' failed to satisfy constraint: Member must satisfy enum value set: [None, Gzip]", ti.CompressionType)
	}
	switch ti.SplitType {
	case "", types.SplitTypeNone, types.SplitTypeLine, types.SplitTypeRecordio, types.SplitTypeTfrecord:
	default:
		return validationError("1 validation error detected: Value '%s' at 'transformInput.splitType' failed to satisfy constraint: Member must satisfy enum value set: [None, Line, RecordIO, TFRecord]", ti.SplitType)
	}
	if err := s.checkInput(ctx, account, aws.ToString(ds.S3Uri)); err != nil {
		return err
	}

	// Output.
	to := in.TransformOutput
	switch to.AssembleWith {
	case "", types.AssemblyTypeNone, types.AssemblyTypeLine:
	default:
		return validationError("1 validation error detected: Value '%s' at 'transformOutput.assembleWith' failed to satisfy constraint: Member must satisfy enum value set: [None, Line]", to.AssembleWith)
	}
	if aws.ToString(to.KmsKeyId) != "" {
		return validationError("TransformOutput.KmsKeyId is not supported.")
	}
	if err := s.checkBucket(ctx, account, "transformOutput.s3OutputPath", aws.ToString(to.S3OutputPath)); err != nil {
		return err
	}

	// DataProcessing (container-contract.md §4.7): filters parse now, so a
	// bad expression fails here rather than in every object.
	if err := transform.CheckDataProcessing(ti, to, in.DataProcessing, in.MaxPayloadInMB); err != nil {
		return validationError("%s", err.Error())
	}

	// Model: must exist (as the caller's).
	var model sm.DescribeModelOutput
	if _, err := s.get(ctx, account, TypeModel, aws.ToString(in.ModelName), &model); errors.Is(err, store.ErrNotFound) {
		return validationError("Could not find model %q.", s.arn(account, TypeModel, aws.ToString(in.ModelName)))
	} else if err != nil {
		return err
	}
	// A serial pipeline runs as a whole; a Direct-mode model has no single
	// path for a record to take.
	if iec := model.InferenceExecutionConfig; iec != nil && iec.Mode == types.InferenceExecutionModeDirect && len(model.Containers) > 1 {
		return validationError("Model %s uses InferenceExecutionConfig.Mode Direct; batch transform needs a single container or a Serial pipeline.", aws.ToString(in.ModelName))
	}
	return nil
}

// getTransformJob loads a job; missing and foreign jobs read the same.
func (s *Service) getTransformJob(ctx context.Context, name string) (store.Resource, *sm.DescribeTransformJobOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return store.Resource{}, nil, err
	}
	var doc sm.DescribeTransformJobOutput
	r, err := s.get(ctx, id.AccountID, TypeTransformJob, name, &doc)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil, validationError("Could not find requested job with name %s", name)
	}
	return r, &doc, err
}

// DescribeTransformJob returns a job's state.
func (s *Service) DescribeTransformJob(ctx context.Context, in *sm.DescribeTransformJobInput) (*sm.DescribeTransformJobOutput, error) {
	_, doc, err := s.getTransformJob(ctx, aws.ToString(in.TransformJobName))
	return doc, err
}

// ListTransformJobs lists the caller's jobs (newest first by default).
func (s *Service) ListTransformJobs(ctx context.Context, in *sm.ListTransformJobsInput) (*sm.ListTransformJobsOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rs, next, err := s.list(ctx, id.AccountID, TypeTransformJob, listParams{
		MaxResults: in.MaxResults, NextToken: in.NextToken, NameContains: in.NameContains,
		SortBy: string(in.SortBy), SortOrder: string(in.SortOrder), Status: string(in.StatusEquals),
		CreatedAfter: in.CreationTimeAfter, CreatedBefore: in.CreationTimeBefore,
		ModifiedAfter: in.LastModifiedTimeAfter, ModifiedBefore: in.LastModifiedTimeBefore,
		DefaultDescending: true,
	})
	if err != nil {
		return nil, err
	}
	out := &sm.ListTransformJobsOutput{TransformJobSummaries: []types.TransformJobSummary{}}
	for _, r := range rs {
		var doc sm.DescribeTransformJobOutput
		if err := awsjson.Unmarshal(r.Doc, &doc); err != nil {
			return nil, err
		}
		out.TransformJobSummaries = append(out.TransformJobSummaries, types.TransformJobSummary{
			TransformJobName: doc.TransformJobName, TransformJobArn: doc.TransformJobArn, CreationTime: doc.CreationTime,
			TransformEndTime: doc.TransformEndTime, LastModifiedTime: aws.Time(r.Modified),
			TransformJobStatus: doc.TransformJobStatus, FailureReason: doc.FailureReason,
		})
	}
	if next != "" {
		out.NextToken = aws.String(next)
	}
	return out, nil
}

// StopTransformJob asks the controller to stop a running job.
func (s *Service) StopTransformJob(ctx context.Context, in *sm.StopTransformJobInput) (*sm.StopTransformJobOutput, error) {
	for attempt := 0; ; attempt++ {
		r, doc, err := s.getTransformJob(ctx, aws.ToString(in.TransformJobName))
		if err != nil {
			return nil, err
		}
		switch doc.TransformJobStatus {
		case types.TransformJobStatusStopping:
			return &sm.StopTransformJobOutput{}, nil
		case types.TransformJobStatusInProgress:
		default:
			return nil, validationError("The transform job %s is not in progress (status %s) and cannot be stopped.", aws.ToString(doc.TransformJobName), doc.TransformJobStatus)
		}
		doc.TransformJobStatus = types.TransformJobStatusStopping
		err = s.update(ctx, r, doc, string(doc.TransformJobStatus), s.now())
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue // the controller moved it meanwhile: look again
		}
		if err != nil {
			return nil, err
		}
		s.notify(TypeTransformJob)
		return &sm.StopTransformJobOutput{}, nil
	}
}
