package sagemaker

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/store"
)

// Store types (and ARN types) of endpoint configs and endpoints.
const (
	TypeEndpointConfig = "endpoint-config"
	TypeEndpoint       = "endpoint"
)

// Endpoint limits and defaults (api.md §9).
const (
	maxVariants                  = 10
	DefaultHealthCheckTimeoutSec = 240
)

// EndpointDoc is what the store keeps for an endpoint: the Describe
// document plus the deployed copies of its config and of each variant's
// model, so deleting either later leaves the endpoint running.
type EndpointDoc struct {
	Endpoint *sm.DescribeEndpointOutput `json:"Endpoint"`
	Config   *sm.DescribeEndpointConfigOutput
	// Models maps variant names to their model.
	Models map[string]*sm.DescribeModelOutput
}

// CreateEndpointConfig validates and stores an endpoint config (api.md §9.1).
func (s *Service) CreateEndpointConfig(ctx context.Context, in *sm.CreateEndpointConfigInput) (*sm.CreateEndpointConfigOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.EndpointConfigName)
	if err := checkEntityName("endpointConfigName", name); err != nil {
		return nil, err
	}
	switch {
	case in.DataCaptureConfig != nil:
		return nil, validationError("DataCaptureConfig is not supported yet.")
	case in.AsyncInferenceConfig != nil:
		return nil, validationError("AsyncInferenceConfig is not supported yet.")
	case in.ExplainerConfig != nil:
		return nil, validationError("ExplainerConfig is not supported yet.")
	case len(in.ShadowProductionVariants) > 0:
		return nil, validationError("ShadowProductionVariants is not supported yet.")
	case in.VpcConfig != nil:
		return nil, validationError("VpcConfig is not supported.")
	case len(in.ProductionVariants) == 0:
		return nil, validationError("1 validation error detected: Value null at 'productionVariants' failed to satisfy constraint: Member must not be null")
	case len(in.ProductionVariants) > maxVariants:
		return nil, validationError("1 validation error detected: Value at 'productionVariants' failed to satisfy constraint: Member must have length less than or equal to %d", maxVariants)
	}
	variants := make([]types.ProductionVariant, len(in.ProductionVariants))
	seen := map[string]bool{}
	var total float32
	for i, v := range in.ProductionVariants {
		if err := s.checkVariant(ctx, id.AccountID, i+1, &v); err != nil {
			return nil, err
		}
		key := strings.ToLower(aws.ToString(v.VariantName))
		if seen[key] {
			return nil, validationError("Variant names must be unique: %s is given more than once.", aws.ToString(v.VariantName))
		}
		seen[key] = true
		if v.InitialVariantWeight == nil {
			v.InitialVariantWeight = aws.Float32(1)
		}
		total += *v.InitialVariantWeight
		variants[i] = v
	}
	if total <= 0 {
		return nil, validationError("The sum of the InitialVariantWeight of all production variants must be greater than 0.")
	}
	arn := s.arn(id.AccountID, TypeEndpointConfig, name)
	now := s.now()
	doc := sm.DescribeEndpointConfigOutput{
		EndpointConfigName: in.EndpointConfigName, EndpointConfigArn: aws.String(arn), ProductionVariants: variants,
		CreationTime: aws.Time(now), KmsKeyId: in.KmsKeyId, ExecutionRoleArn: in.ExecutionRoleArn,
		EnableNetworkIsolation: in.EnableNetworkIsolation,
	}
	err = s.create(ctx, store.Resource{
		Account: id.AccountID, Type: TypeEndpointConfig, Name: name, ARN: arn, Status: "Created", Created: now, Modified: now,
	}, &doc, in.Tags)
	if errors.Is(err, store.ErrExists) {
		return nil, validationError("Cannot create already existing endpoint configuration %q.", arn)
	}
	if err != nil {
		return nil, err
	}
	return &sm.CreateEndpointConfigOutput{EndpointConfigArn: aws.String(arn)}, nil
}

