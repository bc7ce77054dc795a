package awsjson_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/awsapi/shapes"
)

// toyGroups is an in-memory model-package-group service for the tests.
type toyGroups struct {
	mu     sync.Mutex
	groups map[string]*sagemaker.DescribeModelPackageGroupOutput
	now    time.Time
}

func (s *toyGroups) arn(name string) string {
	return "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/" + strings.ToLower(name)
}

func (s *toyGroups) create(_ context.Context, in *sagemaker.CreateModelPackageGroupInput) (*sagemaker.CreateModelPackageGroupOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(*in.ModelPackageGroupName)
	if _, ok := s.groups[key]; ok {
		return nil, awsjson.Errorf("ValidationException", 400, "Model Package Group already exists: %s", s.arn(key))
	}
	g := &sagemaker.DescribeModelPackageGroupOutput{
		ModelPackageGroupName:        in.ModelPackageGroupName,
		ModelPackageGroupArn:         aws.String(s.arn(key)),
		ModelPackageGroupDescription: in.ModelPackageGroupDescription,
		CreationTime:                 aws.Time(s.now),
		ModelPackageGroupStatus:      types.ModelPackageGroupStatusCompleted,
		CreatedBy:                    &types.UserContext{UserProfileName: aws.String("alice")},
	}
	s.groups[key] = g
	return &sagemaker.CreateModelPackageGroupOutput{ModelPackageGroupArn: g.ModelPackageGroupArn}, nil
}

func (s *toyGroups) describe(_ context.Context, in *sagemaker.DescribeModelPackageGroupInput) (*sagemaker.DescribeModelPackageGroupOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[strings.ToLower(*in.ModelPackageGroupName)]
	if !ok {
		return nil, awsjson.Errorf("ValidationException", 400, "ModelPackageGroup %s does not exist.", s.arn(*in.ModelPackageGroupName))
	}
	return g, nil
}

func (s *toyGroups) list(_ context.Context, in *sagemaker.ListModelPackageGroupsInput) (*sagemaker.ListModelPackageGroupsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &sagemaker.ListModelPackageGroupsOutput{ModelPackageGroupSummaryList: []types.ModelPackageGroupSummary{}}
	for _, g := range s.groups {
		out.ModelPackageGroupSummaryList = append(out.ModelPackageGroupSummaryList, types.ModelPackageGroupSummary{
			ModelPackageGroupName: g.ModelPackageGroupName, ModelPackageGroupArn: g.ModelPackageGroupArn,
			CreationTime: g.CreationTime, ModelPackageGroupStatus: g.ModelPackageGroupStatus,
		})
	}
	sort.Slice(out.ModelPackageGroupSummaryList, func(i, j int) bool {
		return *out.ModelPackageGroupSummaryList[i].ModelPackageGroupName < *out.ModelPackageGroupSummaryList[j].ModelPackageGroupName
	})
	return out, nil
}

func (s *toyGroups) delete(_ context.Context, in *sagemaker.DeleteModelPackageGroupInput) (*sagemaker.DeleteModelPackageGroupOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, strings.ToLower(*in.ModelPackageGroupName))
	return nil, nil // nil output → {}
}

