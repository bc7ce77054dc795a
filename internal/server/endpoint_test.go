package server_test

// Endpoint configs, endpoints and InvokeEndpoint against a real Docker
// Engine (issue 4).

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	smr "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	smrtypes "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime/types"
	"github.com/wharfml/wharf/internal/admin"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/server"
)

func startEndpoints(t *testing.T) *moreEnv {
	t.Helper()
	me := startMore(t, func(c *server.Config) { c.EndpointHealthTimeout = 5 * time.Second })
	me.put(t, "models/model.tar.gz", modelTarGz(t, "weights v7"))
	return me
}

func (e *env) runtimeClient(c admin.Credentials) *smr.Client {
	return smr.New(smr.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1", Credentials: e.creds(*c.AccessKeyId, *c.SecretAccessKey)})
}

func (te *trainingEnv) createEndpoint(t *testing.T, name, model string, count int32) {
	t.Helper()
	ctx := context.Background()
	_, err := te.sm.CreateEndpointConfig(ctx, &sm.CreateEndpointConfigInput{
		EndpointConfigName: aws.String(name + "-config"),
		ProductionVariants: []types.ProductionVariant{{VariantName: aws.String("v1"), ModelName: aws.String(model),
			InstanceType: types.ProductionVariantInstanceTypeMlM5Large, InitialInstanceCount: aws.Int32(count)}},
	})
	if err != nil {
		t.Fatalf("create endpoint config: %v", err)
	}
	if _, err := te.sm.CreateEndpoint(ctx, &sm.CreateEndpointInput{EndpointName: aws.String(name), EndpointConfigName: aws.String(name + "-config")}); err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
}

func TestEndpointInvoke(t *testing.T) {
	me := startEndpoints(t)
	ctx := context.Background()
	acct := *me.acct.AccountId
	rt := me.runtimeClient(me.acct)
	me.createModel(t, "m-upper", map[string]string{"INVOKE_MODE": "upper"})
	me.createModel(t, "m-error", map[string]string{"INVOKE_MODE": "error", "ERROR_STATUS": "400"})
	me.createEndpoint(t, "e1", "m-upper", 2)
	me.createEndpoint(t, "e2", "m-error", 1)

	// Not InService yet (or never was): ValidationError.
	if _, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("missing"), Body: []byte("x")}); apiCode(err) != "ValidationError" ||
		!strings.Contains(err.Error(), "Endpoint missing of account "+acct+" not found.") {
		t.Fatalf("invoke missing endpoint: %v", err)
	}
	for _, name := range []string{"e1", "e2"} {
		w := sm.NewEndpointInServiceWaiter(me.sm, func(o *sm.EndpointInServiceWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
		if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)}, 2*time.Minute); err != nil {
			t.Fatalf("wait %s in service: %v", name, err)
		}
	}
	d, err := me.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("e1")})
	if err != nil || d.EndpointStatus != types.EndpointStatusInService || len(d.ProductionVariants) != 1 ||
		aws.ToInt32(d.ProductionVariants[0].CurrentInstanceCount) != 2 || aws.ToString(d.EndpointConfigName) != "e1-config" {
		t.Fatalf("describe e1: %+v %v", d, err)
	}

	// The config may go while the endpoint runs.
	if _, err := me.sm.DeleteEndpointConfig(ctx, &sm.DeleteEndpointConfigInput{EndpointConfigName: aws.String("e1-config")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		out, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e1"), Body: []byte("abc"),
			ContentType: aws.String("text/plain"), Accept: aws.String("text/plain"), CustomAttributes: aws.String("trace=1")})
		if err != nil {
			t.Fatalf("invoke e1: %v", err)
		}
		if string(out.Body) != "ABC" || aws.ToString(out.InvokedProductionVariant) != "v1" ||
			aws.ToString(out.ContentType) != "text/plain" || aws.ToString(out.CustomAttributes) != "trace=1" {
			t.Fatalf("invoke e1: body %q variant %q type %q attrs %q", out.Body, aws.ToString(out.InvokedProductionVariant),
				aws.ToString(out.ContentType), aws.ToString(out.CustomAttributes))
		}
	}

	// A container error is a ModelError carrying the container's answer.
	_, err = rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e2"), Body: []byte("abc"), ContentType: aws.String("text/plain")})
	var me424 *smrtypes.ModelError
	if !errors.As(err, &me424) || aws.ToInt32(me424.OriginalStatusCode) != 400 || aws.ToString(me424.OriginalMessage) != "model failed" ||
		!strings.Contains(aws.ToString(me424.Message), "Received client error (400) from primary") ||
		!strings.Contains(aws.ToString(me424.LogStreamArn), "/aws/sagemaker/Endpoints/e2") {
		t.Fatalf("invoke e2: %v", err)
	}

	// Too large a body.
	_, err = rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e1"), Body: bytes.Repeat([]byte("x"), 6<<20+1)})
	if apiCode(err) != "ValidationError" {
		t.Fatalf("invoke with 6 MB + 1: %v", err)
	}

	// Another account sees nothing.
	other := me.account(t, "other")
	if _, err := me.sagemaker(other).DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("e1")}); apiCode(err) != "ValidationException" {
		t.Fatalf("describe foreign endpoint: %v", err)
	}
	if _, err := me.runtimeClient(other).InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e1"), Body: []byte("x")}); apiCode(err) != "ValidationError" {
		t.Fatalf("invoke foreign endpoint: %v", err)
	}

	// Lists and logs.
	eps, err := me.sm.ListEndpoints(ctx, &sm.ListEndpointsInput{StatusEquals: types.EndpointStatusInService})
	if err != nil || len(eps.Endpoints) != 2 {
		t.Fatalf("list endpoints: %+v %v", eps, err)
	}
	cfgs, err := me.sm.ListEndpointConfigs(ctx, &sm.ListEndpointConfigsInput{})
	if err != nil || len(cfgs.EndpointConfigs) != 1 || aws.ToString(cfgs.EndpointConfigs[0].EndpointConfigName) != "e2-config" {
		t.Fatalf("list endpoint configs: %+v %v", cfgs, err)
	}
	streams, err := me.logs.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/sagemaker/Endpoints/e1")})
	if err != nil || len(streams.LogStreams) != 2 {
		t.Fatalf("log streams of e1: %+v %v", streams, err)
	}

	labels := map[string]string{runtime.LabelKind: "endpoint", runtime.LabelAccount: acct}
	if cs, err := me.rt.List(ctx, labels); err != nil || len(cs) != 3 {
		t.Fatalf("containers before delete: %d %v", len(cs), err)
	}
	for _, name := range []string{"e1", "e2"} {
		if _, err := me.sm.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"e1", "e2"} {
		w := sm.NewEndpointDeletedWaiter(me.sm, func(o *sm.EndpointDeletedWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
		if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)}, 2*time.Minute); err != nil {
			t.Fatalf("wait %s deleted: %v", name, err)
		}
	}
	if cs, err := me.rt.List(ctx, labels); err != nil || len(cs) != 0 {
		t.Fatalf("containers after delete: %d %v", len(cs), err)
	}
	if _, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e1"), Body: []byte("x")}); apiCode(err) != "ValidationError" {
		t.Fatalf("invoke deleted endpoint: %v", err)
	}
}

