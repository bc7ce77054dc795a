// Package endpoint benchmarks the InvokeEndpoint gateway against calling the
// container's port directly, in the same run.
//
//	go test -run '^$' -bench GatewayOverhead -benchtime 1x ./bench/endpoint
package endpoint

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	smr "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/wharfml/wharf/bench/benchserver"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/testimage"
	"github.com/wharfml/wharf/internal/transform"
)

const requests = 20000

func BenchmarkGatewayOverhead(b *testing.B) {
	image := testimage.Build(b, testimage.Contract)
	env := benchserver.Start(b)
	rt := env.Runtime
	ctx := context.Background()
	url, creds := env.URL, env.Creds
	smc := sm.New(sm.Options{BaseEndpoint: aws.String(url), Region: "us-east-1", Credentials: creds})
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	rtc := smr.New(smr.Options{BaseEndpoint: aws.String(url), Region: "us-east-1", Credentials: creds,
		HTTPClient: &http.Client{Transport: transport}})
	role := aws.String("arn:aws:iam::" + awsapi.RootAccountID + ":role/bench")
	if _, err := smc.CreateModel(ctx, &sm.CreateModelInput{ModelName: aws.String("m"), ExecutionRoleArn: role,
		PrimaryContainer: &types.ContainerDefinition{Image: aws.String(image), Environment: map[string]string{"INVOKE_MODE": "echo"}}}); err != nil {
		b.Fatal(err)
	}
	if _, err := smc.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{EndpointConfigName: aws.String("c"),
		ProductionVariants: []types.ProductionVariant{{VariantName: aws.String("v"), ModelName: aws.String("m"),
			InstanceType: types.ProductionVariantInstanceTypeMlM5Large, InitialInstanceCount: aws.Int32(1)}}}); err != nil {
		b.Fatal(err)
	}
	if _, err := smc.CreateEndpoint(ctx, &sm.CreateEndpointInput{EndpointName: aws.String("e"), EndpointConfigName: aws.String("c")}); err != nil {
		b.Fatal(err)
	}
	defer func() {
		smc.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String("e")})
		for i := 0; i < 300; i++ {
			if _, err := smc.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("e")}); err != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	if err := sm.NewEndpointInServiceWaiter(smc).Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("e")}, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	hosts, err := rt.List(ctx, map[string]string{runtime.LabelKind: "endpoint", runtime.LabelAccount: awsapi.RootAccountID})
	if err != nil || len(hosts) != 1 {
		b.Fatalf("endpoint container: %+v %v", hosts, err)
	}
	// The address the gateway itself uses (the container's own, or a
	// published port where addresses are not routable).
	base, ok := transform.ContainerURL(hosts[0], transform.ServePort(hosts[0]))
	if !ok {
		b.Fatalf("endpoint container has no address: %+v", hosts[0])
	}
	direct := base + "/invocations"
	body := []byte("1.0,2.0,3.0,4.0\n")
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	viaDirect := func() error {
		resp, err := hc.Post(direct, "text/csv", bytes.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	viaWharf := func() error {
		_, err := rtc.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e"), Body: body, ContentType: aws.String("text/csv")})
		return err
	}
	// The same call from a plain HTTP client that signs each request with
	// the SDK's SigV4 signer but skips the SDK's middleware stack: what the
	// gateway costs without the client library's own overhead.
	invokeURL := url + "/endpoints/e/invocations"
	signer := v4.NewSigner()
	bodyHash := sha256.Sum256(body)
	cred, err := creds.Retrieve(ctx)
	if err != nil {
		b.Fatal(err)
	}
	viaSigned := func() error {
		req, _ := http.NewRequest(http.MethodPost, invokeURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/csv")
		if err := signer.SignHTTP(ctx, cred, req, hex.EncodeToString(bodyHash[:]), "sagemaker", "us-east-1", time.Now()); err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	fmt.Printf("\nInvokeEndpoint vs the container's own port, %d requests of %d bytes each (same run)\n", requests, len(body))
	fmt.Printf("%-12s %-14s %10s %10s %12s\n", "concurrency", "path", "p50", "p99", "req/s")
	for _, conc := range []int{1, 32} {
		d := run(b, conc, viaDirect)
		w := run(b, conc, viaWharf)
		p := run(b, conc, viaSigned)
		fmt.Printf("%-12d %-14s %10s %10s %12.0f\n", conc, "direct", d.p50, d.p99, d.rps)
		fmt.Printf("%-12d %-14s %10s %10s %12.0f\n", conc, "wharf (SDK)", w.p50, w.p99, w.rps)
		fmt.Printf("%-12d %-14s %10s %10s %12.0f\n", conc, "wharf (signed)", p.p50, p.p99, p.rps)
		fmt.Printf("%-12d added p50 %s (SDK) / %s (signed HTTP); throughput ratio vs direct %.2f (SDK) / %.2f (signed HTTP)\n",
			conc, w.p50-d.p50, p.p50-d.p50, w.rps/d.rps, p.rps/d.rps)
	}
	fmt.Println("(targets: added p50 <= 0.3 ms; throughput at concurrency 32 >= 0.9x direct. Client, gateway and container share this machine's cores.)")
}

type result struct {
	p50, p99 time.Duration
	rps      float64
}

func run(b *testing.B, conc int, call func() error) result {
	for i := 0; i < 200; i++ { // warm up connections
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, requests)
	var next int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= requests {
					return
				}
				t0 := time.Now()
				if err := call(); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{p50: lat[requests/2].Round(time.Microsecond), p99: lat[requests*99/100].Round(time.Microsecond), rps: requests / elapsed.Seconds()}
}