// richTrainingJob is a DescribeTrainingJobOutput exercising times, enums,
// nested structures, lists and maps.
func richTrainingJob() *sagemaker.DescribeTrainingJobOutput {
	t0 := time.UnixMilli(1542752036687).UTC()
	return &sagemaker.DescribeTrainingJobOutput{
		TrainingJobName:   aws.String("job-1"),
		TrainingJobArn:    aws.String("arn:aws:sagemaker:us-east-1:123456789012:training-job/job-1"),
		TrainingJobStatus: types.TrainingJobStatusCompleted,
		SecondaryStatus:   types.SecondaryStatusCompleted,
		CreationTime:      aws.Time(t0),
		TrainingStartTime: aws.Time(t0.Add(1500 * time.Millisecond)),
		TrainingEndTime:   aws.Time(t0.Add(time.Hour)),
		LastModifiedTime:  aws.Time(time.Unix(1542755636, 0).UTC()),
		AlgorithmSpecification: &types.AlgorithmSpecification{
			TrainingImage:     aws.String("registry.local/algo@sha256:" + strings.Repeat("a", 64)),
			TrainingInputMode: types.TrainingInputModeFile,
			MetricDefinitions: []types.MetricDefinition{{Name: aws.String("loss"), Regex: aws.String(`loss=(\S+)`)}},
		},
		RoleArn: aws.String("arn:aws:iam::123456789012:role/SageMaker"),
		InputDataConfig: []types.Channel{{
			ChannelName: aws.String("train"),
			DataSource: &types.DataSource{S3DataSource: &types.S3DataSource{
				S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String("s3://bucket/train/"),
				S3DataDistributionType: types.S3DataDistributionFullyReplicated,
			}},
			ContentType: aws.String("text/csv"),
		}},
		OutputDataConfig: &types.OutputDataConfig{S3OutputPath: aws.String("s3://bucket/out/")},
		ResourceConfig: &types.ResourceConfig{
			InstanceType: types.TrainingInstanceTypeMlM5Large, InstanceCount: aws.Int32(2), VolumeSizeInGB: aws.Int32(30),
		},
		StoppingCondition:      &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(86400)},
		HyperParameters:        map[string]string{"epochs": "10", "lr": "0.1", "quote\"key": "line\nbreak ünïcode"},
		Environment:            map[string]string{},
		ModelArtifacts:         &types.ModelArtifacts{S3ModelArtifacts: aws.String("s3://bucket/out/job-1/output/model.tar.gz")},
		EnableNetworkIsolation: aws.Bool(false),
		TrainingTimeInSeconds:  aws.Int32(3600),
		BillableTimeInSeconds:  aws.Int32(3600),
		SecondaryStatusTransitions: []types.SecondaryStatusTransition{
			{Status: types.SecondaryStatusStarting, StartTime: aws.Time(t0), EndTime: aws.Time(t0.Add(time.Second)), StatusMessage: aws.String("Preparing")},
			{Status: types.SecondaryStatusCompleted, StartTime: aws.Time(t0.Add(time.Hour))},
		},
		FinalMetricDataList:     []types.MetricData{{MetricName: aws.String("loss"), Value: aws.Float32(0.25), Timestamp: aws.Time(t0.Add(time.Hour))}},
		DebugRuleConfigurations: []types.DebugRuleConfiguration{},
		ProfilingStatus:         types.ProfilingStatusDisabled,
	}
}

type server struct {
	*httptest.Server
	groups *toyGroups
	logs   *bytes.Buffer
	client *sagemaker.Client
}

