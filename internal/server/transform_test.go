package server_test

// Models and batch transform jobs against a real Docker Engine (issue 4).

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/server"
)

func startTransform(t *testing.T) *moreEnv {
	t.Helper()
	me := startMore(t, func(c *server.Config) { c.TransformHealthTimeout = 5 * time.Second })
	acct := *me.acct.AccountId
	t.Cleanup(func() {
		removeLeftovers(me.rt, map[string]string{runtime.LabelKind: "transform-job", runtime.LabelAccount: acct})
	})
	me.put(t, "models/model.tar.gz", modelTarGz(t, "weights v7"))
	return me
}

func modelTarGz(t *testing.T, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "model.txt", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func (te *trainingEnv) createModel(t *testing.T, name string, env map[string]string) {
	t.Helper()
	_, err := te.sm.CreateModel(context.Background(), te.modelInput(name, env))
	if err != nil {
		t.Fatalf("create model %s: %v", name, err)
	}
}

func (te *trainingEnv) modelInput(name string, env map[string]string) *sm.CreateModelInput {
	return &sm.CreateModelInput{
		ModelName:        aws.String(name),
		ExecutionRoleArn: aws.String("arn:aws:iam::" + *te.acct.AccountId + ":role/any"),
		PrimaryContainer: &types.ContainerDefinition{Image: aws.String(te.image),
			ModelDataUrl: aws.String("s3://data/models/model.tar.gz"), Environment: env},
		EnableNetworkIsolation: aws.Bool(true),
	}
}

func (te *trainingEnv) transformInput(name, model, prefix string) *sm.CreateTransformJobInput {
	return &sm.CreateTransformJobInput{
		TransformJobName: aws.String(name), ModelName: aws.String(model),
		TransformInput: &types.TransformInput{
			DataSource:  &types.TransformDataSource{S3DataSource: &types.TransformS3DataSource{S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String("s3://data/" + prefix)}},
			ContentType: aws.String("text/csv"), SplitType: types.SplitTypeLine,
		},
		TransformOutput:    &types.TransformOutput{S3OutputPath: aws.String("s3://data/out-" + name + "/"), AssembleWith: types.AssemblyTypeLine},
		TransformResources: &types.TransformResources{InstanceType: types.TransformInstanceTypeMlM5Large, InstanceCount: aws.Int32(1)},
		BatchStrategy:      types.BatchStrategyMultiRecord,
	}
}

func (te *trainingEnv) waitTransform(t *testing.T, name string) *sm.DescribeTransformJobOutput {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		d, err := te.sm.DescribeTransformJob(context.Background(), &sm.DescribeTransformJobInput{TransformJobName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		switch d.TransformJobStatus {
		case types.TransformJobStatusCompleted, types.TransformJobStatusFailed, types.TransformJobStatusStopped:
			return d
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("transform job %s did not finish", name)
	return nil
}

func (te *trainingEnv) get(t *testing.T, key string) (string, bool) {
	t.Helper()
	out, err := te.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("data"), Key: aws.String(key)})
	if apiCode(err) == "NoSuchKey" {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b), true
}

func (te *trainingEnv) runTransform(t *testing.T, in *sm.CreateTransformJobInput) *sm.DescribeTransformJobOutput {
	t.Helper()
	if _, err := te.sm.CreateTransformJob(context.Background(), in); err != nil {
		t.Fatalf("create transform job: %v", err)
	}
	return te.waitTransform(t, aws.ToString(in.TransformJobName))
}

func TestModelsCRUD(t *testing.T) {
	te := startTransform(t)
	ctx := context.Background()
	te.createModel(t, "m1", nil)
	te.createModel(t, "m2", map[string]string{"A": "b"})
	if _, err := te.sm.CreateModel(ctx, te.modelInput("M1", nil)); apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "Cannot create already existing model") {
		t.Fatalf("duplicate: %v", err)
	}
	bad := te.modelInput("bad", nil)
	bad.PrimaryContainer.Image = aws.String("wharf-no-such-image:404")
	if _, err := te.sm.CreateModel(ctx, bad); apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "image") {
		t.Fatalf("missing image: %v", err)
	}
	bad = te.modelInput("bad", nil)
	bad.PrimaryContainer.ModelDataUrl = aws.String("s3://data/models/nope.tar.gz")
	if _, err := te.sm.CreateModel(ctx, bad); apiCode(err) != "ValidationException" {
		t.Fatalf("missing artifact: %v", err)
	}
	// Another account's bucket reads as inaccessible.
	oacct := te.env.account(t, "other")
	other := &trainingEnv{env: te.env, acct: oacct, sm: te.env.sagemaker(oacct), s3: te.env.s3(oacct)}
	if _, err := other.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("theirs")}); err != nil {
		t.Fatal(err)
	}
	other.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("theirs"), Key: aws.String("m.tar.gz"), Body: bytes.NewReader(modelTarGz(t, "x"))})
	bad = te.modelInput("bad", nil)
	bad.PrimaryContainer.ModelDataUrl = aws.String("s3://theirs/m.tar.gz")
	if _, err := te.sm.CreateModel(ctx, bad); apiCode(err) != "ValidationException" {
		t.Fatalf("foreign bucket: %v", err)
	}
	bad = te.modelInput("bad", nil)
	bad.PrimaryContainer.ContainerHostname = aws.String("same")
	bad.Containers = []types.ContainerDefinition{*bad.PrimaryContainer, *bad.PrimaryContainer}
	bad.PrimaryContainer = nil
	if _, err := te.sm.CreateModel(ctx, bad); apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "unique") {
		t.Fatalf("pipeline with duplicate hostnames: %v", err)
	}
	d, err := te.sm.DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String("m2")})
	if err != nil || d.PrimaryContainer.Environment["A"] != "b" || !aws.ToBool(d.EnableNetworkIsolation) || d.CreationTime == nil {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if _, err := other.sm.DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String("m2")}); apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "Could not find model") {
		t.Fatalf("other account describe: %v", err)
	}
	l, err := te.sm.ListModels(ctx, &sm.ListModelsInput{})
	if err != nil || len(l.Models) != 2 || aws.ToString(l.Models[0].ModelName) != "m2" {
		t.Fatalf("list: %+v %v", l, err)
	}
	if _, err := te.sm.DeleteModel(ctx, &sm.DeleteModelInput{ModelName: aws.String("m2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := te.sm.DeleteModel(ctx, &sm.DeleteModelInput{ModelName: aws.String("m2")}); apiCode(err) != "ValidationException" {
		t.Fatalf("second delete: %v", err)
	}
	// Transform job validation.
	in := te.transformInput("v1", "nope", "train/")
	if _, err := te.sm.CreateTransformJob(ctx, in); apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "Could not find model") {
		t.Fatalf("missing model: %v", err)
	}
	in = te.transformInput("v1", "m1", "train/")
	in.MaxConcurrentTransforms, in.MaxPayloadInMB = aws.Int32(20), aws.Int32(6)
	if _, err := te.sm.CreateTransformJob(ctx, in); apiCode(err) != "ValidationException" {
		t.Fatalf("product > 100: %v", err)
	}
	in = te.transformInput("v1", "m1", "nothing-here/")
	if _, err := te.sm.CreateTransformJob(ctx, in); apiCode(err) != "ValidationException" {
		t.Fatalf("empty input: %v", err)
	}
	in = te.transformInput("v1", "m1", "train/")
	in.DataCaptureConfig = &types.BatchDataCaptureConfig{DestinationS3Uri: aws.String("s3://data/cap")}
	if _, err := te.sm.CreateTransformJob(ctx, in); apiCode(err) != "ValidationException" {
		t.Fatalf("data capture: %v", err)
	}
}

