package ecr

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

func TestRepositories(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.client(keyA, secretA)
	b := e.client(keyB, secretB)

	before := time.Now().Add(-time.Second)
	out, err := a.CreateRepository(ctx, &ecr.CreateRepositoryInput{
		RepositoryName:             aws.String("team/app"),
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true},
		ImageTagMutability:         types.ImageTagMutabilityImmutable,
		Tags:                       []types.Tag{{Key: aws.String("team"), Value: aws.String("ml")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Repository
	if aws.ToString(r.RepositoryArn) != "arn:aws:ecr:us-east-1:"+accountA+":repository/team/app" ||
		aws.ToString(r.RepositoryUri) != e.host+"/team/app" || aws.ToString(r.RegistryId) != accountA ||
		aws.ToString(r.RepositoryName) != "team/app" || r.ImageTagMutability != types.ImageTagMutabilityImmutable ||
		!r.ImageScanningConfiguration.ScanOnPush || r.EncryptionConfiguration.EncryptionType != types.EncryptionTypeAes256 ||
		r.CreatedAt.Before(before) || r.CreatedAt.After(time.Now()) {
		t.Fatalf("created %+v", r)
	}

	_, err = a.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")})
	var exists *types.RepositoryAlreadyExistsException
	if !errors.As(err, &exists) || apiMessage(err) != "The repository with name 'team/app' already exists in the registry with id '"+accountA+"'" {
		t.Fatalf("second create: %v", err)
	}
	// Names are global: another account cannot take it.
	if _, err = b.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")}); !errors.As(err, &exists) {
		t.Fatalf("create by another account: %v", err)
	}
	if _, err := a.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("Team")}); err == nil {
		t.Fatal("upper-case name accepted")
	}
	if _, err := a.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("x1"),
		EncryptionConfiguration: &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms}}); apiCode(err) != "InvalidParameterException" {
		t.Fatalf("KMS: %v", err)
	}
	if _, err := a.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("x2"),
		ImageTagMutability: types.ImageTagMutabilityImmutableWithExclusion}); apiCode(err) != "InvalidParameterException" {
		t.Fatalf("exclusion mutability without filters: %v", err)
	}
	if _, err := a.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("x3"), RegistryId: aws.String(accountB)}); apiCode(err) != "AccessDeniedException" {
		t.Fatalf("create in another registry: %v", err)
	}

	for _, n := range []string{"team/b", "team/c", "other"} {
		if _, err := a.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	var token *string
	for {
		page, err := a.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(3), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
		if token = page.NextToken; token == nil {
			break
		}
	}
	if want := []string{"other", "team/app", "team/b", "team/c"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("paged names = %v, want %v", names, want)
	}
	d, err := a.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/c", "team/app"}})
	if err != nil || len(d.Repositories) != 2 || aws.ToString(d.Repositories[0].RepositoryName) != "team/c" ||
		!d.Repositories[1].ImageScanningConfiguration.ScanOnPush {
		t.Fatalf("describe by name: %+v %v", d, err)
	}
	if out, err := b.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); err != nil || len(out.Repositories) != 0 {
		t.Fatalf("B sees %+v %v", out, err)
	}
	var nf *types.RepositoryNotFoundException
	_, err = b.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"team/app"}})
	if !errors.As(err, &nf) || apiMessage(err) != "The repository with name 'team/app' does not exist in the registry with id '"+accountB+"'" {
		t.Fatalf("B describes A's repository: %v", err)
	}
	if _, err := b.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RegistryId: aws.String(accountA)}); apiCode(err) != "AccessDeniedException" {
		t.Fatalf("B describes A's registry: %v", err)
	}
	if _, err := a.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{NextToken: aws.String("!!")}); apiCode(err) != "InvalidParameterException" {
		t.Fatalf("bad token: %v", err)
	}

	// Mutability.
	pm, err := a.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{
		RepositoryName:     aws.String("team/b"),
		ImageTagMutability: types.ImageTagMutabilityImmutableWithExclusion,
		ImageTagMutabilityExclusionFilters: []types.ImageTagMutabilityExclusionFilter{
			{FilterType: types.ImageTagMutabilityExclusionFilterTypeWildcard, Filter: aws.String("latest")}},
	})
	if err != nil || pm.ImageTagMutability != types.ImageTagMutabilityImmutableWithExclusion || aws.ToString(pm.RegistryId) != accountA ||
		len(pm.ImageTagMutabilityExclusionFilters) != 1 {
		t.Fatalf("PutImageTagMutability: %+v %v", pm, err)
	}
	if _, err := b.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("team/b"),
		ImageTagMutability: types.ImageTagMutabilityMutable}); !errors.As(err, &nf) {
		t.Fatalf("B changes A's repository: %v", err)
	}

	// Delete.
	del, err := a.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team/c")})
	if err != nil || aws.ToString(del.Repository.RepositoryName) != "team/c" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := a.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team/c")}); !errors.As(err, &nf) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := b.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("team/app"), Force: true}); !errors.As(err, &nf) {
		t.Fatalf("B deletes A's repository: %v", err)
	}
}