func TestEndpointHealthFailure(t *testing.T) {
	me := startEndpoints(t)
	ctx := context.Background()
	me.createModel(t, "m-sick", map[string]string{"PING_FAIL": "1"})
	me.createEndpoint(t, "sick", "m-sick", 1)
	w := sm.NewEndpointInServiceWaiter(me.sm, func(o *sm.EndpointInServiceWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("sick")}, 2*time.Minute); err == nil {
		t.Fatal("an endpoint failing health checks reached InService")
	}
	d, err := me.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("sick")})
	if err != nil || d.EndpointStatus != types.EndpointStatusFailed || !strings.Contains(aws.ToString(d.FailureReason), "/ping") {
		t.Fatalf("describe sick: %+v %v", d, err)
	}
	if cs, err := me.rt.List(ctx, map[string]string{runtime.LabelKind: "endpoint", runtime.LabelAccount: *me.acct.AccountId}); err != nil || len(cs) != 0 {
		t.Fatalf("containers of a failed endpoint: %d %v", len(cs), err)
	}
	if _, err := me.sm.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String("sick")}); err != nil {
		t.Fatal(err)
	}
}

// A restarted server adopts an InService endpoint's running containers and
// replaces the ones that vanished meanwhile.
func TestEndpointRestart(t *testing.T) {
	re := startRestartable(t)
	cfg, rt, a, acct, te := re.cfg, re.rt, re.a, re.acct, re.te
	labels := map[string]string{runtime.LabelKind: "endpoint", runtime.LabelAccount: *acct.AccountId}
	te.put(t, "models/model.tar.gz", modelTarGz(t, "weights"))
	te.createModel(t, "m", map[string]string{"INVOKE_MODE": "upper"})
	te.createEndpoint(t, "e", "m", 2)
	ctx := context.Background()
	waitInService := func(c *sm.Client) {
		t.Helper()
		w := sm.NewEndpointInServiceWaiter(c, func(o *sm.EndpointInServiceWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
		if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("e")}, 2*time.Minute); err != nil {
			t.Fatalf("wait in service: %v", err)
		}
	}
	waitInService(te.sm)
	a.stop()

	cs, err := rt.List(ctx, labels)
	if err != nil || len(cs) != 2 {
		t.Fatalf("containers after shutdown: %+v %v", cs, err)
	}
	if err := rt.Remove(ctx, cs[0].ID); err != nil {
		t.Fatal(err)
	}
	kept := cs[1].ID

	b := openServer(t, cfg)
	smc := b.sagemaker(acct)
	waitInService(smc)
	// Right after the start the gateway may answer ModelNotReadyException
	// until the controller has adopted the containers.
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := b.runtimeClient(acct).InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e"), Body: []byte("abc")})
		if apiCode(err) == "ModelNotReadyException" && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil || string(out.Body) != "ABC" {
			t.Fatalf("invoke after restart: %v", err)
		}
		break
	}
	waitInService(smc)
	// The adopted host serves at once; the removed one is being replaced
	// in the background, so its container may appear a moment later.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		cs, err = rt.List(ctx, labels)
		if err != nil || len(cs) == 2 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || len(cs) != 2 || (cs[0].ID != kept && cs[1].ID != kept) {
		t.Fatalf("containers after restart (kept %s): %+v %v", kept, cs, err)
	}
	if _, err := smc.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String("e")}); err != nil {
		t.Fatal(err)
	}
	w := sm.NewEndpointDeletedWaiter(smc, func(o *sm.EndpointDeletedWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("e")}, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if cs, err := rt.List(ctx, labels); err != nil || len(cs) != 0 {
		t.Fatalf("containers after delete: %d %v", len(cs), err)
	}
}