func TestTransformLineMultiRecordUpper(t *testing.T) {
	te := startTransform(t)
	te.createModel(t, "upper", map[string]string{"INVOKE_MODE": "upper"})
	te.put(t, "batch/a.csv", []byte("a,b\nc,d\ne,f\n"))
	te.put(t, "batch/sub/b.csv", []byte("x,y\nlast,no-newline"))
	in := te.transformInput("t1", "upper", "batch/")
	in.MaxPayloadInMB = aws.Int32(1)
	start := time.Now()
	d := te.runTransform(t, in)
	if d.TransformJobStatus != types.TransformJobStatusCompleted {
		t.Fatalf("status %s: %s", d.TransformJobStatus, aws.ToString(d.FailureReason))
	}
	t.Logf("job took %s", time.Since(start))
	if got, _ := te.get(t, "out-t1/a.csv.out"); got != "A,B\nC,D\nE,F\n" {
		t.Fatalf("a.csv.out = %q", got)
	}
	if got, _ := te.get(t, "out-t1/sub/b.csv.out"); got != "X,Y\nLAST,NO-NEWLINE\n" {
		t.Fatalf("b.csv.out = %q", got)
	}
	if d.TransformStartTime == nil || d.TransformEndTime == nil || aws.ToInt32(d.MaxConcurrentTransforms) != 1 ||
		d.BatchStrategy != types.BatchStrategyMultiRecord || aws.ToInt32(d.MaxPayloadInMB) != 1 {
		t.Fatalf("describe: %+v", d)
	}
	if _, err := te.sm.CreateTransformJob(context.Background(), in); apiCode(err) != "ResourceInUse" {
		t.Fatalf("duplicate: %v", err)
	}
	logs := te.transformLogs(t, "t1")
	mustContain(t, "logs", logs, "contract serve listening", `model "weights v7"`)
	te.assertTransformClean(t, "t1")
}