func TestImmutableTagsEnforcedOnPush(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.client(keyA, secretA)
	if _, err := a.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("imm"),
		ImageTagMutability: types.ImageTagMutabilityImmutable}); err != nil {
		t.Fatal(err)
	}
	if _, st := e.pushImage(t, keyA, secretA, "imm", "v1", "one", 10); st != http.StatusCreated {
		t.Fatalf("first push: %d", st)
	}
	if _, st := e.pushImage(t, keyA, secretA, "imm", "v1", "two", 10); st != http.StatusBadRequest {
		t.Fatalf("re-push of an immutable tag: %d", st)
	}
	if _, err := a.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("imm"),
		ImageTagMutability: types.ImageTagMutabilityMutable}); err != nil {
		t.Fatal(err)
	}
	if _, st := e.pushImage(t, keyA, secretA, "imm", "v1", "two", 10); st != http.StatusCreated {
		t.Fatalf("re-push after MUTABLE: %d", st)
	}
}

func TestImages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.client(keyA, secretA)
	b := e.client(keyB, secretB)
	start := time.Now().Add(-time.Second)
	d1, _ := e.pushImage(t, keyA, secretA, "team/img", "v1", "one", 100)
	e.pushImage(t, keyA, secretA, "team/img", "latest", "one", 100)
	d2, _ := e.pushImage(t, keyA, secretA, "team/img", "", "two", 200)
	d3, _ := e.pushImage(t, keyA, secretA, "team/img", "v3", "three", 300)
	idx := e.pushIndex(t, keyA, secretA, "team/img", "multi", d1, d3)

	// ListImages: one id per tag, digest-only for the untagged image.
	ids := map[string]bool{}
	var token *string
	pages := 0
	for {
		out, err := a.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("team/img"), MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, id := range out.ImageIds {
			ids[aws.ToString(id.ImageDigest)+"|"+aws.ToString(id.ImageTag)] = true
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	want := map[string]bool{d1 + "|v1": true, d1 + "|latest": true, d2 + "|": true, d3 + "|v3": true, idx + "|multi": true}
	if !reflect.DeepEqual(ids, want) || pages != 3 {
		t.Fatalf("ListImages = %v in %d pages, want %v", ids, pages, want)
	}
	un, err := a.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("team/img"),
		Filter: &types.ListImagesFilter{TagStatus: types.TagStatusUntagged}})
	if err != nil || len(un.ImageIds) != 1 || aws.ToString(un.ImageIds[0].ImageDigest) != d2 {
		t.Fatalf("untagged: %+v %v", un, err)
	}

	// DescribeImages.
	di, err := a.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/img")})
	if err != nil || len(di.ImageDetails) != 4 {
		t.Fatalf("DescribeImages: %+v %v", di, err)
	}
	byDigest := map[string]types.ImageDetail{}
	for _, d := range di.ImageDetails {
		byDigest[aws.ToString(d.ImageDigest)] = d
		if d.ImagePushedAt == nil || d.ImagePushedAt.Before(start) || d.ImagePushedAt.After(time.Now()) ||
			aws.ToString(d.RegistryId) != accountA || aws.ToString(d.RepositoryName) != "team/img" {
			t.Errorf("detail %+v", d)
		}
	}
	check := func(dgst string, size int64, tags []string, mediaType, artifact string) {
		t.Helper()
		d := byDigest[dgst]
		got := append([]string(nil), d.ImageTags...)
		sort.Strings(got)
		if aws.ToInt64(d.ImageSizeInBytes) != size || !reflect.DeepEqual(got, tags) ||
			aws.ToString(d.ImageManifestMediaType) != mediaType || aws.ToString(d.ArtifactMediaType) != artifact {
			t.Errorf("%s: size %d tags %v type %s artifact %s", dgst, aws.ToInt64(d.ImageSizeInBytes), got,
				aws.ToString(d.ImageManifestMediaType), aws.ToString(d.ArtifactMediaType))
		}
	}
	check(d1, 100, []string{"latest", "v1"}, ociManifest, ociConfig)
	check(d2, 200, nil, ociManifest, ociConfig)
	check(idx, 300, []string{"multi"}, ociIndex, "") // an index: its largest image
	one, err := a.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/img"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("latest")}, {ImageDigest: aws.String(d1)}}})
	if err != nil || len(one.ImageDetails) != 1 || aws.ToString(one.ImageDetails[0].ImageDigest) != d1 {
		t.Fatalf("DescribeImages by id: %+v %v", one, err)
	}
	_, err = a.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/img"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("nope")}}})
	var inf *types.ImageNotFoundException
	if !errors.As(err, &inf) || apiMessage(err) != "The image with imageId {imageDigest:null, imageTag:'nope'} does not exist within the repository with name 'team/img' in the registry with id '"+accountA+"'" {
		t.Fatalf("missing image: %v", err)
	}
	var rnf *types.RepositoryNotFoundException
	if _, err := b.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/img")}); !errors.As(err, &rnf) {
		t.Fatalf("B describes A's images: %v", err)
	}
	if _, err := b.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("team/img")}); !errors.As(err, &rnf) {
		t.Fatalf("B lists A's images: %v", err)
	}

	// BatchGetImage.
	bg, err := a.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("team/img"), ImageIds: []types.ImageIdentifier{
		{ImageTag: aws.String("v1")},
		{ImageDigest: aws.String(d2)},
		{ImageTag: aws.String("v1"), ImageDigest: aws.String(d2)},
		{ImageTag: aws.String("gone")},
		{ImageDigest: aws.String("not a digest")},
		{},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bg.Images) != 2 || aws.ToString(bg.Images[0].ImageId.ImageDigest) != d1 || aws.ToString(bg.Images[0].ImageId.ImageTag) != "v1" ||
		digestOf([]byte(aws.ToString(bg.Images[0].ImageManifest))) != d1 || aws.ToString(bg.Images[1].ImageManifestMediaType) != ociManifest {
		t.Fatalf("BatchGetImage images: %+v", bg.Images)
	}
	var codes []types.ImageFailureCode
	for _, f := range bg.Failures {
		codes = append(codes, f.FailureCode)
	}
	wantCodes := []types.ImageFailureCode{types.ImageFailureCodeImageTagDoesNotMatchDigest, types.ImageFailureCodeImageNotFound,
		types.ImageFailureCodeInvalidImageDigest, types.ImageFailureCodeMissingDigestAndTag}
	if !reflect.DeepEqual(codes, wantCodes) {
		t.Fatalf("failures %v, want %v", codes, wantCodes)
	}
	var m struct{ MediaType string }
	json.Unmarshal([]byte(aws.ToString(bg.Images[0].ImageManifest)), &m)
	if m.MediaType != ociManifest {
		t.Fatalf("manifest body %s", aws.ToString(bg.Images[0].ImageManifest))
	}

	// BatchDeleteImage.
	bd, err := a.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("team/img"), ImageIds: []types.ImageIdentifier{
		{ImageTag: aws.String("latest")}, // d1 keeps v1
		{ImageDigest: aws.String(d3)},    // in the index: refused
		{ImageDigest: aws.String(d2)},    // deleted
		{ImageTag: aws.String("gone")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bd.ImageIds) != 2 || len(bd.Failures) != 2 ||
		bd.Failures[0].FailureCode != types.ImageFailureCodeImageReferencedByManifestList ||
		!strings.Contains(aws.ToString(bd.Failures[0].FailureReason), idx) ||
		bd.Failures[1].FailureCode != types.ImageFailureCodeImageNotFound {
		t.Fatalf("BatchDeleteImage: %+v", bd)
	}
	// Deleting the index frees its images; removing an image's last tag deletes it.
	if bd, err := a.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("team/img"), ImageIds: []types.ImageIdentifier{
		{ImageTag: aws.String("multi")}, {ImageTag: aws.String("v3")}, {ImageTag: aws.String("v1")},
	}}); err != nil || len(bd.ImageIds) != 3 || len(bd.Failures) != 0 {
		t.Fatalf("second BatchDeleteImage: %+v %v", bd, err)
	}
	if left, err := a.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("team/img")}); err != nil || len(left.ImageIds) != 0 {
		t.Fatalf("left: %+v %v", left, err)
	}
	if r := e.do(t, keyA, secretA, "GET", "/v2/team/img/manifests/"+d1, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted image still pulled: %d", r.StatusCode)
	}
}