func newServer(t *testing.T) *server {
	t.Helper()
	logs := &bytes.Buffer{}
	groups := &toyGroups{groups: map[string]*sagemaker.DescribeModelPackageGroupOutput{}, now: time.UnixMilli(1542752036687)}
	r := &awsjson.Router{
		TargetPrefix: "SageMaker.",
		Model:        shapes.MustLoad("sagemaker"),
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
		MaxBodyBytes: 1 << 20,
	}
	awsjson.Handle(r, "CreateModelPackageGroup", groups.create)
	awsjson.Handle(r, "DescribeModelPackageGroup", groups.describe)
	awsjson.Handle(r, "ListModelPackageGroups", groups.list)
	awsjson.Handle(r, "DeleteModelPackageGroup", groups.delete)
	awsjson.Handle(r, "DescribeTrainingJob", func(_ context.Context, in *sagemaker.DescribeTrainingJobInput) (*sagemaker.DescribeTrainingJobOutput, error) {
		switch *in.TrainingJobName {
		case "job-1":
			return richTrainingJob(), nil
		case "boom":
			return nil, errors.New("database is on fire")
		case "panic":
			panic("handler bug")
		case "typed":
			return nil, &types.ResourceNotFound{Message: aws.String("Requested resource not found.")}
		}
		return nil, awsjson.Errorf("ValidationException", 400, "Requested resource not found.")
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	client := sagemaker.New(sagemaker.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	return &server{Server: srv, groups: groups, logs: logs, client: client}
}

func apiError(t *testing.T, err error) smithy.APIError {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("want smithy.APIError, got %T %v", err, err)
	}
	return api
}

func TestSDKEndToEnd(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()

	// Empty list is present as [].
	list, err := s.client.ListModelPackageGroups(ctx, &sagemaker.ListModelPackageGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if list.ModelPackageGroupSummaryList == nil || len(list.ModelPackageGroupSummaryList) != 0 {
		t.Fatalf("want empty non-nil list, got %#v", list.ModelPackageGroupSummaryList)
	}

	created, err := s.client.CreateModelPackageGroup(ctx, &sagemaker.CreateModelPackageGroupInput{
		ModelPackageGroupName:        aws.String("My-Group"),
		ModelPackageGroupDescription: aws.String("desc"),
		Tags:                         []types.Tag{{Key: aws.String("team"), Value: aws.String("ml")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(created.ModelPackageGroupArn); got != s.groups.arn("my-group") {
		t.Fatalf("arn %q", got)
	}

	desc, err := s.client.DescribeModelPackageGroup(ctx, &sagemaker.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String("My-Group")})
	if err != nil {
		t.Fatal(err)
	}
	if !desc.CreationTime.Equal(time.UnixMilli(1542752036687)) {
		t.Fatalf("CreationTime %v (%d ms)", desc.CreationTime, desc.CreationTime.UnixMilli())
	}
	if desc.ModelPackageGroupStatus != types.ModelPackageGroupStatusCompleted || aws.ToString(desc.ModelPackageGroupName) != "My-Group" ||
		desc.CreatedBy == nil || aws.ToString(desc.CreatedBy.UserProfileName) != "alice" {
		t.Fatalf("describe: %+v", desc)
	}

	list, err = s.client.ListModelPackageGroups(ctx, &sagemaker.ListModelPackageGroupsInput{})
	if err != nil || len(list.ModelPackageGroupSummaryList) != 1 || !list.ModelPackageGroupSummaryList[0].CreationTime.Equal(*desc.CreationTime) {
		t.Fatalf("list: %v %+v", err, list)
	}

	// Duplicate → handler *Error.
	_, err = s.client.CreateModelPackageGroup(ctx, &sagemaker.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("my-group")})
	if api := apiError(t, err); api.ErrorCode() != "ValidationException" || !strings.HasPrefix(api.ErrorMessage(), "Model Package Group already exists") {
		t.Fatalf("duplicate: %v", err)
	}

	// Shape validation, 64-char name.
	long := strings.Repeat("a", 64)
	_, err = s.client.CreateModelPackageGroup(ctx, &sagemaker.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String(long)})
	api := apiError(t, err)
	want := "2 validation errors detected: Value '" + long + "' at 'modelPackageGroupName' failed to satisfy constraint: Member must have length less than or equal to 63; " +
		"Value '" + long + "' at 'modelPackageGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
	if api.ErrorCode() != "ValidationException" || api.ErrorMessage() != want {
		t.Fatalf("validation: code %q message %q", api.ErrorCode(), api.ErrorMessage())
	}

	// Not found.
	_, err = s.client.DescribeModelPackageGroup(ctx, &sagemaker.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String("nope")})
	if api := apiError(t, err); api.ErrorCode() != "ValidationException" || api.ErrorMessage() != "ModelPackageGroup "+s.groups.arn("nope")+" does not exist." {
		t.Fatalf("not found: %v", err)
	}

	// Delete returns {}.
	if _, err := s.client.DeleteModelPackageGroup(ctx, &sagemaker.DeleteModelPackageGroupInput{ModelPackageGroupName: aws.String("My-Group")}); err != nil {
		t.Fatal(err)
	}
}

func TestSDKRoundTripDescribeTrainingJob(t *testing.T) {
	s := newServer(t)
	got, err := s.client.DescribeTrainingJob(context.Background(), &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String("job-1")})
	if err != nil {
		t.Fatal(err)
	}
	want := richTrainingJob()
	// Compare through Marshal (deterministic) after the SDK decoded our bytes.
	got.ResultMetadata = want.ResultMetadata
	gb, _ := awsjson.Marshal(got)
	wb, _ := awsjson.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("round trip differs:\n got %s\nwant %s", gb, wb)
	}
	for name, pair := range map[string][2]*time.Time{
		"CreationTime":      {got.CreationTime, want.CreationTime},
		"TrainingStartTime": {got.TrainingStartTime, want.TrainingStartTime},
		"LastModifiedTime":  {got.LastModifiedTime, want.LastModifiedTime},
		"transition.End":    {got.SecondaryStatusTransitions[0].EndTime, want.SecondaryStatusTransitions[0].EndTime},
	} {
		if !pair[0].Equal(*pair[1]) {
			t.Errorf("%s: got %v want %v", name, pair[0], pair[1])
		}
	}
	if got.HyperParameters["quote\"key"] != "line\nbreak ünïcode" || got.Environment == nil || got.DebugRuleConfigurations == nil {
		t.Errorf("maps/lists: %#v %#v %#v", got.HyperParameters, got.Environment, got.DebugRuleConfigurations)
	}
	if got.ResourceConfig.InstanceType != types.TrainingInstanceTypeMlM5Large || *got.FinalMetricDataList[0].Value != 0.25 {
		t.Errorf("enum/float: %+v", got.ResourceConfig)
	}
}

func TestSDKErrors(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	describe := func(name string) error {
		_, err := s.client.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(name)})
		return err
	}

	err := describe("typed")
	var rnf *types.ResourceNotFound
	if !errors.As(err, &rnf) || rnf.ErrorMessage() != "Requested resource not found." {
		t.Fatalf("typed: want *types.ResourceNotFound, got %T %v", err, err)
	}

	err = describe("boom")
	if api := apiError(t, err); api.ErrorCode() != "InternalFailure" || strings.Contains(api.ErrorMessage(), "fire") {
		t.Fatalf("internal: %v", err)
	}
	if !strings.Contains(s.logs.String(), "database is on fire") || !strings.Contains(s.logs.String(), "requestId=") {
		t.Fatalf("internal error not logged: %s", s.logs)
	}

	err = describe("panic")
	if api := apiError(t, err); api.ErrorCode() != "InternalFailure" {
		t.Fatalf("panic: %v", err)
	}
	if !strings.Contains(s.logs.String(), "handler bug") {
		t.Fatalf("panic not logged: %s", s.logs)
	}

	// Missing required member: the Go SDK checks required members itself, so
	// send the request raw.
	resp, body := post(t, s.URL, "SageMaker.DescribeTrainingJob", `{}`)
	wantErr(t, resp, body, 400, "ValidationException",
		"1 validation error detected: Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null")
}