func checkEntityName(member, name string) error {
	switch {
	case name == "":
		return validationError("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	case !entityNameRE.MatchString(name):
		return validationError("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name, member)
	}
	return nil
}

// checkVariant applies api.md §9.1 to the n-th production variant.
func (s *Service) checkVariant(ctx context.Context, account string, n int, v *types.ProductionVariant) error {
	p := func(member string) string { return "productionVariants." + strconv.Itoa(n) + ".member." + member }
	if err := checkEntityName(p("variantName"), aws.ToString(v.VariantName)); err != nil {
		return err
	}
	rangeErr := func(member string, val, lo, hi int32) error {
		return validationError("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value between %d and %d", val, p(member), lo, hi)
	}
	switch {
	case v.ServerlessConfig != nil:
		return validationError("%s is not supported yet.", p("serverlessConfig"))
	case v.AcceleratorType != "":
		return validationError("%s is not supported.", p("acceleratorType"))
	case v.ManagedInstanceScaling != nil:
		return validationError("%s is not supported yet.", p("managedInstanceScaling"))
	case v.CapacityReservationConfig != nil:
		return validationError("%s is not supported.", p("capacityReservationConfig"))
	case v.CoreDumpConfig != nil:
		return validationError("%s is not supported yet.", p("coreDumpConfig"))
	case v.InferenceAmiVersion != "":
		return validationError("%s is not supported.", p("inferenceAmiVersion"))
	case aws.ToString(v.ModelName) == "":
		return validationError("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", p("modelName"))
	case v.InstanceType == "":
		return validationError("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", p("instanceType"))
	case aws.ToInt32(v.InitialInstanceCount) < 1:
		return validationError("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to 1", aws.ToInt32(v.InitialInstanceCount), p("initialInstanceCount"))
	case v.InitialVariantWeight != nil && *v.InitialVariantWeight < 0:
		return validationError("1 validation error detected: Value '%g' at '%s' failed to satisfy constraint: Member must have value greater than or equal to 0", *v.InitialVariantWeight, p("initialVariantWeight"))
	case v.VolumeSizeInGB != nil && (*v.VolumeSizeInGB < 1 || *v.VolumeSizeInGB > 512):
		return rangeErr("volumeSizeInGB", *v.VolumeSizeInGB, 1, 512)
	case v.ModelDataDownloadTimeoutInSeconds != nil && (*v.ModelDataDownloadTimeoutInSeconds < 60 || *v.ModelDataDownloadTimeoutInSeconds > 3600):
		return rangeErr("modelDataDownloadTimeoutInSeconds", *v.ModelDataDownloadTimeoutInSeconds, 60, 3600)
	case v.ContainerStartupHealthCheckTimeoutInSeconds != nil && (*v.ContainerStartupHealthCheckTimeoutInSeconds < 60 || *v.ContainerStartupHealthCheckTimeoutInSeconds > 3600):
		return rangeErr("containerStartupHealthCheckTimeoutInSeconds", *v.ContainerStartupHealthCheckTimeoutInSeconds, 60, 3600)
	}
	if rc := v.RoutingConfig; rc != nil {
		switch rc.RoutingStrategy {
		case "", types.RoutingStrategyLeastOutstandingRequests:
		case types.RoutingStrategyRandom:
			return validationError("%s RANDOM is not supported yet; use LEAST_OUTSTANDING_REQUESTS.", p("routingConfig.routingStrategy"))
		default:
			return validationError("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [LEAST_OUTSTANDING_REQUESTS, RANDOM]", rc.RoutingStrategy, p("routingConfig.routingStrategy"))
		}
	}
	if _, err := s.Catalog.Lookup(string(v.InstanceType)); err != nil {
		return validationError("Invalid value '%s' for %s: %v.", v.InstanceType, p("instanceType"), err)
	}
	var model sm.DescribeModelOutput
	if _, err := s.get(ctx, account, TypeModel, aws.ToString(v.ModelName), &model); errors.Is(err, store.ErrNotFound) {
		return validationError("Could not find model %q.", s.arn(account, TypeModel, aws.ToString(v.ModelName)))
	} else if err != nil {
		return err
	}
	return nil
}

// getEndpointConfig loads a config of the caller; missing and foreign configs read the same.
func (s *Service) getEndpointConfig(ctx context.Context, name string) (store.Resource, *sm.DescribeEndpointConfigOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return store.Resource{}, nil, err
	}
	var doc sm.DescribeEndpointConfigOutput
	r, err := s.get(ctx, id.AccountID, TypeEndpointConfig, name, &doc)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil, validationError("Could not find endpoint configuration %q.", s.arn(id.AccountID, TypeEndpointConfig, name))
	}
	return r, &doc, err
}

// DescribeEndpointConfig returns an endpoint config.
func (s *Service) DescribeEndpointConfig(ctx context.Context, in *sm.DescribeEndpointConfigInput) (*sm.DescribeEndpointConfigOutput, error) {
	_, doc, err := s.getEndpointConfig(ctx, aws.ToString(in.EndpointConfigName))
	return doc, err
}

