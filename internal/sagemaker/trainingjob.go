package sagemaker

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/contract"
	"github.com/wharfml/wharf/internal/store"
)

const typeTrainingJob = "training-job"

// Defaults the service applies to training jobs.
const (
	defaultVolumeSizeInGB      = 30
	defaultMaxRuntimeInSeconds = 86400
)

var roleARNRE = regexp.MustCompile(`^arn:aws[a-z\-]*:iam::(\d{12}):role/?[a-zA-Z_0-9+=,.@\-_/]+$`)

// checkRole: role ARNs must belong to the caller's account.
func checkRole(member, arn, account string) error {
	m := roleARNRE.FindStringSubmatch(arn)
	if m == nil {
		return validationError("Value '%s' at '%s' is not a valid IAM role ARN.", arn, member)
	}
	if m[1] != account {
		return validationError("Role %s belongs to another account; use a role of account %s.", arn, account)
	}
	return nil
}

// CreateTrainingJob validates a training job and stores it InProgress; the
// training controller runs it.
func (s *Service) CreateTrainingJob(ctx context.Context, in *sm.CreateTrainingJobInput) (*sm.CreateTrainingJobOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkTrainingJob(ctx, id.AccountID, in); err != nil {
		return nil, err
	}
	name := aws.ToString(in.TrainingJobName)
	arn := s.arn(id.AccountID, typeTrainingJob, name)
	now := s.now()
	rc := *in.ResourceConfig
	if rc.VolumeSizeInGB == nil {
		rc.VolumeSizeInGB = aws.Int32(defaultVolumeSizeInGB)
	}
	stop := types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(defaultMaxRuntimeInSeconds)}
	if in.StoppingCondition != nil && in.StoppingCondition.MaxRuntimeInSeconds != nil {
		stop.MaxRuntimeInSeconds = in.StoppingCondition.MaxRuntimeInSeconds
	}
	if in.StoppingCondition != nil {
		stop.MaxPendingTimeInSeconds = in.StoppingCondition.MaxPendingTimeInSeconds
	}
	hp := in.HyperParameters
	if hp == nil {
		hp = map[string]string{}
	}
	doc := sm.DescribeTrainingJobOutput{
		TrainingJobName:                       in.TrainingJobName,
		TrainingJobArn:                        aws.String(arn),
		TrainingJobStatus:                     types.TrainingJobStatusInProgress,
		SecondaryStatus:                       types.SecondaryStatusStarting,
		HyperParameters:                       hp,
		AlgorithmSpecification:                in.AlgorithmSpecification,
		RoleArn:                               in.RoleArn,
		InputDataConfig:                       in.InputDataConfig,
		OutputDataConfig:                      in.OutputDataConfig,
		ResourceConfig:                        &rc,
		StoppingCondition:                     &stop,
		CreationTime:                          aws.Time(now),
		LastModifiedTime:                      aws.Time(now),
		EnableNetworkIsolation:                aws.Bool(aws.ToBool(in.EnableNetworkIsolation)),
		EnableInterContainerTrafficEncryption: aws.Bool(aws.ToBool(in.EnableInterContainerTrafficEncryption)),
		EnableManagedSpotTraining:             aws.Bool(false),
		CheckpointConfig:                      in.CheckpointConfig,
		Environment:                           in.Environment,
		RetryStrategy:                         in.RetryStrategy,
		DebugHookConfig:                       in.DebugHookConfig,
		ProfilerConfig:                        in.ProfilerConfig,
		TensorBoardOutputConfig:               in.TensorBoardOutputConfig,
		ExperimentConfig:                      in.ExperimentConfig,
		InfraCheckConfig:                      in.InfraCheckConfig,
		ProfilingStatus:                       types.ProfilingStatusDisabled,
		SecondaryStatusTransitions: []types.SecondaryStatusTransition{{
			Status: types.SecondaryStatusStarting, StartTime: aws.Time(now), StatusMessage: aws.String("Starting the training job"),
		}},
	}
	if doc.CheckpointConfig != nil && doc.CheckpointConfig.LocalPath == nil {
		doc.CheckpointConfig.LocalPath = aws.String(contract.DefaultCheckpointLocalPath)
	}
	// The container layout must be buildable: checkpoint paths inside
	// /opt/ml's mounts or channel names clashing with Pipe FIFOs fail here,
	// not when the job runs.
	if _, err := contract.HostLayout("/nonexistent", TrainingHostConfig(&doc, []string{"algo-1"}, "algo-1")); err != nil {
		return nil, validationError("Invalid training job layout: %v", err)
	}
	err = s.create(ctx, store.Resource{
		Account: id.AccountID, Type: typeTrainingJob, Name: name, ARN: arn,
		Status: string(doc.TrainingJobStatus), Created: now, Modified: now,
	}, &doc, in.Tags)
	if errors.Is(err, store.ErrExists) {
		return nil, awsjson.Errorf("ResourceInUse", http.StatusBadRequest,
			"Training job names must be unique within an AWS account and region, and a training job with this name already exists (%s)", arn)
	}
	if err != nil {
		return nil, err
	}
	s.notify(typeTrainingJob)
	return &sm.CreateTrainingJobOutput{TrainingJobArn: aws.String(arn)}, nil
}