func post(t *testing.T, url, target, body string) (*http.Response, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", awsjson.ContentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, map[string]string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("body %q: %v", raw, err)
	}
	return resp, m
}

func wantErr(t *testing.T, resp *http.Response, body map[string]string, status int, code, msg string) {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("X-Amzn-ErrorType") != code || body["__type"] != code ||
		resp.Header.Get("Content-Type") != awsjson.ContentType || resp.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("got %d %v %v", resp.StatusCode, resp.Header, body)
	}
	if msg != "" && body["message"] != msg {
		t.Fatalf("message %q, want %q", body["message"], msg)
	}
}

func TestRawProtocolErrors(t *testing.T) {
	s := newServer(t)

	resp, body := post(t, s.URL, "SageMaker.NoSuchThing", `{}`)
	wantErr(t, resp, body, 400, "UnknownOperationException", "")

	resp, body = post(t, s.URL, "Logs_20140328.DescribeLogGroups", `{}`)
	wantErr(t, resp, body, 400, "UnknownOperationException", "")

	resp, body = post(t, s.URL, "", `{}`)
	wantErr(t, resp, body, 400, "UnknownOperationException", "Missing X-Amz-Target header")

	resp, body = post(t, s.URL, "SageMaker.DescribeModelPackageGroup", `{`)
	wantErr(t, resp, body, 400, "SerializationException", "")

	resp, body = post(t, s.URL, "SageMaker.DescribeModelPackageGroup", `{"ModelPackageGroupName": 7}`)
	wantErr(t, resp, body, 400, "SerializationException", "NUMBER_VALUE can not be converted to a String at 'modelPackageGroupName'")

	resp, body = post(t, s.URL, "SageMaker.DescribeModelPackageGroup", `{"ModelPackageGroupName":"`+strings.Repeat("x", 2<<20)+`"}`)
	wantErr(t, resp, body, 413, "SerializationException", "")

	req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
	resp, body = do(t, req)
	wantErr(t, resp, body, 405, "UnknownOperationException", "")

	// Unknown members are ignored; success carries the request id.
	resp, raw := postRaw(t, s.URL, "SageMaker.ListModelPackageGroups", `{"SomeFutureMember": {"x": [1]}}`)
	if resp.StatusCode != 200 || raw != `{"ModelPackageGroupSummaryList":[]}` || resp.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("list: %d %s", resp.StatusCode, raw)
	}
	resp, raw = postRaw(t, s.URL, "SageMaker.DeleteModelPackageGroup", `{"ModelPackageGroupName":"x"}`)
	if resp.StatusCode != 200 || raw != `{}` {
		t.Fatalf("delete: %d %s", resp.StatusCode, raw)
	}
}

