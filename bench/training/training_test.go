// Package training benchmarks the time Wharf adds to a training job over a
// bare `docker run --rm` of the same image.
//
//	go test -run '^$' -bench TrainingOverhead -benchtime 1x ./bench/training
package training

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/bench/benchserver"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/testimage"
)

const runs = 15

func BenchmarkTrainingOverhead(b *testing.B) {
	image := testimage.Build(b, testimage.Contract)
	env := benchserver.Start(b)
	ctx := context.Background()
	url, creds := env.URL, env.Creds
	s3c := s3.New(s3.Options{BaseEndpoint: aws.String(url), Region: "us-east-1", UsePathStyle: true, Credentials: creds})
	smc := sm.New(sm.Options{BaseEndpoint: aws.String(url), Region: "us-east-1", Credentials: creds})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("train/a.csv"), Body: strings.NewReader("1,2\n")}); err != nil {
		b.Fatal(err)
	}

	// Reference: docker run --rm of the same image and command, with an
	// /opt/ml directory so the program finds somewhere to write.
	var bare []time.Duration
	for i := 0; i < runs; i++ {
		dir := b.TempDir()
		os.MkdirAll(filepath.Join(dir, "model"), 0o777)
		os.MkdirAll(filepath.Join(dir, "output", "data"), 0o777)
		start := time.Now()
		out, err := exec.Command("docker", "run", "--rm", "--network", "none", "-v", dir+":/opt/ml", image, "train").CombinedOutput()
		if err != nil {
			b.Fatalf("docker run: %v\n%s", err, out)
		}
		bare = append(bare, time.Since(start))
	}

	var wharf []time.Duration
	for i := 0; i < runs; i++ {
		name := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		_, err := smc.CreateTrainingJob(ctx, &sm.CreateTrainingJobInput{
			TrainingJobName:        aws.String(name),
			AlgorithmSpecification: &types.AlgorithmSpecification{TrainingImage: aws.String(image), TrainingInputMode: types.TrainingInputModeFile},
			RoleArn:                aws.String("arn:aws:iam::" + awsapi.RootAccountID + ":role/bench"),
			InputDataConfig: []types.Channel{{ChannelName: aws.String("train"), DataSource: &types.DataSource{S3DataSource: &types.S3DataSource{
				S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String("s3://bench/train/")}}}},
			OutputDataConfig:       &types.OutputDataConfig{S3OutputPath: aws.String("s3://bench/out/")},
			ResourceConfig:         &types.ResourceConfig{InstanceType: types.TrainingInstanceTypeMlM5Large, InstanceCount: aws.Int32(1)},
			EnableNetworkIsolation: aws.Bool(true),
		})
		if err != nil {
			b.Fatal(err)
		}
		for {
			d, err := smc.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String(name)})
			if err != nil {
				b.Fatal(err)
			}
			if d.TrainingJobStatus == types.TrainingJobStatusCompleted {
				break
			}
			if d.TrainingJobStatus != types.TrainingJobStatusInProgress {
				b.Fatalf("job %s: %s %s", name, d.TrainingJobStatus, aws.ToString(d.FailureReason))
			}
			time.Sleep(10 * time.Millisecond)
		}
		wharf = append(wharf, time.Since(start))
	}
	p50 := func(d []time.Duration) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2].Round(time.Millisecond)
	}
	fmt.Printf("\nCreateTrainingJob → Completed vs docker run --rm (same image, %d runs each, p50)\n", runs)
	fmt.Printf("  docker run --rm   %8s\n", p50(bare))
	fmt.Printf("  wharf job         %8s\n", p50(wharf))
	fmt.Printf("  overhead          %8s   (target ≤ 500ms)   ratio wharf/docker %.2f\n", p50(wharf)-p50(bare), float64(p50(wharf))/float64(p50(bare)))
}
