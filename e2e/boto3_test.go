package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfml/wharf/internal/testimage"
)

// boto3Script deploys the contract image as an endpoint with boto3, invokes
// it, checks a ModelError-free answer and a missing endpoint's error, then
// deletes the endpoint.
const boto3Script = `
import os, sys, boto3, botocore
ep, image, account = os.environ["EP"], os.environ["IMAGE"], os.environ["ACCOUNT"]
sm = boto3.client("sagemaker", endpoint_url=ep)
rt = boto3.client("sagemaker-runtime", endpoint_url=ep)
sm.create_model(ModelName="bm", ExecutionRoleArn=f"arn:aws:iam::{account}:role/any",
                PrimaryContainer={"Image": image, "Environment": {"INVOKE_MODE": "upper"}})
sm.create_endpoint_config(EndpointConfigName="bc", ProductionVariants=[{
    "VariantName": "v1", "ModelName": "bm", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
sm.create_endpoint(EndpointName="be", EndpointConfigName="bc")
sm.get_waiter("endpoint_in_service").wait(EndpointName="be", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
out = rt.invoke_endpoint(EndpointName="be", ContentType="text/csv", Body=b"a,b\n")
print("body", out["Body"].read().decode().strip(), "variant", out["InvokedProductionVariant"])
try:
    rt.invoke_endpoint(EndpointName="nope", ContentType="text/csv", Body=b"x")
except botocore.exceptions.ClientError as e:
    print("error", e.response["Error"]["Code"])
print("created", sm.describe_endpoint(EndpointName="be")["CreationTime"].year)
sm.delete_endpoint(EndpointName="be")
sm.get_waiter("endpoint_deleted").wait(EndpointName="be", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
print("deleted")
`

// TestBoto3Endpoint drives endpoints with boto3, as SageMaker Python users do.
func TestBoto3Endpoint(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("python3 with boto3 is not installed")
	}
	image := testimage.Build(t, testimage.Contract)
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, freeAddr(t), dataDir)
	root := readRootCredentials(t, filepath.Join(dataDir, "root-credentials"))
	out, errOut, err := run(cliEnv(t, root), wharfBinary(t), "admin", "create-account", "--name", "acme", "--endpoint-url", srv.url())
	if err != nil {
		t.Fatalf("create-account: %v\n%s", err, errOut)
	}
	var acme creds
	decodeJSON(t, out, &acme)
	env := append(cliEnv(t, acme), "EP="+srv.url(), "IMAGE="+image, "ACCOUNT="+acme.AccountId)
	script := filepath.Join(t.TempDir(), "endpoint.py")
	os.WriteFile(script, []byte(boto3Script), 0o644)
	out, errOut, err = run(env, "python3", script)
	if err != nil {
		t.Fatalf("boto3 script: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"body A,B variant v1", "error ValidationError", "created 20", "deleted"} {
		if !strings.Contains(out, want) {
			t.Fatalf("boto3 output lacks %q:\n%s\n%s", want, out, errOut)
		}
	}
	srv.stop()
}
