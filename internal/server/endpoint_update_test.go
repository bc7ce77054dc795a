package server_test

// UpdateEndpoint and UpdateEndpointWeightsAndCapacities against a real
// Docker Engine (issue 4, api.md §9.2).

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	smr "github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/wharfml/wharf/internal/runtime"
)

func (me *moreEnv) waitEndpointInService(t *testing.T, name string) *sm.DescribeEndpointOutput {
	t.Helper()
	ctx := context.Background()
	w := sm.NewEndpointInServiceWaiter(me.sm, func(o *sm.EndpointInServiceWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)}, 2*time.Minute); err != nil {
		t.Fatalf("wait %s in service: %v", name, err)
	}
	d, err := me.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (me *moreEnv) createConfig(t *testing.T, name, model string, count int32) {
	t.Helper()
	_, err := me.sm.CreateEndpointConfig(context.Background(), &sm.CreateEndpointConfigInput{
		EndpointConfigName: aws.String(name),
		ProductionVariants: []types.ProductionVariant{{VariantName: aws.String("v1"), ModelName: aws.String(model),
			InstanceType: types.ProductionVariantInstanceTypeMlM5Large, InitialInstanceCount: aws.Int32(count)}},
	})
	if err != nil {
		t.Fatalf("create endpoint config %s: %v", name, err)
	}
}

// invoker calls InvokeEndpoint every 20 ms until stopped, recording bodies and failures.
type invoker struct {
	mu     sync.Mutex
	bodies []string
	errs   []error
	calls  atomic.Int64
	stop   chan struct{}
	done   chan struct{}
}

func startInvoker(rt *smr.Client, name string) *invoker {
	iv := &invoker{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(iv.done)
		for {
			select {
			case <-iv.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			out, err := rt.InvokeEndpoint(context.Background(), &smr.InvokeEndpointInput{EndpointName: aws.String(name),
				Body: []byte("abc"), ContentType: aws.String("text/plain")})
			iv.calls.Add(1)
			iv.mu.Lock()
			if err != nil {
				iv.errs = append(iv.errs, err)
			} else {
				iv.bodies = append(iv.bodies, string(out.Body))
			}
			iv.mu.Unlock()
		}
	}()
	return iv
}

func (iv *invoker) finish() ([]string, []error) {
	close(iv.stop)
	<-iv.done
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return iv.bodies, iv.errs
}

func TestEndpointUpdateUnderLoad(t *testing.T) {
	me := startEndpoints(t)
	ctx := context.Background()
	labels := map[string]string{runtime.LabelKind: "endpoint", runtime.LabelAccount: *me.acct.AccountId}
	me.createModel(t, "m-upper", map[string]string{"INVOKE_MODE": "upper"})
	me.createModel(t, "m-echo", map[string]string{"INVOKE_MODE": "echo", "ECHO_PREFIX": "v2:"})
	me.createEndpoint(t, "eu", "m-upper", 2)
	me.createConfig(t, "eu-config-2", "m-echo", 2)
	me.waitEndpointInService(t, "eu")
	before, err := me.rt.List(ctx, labels)
	if err != nil || len(before) != 2 {
		t.Fatalf("containers before the update: %d %v", len(before), err)
	}

	// Updating only from InService.
	if _, err := me.sm.UpdateEndpoint(ctx, &sm.UpdateEndpointInput{EndpointName: aws.String("nope"), EndpointConfigName: aws.String("eu-config-2")}); apiCode(err) != "ValidationException" {
		t.Fatalf("update of a missing endpoint: %v", err)
	}

	iv := startInvoker(me.runtimeClient(me.acct), "eu")
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if _, err := me.sm.UpdateEndpoint(ctx, &sm.UpdateEndpointInput{EndpointName: aws.String("eu"), EndpointConfigName: aws.String("eu-config-2"),
		DeploymentConfig: &types.DeploymentConfig{BlueGreenUpdatePolicy: &types.BlueGreenUpdatePolicy{
			TrafficRoutingConfiguration: &types.TrafficRoutingConfig{Type: types.TrafficRoutingConfigTypeAllAtOnce, WaitIntervalInSeconds: aws.Int32(0)}}}}); err != nil {
		t.Fatalf("update endpoint: %v", err)
	}
	d, err := me.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("eu")})
	if err != nil || d.EndpointStatus != types.EndpointStatusUpdating || aws.ToString(d.EndpointConfigName) != "eu-config" ||
		d.PendingDeploymentSummary == nil || aws.ToString(d.PendingDeploymentSummary.EndpointConfigName) != "eu-config-2" {
		t.Fatalf("describe while updating: %+v %v", d, err)
	}
	if _, err := me.sm.UpdateEndpoint(ctx, &sm.UpdateEndpointInput{EndpointName: aws.String("eu"), EndpointConfigName: aws.String("eu-config-2")}); apiCode(err) != "ValidationException" ||
		!strings.Contains(err.Error(), "Cannot update in-progress endpoint") {
		t.Fatalf("update while updating: %v", err)
	}
	d = me.waitEndpointInService(t, "eu")
	t.Logf("update took %v", time.Since(start))
	time.Sleep(300 * time.Millisecond)
	bodies, errs := iv.finish()
	if len(errs) > 0 {
		t.Fatalf("%d of %d invocations failed during the update, first: %v", len(errs), iv.calls.Load(), errs[0])
	}
	if len(bodies) < 10 || bodies[0] != "ABC" || bodies[len(bodies)-1] != "v2:abc" {
		t.Fatalf("responses: %d, first %q, last %q", len(bodies), bodies[0], bodies[len(bodies)-1])
	}
	switched := false
	for _, b := range bodies {
		switch {
		case b == "v2:abc":
			switched = true
		case b == "ABC" && !switched:
		default:
			t.Fatalf("unexpected response order: %q after the switch", b)
		}
	}
	t.Logf("%d invocations, none failed", len(bodies))
	if aws.ToString(d.EndpointConfigName) != "eu-config-2" || d.FailureReason != nil || d.PendingDeploymentSummary != nil ||
		len(d.ProductionVariants) != 1 || aws.ToInt32(d.ProductionVariants[0].CurrentInstanceCount) != 2 ||
		d.LastDeploymentConfig == nil || d.LastDeploymentConfig.BlueGreenUpdatePolicy == nil {
		t.Fatalf("describe after the update: %+v", d)
	}
	after, err := me.rt.List(ctx, labels)
	if err != nil || len(after) != 2 {
		t.Fatalf("containers after the update: %d %v", len(after), err)
	}
	for _, a := range after {
		for _, b := range before {
			if a.ID == b.ID {
				t.Fatalf("old container %s still there", a.ID)
			}
		}
	}
	if _, err := me.sm.DeleteEndpoint(ctx, &sm.DeleteEndpointInput{EndpointName: aws.String("eu")}); err != nil {
		t.Fatal(err)
	}
	w := sm.NewEndpointDeletedWaiter(me.sm, func(o *sm.EndpointDeletedWaiterOptions) { o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("eu")}, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if cs, err := me.rt.List(ctx, labels); err != nil || len(cs) != 0 {
		t.Fatalf("containers after delete: %d %v", len(cs), err)
	}
}

