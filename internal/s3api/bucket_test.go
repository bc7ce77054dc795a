package s3api

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestBucketLifecycle(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("alpha")
	e.mkBucket("beta.example-1")

	// us-east-1: re-creating one's own bucket succeeds, as in AWS.
	if _, err := e.alice.CreateBucket(tctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("re-create own bucket in us-east-1: %v", err)
	}
	_, err := e.bob.CreateBucket(tctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")})
	wantErr(t, err, "BucketAlreadyExists", 409)

	for _, name := range []string{"ab", strings.Repeat("a", 64), "Upper", "under_score", "-dash", "dash-", "a..b",
		"192.168.1.1", "xn--abc", "abc-s3alias", "sthree-x", "a b"} {
		_, err := e.alice.CreateBucket(tctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		if errCode(err) != "InvalidBucketName" || errStatus(err) != 400 {
			t.Errorf("CreateBucket %q: want InvalidBucketName, got %v", name, err)
		}
	}

	lb, err := e.alice.ListBuckets(tctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Buckets) != 2 || *lb.Buckets[0].Name != "alpha" || *lb.Buckets[1].Name != "beta.example-1" {
		t.Fatalf("alice's buckets: %+v", lb.Buckets)
	}
	if lb.Owner == nil || aws.ToString(lb.Owner.ID) != "111111111111" {
		t.Fatalf("owner: %+v", lb.Owner)
	}
	lb, err = e.bob.ListBuckets(tctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 0 {
		t.Fatalf("bob sees %v buckets, err %v", len(lb.Buckets), err)
	}
	// Paginated ListBuckets.
	lb, err = e.alice.ListBuckets(tctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)})
	if err != nil || len(lb.Buckets) != 1 || lb.ContinuationToken == nil {
		t.Fatalf("page 1: %+v %v", lb, err)
	}
	lb, err = e.alice.ListBuckets(tctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1), ContinuationToken: lb.ContinuationToken})
	if err != nil || len(lb.Buckets) != 1 || *lb.Buckets[0].Name != "beta.example-1" || lb.ContinuationToken != nil {
		t.Fatalf("page 2: %+v %v", lb, err)
	}

	hb, err := e.alice.HeadBucket(tctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")})
	if err != nil || aws.ToString(hb.BucketRegion) != "us-east-1" {
		t.Fatalf("HeadBucket: %+v %v", hb, err)
	}
	_, err = e.alice.HeadBucket(tctx, &s3.HeadBucketInput{Bucket: aws.String("nope-nope")})
	wantErr(t, err, "NotFound", 404)

	loc, err := e.alice.GetBucketLocation(tctx, &s3.GetBucketLocationInput{Bucket: aws.String("alpha")})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("GetBucketLocation: %+v %v", loc, err)
	}
	ver, err := e.alice.GetBucketVersioning(tctx, &s3.GetBucketVersioningInput{Bucket: aws.String("alpha")})
	if err != nil || ver.Status != "" {
		t.Fatalf("GetBucketVersioning: %+v %v", ver, err)
	}
	acl, err := e.alice.GetBucketAcl(tctx, &s3.GetBucketAclInput{Bucket: aws.String("alpha")})
	if err != nil || len(acl.Grants) != 1 || acl.Grants[0].Permission != types.PermissionFullControl {
		t.Fatalf("GetBucketAcl: %+v %v", acl, err)
	}
	_, err = e.alice.GetBucketPolicy(tctx, &s3.GetBucketPolicyInput{Bucket: aws.String("alpha")})
	wantErr(t, err, "NoSuchBucketPolicy", 404)
	_, err = e.alice.PutBucketVersioning(tctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String("alpha"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	wantErr(t, err, "NotImplemented", 501)

	// Not empty: an object, then an in-progress upload.
	e.put("alpha", "k", []byte("x"))
	_, err = e.alice.DeleteBucket(tctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantErr(t, err, "BucketNotEmpty", 409)
	if _, err := e.alice.DeleteObject(tctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	cmu, err := e.alice.CreateMultipartUpload(tctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("alpha"), Key: aws.String("up")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.alice.DeleteBucket(tctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantErr(t, err, "BucketNotEmpty", 409)
	if _, err := e.alice.AbortMultipartUpload(tctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String("alpha"), Key: aws.String("up"), UploadId: cmu.UploadId,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.alice.DeleteBucket(tctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	_, err = e.alice.DeleteBucket(tctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantErr(t, err, "NoSuchBucket", 404)
	_, err = e.alice.ListObjectsV2(tctx, &s3.ListObjectsV2Input{Bucket: aws.String("alpha")})
	wantErr(t, err, "NoSuchBucket", 404)

	// The name is free again, for anyone.
	if _, err := e.bob.CreateBucket(tctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("bob re-creates freed name: %v", err)
	}
}

func TestBucketOtherRegion(t *testing.T) {
	e := newEnv(t, envOpts{region: "eu-central-1"})
	_, err := e.alice.CreateBucket(tctx, &s3.CreateBucketInput{
		Bucket: aws.String("regional"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraintEuCentral1,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.alice.CreateBucket(tctx, &s3.CreateBucketInput{Bucket: aws.String("regional")})
	wantErr(t, err, "BucketAlreadyOwnedByYou", 409)
	_, err = e.alice.CreateBucket(tctx, &s3.CreateBucketInput{
		Bucket: aws.String("elsewhere"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraintApSouth1,
		},
	})
	wantErr(t, err, "IllegalLocationConstraintException", 400)
	loc, err := e.alice.GetBucketLocation(tctx, &s3.GetBucketLocationInput{Bucket: aws.String("regional")})
	if err != nil || loc.LocationConstraint != types.BucketLocationConstraintEuCentral1 {
		t.Fatalf("GetBucketLocation: %+v %v", loc, err)
	}
	// Malformed configuration body.
	resp := e.raw("AKIDALICE", "PUT", "/badxml", []byte("<CreateBucketConfiguration><Loc"), nil)
	if resp.StatusCode != 400 || !strings.Contains(string(readAll(t, resp)), "<Code>MalformedXML</Code>") {
		t.Fatalf("malformed CreateBucketConfiguration: %d", resp.StatusCode)
	}
}
