// Package transform benchmarks a batch transform job against a plain Go
// client posting the same mini-batches to a container of the same image
// with the same concurrency, in the same run.
//
//	go test -run '^$' -bench TransformThroughput -benchtime 1x ./bench/transform [-args -mb 200]
package transform

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/bench/benchserver"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/instances"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/testimage"
)

var sizeMB = flag.Int("mb", 200, "size of the CSV input in MB")

const (
	concurrency = 4 // MaxConcurrentTransforms, and the reference client's
	payloadMB   = 6 // MaxPayloadInMB
)

func BenchmarkTransformThroughput(b *testing.B) {
	image := testimage.Build(b, testimage.Contract)
	env := benchserver.Start(b)
	ctx := context.Background()
	smc := sm.New(sm.Options{BaseEndpoint: aws.String(env.URL), Region: "us-east-1", Credentials: env.Creds})
	s3c := s3.New(s3.Options{BaseEndpoint: aws.String(env.URL), Region: "us-east-1", Credentials: env.Creds, UsePathStyle: true})

	input := filepath.Join(b.TempDir(), "input.csv")
	size := writeCSV(b, input, int64(*sizeMB)<<20)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	put := func(key string, r io.Reader) {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(key), Body: r}); err != nil {
			b.Fatal(err)
		}
	}
	f, err := os.Open(input)
	if err != nil {
		b.Fatal(err)
	}
	put("big/input.csv", f)
	f.Close()
	put("tiny/input.csv", bytes.NewReader([]byte("1,2,3\n")))

	role := aws.String("arn:aws:iam::" + awsapi.RootAccountID + ":role/bench")
	if _, err := smc.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String("m"), ExecutionRoleArn: role,
		PrimaryContainer: &types.ContainerDefinition{Image: aws.String(image), Environment: map[string]string{"INVOKE_MODE": "echo"}}}); err != nil {
		b.Fatal(err)
	}

	// The fixed cost of a job (container start, /ping, /execution-parameters)
	// from a one-line input, so the big job's marginal rate can be shown too.
	var tinies []time.Duration
	for i := range 3 {
		tinies = append(tinies, runJob(b, smc, fmt.Sprintf("tiny-%d", i), "s3://bench/tiny/"))
	}
	slices.Sort(tinies)
	tiny := tinies[1]
	big := runJob(b, smc, "big", "s3://bench/big/")
	out, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bench"), Key: aws.String("out-big/input.csv.out")})
	if err != nil || aws.ToInt64(out.ContentLength) != size {
		b.Fatalf("output of the big job: %v (%d bytes, want %d)", err, aws.ToInt64(out.ContentLength), size)
	}

	url, stop := startContainer(b, env.Runtime, image)
	defer stop()
	ref := postBatches(b, url, input, filepath.Join(b.TempDir(), "output.csv"))

	mb := float64(size) / 1e6
	fmt.Printf("\nBatch transform of a %.0f MB CSV (Line split, MultiRecord, %d MB payloads, %d in flight), same container image, same run\n", mb, payloadMB, concurrency)
	fmt.Printf("%-44s %10s %10s\n", "path", "seconds", "MB/s")
	fmt.Printf("%-44s %10.2f %10.1f\n", "Go client posting the batches (file→file)", ref.Seconds(), mb/ref.Seconds())
	fmt.Printf("%-44s %10.2f %10.1f\n", "Wharf transform job, create→Completed", big.Seconds(), mb/big.Seconds())
	fmt.Printf("%-44s %10.2f %10s\n", "Wharf fixed cost (one-line job, median of 3)", tiny.Seconds(), "")
	marginal := big - tiny
	fmt.Printf("%-44s %10.2f %10.1f\n", "Wharf without the fixed cost", marginal.Seconds(), mb/marginal.Seconds())
	fmt.Printf("throughput ratio wharf/client: %.2f end to end, %.2f without the fixed cost (target >= 0.9)\n",
		ref.Seconds()/big.Seconds(), ref.Seconds()/marginal.Seconds())
}

