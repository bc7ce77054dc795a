package awsjson_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/awsapi/shapes"
)

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := awsjson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("invalid JSON %s", b)
	}
	return string(b)
}

func TestMarshal(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, `{}`},
		{"nil pointer", (*sagemaker.DeleteModelOutput)(nil), `{}`},
		{"empty output", &sagemaker.DeleteModelOutput{}, `{}`},
		{"empty list present", &sagemaker.ListModelPackageGroupsOutput{ModelPackageGroupSummaryList: []types.ModelPackageGroupSummary{}},
			`{"ModelPackageGroupSummaryList":[]}`},
		{"time ms, enum, nested", &sagemaker.DescribeModelPackageGroupOutput{
			ModelPackageGroupName:   aws.String("g"),
			CreationTime:            aws.Time(time.UnixMilli(1542752036687)),
			ModelPackageGroupStatus: types.ModelPackageGroupStatusCompleted,
			CreatedBy:               &types.UserContext{},
		}, `{"CreatedBy":{},"CreationTime":1542752036.687,"ModelPackageGroupName":"g","ModelPackageGroupStatus":"Completed"}`},
		{"whole seconds, trailing zeros, sub-ms truncated", &sagemaker.ListModelsOutput{Models: []types.ModelSummary{
			{ModelName: aws.String("a"), CreationTime: aws.Time(time.Unix(1700000000, 0))},
			{ModelName: aws.String("b"), CreationTime: aws.Time(time.Unix(1700000000, 500_999_999))},
			{ModelName: aws.String("c"), CreationTime: aws.Time(time.Unix(1700000000, 20_000_000))},
		}}, `{"Models":[{"CreationTime":1700000000,"ModelName":"a"},{"CreationTime":1700000000.5,"ModelName":"b"},{"CreationTime":1700000000.02,"ModelName":"c"}]}`},
		{"maps sorted, escaping", &sagemaker.DescribeModelOutput{PrimaryContainer: &types.ContainerDefinition{
			Environment: map[string]string{"b": "x\"y\\z\n\t<&>\u2028", "a": ""},
		}}, `{"PrimaryContainer":{"Environment":{"a":"","b":"x\"y\\z\n\t<&>\u2028"}}}`},
		{"floats", &sagemaker.DescribeEndpointOutput{ProductionVariants: []types.ProductionVariantSummary{
			{VariantName: aws.String("v"), CurrentWeight: aws.Float32(0.1), DesiredWeight: aws.Float32(float32(math.Inf(1)))},
		}}, `{"ProductionVariants":[{"VariantName":"v","CurrentWeight":0.1,"DesiredWeight":"Infinity"}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := marshal(t, c.v); got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestMarshalPlainStructs(t *testing.T) {
	// Wharf's own types: json tags, omitempty, embedded structs.
	type Base struct {
		ID string `json:"id"`
	}
	type Item struct {
		Base
		Name    string            `json:"name"`
		Count   int               `json:"count,omitempty"`
		When    time.Time         `json:"when"`
		Skip    string            `json:"-"`
		Extra   map[string]any    `json:"extra,omitempty"`
		Raw     json.RawMessage   `json:"raw,omitempty"`
		Labels  map[string]string `json:"labels"`
		Enabled bool
	}
	got := marshal(t, Item{Base: Base{ID: "i"}, Name: "n", When: time.Unix(5, 0), Skip: "x",
		Extra: map[string]any{"k": []any{1, "two"}}, Raw: json.RawMessage(`{"a":1}`)})
	want := `{"id":"i","name":"n","when":5,"extra":{"k":[1,"two"]},"raw":{"a":1},"Enabled":false}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestMarshalRejectsNull(t *testing.T) {
	type T struct{ Items []*string }
	if _, err := awsjson.Marshal(T{Items: []*string{aws.String("a"), nil}}); err == nil || !strings.Contains(err.Error(), "items.2.member") {
		t.Fatalf("want error naming items.2.member, got %v", err)
	}
	type U interface{ isU() }
	type V struct{ Union U }
	if _, err := awsjson.Marshal(V{Union: unionA{}}); err == nil || !strings.Contains(err.Error(), "union") {
		t.Fatalf("want union error, got %v", err)
	}
}

type unionA struct{}

func (unionA) isU() {}

func TestUnmarshalSageMaker(t *testing.T) {
	body := `{
		"TrainingJobName": "job",
		"trainingJobName": "wrong-case-ignored",
		"RoleArn": "arn:aws:iam::123456789012:role/r",
		"HyperParameters": {"epochs": "3"},
		"AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File",
			"MetricDefinitions": [{"Name": "loss", "Regex": "l=(.*)"}]},
		"ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1e1},
		"StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": null},
		"InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/k", "S3DataType": "S3Prefix"}}}],
		"EnableNetworkIsolation": true,
		"Tags": [],
		"FutureMember": {"nested": [1, 2, 3]}
	}`
	var in sagemaker.CreateTrainingJobInput
	if err := awsjson.Unmarshal([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(in.TrainingJobName) != "job" || in.HyperParameters["epochs"] != "3" ||
		in.ResourceConfig.InstanceType != types.TrainingInstanceTypeMlM5Large || aws.ToInt32(in.ResourceConfig.VolumeSizeInGB) != 10 ||
		aws.ToInt32(in.StoppingCondition.MaxRuntimeInSeconds) != 3600 || in.StoppingCondition.MaxWaitTimeInSeconds != nil ||
		aws.ToString(in.InputDataConfig[0].DataSource.S3DataSource.S3Uri) != "s3://b/k" || !aws.ToBool(in.EnableNetworkIsolation) ||
		in.Tags == nil || aws.ToString(in.AlgorithmSpecification.MetricDefinitions[0].Regex) != "l=(.*)" {
		t.Fatalf("decoded %+v", in)
	}
}

func TestUnmarshalTimes(t *testing.T) {
	for body, want := range map[string]time.Time{
		`{"CreationTimeAfter": 1542752036}`:                    time.Unix(1542752036, 0),
		`{"CreationTimeAfter": 1542752036.687}`:                time.UnixMilli(1542752036687),
		`{"CreationTimeAfter": 1.542752036687e9}`:              time.UnixMilli(1542752036687),
		`{"CreationTimeAfter": -1.5}`:                          time.UnixMilli(-1500),
		`{"CreationTimeAfter": "2018-11-20T22:13:56.687Z"}`:    time.UnixMilli(1542752036687),
		`{"CreationTimeAfter": "2018-11-20T23:13:56+01:00"}`:   time.Unix(1542752036, 0),
		`{"CreationTimeAfter": "1542752036.687"}`:              time.UnixMilli(1542752036687),
		`{"CreationTimeAfter": 1542752036.123456789}`:          time.Unix(1542752036, 123456789),
		`{"CreationTimeAfter": 1542752036, "MaxResults": 5.0}`: time.Unix(1542752036, 0),
	} {
		var in sagemaker.ListTrainingJobsInput
		if err := awsjson.Unmarshal([]byte(body), &in); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if in.CreationTimeAfter == nil || !in.CreationTimeAfter.Equal(want) {
			t.Errorf("%s: got %v want %v", body, in.CreationTimeAfter, want)
		}
	}
}

func TestUnmarshalErrors(t *testing.T) {
	cases := []struct {
		body string
		want string
	}{
		{`{`, "Malformed JSON"},
		{`[]`, "must be a JSON object"},
		{`{} {}`, "unexpected data"},
		{`{"StoppingCondition": {"MaxRuntimeInSeconds": "x"}}`, "STRING_VALUE can not be converted to an Integer at 'stoppingCondition.maxRuntimeInSeconds'"},
		{`{"StoppingCondition": {"MaxRuntimeInSeconds": 1.5}}`, "at 'stoppingCondition.maxRuntimeInSeconds'"},
		{`{"StoppingCondition": {"MaxRuntimeInSeconds": 4294967296}}`, "at 'stoppingCondition.maxRuntimeInSeconds'"},
		{`{"InputDataConfig": [{"ChannelName": "a"}, {"ChannelName": 1}]}`, "at 'inputDataConfig.2.member.channelName'"},
		{`{"InputDataConfig": {"ChannelName": "a"}}`, "Start of structure or map found where not expected at 'inputDataConfig'"},
		{`{"HyperParameters": {"a": 1}}`, "at 'hyperParameters.a.member'"},
		{`{"EnableNetworkIsolation": "true"}`, "can not be converted to a Boolean at 'enableNetworkIsolation'"},
	}
	for _, c := range cases {
		var in sagemaker.CreateTrainingJobInput
		err := awsjson.Unmarshal([]byte(c.body), &in)
		var se *shapes.SerializationError
		if !errors.As(err, &se) || !strings.Contains(se.Message, c.want) {
			t.Errorf("%s: got %v, want SerializationError containing %q", c.body, err, c.want)
		}
	}
	var ts sagemaker.ListTrainingJobsInput
	if err := awsjson.Unmarshal([]byte(`{"CreationTimeAfter": "yesterday"}`), &ts); err == nil || !strings.Contains(err.Error(), "creationTimeAfter") {
		t.Errorf("bad timestamp: %v", err)
	}
	type U interface{ isU() }
	var withUnion struct{ Config U }
	err := awsjson.Unmarshal([]byte(`{"Config": {"A": {}}}`), &withUnion)
	var ae *awsjson.Error
	if !errors.As(err, &ae) || ae.Code != "ValidationException" || !strings.Contains(ae.Message, "'config'") {
		t.Errorf("union: %v", err)
	}
	if err := awsjson.Unmarshal([]byte(`{"Config": null}`), &withUnion); err != nil {
		t.Errorf("null union: %v", err)
	}
}

// ECR's wire names are lowerCamelCase except Tag.Key/Value: the codec takes
// them from the SDK's schemas.
func TestECRWireNames(t *testing.T) {
	out := &ecr.DescribeRepositoriesOutput{Repositories: []ecrtypes.Repository{{
		RepositoryName:             aws.String("team/app"),
		RepositoryArn:              aws.String("arn:aws:ecr:us-east-1:123456789012:repository/team/app"),
		CreatedAt:                  aws.Time(time.UnixMilli(1700000000123)),
		ImageTagMutability:         ecrtypes.ImageTagMutabilityImmutable,
		ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
	}}}
	got := marshal(t, out)
	want := `{"repositories":[{"createdAt":1700000000.123,"imageScanningConfiguration":{"scanOnPush":true},"imageTagMutability":"IMMUTABLE","repositoryArn":"arn:aws:ecr:us-east-1:123456789012:repository/team/app","repositoryName":"team/app"}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var in ecr.CreateRepositoryInput
	if err := awsjson.Unmarshal([]byte(`{"repositoryName":"x","RepositoryName":"wrong","tags":[{"Key":"a","Value":"b"}],"imageTagMutability":"IMMUTABLE"}`), &in); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(in.RepositoryName) != "x" || aws.ToString(in.Tags[0].Key) != "a" || in.ImageTagMutability != ecrtypes.ImageTagMutabilityImmutable {
		t.Fatalf("decoded %+v", in)
	}
}

func TestECRClientEndToEnd(t *testing.T) {
	r := &awsjson.Router{TargetPrefix: "AmazonEC2ContainerRegistry_V20150921", Model: shapes.MustLoad("ecr")}
	var repos []ecrtypes.Repository
	awsjson.Handle(r, "CreateRepository", func(_ context.Context, in *ecr.CreateRepositoryInput) (*ecr.CreateRepositoryOutput, error) {
		repo := ecrtypes.Repository{RepositoryName: in.RepositoryName, CreatedAt: aws.Time(time.UnixMilli(1700000000123)),
			ImageTagMutability: in.ImageTagMutability, RegistryId: aws.String("123456789012")}
		repos = append(repos, repo)
		return &ecr.CreateRepositoryOutput{Repository: &repo}, nil
	})
	awsjson.Handle(r, "DescribeRepositories", func(_ context.Context, in *ecr.DescribeRepositoriesInput) (*ecr.DescribeRepositoriesOutput, error) {
		return &ecr.DescribeRepositoriesOutput{Repositories: repos}, nil
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	client := ecr.New(ecr.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	ctx := context.Background()
	if _, err := client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app"),
		ImageTagMutability: ecrtypes.ImageTagMutabilityImmutable, Tags: []ecrtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
		t.Fatal(err)
	}
	got, err := client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Repositories) != 1 || aws.ToString(got.Repositories[0].RepositoryName) != "team/app" ||
		got.Repositories[0].CreatedAt.UnixMilli() != 1700000000123 || got.Repositories[0].ImageTagMutability != ecrtypes.ImageTagMutabilityImmutable {
		t.Fatalf("describe: %+v", got.Repositories)
	}
	// ECR's model: repository names are lower case.
	_, err = client.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("Bad")})
	if api := apiError(t, err); api.ErrorCode() != "ValidationException" || !strings.Contains(api.ErrorMessage(), "at 'repositoryName' failed to satisfy constraint: Member must satisfy regular expression pattern") {
		t.Fatalf("validation: %v", err)
	}
}
