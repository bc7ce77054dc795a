// Package transform benchmarks a batch transform job against a plain Go
// client posting the same mini-batches to a container of the same image
// with the same concurrency, in the same run.
//
//	go test -run '^$' -bench TransformThroughput -benchtime 1x ./bench/transform [-args -mb 200 -rounds 3]
//
// Each round runs the client and a Wharf job, alternating which goes first,
// and times both twice. The data phase: the client from opening its input
// file to closing its output file; Wharf from its container answering
// /execution-parameters (just before the first batch) to the output object
// being stored, both instants recorded by Wharf itself (the container's log
// line, the object's LastModified), so a noisy container start does not
// blur it. End to end: the client also starts its container, waits for
// /ping, stops and removes it; Wharf from CreateTransformJob to Completed
// as a client polling every 20 ms sees it. Medians are compared, as the
// machine may be shared.
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/wharfml/wharf/bench/benchserver"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/instances"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/testimage"
	"github.com/wharfml/wharf/internal/transform"
)

var (
	sizeMB = flag.Int("mb", 200, "size of the CSV input in MB")
	rounds = flag.Int("rounds", 3, "rounds of (Go client, Wharf job)")
)

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
	cwl := cloudwatchlogs.New(cloudwatchlogs.Options{BaseEndpoint: aws.String(env.URL), Region: "us-east-1", Credentials: env.Creds})

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

	// The fixed cost of a job (container start, /ping, /execution-parameters,
	// stop and removal) from a one-line input.
	var tinies []time.Duration
	for i := range 3 {
		tinies = append(tinies, runJob(b, smc, fmt.Sprintf("tiny-%d", i), "s3://bench/tiny/"))
	}

	var refData, refE2E, data, e2e []time.Duration
	for i := range *rounds {
		client := func() {
			d, total := reference(b, env.Runtime, image, input, filepath.Join(b.TempDir(), "output.csv"))
			refData, refE2E = append(refData, d), append(refE2E, total)
		}
		if i%2 == 0 {
			client()
		}
		name := fmt.Sprintf("big-%d", i)
		e2e = append(e2e, runJob(b, smc, name, "s3://bench/big/"))
		data = append(data, dataPhase(b, s3c, cwl, name, size))
		if i%2 == 1 {
			client()
		}
	}

	mb := float64(size) / 1e6
	fmt.Printf("\nBatch transform of a %.0f MB CSV (Line split, MultiRecord, %d MB payloads, %d in flight), same image and CPU/memory limits\n", mb, payloadMB, concurrency)
	fmt.Printf("%-58s", "seconds")
	for i := range *rounds {
		fmt.Printf(" %7s", fmt.Sprintf("r%d", i+1))
	}
	fmt.Printf(" %7s %7s\n", "median", "MB/s")
	row := func(label string, ds []time.Duration) time.Duration {
		fmt.Printf("%-58s", label)
		for _, d := range ds {
			fmt.Printf(" %7.2f", d.Seconds())
		}
		m := median(ds)
		fmt.Printf(" %7.2f %7.1f\n", m.Seconds(), mb/m.Seconds())
		return m
	}
	fmt.Println("data phase")
	rd := row("  Go client: read file, POST batches, write file", refData)
	wd := row("  Wharf: /execution-parameters answered → output stored", data)
	fmt.Println("end to end")
	re := row("  Go client: docker start, /ping, data phase, stop, rm", refE2E)
	we := row("  Wharf: CreateTransformJob → Completed", e2e)
	fmt.Printf("Wharf fixed cost (one-line job, median of 3): %.2f s; end to end minus data phase (median): %.2f s\n",
		median(tinies).Seconds(), (we - wd).Seconds())
	fmt.Printf("throughput ratio wharf/client (medians): data phase %.2f (target >= 0.9), end to end %.2f\n",
		rd.Seconds()/wd.Seconds(), re.Seconds()/we.Seconds())
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// dataPhase returns the time from the job's container answering
// /execution-parameters (the request before the first batch; its log line
// carries the engine's timestamp) to its output object being stored
// (LastModified, in milliseconds), and checks the output's size.
func dataPhase(b *testing.B, s3c *s3.Client, cwl *cloudwatchlogs.Client, job string, size int64) time.Duration {
	ctx := context.Background()
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bench"), Prefix: aws.String("out-" + job + "/")})
	if err != nil || len(list.Contents) != 1 || aws.ToInt64(list.Contents[0].Size) != size {
		b.Fatalf("output of %s: %v %+v (want one object of %d bytes)", job, err, list, size)
	}
	stored := aws.ToTime(list.Contents[0].LastModified)
	group := aws.String("/aws/sagemaker/TransformJobs")
	streams, err := cwl.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: group, LogStreamNamePrefix: aws.String(job + "/")})
	if err != nil || len(streams.LogStreams) != 1 {
		b.Fatalf("log streams of %s: %v %+v", job, err, streams)
	}
	events, err := cwl.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: group, LogStreamName: streams.LogStreams[0].LogStreamName, StartFromHead: aws.Bool(true)})
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range events.Events {
		if strings.HasPrefix(aws.ToString(e.Message), "request GET /execution-parameters ") {
			return stored.Sub(time.UnixMilli(aws.ToInt64(e.Timestamp)))
		}
	}
	// The job's log follower may lose lines of a very short job.
	b.Fatalf("%s: no /execution-parameters request in the container's log (%d lines)", job, len(events.Events))
	return 0
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