func postRaw(t *testing.T, url, target, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", target)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func TestOperationName(t *testing.T) {
	r := &awsjson.Router{TargetPrefix: "WharfAdmin"}
	type in struct{ Name string }
	type out struct{ OK bool }
	awsjson.Handle(r, "Ping", func(context.Context, *in) (*out, error) { return &out{OK: true}, nil })
	for target, want := range map[string]string{"WharfAdmin.Ping": "Ping", "WharfAdmin.Pong": "", "Other.Ping": "", "": ""} {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Header.Set("X-Amz-Target", target)
		if got := r.OperationName(req); got != want {
			t.Errorf("%q: got %q want %q", target, got, want)
		}
	}
	// No model: still served, malformed JSON still rejected.
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"Name":"x"}`))
	req.Header.Set("X-Amz-Target", "WharfAdmin.Ping")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != 200 || w.Body.String() != `{"OK":true}` {
		t.Fatalf("ping: %d %s", w.Code, w.Body)
	}
	req = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"Name":1}`))
	req.Header.Set("X-Amz-Target", "WharfAdmin.Ping")
	w = httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != 400 || w.Header().Get("X-Amzn-ErrorType") != "SerializationException" || !strings.Contains(w.Body.String(), "'name'") {
		t.Fatalf("bad type: %d %s", w.Code, w.Body)
	}
}

// TestBoto3 drives the server with boto3: botocore must parse our timestamps
// and our errors.
func TestBoto3(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("python3 with boto3 not available")
	}
	s := newServer(t)
	if _, err := s.client.CreateModelPackageGroup(context.Background(), &sagemaker.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("g1")}); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, boto3, botocore.exceptions
from botocore.config import Config
sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                  config=Config(retries={"max_attempts": 1}))
d = sm.describe_model_package_group(ModelPackageGroupName="g1")
print("time", d["CreationTime"].isoformat())
print("status", d["ModelPackageGroupStatus"])
print("reqid", d["ResponseMetadata"]["RequestId"])
print("list", len(sm.list_model_package_groups()["ModelPackageGroupSummaryList"]))
j = sm.describe_training_job(TrainingJobName="job-1")
print("job", j["TrainingStartTime"].isoformat(), j["HyperParameters"]["lr"], j["FinalMetricDataList"][0]["Value"])
for name in ["nope"]:
    try:
        sm.describe_model_package_group(ModelPackageGroupName=name)
    except botocore.exceptions.ClientError as e:
        print("error", e.response["Error"]["Code"], e.response["Error"]["Message"], e.response["ResponseMetadata"]["HTTPStatusCode"])
try:
    sm.create_model_package_group(ModelPackageGroupName="a" * 64)
except botocore.exceptions.ClientError as e:
    print("error", e.response["Error"]["Code"], e.response["Error"]["Message"][:40])
try:
    sm.describe_training_job(TrainingJobName="typed")
except sm.exceptions.ResourceNotFound as e:
    print("modeled", e.response["Error"]["Code"])
`
	out, err := exec.Command("python3", "-c", script, s.URL).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := fmt.Sprintf(`time 2018-11-20T22:13:56.687000+00:00
status Completed
reqid %s
list 1
job 2018-11-20T22:13:58.187000+00:00 0.1 0.25
error ValidationException ModelPackageGroup %s does not exist. 400
error ValidationException 2 validation errors detected: Value 'aaa
modeled ResourceNotFound
`, "REQID", s.groups.arn("nope"))
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "reqid ") && len(l) > len("reqid ") {
			lines[i] = "reqid REQID"
		}
	}
	if got := strings.Join(lines, "\n"); got != want {
		t.Fatalf("boto3 output:\n%s\nwant:\n%s", got, want)
	}
}
