package e2e

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfml/wharf/internal/testimage"
)

// TestCLITraining follows the training walkthrough of the docs with the AWS
// CLI: upload data, create a training job with the CLI's shorthand syntax,
// wait for it, tail its logs with CLI v2 and download the model.
func TestCLITraining(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	image := testimage.Build(t, testimage.Contract)
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, freeAddr(t), dataDir)
	ep := srv.url()
	root := readRootCredentials(t, filepath.Join(dataDir, "root-credentials"))
	out, errOut, err := run(cliEnv(t, root), wharfBinary(t), "admin", "create-account", "--name", "acme", "--endpoint-url", ep)
	if err != nil {
		t.Fatalf("create-account: %v\n%s", err, errOut)
	}
	var acme creds
	decodeJSON(t, out, &acme)
	env := cliEnv(t, acme)

	work := t.TempDir()
	train := filepath.Join(work, "train.csv")
	os.WriteFile(train, []byte("1,2\n3,4\n"), 0o644)
	awsOK(t, env, ep, "s3", "mb", "s3://data")
	awsOK(t, env, ep, "s3", "cp", train, "s3://data/train/")
	awsOK(t, env, ep, "sagemaker", "create-training-job", "--training-job-name", "run-1",
		"--algorithm-specification", "TrainingImage="+image+",TrainingInputMode=File,MetricDefinitions=[{Name=train:mse,Regex='train_mse=([0-9.]+)'}]",
		"--role-arn", "arn:aws:iam::"+acme.AccountId+":role/any",
		"--hyper-parameters", "epochs=20",
		"--input-data-config", `[{"ChannelName":"train","DataSource":{"S3DataSource":{"S3DataType":"S3Prefix","S3Uri":"s3://data/train/"}},"ContentType":"text/csv"}]`,
		"--output-data-config", "S3OutputPath=s3://data/output/",
		"--resource-config", "InstanceType=ml.m5.large,InstanceCount=1,VolumeSizeInGB=10",
		"--stopping-condition", "MaxRuntimeInSeconds=3600", "--enable-network-isolation")
	awsOK(t, env, ep, "sagemaker", "wait", "training-job-completed-or-stopped", "--training-job-name", "run-1")
	status := strings.TrimSpace(awsOK(t, env, ep, "sagemaker", "describe-training-job", "--training-job-name", "run-1",
		"--query", "[TrainingJobStatus,FinalMetricDataList[0].MetricName]", "--output", "text"))
	if status != "Completed\ttrain:mse" {
		t.Fatalf("describe: %q", status)
	}

	// Logs with the AWS CLI v2 (Debian's awscli): `aws logs tail`.
	if _, err := os.Stat("/usr/bin/aws"); err == nil {
		out, errOut, err := run(env, "/usr/bin/aws", "--endpoint-url", ep, "logs", "tail", "/aws/sagemaker/TrainingJobs",
			"--log-stream-name-prefix", "run-1", "--since", "1h")
		if err != nil {
			t.Fatalf("logs tail: %v\n%s", err, errOut)
		}
		for _, want := range []string{"run-1/algo-1-", "epoch=20 train_mse=", "train: success"} {
			if !strings.Contains(out, want) {
				t.Fatalf("logs tail lacks %q:\n%s", want, out)
			}
		}
	} else {
		t.Log("AWS CLI v2 (/usr/bin/aws) not installed: skipping `aws logs tail`")
	}
	events := awsOK(t, env, ep, "logs", "get-log-events", "--log-group-name", "/aws/sagemaker/TrainingJobs",
		"--log-stream-name", strings.TrimSpace(awsOK(t, env, ep, "logs", "describe-log-streams", "--log-group-name", "/aws/sagemaker/TrainingJobs",
			"--log-stream-name-prefix", "run-1/", "--query", "logStreams[0].logStreamName", "--output", "text")),
		"--start-from-head", "--query", "events[].message", "--output", "text")
	if !strings.Contains(events, "train: success") {
		t.Fatalf("get-log-events: %s", events)
	}

	model := filepath.Join(work, "model.tar.gz")
	awsOK(t, env, ep, "s3", "cp", "s3://data/output/run-1/output/model.tar.gz", model)
	f, err := os.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "model.txt") {
		t.Fatalf("model.tar.gz holds %v", names)
	}

	// Inference with the trained model: a real-time endpoint and a batch transform.
	role := "arn:aws:iam::" + acme.AccountId + ":role/any"
	awsOK(t, env, ep, "sagemaker", "create-model", "--model-name", "m1", "--execution-role-arn", role,
		"--primary-container", "Image="+image+",ModelDataUrl=s3://data/output/run-1/output/model.tar.gz,Environment={INVOKE_MODE=upper}",
		"--enable-network-isolation")
	awsOK(t, env, ep, "sagemaker", "create-endpoint-config", "--endpoint-config-name", "c1",
		"--production-variants", "VariantName=v1,ModelName=m1,InstanceType=ml.m5.large,InitialInstanceCount=2")
	awsOK(t, env, ep, "sagemaker", "create-endpoint", "--endpoint-name", "e1", "--endpoint-config-name", "c1")
	awsOK(t, env, ep, "sagemaker", "wait", "endpoint-in-service", "--endpoint-name", "e1")
	row := filepath.Join(work, "row.csv")
	os.WriteFile(row, []byte("a,b\n"), 0o644)
	outFile := filepath.Join(work, "out.csv")
	meta := awsOK(t, env, ep, "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", "e1",
		"--content-type", "text/csv", "--body", "fileb://"+row, outFile)
	if got, _ := os.ReadFile(outFile); string(got) != "A,B\n" || !strings.Contains(meta, `"InvokedProductionVariant": "v1"`) {
		t.Fatalf("invoke-endpoint: %q %s", got, meta)
	}

	batch := filepath.Join(work, "batch.csv")
	os.WriteFile(batch, []byte("x,1\ny,2\n"), 0o644)
	awsOK(t, env, ep, "s3", "cp", batch, "s3://data/batch/")
	awsOK(t, env, ep, "sagemaker", "create-transform-job", "--transform-job-name", "t1", "--model-name", "m1",
		"--transform-input", `{"DataSource":{"S3DataSource":{"S3DataType":"S3Prefix","S3Uri":"s3://data/batch/"}},"ContentType":"text/csv","SplitType":"Line"}`,
		"--transform-output", "S3OutputPath=s3://data/batch-out/,AssembleWith=Line",
		"--transform-resources", "InstanceType=ml.m5.large,InstanceCount=1", "--batch-strategy", "MultiRecord")
	awsOK(t, env, ep, "sagemaker", "wait", "transform-job-completed-or-stopped", "--transform-job-name", "t1")
	if got := awsOK(t, env, ep, "s3", "cp", "s3://data/batch-out/batch.csv.out", "-"); got != "X,1\nY,2\n" {
		t.Fatalf("transform output %q", got)
	}
	awsOK(t, env, ep, "sagemaker", "delete-endpoint", "--endpoint-name", "e1")
	awsOK(t, env, ep, "sagemaker", "wait", "endpoint-deleted", "--endpoint-name", "e1")
	srv.stop()
}
