package e2e

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIWalkthrough follows the README walkthrough with the installed AWS
// CLI against a wharf binary, then restarts the server and checks the data.
func TestCLIWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	srv := startServer(t, addr, dataDir)
	ep := srv.url()

	// The first start wrote root credentials, mode 0600.
	credPath := filepath.Join(dataDir, "root-credentials")
	st, err := os.Stat(credPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("root-credentials mode %v, want 0600", st.Mode().Perm())
	}
	root := readRootCredentials(t, credPath)
	rootEnv := cliEnv(t, root)

	// wharf admin create-account, authenticated through the AWS credential chain.
	out, errOut, err := run(rootEnv, wharfBinary(t), "admin", "create-account", "--name", "acme", "--endpoint-url", ep)
	if err != nil {
		t.Fatalf("create-account: %v\n%s", err, errOut)
	}
	var acme creds
	decodeJSON(t, out, &acme)
	if len(acme.AccountId) != 12 || acme.AccessKeyId == "" || acme.SecretAccessKey == "" {
		t.Fatalf("create-account printed %s", out)
	}
	out, _, err = run(rootEnv, wharfBinary(t), "admin", "create-account", "--name", "globex", "--endpoint-url", ep)
	if err != nil {
		t.Fatal(err)
	}
	var globex creds
	decodeJSON(t, out, &globex)
	env := cliEnv(t, acme)

	// A tenant is not root.
	if _, errOut, err := run(env, wharfBinary(t), "admin", "list-accounts", "--endpoint-url", ep); err == nil || !strings.Contains(errOut, "AccessDenied") {
		t.Fatalf("tenant listed accounts: %v %s", err, errOut)
	}

	var ident struct{ Account, Arn string }
	decodeJSON(t, awsOK(t, env, ep, "sts", "get-caller-identity"), &ident)
	if ident.Account != acme.AccountId {
		t.Fatalf("get-caller-identity: %+v", ident)
	}

	// S3: bucket, a small object, a 40 MB multipart upload and download.
	awsOK(t, env, ep, "s3", "mb", "s3://data")
	work := t.TempDir()
	train := filepath.Join(work, "train.csv")
	os.WriteFile(train, []byte("x,y\n1,2\n3,4\n"), 0o644)
	awsOK(t, env, ep, "s3", "cp", train, "s3://data/train/")

	big := filepath.Join(work, "big.bin")
	bigData := make([]byte, 40<<20)
	rand.Read(bigData)
	os.WriteFile(big, bigData, 0o644)
	awsOK(t, env, ep, "s3", "cp", big, "s3://data/big/big.bin")
	back := filepath.Join(work, "back.bin")
	awsOK(t, env, ep, "s3", "cp", "s3://data/big/big.bin", back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, bigData) {
		t.Fatal("40 MB object came back different")
	}

	// Keys with spaces and non-ASCII characters round-trip.
	odd := "odd keys/a file with spaces é 日本 +%.txt"
	awsOK(t, env, ep, "s3", "cp", train, "s3://data/"+odd)
	ls := awsOK(t, env, ep, "s3", "ls", "--recursive", "s3://data/")
	for _, want := range []string{"train/train.csv", "big/big.bin", odd} {
		if !strings.Contains(ls, want) {
			t.Fatalf("ls missing %q:\n%s", want, ls)
		}
	}
	oddBack := filepath.Join(work, "odd")
	awsOK(t, env, ep, "s3", "cp", "s3://data/"+odd, oddBack)
	if got, _ := os.ReadFile(oddBack); string(got) != "x,y\n1,2\n3,4\n" {
		t.Fatalf("odd key content %q", got)
	}

	// A presigned GET works without credentials.
	url := strings.TrimSpace(awsOK(t, env, ep, "s3", "presign", "s3://data/train/train.csv", "--expires-in", "300"))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "x,y\n1,2\n3,4\n" {
		t.Fatalf("presigned GET: %d %q", resp.StatusCode, body)
	}
	// Tampering with the presigned URL breaks it.
	resp, err = http.Get(strings.Replace(url, "train.csv", "train.csv2", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("tampered presigned GET: %d", resp.StatusCode)
	}

	// SageMaker: the first resource.
	awsOK(t, env, ep, "sagemaker", "create-model-package-group", "--model-package-group-name", "churn",
		"--model-package-group-description", "churn models", "--tags", "Key=team,Value=ml")
	var group struct {
		ModelPackageGroupName, ModelPackageGroupArn, ModelPackageGroupStatus string
		CreationTime                                                         float64 // the CLI v1 prints epoch seconds
	}
	decodeJSON(t, awsOK(t, env, ep, "sagemaker", "describe-model-package-group", "--model-package-group-name", "churn"), &group)
	if group.ModelPackageGroupStatus != "Completed" || time.Since(time.Unix(int64(group.CreationTime), 0)) > time.Minute || !strings.HasPrefix(group.ModelPackageGroupArn, "arn:aws:sagemaker:us-east-1:"+acme.AccountId+":model-package-group/churn") {
		t.Fatalf("describe: %+v", group)
	}
	errOut = awsFail(t, env, ep, "sagemaker", "create-model-package-group", "--model-package-group-name", "churn")
	if !strings.Contains(errOut, "ValidationException") {
		t.Fatalf("duplicate group: %s", errOut)
	}
	errOut = awsFail(t, env, ep, "sagemaker", "create-model-package-group", "--model-package-group-name", "bad-")
	if !strings.Contains(errOut, "ValidationException") || !strings.Contains(errOut, "modelPackageGroupName") {
		t.Fatalf("bad name: %s", errOut)
	}

	// A wrong secret is refused in each protocol's shape.
	wrong := acme
	wrong.SecretAccessKey = strings.Repeat("x", 40)
	if errOut := awsFail(t, cliEnv(t, wrong), ep, "s3", "ls", "s3://data/"); !strings.Contains(errOut, "SignatureDoesNotMatch") {
		t.Fatalf("wrong secret on S3: %s", errOut)
	}
	if errOut := awsFail(t, cliEnv(t, wrong), ep, "sagemaker", "list-model-package-groups"); !strings.Contains(errOut, "InvalidSignatureException") {
		t.Fatalf("wrong secret on SageMaker: %s", errOut)
	}

	// A second account sees none of it.
	genv := cliEnv(t, globex)
	if errOut := awsFail(t, genv, ep, "s3", "ls", "s3://data/"); !strings.Contains(errOut, "AccessDenied") {
		t.Fatalf("other account listing: %s", errOut)
	}
	if errOut := awsFail(t, genv, ep, "s3", "cp", "s3://data/train/train.csv", filepath.Join(work, "stolen")); !strings.Contains(errOut, "403") && !strings.Contains(errOut, "Forbidden") {
		t.Fatalf("other account download: %s", errOut)
	}
	if errOut := awsFail(t, genv, ep, "s3", "mb", "s3://data"); !strings.Contains(errOut, "BucketAlreadyExists") {
		t.Fatalf("other account taking the bucket name: %s", errOut)
	}
	if errOut := awsFail(t, genv, ep, "sagemaker", "describe-model-package-group", "--model-package-group-name", group.ModelPackageGroupArn); !strings.Contains(errOut, "ValidationException") {
		t.Fatalf("other account describing by ARN: %s", errOut)
	}
	if out := awsOK(t, genv, ep, "sagemaker", "list-model-package-groups"); strings.Contains(out, "churn") {
		t.Fatalf("other account lists the group: %s", out)
	}

	// Restart on the same data dir: everything is still there.
	srv.stop()
	srv = startServer(t, addr, dataDir)
	awsOK(t, env, ep, "s3", "cp", "s3://data/big/big.bin", back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, bigData) {
		t.Fatal("40 MB object changed across restart")
	}
	decodeJSON(t, awsOK(t, env, ep, "sagemaker", "describe-model-package-group", "--model-package-group-name", "churn"), &group)
	if group.ModelPackageGroupName != "churn" {
		t.Fatalf("group after restart: %+v", group)
	}
	tags := awsOK(t, env, ep, "sagemaker", "list-tags", "--resource-arn", group.ModelPackageGroupArn)
	if !strings.Contains(tags, `"team"`) {
		t.Fatalf("tags after restart: %s", tags)
	}
	// The root credentials file was not rewritten by the restart.
	if again := readRootCredentials(t, credPath); again != root {
		t.Fatal("root credentials changed across restart")
	}
	srv.stop()
}