func TestTransformGzipSingleRecordExecParams(t *testing.T) {
	te := startTransform(t)
	te.createModel(t, "count", map[string]string{"INVOKE_MODE": "count",
		"EXEC_PARAMS": `{"MaxConcurrentTransforms": 4, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 2}`})
	te.put(t, "gz/a.csv.gz", gz(t, []byte("1\n2\n3\n")))
	te.put(t, "gz/b.csv.gz", gz(t, []byte("4\n5\n")))
	in := te.transformInput("t2", "count", "gz/")
	in.BatchStrategy = ""
	in.TransformInput.CompressionType = types.CompressionTypeGzip
	d := te.runTransform(t, in)
	if d.TransformJobStatus != types.TransformJobStatusCompleted {
		t.Fatalf("status %s: %s", d.TransformJobStatus, aws.ToString(d.FailureReason))
	}
	if got, _ := te.get(t, "out-t2/a.csv.gz.out"); got != strings.Repeat("{\"lines\": 1}\n", 3) {
		t.Fatalf("a.out = %q", got)
	}
	if got, _ := te.get(t, "out-t2/b.csv.gz.out"); got != strings.Repeat("{\"lines\": 1}\n", 2) {
		t.Fatalf("b.out = %q", got)
	}
	if aws.ToInt32(d.MaxConcurrentTransforms) != 4 || d.BatchStrategy != types.BatchStrategySingleRecord || aws.ToInt32(d.MaxPayloadInMB) != 2 {
		t.Fatalf("effective params: %v %v %v", aws.ToInt32(d.MaxConcurrentTransforms), d.BatchStrategy, aws.ToInt32(d.MaxPayloadInMB))
	}
	te.assertTransformClean(t, "t2")
}

func TestTransformModelDataAndFailures(t *testing.T) {
	te := startTransform(t)
	te.createModel(t, "model", map[string]string{"INVOKE_MODE": "model"})
	te.createModel(t, "errs", map[string]string{"INVOKE_MODE": "error", "ERROR_STATUS": "400"})
	te.createModel(t, "sick", map[string]string{"PING_FAIL": "1"})

	d := te.runTransform(t, te.transformInput("md", "model", "train/"))
	if d.TransformJobStatus != types.TransformJobStatusCompleted {
		t.Fatalf("model: %s %s", d.TransformJobStatus, aws.ToString(d.FailureReason))
	}
	if got, _ := te.get(t, "out-md/a.csv.out"); got != "weights v7\nweights v7\n" {
		t.Fatalf("model output %q", got)
	}

	d = te.runTransform(t, te.transformInput("bad", "errs", "train/"))
	if d.TransformJobStatus != types.TransformJobStatusFailed {
		t.Fatalf("error mode: %s", d.TransformJobStatus)
	}
	mustContain(t, "failure reason", aws.ToString(d.FailureReason), "s3://data/train/a.csv", "HTTP 400", "model failed", "2 of 2")
	if _, ok := te.get(t, "out-bad/a.csv.out"); ok {
		t.Fatal("output written for a failed object")
	}

	d = te.runTransform(t, te.transformInput("ping", "sick", "train/"))
	if d.TransformJobStatus != types.TransformJobStatusFailed {
		t.Fatalf("ping: %s", d.TransformJobStatus)
	}
	mustContain(t, "failure reason", aws.ToString(d.FailureReason), "ClientError", "did not pass /ping health checks")
	te.assertTransformClean(t, "md", "bad", "ping")
}

