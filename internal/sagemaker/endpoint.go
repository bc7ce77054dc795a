package sagemaker

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

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
	// Generation numbers the deployed fleet; UpdateEndpoint deploys the
	// next one beside it (container names and host labels carry it).
	Generation int `json:",omitempty"`
	// Pending is the config an UpdateEndpoint is deploying (status Updating).
	Pending *PendingUpdate `json:",omitempty"`
}

// PendingUpdate is an UpdateEndpoint in progress.
type PendingUpdate struct {
	Config           *sm.DescribeEndpointConfigOutput
	Models           map[string]*sm.DescribeModelOutput
	DeploymentConfig *types.DeploymentConfig `json:",omitempty"`
	// RetainDeploymentConfig keeps the endpoint's LastDeploymentConfig.
	RetainDeploymentConfig bool `json:",omitempty"`
}

// VariantSummaries describes cfg's variants as deployed with models, not
// yet serving (CurrentInstanceCount 0, status Creating).
func VariantSummaries(cfg *sm.DescribeEndpointConfigOutput, models map[string]*sm.DescribeModelOutput, now time.Time) []types.ProductionVariantSummary {
	var out []types.ProductionVariantSummary
	for _, v := range cfg.ProductionVariants {
		// One deployed image per container, in pipeline order.
		var images []types.DeployedImage
		if model := models[aws.ToString(v.VariantName)]; model != nil {
			containers := model.Containers
			if c := model.PrimaryContainer; c != nil {
				containers = []types.ContainerDefinition{*c}
			}
			for _, c := range containers {
				images = append(images, types.DeployedImage{SpecifiedImage: c.Image, ResolvedImage: c.Image, ResolutionTime: aws.Time(now)})
			}
		}
		out = append(out, types.ProductionVariantSummary{
			VariantName: v.VariantName, DesiredWeight: v.InitialVariantWeight, DesiredInstanceCount: v.InitialInstanceCount,
			CurrentWeight: v.InitialVariantWeight, CurrentInstanceCount: aws.Int32(0),
			DeployedImages: images,
			VariantStatus:  []types.ProductionVariantStatus{{Status: types.VariantStatusCreating, StartTime: aws.Time(now)}},
		})
	}
	return out
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
	var models map[string]*sm.DescribeModelOutput
	now := s.now()
	ep := &sm.DescribeEndpointOutput{
		EndpointName: in.EndpointName, EndpointArn: aws.String(s.arn(id.AccountID, TypeEndpoint, name)),
		EndpointConfigName: cfg.EndpointConfigName, EndpointStatus: types.EndpointStatusCreating,
		CreationTime: aws.Time(now), LastModifiedTime: aws.Time(now), LastDeploymentConfig: in.DeploymentConfig,
	}
	if models, err = s.endpointModels(ctx, id.AccountID, cfg); err != nil {
		return nil, err
	}
	ep.ProductionVariants = VariantSummaries(cfg, models, now)
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

// endpointModels loads the model of each of cfg's variants.
func (s *Service) endpointModels(ctx context.Context, account string, cfg *sm.DescribeEndpointConfigOutput) (map[string]*sm.DescribeModelOutput, error) {
	models := map[string]*sm.DescribeModelOutput{}
	for _, v := range cfg.ProductionVariants {
		var model sm.DescribeModelOutput
		if _, err := s.get(ctx, account, TypeModel, aws.ToString(v.ModelName), &model); errors.Is(err, store.ErrNotFound) {
			return nil, validationError("Could not find model %q.", s.arn(account, TypeModel, aws.ToString(v.ModelName)))
		} else if err != nil {
			return nil, err
		}
		models[aws.ToString(v.VariantName)] = &model
	}
	return models, nil
}

// UpdateEndpoint deploys another config on an InService endpoint: the
// status becomes Updating and the endpoint controller brings the new fleet
// up beside the old one, switches traffic and retires the old fleet, or
// rolls back (api.md §9.2).
func (s *Service) UpdateEndpoint(ctx context.Context, in *sm.UpdateEndpointInput) (*sm.UpdateEndpointOutput, error) {
	id, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkEntityName("endpointName", aws.ToString(in.EndpointName)); err != nil {
		return nil, err
	}
	if err := checkEntityName("endpointConfigName", aws.ToString(in.EndpointConfigName)); err != nil {
		return nil, err
	}
	if len(in.ExcludeRetainedVariantProperties) > 3 {
		return nil, validationError("1 validation error detected: Value at 'excludeRetainedVariantProperties' failed to satisfy constraint: Member must have length less than or equal to 3")
	}
	for _, p := range in.ExcludeRetainedVariantProperties {
		switch p.VariantPropertyType {
		case types.VariantPropertyTypeDesiredInstanceCount, types.VariantPropertyTypeDesiredWeight, types.VariantPropertyTypeDataCaptureConfig:
		default:
			return nil, validationError("1 validation error detected: Value '%s' at 'excludeRetainedVariantProperties.member.variantPropertyType' failed to satisfy constraint: Member must satisfy enum value set: [DesiredInstanceCount, DesiredWeight, DataCaptureConfig]", p.VariantPropertyType)
		}
	}
	if in.DeploymentConfig != nil && in.DeploymentConfig.AutoRollbackConfiguration != nil && len(in.DeploymentConfig.AutoRollbackConfiguration.Alarms) > 0 {
		return nil, validationError("DeploymentConfig.AutoRollbackConfiguration.Alarms is not supported.")
	}
	_, cfg, err := s.getEndpointConfig(ctx, aws.ToString(in.EndpointConfigName))
	if err != nil {
		return nil, err
	}
	models, err := s.endpointModels(ctx, id.AccountID, cfg)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		r, doc, err := s.getEndpoint(ctx, aws.ToString(in.EndpointName))
		if err != nil {
			return nil, err
		}
		if doc.Endpoint.EndpointStatus != types.EndpointStatusInService {
			return nil, validationError("Cannot update in-progress endpoint %q.", r.ARN)
		}
		pcfg := *cfg
		pcfg.ProductionVariants = append([]types.ProductionVariant(nil), cfg.ProductionVariants...)
		if aws.ToBool(in.RetainAllVariantProperties) {
			retain(pcfg.ProductionVariants, doc.Endpoint.ProductionVariants, in.ExcludeRetainedVariantProperties)
		}
		now := s.now()
		doc.Pending = &PendingUpdate{Config: &pcfg, Models: models, DeploymentConfig: in.DeploymentConfig,
			RetainDeploymentConfig: aws.ToBool(in.RetainDeploymentConfig)}
		pending := &types.PendingDeploymentSummary{EndpointConfigName: pcfg.EndpointConfigName, StartTime: aws.Time(now)}
		for _, v := range VariantSummaries(&pcfg, models, now) {
			pending.ProductionVariants = append(pending.ProductionVariants, types.PendingProductionVariantSummary{
				VariantName: v.VariantName, DeployedImages: v.DeployedImages, DesiredWeight: v.DesiredWeight,
				DesiredInstanceCount: v.DesiredInstanceCount, CurrentWeight: aws.Float32(0), CurrentInstanceCount: aws.Int32(0),
				VariantStatus: v.VariantStatus,
			})
		}
		doc.Endpoint.PendingDeploymentSummary = pending
		doc.Endpoint.EndpointStatus = types.EndpointStatusUpdating
		doc.Endpoint.FailureReason = nil
		doc.Endpoint.LastModifiedTime = aws.Time(now)
		err = s.update(ctx, r, doc, string(types.EndpointStatusUpdating), now)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.notify(TypeEndpoint)
		return &sm.UpdateEndpointOutput{EndpointArn: doc.Endpoint.EndpointArn}, nil
	}
}

