// Package sagemaker implements the SageMaker control-plane API (AWS JSON 1.1,
// X-Amz-Target "SageMaker.<Operation>"). Each resource family has its own
// file: handlers decode and check requests, then keep resources in the
// metadata store as JSON documents in the API's own Describe shape.
package sagemaker

import (
	"context"
	"net/http"
	"time"

	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/blob"
	"github.com/wharfml/wharf/internal/instances"
	"github.com/wharfml/wharf/internal/store"
)

// Service holds what the SageMaker handlers share.
type Service struct {
	Store   store.Store
	Blobs   blob.Store
	Catalog *instances.Catalog
	Region  string
	// Notify, if set, is called with a resource type ("training-job") after
	// a change a controller should act on.
	Notify func(kind string)
	// PageKey signs NextToken values so clients cannot forge resume points.
	PageKey []byte
	Now     func() time.Time
	// Images, if set, checks that a model's image exists (CreateModel).
	Images ImageChecker
}

// Register adds every implemented operation to r.
func (s *Service) Register(r *awsjson.Router) {
	awsjson.Handle(r, "CreateModelPackageGroup", s.CreateModelPackageGroup)
	awsjson.Handle(r, "DescribeModelPackageGroup", s.DescribeModelPackageGroup)
	awsjson.Handle(r, "ListModelPackageGroups", s.ListModelPackageGroups)
	awsjson.Handle(r, "DeleteModelPackageGroup", s.DeleteModelPackageGroup)
	awsjson.Handle(r, "AddTags", s.AddTags)
	awsjson.Handle(r, "ListTags", s.ListTags)
	awsjson.Handle(r, "DeleteTags", s.DeleteTags)
	awsjson.Handle(r, "CreateTrainingJob", s.CreateTrainingJob)
	awsjson.Handle(r, "DescribeTrainingJob", s.DescribeTrainingJob)
	awsjson.Handle(r, "ListTrainingJobs", s.ListTrainingJobs)
	awsjson.Handle(r, "StopTrainingJob", s.StopTrainingJob)
	awsjson.Handle(r, "CreateModel", s.CreateModel)
	awsjson.Handle(r, "DescribeModel", s.DescribeModel)
	awsjson.Handle(r, "ListModels", s.ListModels)
	awsjson.Handle(r, "DeleteModel", s.DeleteModel)
	awsjson.Handle(r, "CreateTransformJob", s.CreateTransformJob)
	awsjson.Handle(r, "DescribeTransformJob", s.DescribeTransformJob)
	awsjson.Handle(r, "ListTransformJobs", s.ListTransformJobs)
	awsjson.Handle(r, "StopTransformJob", s.StopTransformJob)
	awsjson.Handle(r, "CreateEndpointConfig", s.CreateEndpointConfig)
	awsjson.Handle(r, "DescribeEndpointConfig", s.DescribeEndpointConfig)
	awsjson.Handle(r, "ListEndpointConfigs", s.ListEndpointConfigs)
	awsjson.Handle(r, "DeleteEndpointConfig", s.DeleteEndpointConfig)
	awsjson.Handle(r, "CreateEndpoint", s.CreateEndpoint)
	awsjson.Handle(r, "DescribeEndpoint", s.DescribeEndpoint)
	awsjson.Handle(r, "ListEndpoints", s.ListEndpoints)
	awsjson.Handle(r, "DeleteEndpoint", s.DeleteEndpoint)
	awsjson.Handle(r, "UpdateEndpoint", s.UpdateEndpoint)
	awsjson.Handle(r, "UpdateEndpointWeightsAndCapacities", s.UpdateEndpointWeightsAndCapacities)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// caller returns the authenticated account; the server's auth layer always
// sets it, so its absence is a wiring fault.
func caller(ctx context.Context) (awsapi.Identity, error) {
	id, ok := awsapi.IdentityFrom(ctx)
	if !ok {
		return id, awsjson.Errorf("MissingAuthenticationTokenException", http.StatusForbidden, "Missing Authentication Token")
	}
	return id, nil
}

func validationError(format string, args ...any) error {
	return awsjson.Errorf("ValidationException", http.StatusBadRequest, format, args...)
}