// checkTrainingJob applies the checks beyond the shape model (api.md §6.1).
func (s *Service) checkTrainingJob(ctx context.Context, account string, in *sm.CreateTrainingJobInput) error {
	spec := in.AlgorithmSpecification
	switch {
	case spec == nil:
		return validationError("1 validation error detected: Value null at 'algorithmSpecification' failed to satisfy constraint: Member must not be null")
	case in.ResourceConfig == nil:
		return validationError("1 validation error detected: Value null at 'resourceConfig' failed to satisfy constraint: Member must not be null")
	case spec.AlgorithmName != nil:
		return validationError("AlgorithmName is not supported yet on this installation; use TrainingImage.")
	case aws.ToString(spec.TrainingImage) == "":
		return validationError("Either TrainingImage or AlgorithmName must be specified in AlgorithmSpecification.")
	case spec.TrainingImageConfig != nil:
		return validationError("TrainingImageConfig (private registries in a VPC) is not supported; push the image to Wharf or the local Docker Engine.")
	case aws.ToBool(in.EnableManagedSpotTraining):
		return validationError("Managed spot training is not supported.")
	case in.VpcConfig != nil:
		return validationError("VpcConfig is not supported: jobs run on a private network of their own.")
	case len(in.DebugRuleConfigurations) > 0 || len(in.ProfilerRuleConfigurations) > 0:
		return validationError("Debugger and profiler rules are not supported.")
	case in.ServerlessJobConfig != nil || in.RemoteDebugConfig != nil:
		return validationError("ServerlessJobConfig and RemoteDebugConfig are not supported.")
	case in.StoppingCondition != nil && in.StoppingCondition.MaxWaitTimeInSeconds != nil:
		return validationError("MaxWaitTimeInSeconds requires managed spot training, which is not supported.")
	}
	if err := checkRole("roleArn", aws.ToString(in.RoleArn), account); err != nil {
		return err
	}
	if s.Images != nil {
		pinned, err := s.Images(ctx, account, aws.ToString(spec.TrainingImage))
		if err != nil {
			return validationError("Requested image %s not found or not accessible: %v", aws.ToString(spec.TrainingImage), err)
		}
		spec.TrainingImage = aws.String(pinned)
	}
	if _, err := contract.NewMetricMatcher(MetricDefinitions(spec.MetricDefinitions)); err != nil {
		return validationError("Invalid MetricDefinitions: %v", err)
	}

	rc := in.ResourceConfig
	if len(rc.InstanceGroups) > 0 || rc.InstancePlacementConfig != nil || rc.TrainingPlanArn != nil {
		return validationError("Heterogeneous clusters (InstanceGroups), placement configs and training plans are not supported.")
	}
	if rc.InstanceType == "" {
		return validationError("1 validation error detected: Value null at 'resourceConfig.instanceType' failed to satisfy constraint: Member must not be null")
	}
	if _, err := s.Catalog.Lookup(string(rc.InstanceType)); err != nil {
		return validationError("Invalid value '%s' for resourceConfig.instanceType: %v.", rc.InstanceType, err)
	}
	if aws.ToInt32(rc.InstanceCount) < 1 {
		return validationError("1 validation error detected: Value '%d' at 'resourceConfig.instanceCount' failed to satisfy constraint: Member must have value greater than or equal to 1", aws.ToInt32(rc.InstanceCount))
	}
	if aws.ToString(rc.VolumeKmsKeyId) != "" || aws.ToInt32(rc.KeepAlivePeriodInSeconds) != 0 {
		return validationError("VolumeKmsKeyId and KeepAlivePeriodInSeconds are not supported.")
	}
	for k := range in.Environment {
		if slices.Contains(contract.ReservedTrainingEnv, k) {
			return validationError("Environment variable %s is set by the platform and cannot be overridden.", k)
		}
	}

	// Output: the bucket must exist and belong to the caller.
	out := in.OutputDataConfig
	if aws.ToString(out.KmsKeyId) != "" {
		return validationError("OutputDataConfig.KmsKeyId is not supported.")
	}
	if err := s.checkBucket(ctx, account, "outputDataConfig.s3OutputPath", aws.ToString(out.S3OutputPath)); err != nil {
		return err
	}
	if in.CheckpointConfig != nil {
		if err := s.checkBucket(ctx, account, "checkpointConfig.s3Uri", aws.ToString(in.CheckpointConfig.S3Uri)); err != nil {
			return err
		}
	}

	// Channels.
	seen := map[string]bool{}
	for i, ch := range in.InputDataConfig {
		name := aws.ToString(ch.ChannelName)
		if seen[name] {
			return validationError("Channel names must be unique: %q appears twice in InputDataConfig.", name)
		}
		seen[name] = true
		mode := ch.InputMode
		if mode == "" {
			mode = spec.TrainingInputMode
		}
		if ch.DataSource == nil || ch.DataSource.S3DataSource == nil {
			return validationError("InputDataConfig.%d.DataSource: only S3DataSource is supported.", i+1)
		}
		ds := ch.DataSource.S3DataSource
		switch ds.S3DataType {
		case types.S3DataTypeS3Prefix, types.S3DataTypeManifestFile:
		case types.S3DataTypeAugmentedManifestFile:
			if mode != types.TrainingInputModePipe {
				return validationError("Channel %q: AugmentedManifestFile needs Pipe input mode.", name)
			}
		default:
			return validationError("Channel %q: S3DataType %s is not supported.", name, ds.S3DataType)
		}
		if mode == types.TrainingInputModeFastfile && ds.S3DataType != types.S3DataTypeS3Prefix {
			return validationError("Channel %q: FastFile input mode needs S3DataType S3Prefix.", name)
		}
		if ch.CompressionType == types.CompressionTypeGzip && mode != types.TrainingInputModePipe {
			return validationError("Channel %q: CompressionType Gzip needs Pipe input mode.", name)
		}
		if ch.RecordWrapperType == types.RecordWrapperRecordio && mode != types.TrainingInputModePipe {
			return validationError("Channel %q: RecordWrapperType RecordIO needs Pipe input mode.", name)
		}
		if err := s.checkInput(ctx, account, aws.ToString(ds.S3Uri)); err != nil {
			return err
		}
	}
	return nil
}