func TestEndpointUpdateRollback(t *testing.T) {
	me := startEndpoints(t) // EndpointHealthTimeout 5 s
	ctx := context.Background()
	labels := map[string]string{runtime.LabelKind: "endpoint", runtime.LabelAccount: *me.acct.AccountId}
	me.createModel(t, "m-upper", map[string]string{"INVOKE_MODE": "upper"})
	me.createModel(t, "m-sick", map[string]string{"PING_FAIL": "1"})
	me.createEndpoint(t, "er", "m-upper", 1)
	me.createConfig(t, "er-sick", "m-sick", 1)
	me.waitEndpointInService(t, "er")
	before, err := me.rt.List(ctx, labels)
	if err != nil || len(before) != 1 {
		t.Fatalf("containers before the update: %d %v", len(before), err)
	}
	iv := startInvoker(me.runtimeClient(me.acct), "er")
	if _, err := me.sm.UpdateEndpoint(ctx, &sm.UpdateEndpointInput{EndpointName: aws.String("er"), EndpointConfigName: aws.String("er-sick")}); err != nil {
		t.Fatalf("update endpoint: %v", err)
	}
	d := me.waitEndpointInService(t, "er")
	bodies, errs := iv.finish()
	if len(errs) > 0 || len(bodies) == 0 {
		t.Fatalf("%d invocations failed during the failed update, first: %v", len(errs), errs)
	}
	if aws.ToString(d.EndpointConfigName) != "er-config" || !strings.Contains(aws.ToString(d.FailureReason), "rolled back") ||
		!strings.Contains(aws.ToString(d.FailureReason), "/ping") || d.PendingDeploymentSummary != nil {
		t.Fatalf("describe after the failed update: config %q reason %q", aws.ToString(d.EndpointConfigName), aws.ToString(d.FailureReason))
	}
	out, err := me.runtimeClient(me.acct).InvokeEndpoint(ctx, &smr.InvokeEndpointInput{EndpointName: aws.String("er"), Body: []byte("abc")})
	if err != nil || string(out.Body) != "ABC" {
		t.Fatalf("invoke after the rollback: %v", err)
	}
	after, err := me.rt.List(ctx, labels)
	if err != nil || len(after) != 1 || after[0].ID != before[0].ID {
		t.Fatalf("containers after the rollback: %+v %v", after, err)
	}
}