// reference runs the plain client end to end: start a container of the
// image with serve, on a network like a job's, with the limits of one
// ml.m5.large host as the job's container gets; wait for /ping (polled
// every 20 ms); post the batches (postBatches, the data phase); stop it
// (SIGTERM) and remove it.
func reference(b *testing.B, rt runtime.Runtime, image, input, output string) (data, total time.Duration) {
	ctx := context.Background()
	cat, err := instances.Default(1, false)
	if err != nil {
		b.Fatal(err)
	}
	t, err := cat.Lookup("ml.m5.large")
	if err != nil {
		b.Fatal(err)
	}
	limits := cat.Limits(t)
	start := time.Now()
	// The same kind of network as a job's, reached the same way.
	labels := map[string]string{runtime.LabelManaged: "true", runtime.LabelKind: "bench"}
	name := fmt.Sprintf("wharf-bench-transform-%d", time.Now().UnixNano())
	netID, err := rt.CreateNetwork(ctx, transform.NetworkSpec(name+"-net", labels))
	if err != nil {
		b.Fatal(err)
	}
	defer rt.RemoveNetwork(context.Background(), netID)
	id, err := rt.Start(ctx, runtime.ContainerSpec{
		Name: name, Image: image, Cmd: []string{"serve"}, Network: netID,
		Env: map[string]string{"INVOKE_MODE": "echo"}, Labels: labels,
		PublishPort: 8080, NanoCPUs: limits.NanoCPUs, MemoryBytes: limits.MemoryBytes,
	})
	if id != "" {
		defer rt.Remove(context.Background(), id) // on failure
	}
	if err != nil {
		b.Fatal(err)
	}
	info, err := rt.Inspect(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	url, ok := transform.ContainerURL(info, 8080)
	if !ok {
		b.Fatalf("bench container has no address: %+v", info)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("bench container never answered /ping: %v", err)
		}
	}
	data = postBatches(b, url, input, output)
	if err := rt.Stop(ctx, id, 30*time.Second); err != nil {
		b.Fatal(err)
	}
	if err := rt.Remove(ctx, id); err != nil {
		b.Fatal(err)
	}
	return data, time.Since(start)
}

// postBatches is the reference's data phase: read the file, cut it into
// MultiRecord batches at line boundaries, POST them with the same
// concurrency and write the responses in input order to a file on the
// same disk as Wharf's objects, closed before the clock stops.
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
	defer out.Close() // on failure

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
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	if a, c := fileSize(b, input), fileSize(b, output); a != c {
		b.Fatalf("the reference wrote %d bytes for %d", c, a)
	}
	return elapsed
}

func fileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}
