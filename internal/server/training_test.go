package server_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/admin"
	"github.com/wharfml/wharf/internal/runtime/docker"
	"github.com/wharfml/wharf/internal/server"
	"github.com/wharfml/wharf/internal/testimage"
)

// trainingEnv is a server with the Docker runtime and an account with a bucket.
type trainingEnv struct {
	*env
	acct  admin.Credentials
	sm    *sm.Client
	s3    *s3.Client
	logs  *cloudwatchlogs.Client
	image string
}

func startTraining(t *testing.T) *trainingEnv {
	t.Helper()
	image := testimage.Build(t, "contract")
	rt, err := docker.New()
	if err != nil {
		t.Skipf("no Docker Engine: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	e := start(t, func(c *server.Config) {
		c.Runtime = rt
		c.StopGrace = 3 * time.Second
		c.MaxConcurrentJobs = 4
	})
	acct := e.account(t, "acme")
	te := &trainingEnv{env: e, acct: acct, sm: e.sagemaker(acct), s3: e.s3(acct), image: image,
		logs: cloudwatchlogs.New(cloudwatchlogs.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1",
			Credentials: e.creds(*acct.AccessKeyId, *acct.SecretAccessKey)})}
	ctx := context.Background()
	if _, err := te.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("data")}); err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string]string{"train/a.csv": "1,2\n3,4\n", "train/sub/b.csv": "5,6\n", "other/c.csv": "7,8\n"} {
		if _, err := te.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	return te
}

func (te *trainingEnv) job(name string, hp map[string]string) *sm.CreateTrainingJobInput {
	return &sm.CreateTrainingJobInput{
		TrainingJobName: aws.String(name),
		AlgorithmSpecification: &types.AlgorithmSpecification{
			TrainingImage: aws.String(te.image), TrainingInputMode: types.TrainingInputModeFile,
			MetricDefinitions: []types.MetricDefinition{{Name: aws.String("train:mse"), Regex: aws.String(`train_mse=([0-9.]+)`)}},
		},
		RoleArn:         aws.String("arn:aws:iam::" + *te.acct.AccountId + ":role/any"),
		HyperParameters: hp,
		InputDataConfig: []types.Channel{{
			ChannelName: aws.String("train"), ContentType: aws.String("text/csv"),
			DataSource: &types.DataSource{S3DataSource: &types.S3DataSource{S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String("s3://data/train/")}},
		}},
		OutputDataConfig:       &types.OutputDataConfig{S3OutputPath: aws.String("s3://data/output/")},
		ResourceConfig:         &types.ResourceConfig{InstanceType: types.TrainingInstanceTypeMlM5Large, InstanceCount: aws.Int32(1), VolumeSizeInGB: aws.Int32(1)},
		StoppingCondition:      &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(600)},
		EnableNetworkIsolation: aws.Bool(true),
	}
}

