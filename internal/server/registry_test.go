package server_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// docker runs the docker CLI with its own config dir.
func dockerCLI(t *testing.T, config string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+config)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRegistryImageForTraining: push an image to Wharf's registry with the
// docker CLI, see it through the ECR API (real SigV4), train with it; another
// account's job cannot use it.
func TestRegistryImageForTraining(t *testing.T) {
	te := startTraining(t)
	ctx := context.Background()
	host := strings.TrimPrefix(te.url, "http://")
	config := t.TempDir()
	if out, err := dockerCLI(t, config, "login", host, "-u", *te.acct.AccessKeyId, "-p", *te.acct.SecretAccessKey); err != nil {
		t.Fatalf("docker login: %v\n%s", err, out)
	}
	ref := host + "/algo:1"
	if out, err := dockerCLI(t, config, "tag", te.image, ref); err != nil {
		t.Fatalf("docker tag: %v\n%s", err, out)
	}
	t.Cleanup(func() { dockerCLI(t, config, "rmi", ref) })
	if out, err := dockerCLI(t, config, "push", ref); err != nil {
		t.Fatalf("docker push: %v\n%s", err, out)
	}
	dockerCLI(t, config, "rmi", ref) // the job must pull it

	ecrc := ecr.New(ecr.Options{BaseEndpoint: aws.String(te.url), Region: "us-east-1",
		Credentials: te.creds(*te.acct.AccessKeyId, *te.acct.SecretAccessKey)})
	imgs, err := ecrc.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("algo")})
	if err != nil || len(imgs.ImageDetails) != 1 || imgs.ImageDetails[0].ImageTags[0] != "1" {
		t.Fatalf("describe-images: %+v %v", imgs, err)
	}

	in := te.job("from-registry", nil)
	in.AlgorithmSpecification.TrainingImage = aws.String(ref)
	if _, err := te.sm.CreateTrainingJob(ctx, in); err != nil {
		t.Fatal(err)
	}
	if d := te.wait(t, "from-registry"); d.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Fatalf("job with a registry image: %s %s", d.TrainingJobStatus, aws.ToString(d.FailureReason))
	}

	// Another account: its job may not use acme's private image.
	other := te.account(t, "globex")
	osm := te.sagemaker(other)
	ote := &trainingEnv{env: te.env, acct: other, sm: osm, s3: te.env.s3(other), image: ref}
	if _, err := ote.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("globex-data")}); err != nil {
		t.Fatal(err)
	}
	oin := ote.job("steal", nil)
	oin.InputDataConfig = nil
	oin.OutputDataConfig.S3OutputPath = aws.String("s3://globex-data/out/")
	_, err = osm.CreateTrainingJob(ctx, oin)
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "another account") {
		t.Fatalf("other account's job with acme's image: %v", err)
	}

	// The job pinned the tag to its digest: Describe shows the digest, and a
	// re-pushed tag does not change what the job ran.
	d, err := te.sm.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String("from-registry")})
	if err != nil || !strings.Contains(aws.ToString(d.AlgorithmSpecification.TrainingImage), host+"/algo@sha256:") {
		t.Fatalf("pinned image: %v %v", aws.ToString(d.AlgorithmSpecification.TrainingImage), err)
	}
}