// ListEndpointConfigs lists the caller's endpoint configs (newest first by default).
func (s *Service) ListEndpointConfigs(ctx context.Context, in *sm.ListEndpointConfigsInput) (*sm.ListEndpointConfigsOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rs, next, err := s.list(ctx, id.AccountID, TypeEndpointConfig, listParams{
		MaxResults: in.MaxResults, NextToken: in.NextToken, NameContains: in.NameContains,
		SortBy: string(in.SortBy), SortOrder: string(in.SortOrder),
		CreatedAfter: in.CreationTimeAfter, CreatedBefore: in.CreationTimeBefore, DefaultDescending: true,
	})
	if err != nil {
		return nil, err
	}
	out := &sm.ListEndpointConfigsOutput{EndpointConfigs: []types.EndpointConfigSummary{}}
	for _, r := range rs {
		var doc sm.DescribeEndpointConfigOutput
		if err := awsjson.Unmarshal(r.Doc, &doc); err != nil {
			return nil, err
		}
		out.EndpointConfigs = append(out.EndpointConfigs, types.EndpointConfigSummary{
			EndpointConfigName: doc.EndpointConfigName, EndpointConfigArn: doc.EndpointConfigArn, CreationTime: doc.CreationTime})
	}
	if next != "" {
		out.NextToken = aws.String(next)
	}
	return out, nil
}

// DeleteEndpointConfig deletes a config; endpoints keep their deployed copy.
func (s *Service) DeleteEndpointConfig(ctx context.Context, in *sm.DeleteEndpointConfigInput) (*sm.DeleteEndpointConfigOutput, error) {
	r, _, err := s.getEndpointConfig(ctx, aws.ToString(in.EndpointConfigName))
	if err != nil {
		return nil, err
	}
	if err := s.deleteWithTags(ctx, r); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, validationError("Could not find endpoint configuration %q.", r.ARN)
		}
		return nil, err
	}
	return &sm.DeleteEndpointConfigOutput{}, nil
}

// deleteWithTags deletes a resource and its tags (a re-created one must not inherit them).
func (s *Service) deleteWithTags(ctx context.Context, r store.Resource) error {
	if err := s.Store.DeleteResource(ctx, r.Account, r.Type, r.Name); err != nil {
		return err
	}
	if tags, err := s.Store.ListTags(ctx, r.ARN); err == nil && len(tags) > 0 {
		keys := make([]string, len(tags))
		for i, t := range tags {
			keys[i] = t.Key
		}
		_ = s.Store.DeleteTags(ctx, r.ARN, keys)
	}
	return nil
}

// CreateEndpoint stores an endpoint Creating with a copy of its config and
// models; the endpoint controller deploys it (api.md §9.2).
func (s *Service) CreateEndpoint(ctx context.Context, in *sm.CreateEndpointInput) (*sm.CreateEndpointOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	name := aws.ToString(in.EndpointName)
	if err := checkEntityName("endpointName", name); err != nil {
		return nil, err
	}
	if err := checkEntityName("endpointConfigName", aws.ToString(in.EndpointConfigName)); err != nil {
		return nil, err
	}
	if in.DeploymentConfig != nil && in.DeploymentConfig.AutoRollbackConfiguration != nil && len(in.DeploymentConfig.AutoRollbackConfiguration.Alarms) > 0 {
		return nil, validationError("DeploymentConfig.AutoRollbackConfiguration.Alarms is not supported.")
	}
	_, cfg, err := s.getEndpointConfig(ctx, aws.ToString(in.EndpointConfigName))
	if err != nil {
		return nil, err
	}
	models := map[string]*sm.DescribeModelOutput{}
	now := s.now()
	ep := &sm.DescribeEndpointOutput{
		EndpointName: in.EndpointName, EndpointArn: aws.String(s.arn(id.AccountID, TypeEndpoint, name)),
		EndpointConfigName: cfg.EndpointConfigName, EndpointStatus: types.EndpointStatusCreating,
		CreationTime: aws.Time(now), LastModifiedTime: aws.Time(now), LastDeploymentConfig: in.DeploymentConfig,
	}
	for _, v := range cfg.ProductionVariants {
		var model sm.DescribeModelOutput
		if _, err := s.get(ctx, id.AccountID, TypeModel, aws.ToString(v.ModelName), &model); errors.Is(err, store.ErrNotFound) {
			return nil, validationError("Could not find model %q.", s.arn(id.AccountID, TypeModel, aws.ToString(v.ModelName)))
		} else if err != nil {
			return nil, err
		}
		models[aws.ToString(v.VariantName)] = &model
		var image *string
		if c := model.PrimaryContainer; c != nil {
			image = c.Image
		} else if len(model.Containers) > 0 {
			image = model.Containers[0].Image
		}
		ep.ProductionVariants = append(ep.ProductionVariants, types.ProductionVariantSummary{
			VariantName: v.VariantName, DesiredWeight: v.InitialVariantWeight, DesiredInstanceCount: v.InitialInstanceCount,
			CurrentWeight: v.InitialVariantWeight, CurrentInstanceCount: aws.Int32(0),
			DeployedImages: []types.DeployedImage{{SpecifiedImage: image, ResolvedImage: image, ResolutionTime: aws.Time(now)}},
			VariantStatus:  []types.ProductionVariantStatus{{Status: types.VariantStatusCreating, StartTime: aws.Time(now)}},
		})
	}
	doc := EndpointDoc{Endpoint: ep, Config: cfg, Models: models}
	err = s.create(ctx, store.Resource{
		Account: id.AccountID, Type: TypeEndpoint, Name: name, ARN: *ep.EndpointArn,
		Status: string(ep.EndpointStatus), Created: now, Modified: now,
	}, &doc, in.Tags)
	if errors.Is(err, store.ErrExists) {
		return nil, validationError("Cannot create already existing endpoint %q.", *ep.EndpointArn)
	}
	if err != nil {
		return nil, err
	}
	s.notify(TypeEndpoint)
	return &sm.CreateEndpointOutput{EndpointArn: ep.EndpointArn}, nil
}