// wait polls until the job is terminal and returns its description.
func (te *trainingEnv) wait(t *testing.T, name string) *sm.DescribeTrainingJobOutput {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		d, err := te.sm.DescribeTrainingJob(context.Background(), &sm.DescribeTrainingJobInput{TrainingJobName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		switch d.TrainingJobStatus {
		case types.TrainingJobStatusCompleted, types.TrainingJobStatusFailed, types.TrainingJobStatusStopped:
			return d
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("job %s did not finish", name)
	return nil
}

// logText returns every event of the job's log streams.
func (te *trainingEnv) logText(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	streams, err := te.logs.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupName: aws.String("/aws/sagemaker/TrainingJobs"), LogStreamNamePrefix: aws.String(name + "/")})
	if apiCode(err) == "ResourceNotFoundException" {
		return "" // no job has logged anything yet
	}
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range streams.LogStreams {
		var token *string
		for {
			out, err := te.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/aws/sagemaker/TrainingJobs"),
				LogStreamName: s.LogStreamName, StartFromHead: aws.Bool(true), NextToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range out.Events {
				b.WriteString(aws.ToString(e.Message) + "\n")
			}
			if token != nil && aws.ToString(out.NextForwardToken) == *token {
				break
			}
			token = out.NextForwardToken
		}
	}
	return b.String()
}

// untar returns the files of a tar.gz object.
func (te *trainingEnv) untar(t *testing.T, key string) map[string]string {
	t.Helper()
	out, err := te.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	zr, err := gzip.NewReader(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		io.Copy(&buf, tr)
		files[h.Name] = buf.String()
		if h.Typeflag == tar.TypeSymlink {
			files[h.Name] = "-> " + h.Linkname
		}
	}
}

func TestTrainingJobCompletes(t *testing.T) {
	te := startTraining(t)
	ctx := context.Background()
	in := te.job("run-1", map[string]string{"epochs": "3", "model_content": "weights v1"})
	if _, err := te.sm.CreateTrainingJob(ctx, in); err != nil {
		t.Fatal(err)
	}
	_, err := te.sm.CreateTrainingJob(ctx, in)
	if apiCode(err) != "ResourceInUse" {
		t.Fatalf("duplicate job: %v", err)
	}
	d := te.wait(t, "run-1")
	if d.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Fatalf("status %s: %s\nlogs:\n%s", d.TrainingJobStatus, aws.ToString(d.FailureReason), te.logText(t, "run-1"))
	}
	if got := aws.ToString(d.ModelArtifacts.S3ModelArtifacts); got != "s3://data/output/run-1/output/model.tar.gz" {
		t.Fatalf("artifacts %s", got)
	}
	var path []string
	for _, tr := range d.SecondaryStatusTransitions {
		path = append(path, string(tr.Status))
	}
	if strings.Join(path, ",") != "Starting,Downloading,Training,Uploading,Completed" {
		t.Fatalf("transitions %v", path)
	}
	if d.TrainingStartTime == nil || d.TrainingEndTime == nil || aws.ToInt32(d.BillableTimeInSeconds) < 1 {
		t.Fatalf("times: %+v", d)
	}
	if len(d.FinalMetricDataList) != 1 || aws.ToString(d.FinalMetricDataList[0].MetricName) != "train:mse" ||
		fmt.Sprintf("%.3f", aws.ToFloat32(d.FinalMetricDataList[0].Value)) != "0.250" {
		t.Fatalf("final metrics %+v", d.FinalMetricDataList)
	}
	model := te.untar(t, "output/run-1/output/model.tar.gz")
	if model["model.txt"] != "weights v1" || len(model["sub/dir/weights.bin"]) != 1024 {
		t.Fatalf("model.tar.gz has %v", keys(model))
	}
	if te.untar(t, "output/run-1/output/output.tar.gz")["extra.txt"] == "" {
		t.Fatal("output.tar.gz lacks extra.txt")
	}
	logs := te.logText(t, "run-1")
	for _, want := range []string{
		"file train/a.csv 8 ", "file train/sub/b.csv 4 ", "env SM_* none",
		`"epochs":"3"`, "TRAINING_JOB_NAME=run-1", "AWS_REGION=us-east-1",
		`"current_host":"algo-1"`, "train_mse=",
	} {
		if !strings.Contains(logs, want) {
			t.Fatalf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "other/c.csv") {
		t.Fatalf("data outside the channel prefix was staged:\n%s", logs)
	}

	list, err := te.sm.ListTrainingJobs(ctx, &sm.ListTrainingJobsInput{StatusEquals: types.TrainingJobStatusCompleted})
	if err != nil || len(list.TrainingJobSummaries) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
}

func TestTrainingJobFailsWithFailureFile(t *testing.T) {
	te := startTraining(t)
	if _, err := te.sm.CreateTrainingJob(context.Background(), te.job("bad-1", map[string]string{"mode": "fail", "failure_message": "no data found", "exit_code": "7"})); err != nil {
		t.Fatal(err)
	}
	d := te.wait(t, "bad-1")
	if d.TrainingJobStatus != types.TrainingJobStatusFailed || aws.ToString(d.FailureReason) != "AlgorithmError: no data found, exit code: 7" {
		t.Fatalf("got %s %q", d.TrainingJobStatus, aws.ToString(d.FailureReason))
	}
	if d.ModelArtifacts != nil {
		t.Fatalf("failed job has model artifacts %v", aws.ToString(d.ModelArtifacts.S3ModelArtifacts))
	}
}

func TestTrainingJobStop(t *testing.T) {
	te := startTraining(t)
	ctx := context.Background()
	if _, err := te.sm.CreateTrainingJob(ctx, te.job("sleepy", map[string]string{"mode": "sleep"})); err != nil {
		t.Fatal(err)
	}
	// Wait until it trains, then stop it: SIGTERM lets it save a model.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d, err := te.sm.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String("sleepy")})
		if err != nil {
			t.Fatal(err)
		}
		if d.SecondaryStatus == types.SecondaryStatusTraining && strings.Contains(te.logText(t, "sleepy"), "sleeping") {
			break
		}
		if time.Now().After(deadline) || d.TrainingJobStatus != types.TrainingJobStatusInProgress {
			t.Fatalf("job did not start training: %s %s", d.TrainingJobStatus, aws.ToString(d.FailureReason))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := te.sm.StopTrainingJob(ctx, &sm.StopTrainingJobInput{TrainingJobName: aws.String("sleepy")}); err != nil {
		t.Fatal(err)
	}
	d := te.wait(t, "sleepy")
	if d.TrainingJobStatus != types.TrainingJobStatusStopped || d.SecondaryStatus != types.SecondaryStatusStopped {
		t.Fatalf("got %s/%s %s", d.TrainingJobStatus, d.SecondaryStatus, aws.ToString(d.FailureReason))
	}
	if model := te.untar(t, "output/sleepy/output/model.tar.gz"); model["stopped.txt"] == "" {
		t.Fatalf("stopped job's model lacks stopped.txt: %v", keys(model))
	}
	_, err := te.sm.StopTrainingJob(ctx, &sm.StopTrainingJobInput{TrainingJobName: aws.String("sleepy")})
	if apiCode(err) != "ValidationException" {
		t.Fatalf("stopping a stopped job: %v", err)
	}
}

func TestTrainingJobBadInput(t *testing.T) {
	te := startTraining(t)
	ctx := context.Background()
	cases := map[string]func(in *sm.CreateTrainingJobInput){
		"instance type": func(in *sm.CreateTrainingJobInput) { in.ResourceConfig.InstanceType = "ml.p3.2xlarge" },
		"missing prefix": func(in *sm.CreateTrainingJobInput) {
			in.InputDataConfig[0].DataSource.S3DataSource.S3Uri = aws.String("s3://data/nothing/")
		},
		"foreign bucket": func(in *sm.CreateTrainingJobInput) {
			in.OutputDataConfig.S3OutputPath = aws.String("s3://not-ours/out")
		},
		"bad uri": func(in *sm.CreateTrainingJobInput) {
			in.InputDataConfig[0].DataSource.S3DataSource.S3Uri = aws.String("s3://")
		},
		"role account": func(in *sm.CreateTrainingJobInput) { in.RoleArn = aws.String("arn:aws:iam::999999999999:role/x") },
		"metric regex": func(in *sm.CreateTrainingJobInput) {
			in.AlgorithmSpecification.MetricDefinitions[0].Regex = aws.String("(?<=x)y")
		},
		"reserved env":   func(in *sm.CreateTrainingJobInput) { in.Environment = map[string]string{"TRAINING_JOB_NAME": "x"} },
		"gzip file mode": func(in *sm.CreateTrainingJobInput) { in.InputDataConfig[0].CompressionType = types.CompressionTypeGzip },
		"checkpoint path": func(in *sm.CreateTrainingJobInput) {
			in.CheckpointConfig = &types.CheckpointConfig{S3Uri: aws.String("s3://data/ckpt/"), LocalPath: aws.String("/opt/ml/model")}
		},
		"fifo clash": func(in *sm.CreateTrainingJobInput) {
			in.AlgorithmSpecification.TrainingInputMode = types.TrainingInputModePipe
			second := in.InputDataConfig[0]
			second.ChannelName = aws.String("train_0") // a File channel's directory where Pipe channel train's FIFO goes
			second.InputMode = types.TrainingInputModeFile
			in.InputDataConfig = append(in.InputDataConfig, second)
		},
	}
	for name, mutate := range cases {
		in := te.job("bad-input", nil)
		mutate(in)
		_, err := te.sm.CreateTrainingJob(ctx, in)
		if apiCode(err) != "ValidationException" {
			t.Errorf("%s: got %v, want ValidationException", name, err)
		}
	}
	// An image that does not exist is refused when the job is created.
	in := te.job("no-image", nil)
	in.AlgorithmSpecification.TrainingImage = aws.String("wharf-test/does-not-exist:1")
	if _, err := te.sm.CreateTrainingJob(ctx, in); apiCode(err) != "ValidationException" {
		t.Fatalf("missing image: %v", err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