// checkBucket: uri parses and names a bucket the caller owns.
func (s *Service) checkBucket(ctx context.Context, account, member, uri string) error {
	bucket, _, err := contract.ParseS3URI(uri)
	if err != nil {
		return validationError("Invalid S3 URI '%s' at '%s': %v", uri, member, err)
	}
	b, err := s.Store.GetBucket(ctx, bucket)
	if errors.Is(err, store.ErrNotFound) || (err == nil && b.Owner != account) {
		return validationError("Could not access bucket %q given at '%s': it does not exist or belongs to another account.", bucket, member)
	}
	return err
}

// checkInput: the input URI names a readable, non-empty prefix (or object).
func (s *Service) checkInput(ctx context.Context, account, uri string) error {
	if err := s.checkBucket(ctx, account, "inputDataConfig.dataSource.s3DataSource.s3Uri", uri); err != nil {
		return err
	}
	bucket, key, _ := contract.ParseS3URI(uri)
	res, err := s.Blobs.List(ctx, bucket, blobListOne(key))
	if err != nil {
		return err
	}
	if len(res.Objects) == 0 {
		return validationError("No S3 objects found under S3 URL \"%s\" given in input data source. Please ensure that the bucket exists in the selected region (%s), that objects exist under that S3 prefix, and that the role has permission to access the objects.", uri, s.Region)
	}
	return nil
}