// TestRootKeysFromEnvironment: WHARF_ROOT_* set on first start become the root keys.
func TestRootKeysFromEnvironment(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("the AWS CLI is not installed")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	root := creds{AccessKeyId: "AKIAROOTFROMENV0001", SecretAccessKey: "root-secret-from-env-0123456789"}
	srv := startServer(t, freeAddr(t), dataDir,
		"WHARF_ROOT_ACCESS_KEY_ID="+root.AccessKeyId, "WHARF_ROOT_SECRET_ACCESS_KEY="+root.SecretAccessKey)
	if _, err := os.Stat(filepath.Join(dataDir, "root-credentials")); !os.IsNotExist(err) {
		t.Fatalf("root-credentials written although keys came from the environment: %v", err)
	}
	var ident struct{ Account, Arn string }
	decodeJSON(t, awsOK(t, cliEnv(t, root), srv.url(), "sts", "get-caller-identity"), &ident)
	if ident.Account != "000000000000" || !strings.HasSuffix(ident.Arn, ":root") {
		t.Fatalf("identity %+v", ident)
	}
	logs, _ := os.ReadFile(srv.logs.Name())
	if strings.Contains(string(logs), root.SecretAccessKey) {
		t.Fatal("the server logged the root secret")
	}
	srv.stop()
}
