package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/wharfml/wharf/internal/admin"
	"github.com/wharfml/wharf/internal/server"
)

const (
	rootKey    = "AKIATESTROOT00000001"
	rootSecret = "test-root-secret-0123456789"
)

// env is a server running in-process on a loopback port.
type env struct {
	url string
	srv *server.Server
}

func start(t *testing.T, opts ...func(*server.Config)) *env {
	t.Helper()
	cfg := server.Config{
		DataDir: filepath.Join(t.TempDir(), "data"), Region: "us-east-1",
		RootAccessKeyID: rootKey, RootSecretAccessKey: rootSecret,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := srv.Start(ctx)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); cancel(); <-done; srv.Close() })
	return &env{url: hs.URL, srv: srv}
}

func (e *env) creds(key, secret string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(key, secret, "")
}

// account creates a tenant through the admin API, as `wharf admin` does.
func (e *env) account(t *testing.T, name string) admin.Credentials {
	t.Helper()
	c := &admin.Client{Endpoint: e.url, Region: "us-east-1", Credentials: e.creds(rootKey, rootSecret)}
	var out admin.Credentials
	if err := c.Call(context.Background(), "CreateAccount", admin.CreateAccountInput{Name: aws.String(name)}, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) sagemaker(c admin.Credentials) *sm.Client {
	return sm.New(sm.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1", Credentials: e.creds(*c.AccessKeyId, *c.SecretAccessKey)})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestModelPackageGroupsWithGoSDK(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	acme := e.account(t, "acme")
	c := e.sagemaker(acme)

	before := time.Now().Add(-time.Second)
	out, err := c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{
		ModelPackageGroupName:        aws.String("Churn"),
		ModelPackageGroupDescription: aws.String("churn models"),
		Tags:                         []types.Tag{{Key: aws.String("team"), Value: aws.String("ml")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantARN := "arn:aws:sagemaker:us-east-1:" + *acme.AccountId + ":model-package-group/churn"
	if aws.ToString(out.ModelPackageGroupArn) != wantARN {
		t.Fatalf("arn %s, want %s", aws.ToString(out.ModelPackageGroupArn), wantARN)
	}
	d, err := c.DescribeModelPackageGroup(ctx, &sm.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String("churn")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.ModelPackageGroupName) != "Churn" || d.ModelPackageGroupStatus != types.ModelPackageGroupStatusCompleted ||
		d.CreationTime.Before(before) || d.CreationTime.After(time.Now()) || aws.ToString(d.ModelPackageGroupDescription) != "churn models" {
		t.Fatalf("describe: %+v", d)
	}
	// By ARN too.
	if _, err := c.DescribeModelPackageGroup(ctx, &sm.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String(wantARN)}); err != nil {
		t.Fatal(err)
	}
	// Duplicate, ignoring case.
	_, err = c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("CHURN")})
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate: %v", err)
	}
	// Shape validation names the member.
	_, err = c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String(strings.Repeat("a", 64))})
	if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "modelPackageGroupName") {
		t.Fatalf("long name: %v", err)
	}

	// Another account cannot see it, by name or ARN, nor tag it.
	globex := e.sagemaker(e.account(t, "globex"))
	for _, name := range []string{"churn", wantARN} {
		_, err = globex.DescribeModelPackageGroup(ctx, &sm.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String(name)})
		if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("other account describe %s: %v", name, err)
		}
	}
	_, err = globex.DeleteModelPackageGroup(ctx, &sm.DeleteModelPackageGroupInput{ModelPackageGroupName: aws.String(wantARN)})
	if apiCode(err) != "ValidationException" {
		t.Fatalf("other account delete: %v", err)
	}
	_, err = globex.AddTags(ctx, &sm.AddTagsInput{ResourceArn: aws.String(wantARN), Tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}})
	if apiCode(err) != "ValidationException" {
		t.Fatalf("other account tags: %v", err)
	}
	gl, err := globex.ListModelPackageGroups(ctx, &sm.ListModelPackageGroupsInput{})
	if err != nil || len(gl.ModelPackageGroupSummaryList) != 0 {
		t.Fatalf("other account list: %+v %v", gl, err)
	}

	// Tags.
	tags, err := c.ListTags(ctx, &sm.ListTagsInput{ResourceArn: aws.String(wantARN)})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" {
		t.Fatalf("tags: %+v %v", tags, err)
	}
	added, err := c.AddTags(ctx, &sm.AddTagsInput{ResourceArn: aws.String(wantARN), Tags: []types.Tag{{Key: aws.String("stage"), Value: aws.String("dev")}}})
	if err != nil || len(added.Tags) != 2 {
		t.Fatalf("add tags: %+v %v", added, err)
	}
	if _, err := c.DeleteTags(ctx, &sm.DeleteTagsInput{ResourceArn: aws.String(wantARN), TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, _ = c.ListTags(ctx, &sm.ListTagsInput{ResourceArn: aws.String(wantARN)})
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "stage" {
		t.Fatalf("tags after delete: %+v", tags.Tags)
	}
	many := make([]types.Tag, 50)
	for i := range many {
		many[i] = types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")}
	}
	_, err = c.AddTags(ctx, &sm.AddTagsInput{ResourceArn: aws.String(wantARN), Tags: many})
	if apiCode(err) != "ResourceLimitExceeded" {
		t.Fatalf("51 tags: %v", err)
	}

	// Delete, then it is gone.
	if _, err := c.DeleteModelPackageGroup(ctx, &sm.DeleteModelPackageGroupInput{ModelPackageGroupName: aws.String("churn")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeModelPackageGroup(ctx, &sm.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String("churn")})
	if apiCode(err) != "ValidationException" {
		t.Fatalf("after delete: %v", err)
	}
}

func TestListModelPackageGroupsPaging(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	c := e.sagemaker(e.account(t, "acme"))
	const n = 25
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("group-%02d", (i*7)%n) // creation order differs from name order
		if _, err := c.CreateModelPackageGroup(ctx, &sm.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	collect := func(in *sm.ListModelPackageGroupsInput) []string {
		t.Helper()
		var names []string
		p := sm.NewListModelPackageGroupsPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.ModelPackageGroupSummaryList {
				names = append(names, aws.ToString(s.ModelPackageGroupName))
			}
		}
		return names
	}
	byName := collect(&sm.ListModelPackageGroupsInput{SortBy: types.ModelPackageGroupSortByName, MaxResults: aws.Int32(4)})
	if len(byName) != n {
		t.Fatalf("got %d names", len(byName))
	}
	for i, name := range byName {
		if name != fmt.Sprintf("group-%02d", i) {
			t.Fatalf("position %d: %s", i, name)
		}
	}
	desc := collect(&sm.ListModelPackageGroupsInput{SortBy: types.ModelPackageGroupSortByName, SortOrder: types.SortOrderDescending, MaxResults: aws.Int32(7)})
	if desc[0] != "group-24" || desc[n-1] != "group-00" || len(desc) != n {
		t.Fatalf("descending: %v", desc)
	}
	byTime := collect(&sm.ListModelPackageGroupsInput{MaxResults: aws.Int32(3)})
	seen := map[string]bool{}
	for _, name := range byTime {
		seen[name] = true
	}
	if len(byTime) != n || len(seen) != n {
		t.Fatalf("by creation time: %d items, %d distinct", len(byTime), len(seen))
	}
	if got := collect(&sm.ListModelPackageGroupsInput{NameContains: aws.String("UP-1")}); len(got) != 10 {
		t.Fatalf("name contains: %v", got)
	}
	// A token issued for one filter is refused with another.
	page, err := c.ListModelPackageGroups(ctx, &sm.ListModelPackageGroupsInput{MaxResults: aws.Int32(2)})
	if err != nil || page.NextToken == nil {
		t.Fatalf("first page: %+v %v", page, err)
	}
	_, err = c.ListModelPackageGroups(ctx, &sm.ListModelPackageGroupsInput{MaxResults: aws.Int32(2), NextToken: page.NextToken, SortBy: types.ModelPackageGroupSortByName})
	if apiCode(err) != "ValidationException" {
		t.Fatalf("token with other filters: %v", err)
	}
	_, err = c.ListModelPackageGroups(ctx, &sm.ListModelPackageGroupsInput{NextToken: aws.String("forged")})
	if apiCode(err) != "ValidationException" {
		t.Fatalf("forged token: %v", err)
	}
	_, err = c.ListModelPackageGroups(ctx, &sm.ListModelPackageGroupsInput{MaxResults: aws.Int32(101)})
	if apiCode(err) != "ValidationException" {
		t.Fatalf("MaxResults 101: %v", err)
	}
}

func TestAuthAndIdentity(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	acme := e.account(t, "acme")

	stsc := sts.New(sts.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1", Credentials: e.creds(*acme.AccessKeyId, *acme.SecretAccessKey)})
	id, err := stsc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != *acme.AccountId || !strings.Contains(aws.ToString(id.Arn), *acme.AccountId) {
		t.Fatalf("identity %+v", id)
	}

	bad := sm.New(sm.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1", Credentials: e.creds(*acme.AccessKeyId, "wrong-secret")})
	_, err = bad.ListModelPackageGroups(ctx, &sm.ListModelPackageGroupsInput{})
	if apiCode(err) != "InvalidSignatureException" {
		t.Fatalf("wrong secret: %v", err)
	}
	unknown := sm.New(sm.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1", Credentials: e.creds("AKIANOSUCHKEY0000000", "x")})
	_, err = unknown.ListModelPackageGroups(ctx, &sm.ListModelPackageGroupsInput{})
	if apiCode(err) != "UnrecognizedClientException" {
		t.Fatalf("unknown key: %v", err)
	}
	s3bad := s3.New(s3.Options{BaseEndpoint: aws.String(e.url), Region: "us-east-1", UsePathStyle: true, Credentials: e.creds(*acme.AccessKeyId, "wrong-secret")})
	_, err = s3bad.ListBuckets(ctx, &s3.ListBucketsInput{})
	if apiCode(err) != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret on s3: %v", err)
	}

	// Unsigned requests are refused in the protocol's shape.
	req, _ := http.NewRequest("POST", e.url+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "SageMaker.ListModelPackageGroups")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "MissingAuthenticationToken") {
		t.Fatalf("unsigned: %d %s", resp.StatusCode, body)
	}

	// Only root may use the admin API.
	tenant := &admin.Client{Endpoint: e.url, Region: "us-east-1", Credentials: e.creds(*acme.AccessKeyId, *acme.SecretAccessKey)}
	var ae *admin.APIError
	if err := tenant.Call(ctx, "ListAccounts", admin.ListAccountsInput{}, nil); !errors.As(err, &ae) || ae.Code != "AccessDeniedException" {
		t.Fatalf("tenant admin: %v", err)
	}
	// A second key works, and deleting it revokes it.
	root := &admin.Client{Endpoint: e.url, Region: "us-east-1", Credentials: e.creds(rootKey, rootSecret)}
	var k2 admin.Credentials
	if err := root.Call(ctx, "CreateAccessKey", admin.CreateAccessKeyInput{AccountId: acme.AccountId}, &k2); err != nil {
		t.Fatal(err)
	}
	c2 := e.sagemaker(k2)
	if _, err := c2.ListModelPackageGroups(ctx, &sm.ListModelPackageGroupsInput{}); err != nil {
		t.Fatal(err)
	}
	if err := root.Call(ctx, "DeleteAccessKey", admin.DeleteAccessKeyInput{AccessKeyId: k2.AccessKeyId}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.ListModelPackageGroups(ctx, &sm.ListModelPackageGroupsInput{}); apiCode(err) != "UnrecognizedClientException" {
		t.Fatalf("deleted key: %v", err)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := start(t)
	resp, err := http.Get(e.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	c := e.sagemaker(e.account(t, "acme"))
	c.ListModelPackageGroups(context.Background(), &sm.ListModelPackageGroupsInput{})
	resp, err = http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`wharf_http_requests_total{code="200",operation="ListModelPackageGroups",protocol="sagemaker"} 1`,
		`wharf_http_requests_total{code="200",operation="CreateAccount",protocol="admin"} 1`,
		`wharf_http_request_duration_seconds_bucket{operation="ListModelPackageGroups",protocol="sagemaker"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("metrics lack %s:\n%s", want, body)
		}
	}
}