func TestDeleteRepositoryForce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.client(keyA, secretA)
	b := e.client(keyB, secretB)
	// Created by the first push.
	if _, st := e.pushImage(t, keyA, secretA, "pushed/app", "v1", "x", 10); st != http.StatusCreated {
		t.Fatalf("push: %d", st)
	}
	if _, st := e.pushImage(t, keyA, secretA, "pushed/app/nested", "v1", "y", 10); st != http.StatusCreated {
		t.Fatalf("push: %d", st)
	}
	d, err := a.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"pushed/app"}})
	if err != nil || d.Repositories[0].ImageTagMutability != types.ImageTagMutabilityMutable {
		t.Fatalf("repository created by push: %+v %v", d, err)
	}
	var ne *types.RepositoryNotEmptyException
	_, err = a.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("pushed/app")})
	if !errors.As(err, &ne) || apiMessage(err) != "The repository with name 'pushed/app' in registry with id '"+accountA+"' cannot be deleted because it still contains images" {
		t.Fatalf("delete of a non-empty repository: %v", err)
	}
	if _, err := a.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("pushed/app"), Force: true}); err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, keyA, secretA, "GET", "/v2/pushed/app/tags/list", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted repository still served: %d", r.StatusCode)
	}
	if r := e.do(t, keyA, secretA, "GET", "/v2/pushed/app/nested/manifests/v1", nil, "Accept", ociManifest); r.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(r.Body)
		t.Fatalf("nested repository damaged: %d %s", r.StatusCode, b)
	}
	// The name is free again, and a new owner starts empty.
	if _, err := b.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("pushed/app")}); err != nil {
		t.Fatal(err)
	}
	if out, err := b.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("pushed/app")}); err != nil || len(out.ImageIds) != 0 {
		t.Fatalf("new owner sees %+v %v", out, err)
	}
}

func TestGetAuthorizationToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.client(keyB, secretB).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(out.AuthorizationData) != 1 {
		t.Fatalf("%+v %v", out, err)
	}
	ad := out.AuthorizationData[0]
	if aws.ToString(ad.ProxyEndpoint) != e.srv.URL {
		t.Errorf("proxyEndpoint = %q, want %q", aws.ToString(ad.ProxyEndpoint), e.srv.URL)
	}
	if d := time.Until(*ad.ExpiresAt); d < 11*time.Hour+59*time.Minute || d > 12*time.Hour {
		t.Errorf("expires in %v", d)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user != "AWS" {
		t.Fatalf("token %q", raw)
	}
	r := e.do(t, user, pass, "GET", "/v2/", nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("login with the token: %d", r.StatusCode)
	}
	// The token acts for B: a push creates a repository of B's.
	if _, st := e.pushImage(t, user, pass, "btok", "1", "z", 5); st != http.StatusCreated {
		t.Fatalf("push with token: %d", st)
	}
	if d, err := e.client(keyB, secretB).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"btok"}}); err != nil || aws.ToString(d.Repositories[0].RegistryId) != accountB {
		t.Fatalf("%+v %v", d, err)
	}
	r = e.do(t, user, pass+"x", "GET", "/v2/", nil)
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("tampered token: %d %s", r.StatusCode, b)
	}
}