// Serve containers cannot open connections: not to the internet (their
// network is internal) and not to services on the Wharf host, which still
// reaches them. The probe dials a listener on all of the host's addresses
// through the container's default gateway (the host's bridge address).
func TestEndpointNoEgress(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the firewall rule that keeps serve containers from the host needs root")
	}
	me := startEndpoints(t)
	ctx := context.Background()
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	me.createModel(t, "m-dial", map[string]string{"INVOKE_MODE": "dial"})
	me.createEndpoint(t, "e-dial", "m-dial", 1)
	w := sm.NewEndpointInServiceWaiter(me.sm, func(o *sm.EndpointInServiceWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("e-dial")}, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	rt := me.runtimeClient(me.acct)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, target := range []string{"gateway:" + port, "192.0.2.1:80"} {
		out, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e-dial"), Body: []byte(target)})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(out.Body); !strings.HasPrefix(got, "refused") {
			t.Errorf("a serve container reached %s: %s", target, got)
		}
	}
}

// At most EndpointMaxInFlight invocations reach an instance at once (the
// rest queue), and each endpoint's invocations, their outcomes and the
// container's X-Amzn-Inference-Metering units appear on /metrics.
func TestEndpointInFlightCapAndMetrics(t *testing.T) {
	me := startMore(t, func(c *server.Config) { c.EndpointHealthTimeout, c.EndpointMaxInFlight = 5*time.Second, 2 })
	acct := *me.acct.AccountId
	ctx := context.Background()
	me.put(t, "models/model.tar.gz", modelTarGz(t, "weights"))
	me.createModel(t, "m-if", map[string]string{"INVOKE_MODE": "inflight", "SLOW_MS": "300", "METERING_UNITS": "3"})
	me.createModel(t, "m-err", map[string]string{"INVOKE_MODE": "error", "ERROR_STATUS": "400"})
	me.createEndpoint(t, "e-cap", "m-if", 1)
	me.createEndpoint(t, "e-err", "m-err", 1)
	for _, name := range []string{"e-cap", "e-err"} {
		w := sm.NewEndpointInServiceWaiter(me.sm, func(o *sm.EndpointInServiceWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
		if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)}, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	rt := me.runtimeClient(me.acct)
	const calls = 8
	seen := make([]string, calls)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e-cap"), Body: []byte("x")})
			if errs[i] = err; err == nil {
				seen[i] = string(out.Body)
			}
		}()
	}
	wg.Wait()
	for i := range calls {
		if errs[i] != nil {
			t.Fatalf("invocation %d: %v", i, errs[i])
		}
		if seen[i] != "1" && seen[i] != "2" {
			t.Fatalf("invocation %d found %s in flight at the container; the cap is 2 (all: %v)", i, seen[i], seen)
		}
	}
	if _, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e-err"), Body: []byte("x")}); apiCode(err) != "ModelError" {
		t.Fatalf("invoke e-err: %v", err)
	}

	resp, err := http.Get(me.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`wharf_endpoint_invocations_total{account="` + acct + `",endpoint="e-cap",outcome="2xx",variant="v1"} 8`,
		`wharf_endpoint_invocations_total{account="` + acct + `",endpoint="e-err",outcome="4xx",variant="v1"} 1`,
		`wharf_endpoint_inference_units_total{account="` + acct + `",endpoint="e-cap",variant="v1"} 24`,
		`wharf_endpoint_model_latency_seconds_count{account="` + acct + `",endpoint="e-cap",variant="v1"} 8`,
		`wharf_endpoint_overhead_latency_seconds_count{account="` + acct + `",endpoint="e-err",variant="v1"} 1`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A variant whose only host died and cannot be replaced (the model data
// now makes /ping fail) leaves the endpoint OutOfService with no current
// instances; once a replacement passes /ping it is InService again.
func TestEndpointOutOfService(t *testing.T) {
	me := startEndpoints(t)
	ctx := context.Background()
	me.createModel(t, "m", map[string]string{"INVOKE_MODE": "upper"})
	me.createEndpoint(t, "e", "m", 1)
	describe := func() *sm.DescribeEndpointOutput {
		t.Helper()
		d, err := me.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("e")})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	waitFor := func(status types.EndpointStatus, count int32) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			d := describe()
			if d.EndpointStatus == status && aws.ToInt32(d.ProductionVariants[0].CurrentInstanceCount) == count {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("endpoint %s with %d instances, want %s with %d", d.EndpointStatus, aws.ToInt32(d.ProductionVariants[0].CurrentInstanceCount), status, count)
			}
		}
	}
	waitFor(types.EndpointStatusInService, 1)
	rt := me.runtimeClient(me.acct)

	// Replacements now get model data that fails /ping; the host crashes.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "unhealthy", Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Close()
	zw.Close()
	me.put(t, "models/model.tar.gz", buf.Bytes())
	if _, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e"), Body: []byte("__exit__")}); apiCode(err) != "ModelError" {
		t.Fatalf("crashing invocation: %v", err)
	}
	waitFor(types.EndpointStatusOutOfService, 0)
	if _, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e"), Body: []byte("abc")}); apiCode(err) != "ModelNotReadyException" {
		t.Fatalf("invoke while OutOfService: %v", err)
	}

	me.put(t, "models/model.tar.gz", modelTarGz(t, "weights"))
	waitFor(types.EndpointStatusInService, 1)
	out, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("e"), Body: []byte("abc")})
	if err != nil || string(out.Body) != "ABC" {
		t.Fatalf("invoke after recovery: %v", err)
	}
}