func TestEndpointUpdateWeightsAndCapacities(t *testing.T) {
	me := startEndpoints(t)
	ctx := context.Background()
	labels := map[string]string{runtime.LabelKind: "endpoint", runtime.LabelAccount: *me.acct.AccountId}
	me.createModel(t, "m-upper", map[string]string{"INVOKE_MODE": "upper"})
	me.createEndpoint(t, "ew", "m-upper", 1)
	me.waitEndpointInService(t, "ew")
	if _, err := me.sm.UpdateEndpointWeightsAndCapacities(ctx, &sm.UpdateEndpointWeightsAndCapacitiesInput{EndpointName: aws.String("ew"),
		DesiredWeightsAndCapacities: []types.DesiredWeightAndCapacity{{VariantName: aws.String("nope"), DesiredWeight: aws.Float32(1)}}}); apiCode(err) != "ValidationException" {
		t.Fatalf("unknown variant: %v", err)
	}
	iv := startInvoker(me.runtimeClient(me.acct), "ew")
	if _, err := me.sm.UpdateEndpointWeightsAndCapacities(ctx, &sm.UpdateEndpointWeightsAndCapacitiesInput{EndpointName: aws.String("ew"),
		DesiredWeightsAndCapacities: []types.DesiredWeightAndCapacity{{VariantName: aws.String("v1"), DesiredWeight: aws.Float32(0.5), DesiredInstanceCount: aws.Int32(2)}}}); err != nil {
		t.Fatalf("update weights and capacities: %v", err)
	}
	d, err := me.sm.DescribeEndpoint(ctx, &sm.DescribeEndpointInput{EndpointName: aws.String("ew")})
	if err != nil || d.EndpointStatus != types.EndpointStatusUpdating || aws.ToInt32(d.ProductionVariants[0].DesiredInstanceCount) != 2 {
		t.Fatalf("describe while scaling: %+v %v", d, err)
	}
	d = me.waitEndpointInService(t, "ew")
	pv := d.ProductionVariants[0]
	if aws.ToInt32(pv.CurrentInstanceCount) != 2 || aws.ToInt32(pv.DesiredInstanceCount) != 2 ||
		aws.ToFloat32(pv.CurrentWeight) != 0.5 || aws.ToFloat32(pv.DesiredWeight) != 0.5 || d.FailureReason != nil {
		t.Fatalf("variant after scaling: %+v reason %q", pv, aws.ToString(d.FailureReason))
	}
	if cs, err := me.rt.List(ctx, labels); err != nil || len(cs) != 2 {
		t.Fatalf("containers after scaling out: %d %v", len(cs), err)
	}
	// And back to one.
	if _, err := me.sm.UpdateEndpointWeightsAndCapacities(ctx, &sm.UpdateEndpointWeightsAndCapacitiesInput{EndpointName: aws.String("ew"),
		DesiredWeightsAndCapacities: []types.DesiredWeightAndCapacity{{VariantName: aws.String("v1"), DesiredInstanceCount: aws.Int32(1)}}}); err != nil {
		t.Fatalf("scale in: %v", err)
	}
	d = me.waitEndpointInService(t, "ew")
	if aws.ToInt32(d.ProductionVariants[0].CurrentInstanceCount) != 1 {
		t.Fatalf("variant after scaling in: %+v", d.ProductionVariants[0])
	}
	bodies, errs := iv.finish()
	if len(errs) > 0 || len(bodies) == 0 {
		t.Fatalf("%d invocations failed while scaling, first: %v", len(errs), errs)
	}
	if cs, err := me.rt.List(ctx, labels); err != nil || len(cs) != 1 {
		t.Fatalf("containers after scaling in: %d %v", len(cs), err)
	}
}