func TestTransformStopAndList(t *testing.T) {
	te := startTransform(t)
	ctx := context.Background()
	te.createModel(t, "slow", map[string]string{"INVOKE_MODE": "slow", "SLOW_MS": "60000"})
	in := te.transformInput("s1", "slow", "train/")
	if _, err := te.sm.CreateTransformJob(ctx, in); err != nil {
		t.Fatal(err)
	}
	// Wait until it is sending requests (effective params recorded).
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := te.sm.DescribeTransformJob(ctx, &sm.DescribeTransformJobInput{TransformJobName: aws.String("s1")})
		if err != nil {
			t.Fatal(err)
		}
		if d.MaxPayloadInMB != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := te.sm.StopTransformJob(ctx, &sm.StopTransformJobInput{TransformJobName: aws.String("s1")}); err != nil {
		t.Fatal(err)
	}
	d := te.waitTransform(t, "s1")
	if d.TransformJobStatus != types.TransformJobStatusStopped || d.TransformEndTime == nil {
		t.Fatalf("stop: %s %s", d.TransformJobStatus, aws.ToString(d.FailureReason))
	}
	if _, ok := te.get(t, "out-s1/a.csv.out"); ok {
		t.Fatal("output written by a stopped job")
	}
	if _, err := te.sm.StopTransformJob(ctx, &sm.StopTransformJobInput{TransformJobName: aws.String("s1")}); apiCode(err) != "ValidationException" {
		t.Fatalf("stop of a stopped job: %v", err)
	}
	if _, err := te.sm.DescribeTransformJob(ctx, &sm.DescribeTransformJobInput{TransformJobName: aws.String("nope")}); apiCode(err) != "ValidationException" ||
		!strings.Contains(err.Error(), "Could not find requested job with name nope") {
		t.Fatalf("describe missing: %v", err)
	}
	te.createModel(t, "echo", nil)
	te.runTransform(t, te.transformInput("s2", "echo", "train/"))
	l, err := te.sm.ListTransformJobs(ctx, &sm.ListTransformJobsInput{})
	if err != nil || len(l.TransformJobSummaries) != 2 || aws.ToString(l.TransformJobSummaries[0].TransformJobName) != "s2" ||
		l.TransformJobSummaries[1].TransformJobStatus != types.TransformJobStatusStopped {
		t.Fatalf("list: %+v %v", l, err)
	}
	l, err = te.sm.ListTransformJobs(ctx, &sm.ListTransformJobsInput{StatusEquals: types.TransformJobStatusCompleted})
	if err != nil || len(l.TransformJobSummaries) != 1 {
		t.Fatalf("list completed: %+v %v", l, err)
	}
	te.assertTransformClean(t, "s1", "s2")
}

// transformLogs returns every event of the job's log streams.
func (te *trainingEnv) transformLogs(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	group := aws.String("/aws/sagemaker/TransformJobs")
	streams, err := te.logs.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: group, LogStreamNamePrefix: aws.String(name + "/")})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range streams.LogStreams {
		out, err := te.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: group, LogStreamName: s.LogStreamName, StartFromHead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out.Events {
			b.WriteString(aws.ToString(e.Message) + "\n")
		}
	}
	return b.String()
}

// assertTransformClean checks that the jobs left no container, network or work dir.
func (me *moreEnv) assertTransformClean(t *testing.T, names ...string) {
	t.Helper()
	ctx := context.Background()
	work := filepath.Join(me.dataDir, "work", "transform")
	deadline := time.Now().Add(15 * time.Second)
	for {
		var problems []string
		for _, name := range names {
			labels := map[string]string{runtime.LabelKind: "transform-job", runtime.LabelAccount: *me.acct.AccountId, runtime.LabelResource: strings.ToLower(name)}
			cs, _ := me.rt.List(ctx, labels)
			for _, c := range cs {
				problems = append(problems, "container "+c.Name)
			}
			ns, _ := me.rt.ListNetworks(ctx, labels)
			for _, n := range ns {
				problems = append(problems, "network "+n)
			}
		}
		if ents, _ := os.ReadDir(work); len(ents) > 0 {
			problems = append(problems, "work dir entries")
		}
		if len(problems) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %v", problems)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
