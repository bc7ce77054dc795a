package server_test

// Serial inference pipelines and Direct-mode multi-container models
// (CreateModel with Containers) on endpoints and batch transform, against a
// real Docker Engine.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	smr "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	smrtypes "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime/types"
	"github.com/wharfml/wharf/internal/runtime"
	"github.com/wharfml/wharf/internal/transform"
)

// labelContainer is the label holding a container's position in its host's pipeline.
const labelContainer = "wharf.container"

// step is a container of the test image serving with env, named hostname ("" = unnamed).
func (te *trainingEnv) step(hostname string, env map[string]string) types.ContainerDefinition {
	c := types.ContainerDefinition{Image: aws.String(te.image), ModelDataUrl: aws.String("s3://data/models/model.tar.gz"), Environment: env}
	if hostname != "" {
		c.ContainerHostname = aws.String(hostname)
	}
	return c
}

func (te *trainingEnv) pipelineInput(name string, mode types.InferenceExecutionMode, steps ...types.ContainerDefinition) *sm.CreateModelInput {
	in := &sm.CreateModelInput{
		ModelName:        aws.String(name),
		ExecutionRoleArn: aws.String("arn:aws:iam::" + *te.acct.AccountId + ":role/any"),
		Containers:       steps,
	}
	if mode != "" {
		in.InferenceExecutionConfig = &types.InferenceExecutionConfig{Mode: mode}
	}
	return in
}

func (te *trainingEnv) createPipeline(t *testing.T, name string, mode types.InferenceExecutionMode, steps ...types.ContainerDefinition) {
	t.Helper()
	if _, err := te.sm.CreateModel(context.Background(), te.pipelineInput(name, mode, steps...)); err != nil {
		t.Fatalf("create model %s: %v", name, err)
	}
}

// endpointContainers lists an endpoint's containers.
func (me *moreEnv) endpointContainers(t *testing.T, name string) []runtime.ContainerInfo {
	t.Helper()
	cs, err := me.rt.List(context.Background(), map[string]string{runtime.LabelKind: "endpoint",
		runtime.LabelAccount: *me.acct.AccountId, runtime.LabelResource: strings.ToLower(name)})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// invokeReady invokes until the endpoint has a host again (ModelNotReadyException
// while a replaced host is starting), for at most a minute.
func invokeReady(t *testing.T, rt *smr.Client, in *smr.InvokeEndpointInput) *smr.InvokeEndpointOutput {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		out, err := rt.InvokeEndpoint(context.Background(), in)
		if apiCode(err) == "ModelNotReadyException" && time.Now().Before(deadline) {
			continue
		}
		if err != nil {
			t.Fatalf("invoke %s: %v", aws.ToString(in.EndpointName), err)
		}
		return out
	}
}

func (me *moreEnv) deleteEndpoints(t *testing.T, names ...string) {
	t.Helper()
	ctx := context.Background()
	for _, name := range names {
		if _, err := me.sm.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		w := sm.NewEndpointDeletedWaiter(me.sm, func(o *sm.EndpointDeletedWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
		if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)}, 2*time.Minute); err != nil {
			t.Fatalf("wait %s deleted: %v", name, err)
		}
		if cs := me.endpointContainers(t, name); len(cs) != 0 {
			t.Fatalf("containers of %s after delete: %d", name, len(cs))
		}
	}
}