// MetricDefinitions converts the API's metric definitions for the contract package.
func MetricDefinitions(defs []types.MetricDefinition) []contract.MetricDefinition {
	out := make([]contract.MetricDefinition, len(defs))
	for i, d := range defs {
		out[i] = contract.MetricDefinition{Name: aws.ToString(d.Name), Regex: aws.ToString(d.Regex)}
	}
	return out
}

// getTrainingJob loads a job; missing and foreign jobs read the same.
func (s *Service) getTrainingJob(ctx context.Context, name string) (store.Resource, *sm.DescribeTrainingJobOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return store.Resource{}, nil, err
	}
	var doc sm.DescribeTrainingJobOutput
	r, err := s.get(ctx, id.AccountID, typeTrainingJob, name, &doc)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil, validationError("Requested resource not found.")
	}
	return r, &doc, err
}

// DescribeTrainingJob returns a job's state.
func (s *Service) DescribeTrainingJob(ctx context.Context, in *sm.DescribeTrainingJobInput) (*sm.DescribeTrainingJobOutput, error) {
	_, doc, err := s.getTrainingJob(ctx, aws.ToString(in.TrainingJobName))
	return doc, err
}

// ListTrainingJobs lists the caller's jobs.
func (s *Service) ListTrainingJobs(ctx context.Context, in *sm.ListTrainingJobsInput) (*sm.ListTrainingJobsOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if in.TrainingPlanArnEquals != nil || in.WarmPoolStatusEquals != "" {
		return nil, validationError("TrainingPlanArnEquals and WarmPoolStatusEquals filters are not supported.")
	}
	rs, next, err := s.list(ctx, id.AccountID, typeTrainingJob, listParams{
		MaxResults: in.MaxResults, NextToken: in.NextToken, NameContains: in.NameContains,
		SortBy: string(in.SortBy), SortOrder: string(in.SortOrder), Status: string(in.StatusEquals),
		CreatedAfter: in.CreationTimeAfter, CreatedBefore: in.CreationTimeBefore,
		ModifiedAfter: in.LastModifiedTimeAfter, ModifiedBefore: in.LastModifiedTimeBefore,
	})
	if err != nil {
		return nil, err
	}
	out := &sm.ListTrainingJobsOutput{TrainingJobSummaries: []types.TrainingJobSummary{}}
	for _, r := range rs {
		var doc sm.DescribeTrainingJobOutput
		if err := awsjson.Unmarshal(r.Doc, &doc); err != nil {
			return nil, err
		}
		out.TrainingJobSummaries = append(out.TrainingJobSummaries, types.TrainingJobSummary{
			TrainingJobName: doc.TrainingJobName, TrainingJobArn: doc.TrainingJobArn, CreationTime: doc.CreationTime,
			TrainingEndTime: doc.TrainingEndTime, LastModifiedTime: doc.LastModifiedTime,
			TrainingJobStatus: doc.TrainingJobStatus, SecondaryStatus: doc.SecondaryStatus,
		})
	}
	if next != "" {
		out.NextToken = aws.String(next)
	}
	return out, nil
}