// writeCSV writes about n bytes of numeric CSV rows and returns the size.
func writeCSV(b *testing.B, path string, n int64) int64 {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	var written int64
	var row []byte
	for written < n {
		row = row[:0]
		for i := 0; i < 8; i++ {
			if i > 0 {
				row = append(row, ',')
			}
			row = strconv.AppendFloat(row, rng.Float64()*1000, 'f', 4, 64)
		}
		row = append(row, '\n')
		w.Write(row)
		written += int64(len(row))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return written
}

// runJob runs a transform job over prefix and returns create→Completed.
func runJob(b *testing.B, smc *sm.Client, name, prefix string) time.Duration {
	ctx := context.Background()
	start := time.Now()
	_, err := smc.CreateTransformJob(ctx, &sm.CreateTransformJobInput{
		TransformJobName: aws.String(name), ModelName: aws.String("m"),
		BatchStrategy: types.BatchStrategyMultiRecord, MaxConcurrentTransforms: aws.Int32(concurrency), MaxPayloadInMB: aws.Int32(payloadMB),
		TransformInput: &types.TransformInput{ContentType: aws.String("text/csv"), SplitType: types.SplitTypeLine,
			DataSource: &types.TransformDataSource{S3DataSource: &types.TransformS3DataSource{S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String(prefix)}}},
		TransformOutput:    &types.TransformOutput{S3OutputPath: aws.String("s3://bench/out-" + name + "/"), AssembleWith: types.AssemblyTypeLine},
		TransformResources: &types.TransformResources{InstanceType: types.TransformInstanceTypeMlM5Large, InstanceCount: aws.Int32(1)},
	})
	if err != nil {
		b.Fatal(err)
	}
	for {
		d, err := smc.DescribeTransformJob(ctx, &sm.DescribeTransformJobInput{TransformJobName: aws.String(name)})
		if err != nil {
			b.Fatal(err)
		}
		switch d.TransformJobStatus {
		case types.TransformJobStatusCompleted:
			return time.Since(start)
		case types.TransformJobStatusFailed, types.TransformJobStatusStopped:
			b.Fatalf("job %s: %s %s", name, d.TransformJobStatus, aws.ToString(d.FailureReason))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startContainer runs the image with serve, published on a loopback port,
// and waits for /ping.
func startContainer(b *testing.B, rt runtime.Runtime, image string) (string, func()) {
	ctx := context.Background()
	// The limits of one ml.m5.large host, as the transform job's container gets.
	cat, err := instances.Default(1, false)
	if err != nil {
		b.Fatal(err)
	}
	t, err := cat.Lookup("ml.m5.large")
	if err != nil {
		b.Fatal(err)
	}
	limits := cat.Limits(t)
	id, err := rt.Start(ctx, runtime.ContainerSpec{
		Name: fmt.Sprintf("wharf-bench-transform-%d", time.Now().UnixNano()), Image: image, Cmd: []string{"serve"},
		Env: map[string]string{"INVOKE_MODE": "echo"}, Labels: map[string]string{runtime.LabelManaged: "true", runtime.LabelKind: "bench"},
		PublishPort: 8080, NanoCPUs: limits.NanoCPUs, MemoryBytes: limits.MemoryBytes,
	})
	stop := func() {
		if id != "" {
			rt.Remove(context.Background(), id)
		}
	}
	if err != nil {
		stop()
		b.Fatal(err)
	}
	info, err := rt.Inspect(ctx, id)
	if err != nil || info.HostPort == 0 {
		stop()
		b.Fatalf("bench container: %+v %v", info, err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(info.HostPort)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url, stop
			}
		}
		if time.Now().After(deadline) {
			stop()
			b.Fatalf("bench container never answered /ping: %v", err)
		}
	}
}

// postBatches is the reference: read the file, cut it into MultiRecord
// batches at line boundaries, POST them with the same concurrency and
// write the responses in input order.
func postBatches(b *testing.B, url, input, output string) time.Duration {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	start := time.Now()
	in, err := os.Open(input)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(output)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()

	type call struct {
		done chan struct{}
		body []byte
		err  error
	}
	order := make(chan *call, concurrency)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	wg.Add(1)
	var werr error
	go func() {
		defer wg.Done()
		for c := range order {
			<-c.done
			if werr == nil {
				if werr = c.err; werr == nil {
					_, werr = out.Write(c.body)
				}
			}
			<-sem
		}
	}()
	r := bufio.NewReaderSize(in, 1<<20)
	limit := payloadMB << 20
	var batch []byte
	send := func() {
		if len(batch) == 0 {
			return
		}
		body := batch
		batch = nil
		sem <- struct{}{}
		c := &call{done: make(chan struct{})}
		order <- c
		go func() {
			defer close(c.done)
			resp, err := hc.Post(url+"/invocations", "text/csv", bytes.NewReader(body))
			if err != nil {
				c.err = err
				return
			}
			defer resp.Body.Close()
			c.body, c.err = io.ReadAll(resp.Body)
			if c.err == nil && resp.StatusCode != 200 {
				c.err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			if len(batch)+len(line) > limit {
				send()
			}
			if batch == nil {
				batch = make([]byte, 0, limit)
			}
			batch = append(batch, line...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	send()
	close(order)
	wg.Wait()
	if werr != nil {
		b.Fatal(werr)
	}
	return time.Since(start)
}