func TestPipelineEndpoint(t *testing.T) {
	me := startEndpoints(t)
	ctx := context.Background()
	rt := me.runtimeClient(me.acct)
	// a notes what it received and answers in its own type, b upper-cases,
	// c notes what it received: the result shows the order, how
	// Content-Type travels and that only the last container sees Accept.
	me.createPipeline(t, "pipe", "",
		me.step("a", map[string]string{"INVOKE_MODE": "headers", "STEP_NAME": "a", "RESPONSE_CONTENT_TYPE": "application/x-a"}),
		me.step("b", map[string]string{"INVOKE_MODE": "upper"}),
		me.step("c", map[string]string{"INVOKE_MODE": "headers", "STEP_NAME": "c"}))
	me.createPipeline(t, "pipe-err", types.InferenceExecutionModeSerial,
		me.step("", map[string]string{"INVOKE_MODE": "upper"}),
		me.step("", map[string]string{"INVOKE_MODE": "error", "ERROR_STATUS": "400"}))
	me.createPipeline(t, "multi", types.InferenceExecutionModeDirect,
		me.step("one", map[string]string{"ECHO_PREFIX": "one:"}),
		me.step("two", map[string]string{"INVOKE_MODE": "upper"}))
	me.createEndpoint(t, "p", "pipe", 1)
	me.createEndpoint(t, "pe", "pipe-err", 1)
	me.createEndpoint(t, "d", "multi", 1)

	// Describe returns the containers as given, images pinned.
	dm, err := me.sm.DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String("pipe")})
	if err != nil || dm.PrimaryContainer != nil || len(dm.Containers) != 3 || dm.InferenceExecutionConfig != nil {
		t.Fatalf("describe pipe: %+v %v", dm, err)
	}
	for i, hn := range []string{"a", "b", "c"} {
		c := dm.Containers[i]
		if aws.ToString(c.ContainerHostname) != hn || aws.ToString(c.ModelDataUrl) != "s3://data/models/model.tar.gz" || aws.ToString(c.Image) == "" {
			t.Fatalf("describe pipe container %d: %+v", i+1, c)
		}
	}
	if dm.Containers[1].Environment["INVOKE_MODE"] != "upper" {
		t.Fatalf("describe pipe container 2 environment: %v", dm.Containers[1].Environment)
	}
	// The endpoint lists one deployed image per container.
	de, err := me.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("p")})
	if err != nil || len(de.ProductionVariants) != 1 || len(de.ProductionVariants[0].DeployedImages) != 3 ||
		aws.ToString(de.ProductionVariants[0].DeployedImages[2].SpecifiedImage) != aws.ToString(dm.Containers[2].Image) {
		t.Fatalf("describe endpoint p: %+v %v", de, err)
	}
	if dm, err := me.sm.DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String("multi")}); err != nil ||
		dm.InferenceExecutionConfig == nil || dm.InferenceExecutionConfig.Mode != types.InferenceExecutionModeDirect {
		t.Fatalf("describe multi: %+v %v", dm, err)
	}

	for _, name := range []string{"p", "pe", "d"} {
		me.waitEndpointInService(t, name)
	}
	// One host each, running all of its model's containers.
	for name, want := range map[string]int{"p": 3, "pe": 2, "d": 2} {
		cs := me.endpointContainers(t, name)
		var positions []string
		for _, c := range cs {
			if !c.Running || c.Labels[runtime.LabelHost] != "v1-1" {
				t.Fatalf("container of %s: %+v", name, c)
			}
			positions = append(positions, c.Labels[labelContainer])
		}
		slices.Sort(positions)
		if len(cs) != want || positions[0] != "1" || positions[len(positions)-1] != fmt.Sprint(want) {
			t.Fatalf("containers of %s: %d, positions %v", name, len(cs), positions)
		}
	}
	// Containers of a multi-container model are told their port.
	for _, c := range me.endpointContainers(t, "p") {
		base, ok := transform.ContainerURL(c, transform.ServePort(c))
		if !ok {
			t.Fatalf("no address for %s: %+v", c.Name, c)
		}
		resp, err := http.Get(base + "/env")
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]string
		json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if env["SAGEMAKER_BIND_TO_PORT"] != "8080" || env["SAGEMAKER_SAFE_PORT_RANGE"] == "" {
			t.Fatalf("environment of %s: %v", c.Name, env)
		}
	}

	out, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("p"), Body: []byte("x\n"),
		ContentType: aws.String("text/plain"), Accept: aws.String("text/final"), CustomAttributes: aws.String("trace=1")})
	if err != nil {
		t.Fatalf("invoke p: %v", err)
	}
	want := "X\nA CONTENT-TYPE=TEXT/PLAIN ACCEPT=\nc content-type=application/x-a accept=text/final\n"
	if string(out.Body) != want || aws.ToString(out.ContentType) != "application/x-a" ||
		aws.ToString(out.CustomAttributes) != "trace=1" || aws.ToString(out.InvokedProductionVariant) != "v1" {
		t.Fatalf("invoke p: body %q type %q attrs %q", out.Body, aws.ToString(out.ContentType), aws.ToString(out.CustomAttributes))
	}
	// A serial pipeline takes no target container.
	if _, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("p"), Body: []byte("x"),
		TargetContainerHostname: aws.String("b")}); apiCode(err) != "ValidationError" {
		t.Fatalf("invoke serial pipeline with a target container: %v", err)
	}

	// A failing container is a ModelError naming it (unnamed containers are
	// named by position) and pointing at its own log stream.
	_, err = rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("pe"), Body: []byte("abc"), ContentType: aws.String("text/plain")})
	var merr *smrtypes.ModelError
	if !errors.As(err, &merr) || aws.ToInt32(merr.OriginalStatusCode) != 400 || aws.ToString(merr.OriginalMessage) != "model failed" ||
		!strings.Contains(aws.ToString(merr.Message), "Received client error (400) from container-2") {
		t.Fatalf("invoke pe: %v", err)
	}
	arn := aws.ToString(merr.LogStreamArn)
	_, stream, ok := strings.Cut(arn, ":log-group:/aws/sagemaker/Endpoints/pe:log-stream:")
	if !ok || !strings.HasPrefix(stream, "v1/v1-1-") || !strings.HasSuffix(stream, "/container-2") {
		t.Fatalf("LogStreamArn %q", arn)
	}
	if got := me.endpointStreams(t, "pe"); !slices.Contains(got, stream) || len(got) != 2 {
		t.Fatalf("log streams of pe %v; want %s among 2", got, stream)
	}
	// One stream per container, all of the host's instance.
	got := me.endpointStreams(t, "p")
	if len(got) != 3 {
		t.Fatalf("log streams of p: %v", got)
	}
	instance := strings.TrimSuffix(got[0], "/a")
	for i, suffix := range []string{"/a", "/b", "/c"} {
		if got[i] != instance+suffix {
			t.Fatalf("log streams of p: %v", got)
		}
	}

	// Direct mode: the caller names the one container.
	for target, want := range map[string]string{"one": "one:abc", "two": "ABC", "TWO": "ABC"} {
		out, err := rt.InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("d"), Body: []byte("abc"),
			ContentType: aws.String("text/plain"), TargetContainerHostname: aws.String(target)})
		if err != nil || string(out.Body) != want {
			t.Fatalf("invoke d on %s: %v", target, err)
		}
	}
	for _, target := range []string{"", "three"} {
		in := &smr.InvokeEndpointInput{EndpointName: aws.String("d"), Body: []byte("abc")}
		if target != "" {
			in.TargetContainerHostname = aws.String(target)
		}
		if _, err := rt.InvokeEndpoint(ctx, in); apiCode(err) != "ValidationError" {
			t.Fatalf("invoke d with target %q: %v", target, err)
		}
	}

	me.deleteEndpoints(t, "p", "pe", "d")
}