// StopTrainingJob asks the controller to stop a running job.
func (s *Service) StopTrainingJob(ctx context.Context, in *sm.StopTrainingJobInput) (*sm.StopTrainingJobOutput, error) {
	for attempt := 0; ; attempt++ {
		r, doc, err := s.getTrainingJob(ctx, aws.ToString(in.TrainingJobName))
		if err != nil {
			return nil, err
		}
		switch doc.TrainingJobStatus {
		case types.TrainingJobStatusStopping:
			return &sm.StopTrainingJobOutput{}, nil
		case types.TrainingJobStatusInProgress:
		default:
			return nil, validationError("The training job %s is not in progress (status %s) and cannot be stopped.", aws.ToString(doc.TrainingJobName), doc.TrainingJobStatus)
		}
		now := s.now()
		TransitionTraining(doc, types.TrainingJobStatusStopping, types.SecondaryStatusStopping, "Stopping the training job", now)
		err = s.update(ctx, r, doc, string(doc.TrainingJobStatus), now)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue // the controller moved it meanwhile: look again
		}
		if err != nil {
			return nil, err
		}
		s.notify(typeTrainingJob)
		return &sm.StopTrainingJobOutput{}, nil
	}
}

// TransitionTraining moves a job to a new status, closing the previous
// secondary-status transition and appending the new one.
func TransitionTraining(doc *sm.DescribeTrainingJobOutput, status types.TrainingJobStatus, secondary types.SecondaryStatus, message string, now time.Time) {
	if n := len(doc.SecondaryStatusTransitions); n > 0 && doc.SecondaryStatusTransitions[n-1].EndTime == nil {
		if doc.SecondaryStatusTransitions[n-1].Status == secondary {
			doc.SecondaryStatusTransitions[n-1].StatusMessage = aws.String(message)
			doc.TrainingJobStatus, doc.LastModifiedTime = status, aws.Time(now)
			return
		}
		doc.SecondaryStatusTransitions[n-1].EndTime = aws.Time(now)
	}
	t := types.SecondaryStatusTransition{Status: secondary, StartTime: aws.Time(now), StatusMessage: aws.String(message)}
	if isTerminal(status) {
		t.EndTime = aws.Time(now)
	}
	doc.SecondaryStatusTransitions = append(doc.SecondaryStatusTransitions, t)
	doc.TrainingJobStatus, doc.SecondaryStatus, doc.LastModifiedTime = status, secondary, aws.Time(now)
}

func isTerminal(s types.TrainingJobStatus) bool {
	return s == types.TrainingJobStatusCompleted || s == types.TrainingJobStatusFailed || s == types.TrainingJobStatusStopped
}

// TrainingChannels describes a job's input channels for the contract package,
// each with its effective input mode.
func TrainingChannels(doc *sm.DescribeTrainingJobOutput) []contract.Channel {
	var out []contract.Channel
	for _, ch := range doc.InputDataConfig {
		ds := ch.DataSource.S3DataSource
		c := contract.Channel{
			Name: aws.ToString(ch.ChannelName), S3DataType: string(ds.S3DataType), S3Uri: aws.ToString(ds.S3Uri),
			Distribution: string(ds.S3DataDistributionType), ContentType: aws.ToString(ch.ContentType),
			CompressionType: string(ch.CompressionType), RecordWrapperType: string(ch.RecordWrapperType),
			InputMode: contract.EffectiveInputMode(string(ch.InputMode), string(doc.AlgorithmSpecification.TrainingInputMode)),
		}
		if c.Distribution == "" {
			c.Distribution = string(types.S3DataDistributionFullyReplicated)
		}
		if ch.ShuffleConfig != nil {
			c.ShuffleSeed = ch.ShuffleConfig.Seed
		}
		out = append(out, c)
	}
	return out
}

// TrainingHostConfig is the contract configuration of one host of a job.
func TrainingHostConfig(doc *sm.DescribeTrainingJobOutput, hosts []string, host string) contract.HostConfig {
	cfg := contract.HostConfig{
		HyperParameters: doc.HyperParameters, Channels: TrainingChannels(doc),
		Hosts: hosts, CurrentHost: host, InstanceType: string(doc.ResourceConfig.InstanceType),
	}
	if cc := doc.CheckpointConfig; cc != nil {
		cfg.CheckpointLocalPath, cfg.CheckpointS3Uri = aws.ToString(cc.LocalPath), aws.ToString(cc.S3Uri)
	}
	return cfg
}