// getEndpoint loads an endpoint of the caller; missing and foreign endpoints read the same.
func (s *Service) getEndpoint(ctx context.Context, name string) (store.Resource, *EndpointDoc, error) {
	id, err := caller(ctx)
	if err != nil {
		return store.Resource{}, nil, err
	}
	var doc EndpointDoc
	r, err := s.get(ctx, id.AccountID, TypeEndpoint, name, &doc)
	if errors.Is(err, store.ErrNotFound) {
		return r, nil, validationError("Could not find endpoint %q.", s.arn(id.AccountID, TypeEndpoint, name))
	}
	if err == nil && doc.Endpoint == nil {
		err = errors.New("endpoint document without Endpoint")
	}
	return r, &doc, err
}

// DescribeEndpoint returns an endpoint's state.
func (s *Service) DescribeEndpoint(ctx context.Context, in *sm.DescribeEndpointInput) (*sm.DescribeEndpointOutput, error) {
	_, doc, err := s.getEndpoint(ctx, aws.ToString(in.EndpointName))
	if err != nil {
		return nil, err
	}
	return doc.Endpoint, nil
}

// ListEndpoints lists the caller's endpoints (newest first by default).
func (s *Service) ListEndpoints(ctx context.Context, in *sm.ListEndpointsInput) (*sm.ListEndpointsOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	rs, next, err := s.list(ctx, id.AccountID, TypeEndpoint, listParams{
		MaxResults: in.MaxResults, NextToken: in.NextToken, NameContains: in.NameContains,
		SortBy: string(in.SortBy), SortOrder: string(in.SortOrder), Status: string(in.StatusEquals),
		CreatedAfter: in.CreationTimeAfter, CreatedBefore: in.CreationTimeBefore,
		ModifiedAfter: in.LastModifiedTimeAfter, ModifiedBefore: in.LastModifiedTimeBefore,
		DefaultDescending: true,
	})
	if err != nil {
		return nil, err
	}
	out := &sm.ListEndpointsOutput{Endpoints: []types.EndpointSummary{}}
	for _, r := range rs {
		var doc EndpointDoc
		if err := awsjson.Unmarshal(r.Doc, &doc); err != nil {
			return nil, err
		}
		if doc.Endpoint == nil {
			continue
		}
		e := doc.Endpoint
		out.Endpoints = append(out.Endpoints, types.EndpointSummary{
			EndpointName: e.EndpointName, EndpointArn: e.EndpointArn, CreationTime: e.CreationTime,
			LastModifiedTime: aws.Time(r.Modified), EndpointStatus: e.EndpointStatus,
		})
	}
	if next != "" {
		out.NextToken = aws.String(next)
	}
	return out, nil
}

// DeleteEndpoint marks an endpoint Deleting; the controller removes its
// containers and then the endpoint.
func (s *Service) DeleteEndpoint(ctx context.Context, in *sm.DeleteEndpointInput) (*sm.DeleteEndpointOutput, error) {
	for attempt := 0; ; attempt++ {
		r, doc, err := s.getEndpoint(ctx, aws.ToString(in.EndpointName))
		if err != nil {
			return nil, err
		}
		switch doc.Endpoint.EndpointStatus {
		case types.EndpointStatusDeleting:
			return &sm.DeleteEndpointOutput{}, nil
		case types.EndpointStatusCreating, types.EndpointStatusUpdating:
			return nil, validationError("Cannot update in-progress endpoint %q.", r.ARN)
		}
		now := s.now()
		doc.Endpoint.EndpointStatus = types.EndpointStatusDeleting
		doc.Endpoint.LastModifiedTime = aws.Time(now)
		err = s.update(ctx, r, doc, string(types.EndpointStatusDeleting), now)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.notify(TypeEndpoint)
		return &sm.DeleteEndpointOutput{}, nil
	}
}