// endpointStreams lists the log streams of an endpoint, sorted.
func (me *moreEnv) endpointStreams(t *testing.T, name string) []string {
	t.Helper()
	out, err := me.logs.DescribeLogStreams(context.Background(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/sagemaker/Endpoints/" + name)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range out.LogStreams {
		names = append(names, aws.ToString(s.LogStreamName))
	}
	slices.Sort(names)
	return names
}

// A host whose container dies is replaced as a whole; UpdateEndpoint moves
// pipeline hosts blue/green like any other.
func TestPipelineHostReplacedAndUpdated(t *testing.T) {
	me := startEndpoints(t)
	ctx := context.Background()
	rt := me.runtimeClient(me.acct)
	me.createPipeline(t, "pipe", "",
		me.step("pre", map[string]string{"INVOKE_MODE": "upper"}),
		me.step("post", map[string]string{"ECHO_PREFIX": "post:"}))
	me.createPipeline(t, "pipe2", "",
		me.step("pre", map[string]string{"ECHO_PREFIX": "v2:"}),
		me.step("post", map[string]string{"INVOKE_MODE": "upper"}))
	me.createEndpoint(t, "r", "pipe", 1)
	me.waitEndpointInService(t, "r")
	in := &smr.InvokeEndpointInput{EndpointName: aws.String("r"), Body: []byte("abc"), ContentType: aws.String("text/plain")}
	if out := invokeReady(t, rt, in); string(out.Body) != "post:ABC" {
		t.Fatalf("invoke r: %q", out.Body)
	}

	before := me.endpointContainers(t, "r")
	if len(before) != 2 {
		t.Fatalf("containers of r: %+v", before)
	}
	old := map[string]bool{}
	for _, c := range before {
		old[c.ID] = true
		if c.Labels[labelContainer] == "2" {
			if err := me.rt.Remove(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Both containers are replaced, the one still running included.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		cs := me.endpointContainers(t, "r")
		fresh := 0
		for _, c := range cs {
			if c.Running && !old[c.ID] {
				fresh++
			}
		}
		if len(cs) == 2 && fresh == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host not replaced: %+v", cs)
		}
	}
	if out := invokeReady(t, rt, in); string(out.Body) != "post:ABC" {
		t.Fatalf("invoke r after the replacement: %q", out.Body)
	}
	if d := me.waitEndpointInService(t, "r"); aws.ToInt32(d.ProductionVariants[0].CurrentInstanceCount) != 1 {
		t.Fatalf("describe r: %+v", d)
	}

	me.createConfig(t, "r-config-2", "pipe2", 1)
	if _, err := me.sm.UpdateEndpoint(ctx, &sm.UpdateEndpointInput{EndpointName: aws.String("r"), EndpointConfigName: aws.String("r-config-2")}); err != nil {
		t.Fatal(err)
	}
	me.waitEndpointInService(t, "r")
	if out := invokeReady(t, rt, in); string(out.Body) != "V2:ABC" {
		t.Fatalf("invoke r after the update: %q", out.Body)
	}
	cs := me.endpointContainers(t, "r")
	if len(cs) != 2 {
		t.Fatalf("containers of r after the update: %+v", cs)
	}
	for _, c := range cs {
		if c.Labels[runtime.LabelHost] != "v1-1-g1" {
			t.Fatalf("container of r after the update: %+v", c)
		}
	}
	me.deleteEndpoints(t, "r")
}

func TestPipelineTransform(t *testing.T) {
	te := startTransform(t)
	ctx := context.Background()
	te.put(t, "pin/x.csv", []byte("ab\ncd\n"))
	// The first container's /execution-parameters are the ones that apply.
	te.createPipeline(t, "tp", "",
		te.step("", map[string]string{"INVOKE_MODE": "upper", "EXEC_PARAMS": `{"MaxPayloadInMB": 3}`}),
		te.step("", map[string]string{"ECHO_PREFIX": "p:", "EXEC_PARAMS": `{"MaxPayloadInMB": 5}`}))
	te.createPipeline(t, "tpe", "",
		te.step("", map[string]string{"INVOKE_MODE": "upper"}),
		te.step("", map[string]string{"INVOKE_MODE": "error", "ERROR_STATUS": "400"}))

	in := te.transformInput("tj", "tp", "pin/")
	in.BatchStrategy = ""
	d := te.runTransform(t, in)
	if d.TransformJobStatus != types.TransformJobStatusCompleted || aws.ToInt32(d.MaxPayloadInMB) != 3 {
		t.Fatalf("job tj: %s %q payload %d", d.TransformJobStatus, aws.ToString(d.FailureReason), aws.ToInt32(d.MaxPayloadInMB))
	}
	if got, _ := te.get(t, "out-tj/x.csv.out"); got != "p:AB\np:CD\n" {
		t.Fatalf("output of tj: %q", got)
	}
	streams, err := te.logs.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupName: aws.String("/aws/sagemaker/TransformJobs"), LogStreamNamePrefix: aws.String("tj/")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range streams.LogStreams {
		names = append(names, aws.ToString(s.LogStreamName))
	}
	slices.Sort(names)
	if len(names) != 2 || !strings.HasPrefix(names[0], "tj/algo-1-") || !strings.HasSuffix(names[0], "/container-1") ||
		!strings.HasSuffix(names[1], "/container-2") {
		t.Fatalf("log streams of tj: %v", names)
	}

	d = te.runTransform(t, te.transformInput("tje", "tpe", "pin/"))
	if d.TransformJobStatus != types.TransformJobStatusFailed || !strings.Contains(aws.ToString(d.FailureReason), "container container-2: POST /invocations returned HTTP 400") {
		t.Fatalf("job tje: %s %q", d.TransformJobStatus, aws.ToString(d.FailureReason))
	}
	te.assertTransformClean(t, "tj", "tje")
}

func TestPipelineCreateModelValidation(t *testing.T) {
	te := startTransform(t)
	ctx := context.Background()
	steps := func(n int, named bool) []types.ContainerDefinition {
		var cs []types.ContainerDefinition
		for i := 1; i <= n; i++ {
			hn := ""
			if named {
				hn = fmt.Sprintf("c%d", i)
			}
			cs = append(cs, te.step(hn, nil))
		}
		return cs
	}
	direct := types.InferenceExecutionModeDirect
	dup := steps(2, true)
	dup[1].ContainerHostname = aws.String("C1")
	partial := steps(2, true)
	partial[0].ContainerHostname = nil
	badName := steps(2, true)
	badName[0].ContainerHostname = aws.String("bad_name")
	for _, tc := range []struct {
		what string
		in   *sm.CreateModelInput
		want string
	}{
		{"16 containers", te.pipelineInput("m16", "", steps(16, false)...), "less than or equal to 15"},
		{"duplicate hostnames", te.pipelineInput("mdup", "", dup...), "unique"},
		{"some hostnames", te.pipelineInput("mpart", "", partial...), "or none of them"},
		{"bad hostname", te.pipelineInput("mbad", "", badName...), "containerHostname"},
		{"Direct without hostnames", te.pipelineInput("mdir", direct, steps(2, false)...), "ContainerHostname for every container"},
		{"unknown mode", te.pipelineInput("mmode", "Parallel", steps(2, false)...), "enum value set: [Serial, Direct]"},
		{"Direct with PrimaryContainer", func() *sm.CreateModelInput {
			in := te.modelInput("mprim", nil)
			in.InferenceExecutionConfig = &types.InferenceExecutionConfig{Mode: direct}
			return in
		}(), "needs Containers"},
	} {
		if _, err := te.sm.CreateModel(ctx, tc.in); apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want a ValidationException containing %q", tc.what, err, tc.want)
		}
	}
	// 15 is the limit, not past it.
	te.createPipeline(t, "m15", "", steps(15, false)...)
	if d, err := te.sm.DescribeModel(ctx, &sm.DescribeModelInput{ModelName: aws.String("m15")}); err != nil || len(d.Containers) != 15 {
		t.Fatalf("describe m15: %v", err)
	}
	// Batch transform runs serial pipelines, not Direct-mode models.
	te.createPipeline(t, "mdirect", direct, steps(2, true)...)
	if _, err := te.sm.CreateTransformJob(ctx, te.transformInput("tdirect", "mdirect", "train/")); apiCode(err) != "ValidationException" ||
		!strings.Contains(err.Error(), "Direct") {
		t.Fatalf("transform job with a Direct-mode model: %v", err)
	}
}

// A restarted server adopts a pipeline host only as a whole: a host that
// lost one container meanwhile is started anew, its survivor removed.
func TestPipelineRestart(t *testing.T) {
	re := startRestartable(t)
	cfg, rt, a, acct, te := re.cfg, re.rt, re.a, re.acct, re.te
	labels := map[string]string{runtime.LabelKind: "endpoint", runtime.LabelAccount: *acct.AccountId}
	te.put(t, "models/model.tar.gz", modelTarGz(t, "weights"))
	te.createPipeline(t, "pipe", "",
		te.step("pre", map[string]string{"INVOKE_MODE": "upper"}),
		te.step("post", map[string]string{"ECHO_PREFIX": "post:"}))
	te.createEndpoint(t, "e", "pipe", 2)
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
	if err != nil || len(cs) != 4 {
		t.Fatalf("containers after shutdown: %+v %v", cs, err)
	}
	// Host v1-1 loses its second container; v1-2 stays whole.
	kept := map[string]bool{}
	var survivor string
	for _, c := range cs {
		switch {
		case c.Labels[runtime.LabelHost] == "v1-2":
			kept[c.ID] = true
		case c.Labels[labelContainer] == "2":
			if err := rt.Remove(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
		default:
			survivor = c.ID
		}
	}
	if len(kept) != 2 || survivor == "" {
		t.Fatalf("containers after shutdown: %+v", cs)
	}

	b := openServer(t, cfg)
	smc := b.sagemaker(acct)
	waitInService(smc)
	in := &smr.InvokeEndpointInput{EndpointName: aws.String("e"), Body: []byte("abc")}
	if out := invokeReady(t, b.runtimeClient(acct), in); string(out.Body) != "post:ABC" {
		t.Fatalf("invoke after restart: %q", out.Body)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		cs, err = rt.List(ctx, labels)
		adopted, fresh := 0, 0
		for _, c := range cs {
			switch {
			case kept[c.ID]:
				adopted++
			case c.ID != survivor && c.Running:
				fresh++
			}
		}
		if err == nil && len(cs) == 4 && adopted == 2 && fresh == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containers after restart (kept %v, survivor %s): %+v %v", kept, survivor, cs, err)
		}
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