// retain copies the current desired weights and instance counts of
// same-named variants into vs, except the excluded properties.
func retain(vs []types.ProductionVariant, cur []types.ProductionVariantSummary, exclude []types.VariantProperty) {
	ex := map[types.VariantPropertyType]bool{}
	for _, p := range exclude {
		ex[p.VariantPropertyType] = true
	}
	for i := range vs {
		for _, c := range cur {
			if !strings.EqualFold(aws.ToString(c.VariantName), aws.ToString(vs[i].VariantName)) {
				continue
			}
			if !ex[types.VariantPropertyTypeDesiredInstanceCount] && c.DesiredInstanceCount != nil {
				vs[i].InitialInstanceCount = aws.Int32(*c.DesiredInstanceCount)
			}
			if !ex[types.VariantPropertyTypeDesiredWeight] && c.DesiredWeight != nil {
				vs[i].InitialVariantWeight = aws.Float32(*c.DesiredWeight)
			}
		}
	}
}

// UpdateEndpointWeightsAndCapacities sets variants' desired weights and
// instance counts; the controller applies them (status Updating meanwhile).
func (s *Service) UpdateEndpointWeightsAndCapacities(ctx context.Context, in *sm.UpdateEndpointWeightsAndCapacitiesInput) (*sm.UpdateEndpointWeightsAndCapacitiesOutput, error) {
	if err := checkEntityName("endpointName", aws.ToString(in.EndpointName)); err != nil {
		return nil, err
	}
	if len(in.DesiredWeightsAndCapacities) == 0 {
		return nil, validationError("1 validation error detected: Value null at 'desiredWeightsAndCapacities' failed to satisfy constraint: Member must not be null")
	}
	for _, d := range in.DesiredWeightsAndCapacities {
		switch {
		case aws.ToString(d.VariantName) == "":
			return nil, validationError("1 validation error detected: Value null at 'desiredWeightsAndCapacities.member.variantName' failed to satisfy constraint: Member must not be null")
		case d.DesiredWeight == nil && d.DesiredInstanceCount == nil:
			return nil, validationError("Either DesiredWeight or DesiredInstanceCount must be given for variant %s.", aws.ToString(d.VariantName))
		case d.DesiredWeight != nil && *d.DesiredWeight < 0:
			return nil, validationError("1 validation error detected: Value '%g' at 'desiredWeightsAndCapacities.member.desiredWeight' failed to satisfy constraint: Member must have value greater than or equal to 0", *d.DesiredWeight)
		case d.DesiredInstanceCount != nil && *d.DesiredInstanceCount < 1:
			return nil, validationError("1 validation error detected: Value '%d' at 'desiredWeightsAndCapacities.member.desiredInstanceCount' failed to satisfy constraint: Member must have value greater than or equal to 1", *d.DesiredInstanceCount)
		}
	}
	for attempt := 0; ; attempt++ {
		r, doc, err := s.getEndpoint(ctx, aws.ToString(in.EndpointName))
		if err != nil {
			return nil, err
		}
		if doc.Endpoint.EndpointStatus != types.EndpointStatusInService {
			return nil, validationError("Cannot update in-progress endpoint %q.", r.ARN)
		}
		pvs := doc.Endpoint.ProductionVariants
		var total float32
		for _, d := range in.DesiredWeightsAndCapacities {
			found := false
			for i := range pvs {
				if aws.ToString(pvs[i].VariantName) != aws.ToString(d.VariantName) {
					continue
				}
				found = true
				if d.DesiredWeight != nil {
					pvs[i].DesiredWeight = aws.Float32(*d.DesiredWeight)
				}
				if d.DesiredInstanceCount != nil {
					pvs[i].DesiredInstanceCount = aws.Int32(*d.DesiredInstanceCount)
				}
			}
			if !found {
				return nil, validationError("The variant name(s) [%s] is/are not present in the endpoint %q.", aws.ToString(d.VariantName), r.ARN)
			}
		}
		for _, pv := range pvs {
			total += aws.ToFloat32(pv.DesiredWeight)
		}
		if total <= 0 {
			return nil, validationError("The sum of the DesiredWeight of all production variants must be greater than 0.")
		}
		now := s.now()
		doc.Endpoint.EndpointStatus = types.EndpointStatusUpdating
		doc.Endpoint.FailureReason = nil
		doc.Endpoint.LastModifiedTime = aws.Time(now)
		err = s.update(ctx, r, doc, string(types.EndpointStatusUpdating), now)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.notify(TypeEndpoint)
		return &sm.UpdateEndpointWeightsAndCapacitiesOutput{EndpointArn: doc.Endpoint.EndpointArn}, nil
	}
}
