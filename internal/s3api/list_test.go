package s3api

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/wharfml/wharf/internal/blob"
)

// fillBucket stores keys straight into the blob store (fast) and returns them sorted.
func fillBucket(t *testing.T, e *env, bucket string) []string {
	t.Helper()
	var keys []string
	for d := 0; d < 30; d++ {
		for f := 0; f < 100; f++ {
			keys = append(keys, fmt.Sprintf("dir%02d/file%03d", d, f))
		}
		keys = append(keys, fmt.Sprintf("dir%02d/sub/deep", d), fmt.Sprintf("top%02d", d))
	}
	keys = append(keys, "dir", "dir00", "a b+c%d/ü", "z")
	// A few writers overlap the file system latency.
	var g errgroup.Group
	g.SetLimit(4)
	for _, k := range keys {
		g.Go(func() error {
			_, err := e.blobs.Put(tctx, bucket, k, strings.NewReader(k), blob.PutOptions{Size: int64(len(k))})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

// TestListObjects lists a bucket of a few thousand keys, filled once.
func TestListObjects(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("many")
	keys := fillBucket(t, e, "many")
	t.Run("V2", func(t *testing.T) { testListV2(t, e, keys) })
	t.Run("V1", func(t *testing.T) { testListV1(t, e, keys) })
}

func testListV2(t *testing.T, e *env, keys []string) {

	// Without a delimiter: every key exactly once, in order.
	for _, pageSize := range []int32{1000, 337} {
		var got []string
		pages := 0
		p := s3.NewListObjectsV2Paginator(e.alice, &s3.ListObjectsV2Input{Bucket: aws.String("many"), MaxKeys: aws.Int32(pageSize)})
		for p.HasMorePages() {
			out, err := p.NextPage(tctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if int(aws.ToInt32(out.KeyCount)) != len(out.Contents) || len(out.Contents) > int(pageSize) {
				t.Fatalf("KeyCount %d, %d contents", aws.ToInt32(out.KeyCount), len(out.Contents))
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
			}
		}
		if strings.Join(got, "\n") != strings.Join(keys, "\n") {
			t.Fatalf("page size %d: %d keys listed, want %d", pageSize, len(got), len(keys))
		}
		if want := (len(keys) + int(pageSize) - 1) / int(pageSize); pages != want {
			t.Fatalf("page size %d: %d pages, want %d", pageSize, pages, want)
		}
	}

	// With a delimiter: each top-level key and common prefix once.
	var wantTop []string
	seenCP := map[string]bool{}
	for _, k := range keys {
		if i := strings.Index(k, "/"); i >= 0 {
			if cp := k[:i+1]; !seenCP[cp] {
				seenCP[cp] = true
				wantTop = append(wantTop, cp)
			}
		} else {
			wantTop = append(wantTop, k)
		}
	}
	sort.Strings(wantTop)
	for _, pageSize := range []int32{7, 1000} {
		var got []string
		p := s3.NewListObjectsV2Paginator(e.alice, &s3.ListObjectsV2Input{Bucket: aws.String("many"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(pageSize)})
		for p.HasMorePages() {
			out, err := p.NextPage(tctx)
			if err != nil {
				t.Fatal(err)
			}
			if int(aws.ToInt32(out.KeyCount)) != len(out.Contents)+len(out.CommonPrefixes) {
				t.Fatalf("KeyCount %d", aws.ToInt32(out.KeyCount))
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
			}
			for _, cp := range out.CommonPrefixes {
				got = append(got, aws.ToString(cp.Prefix))
			}
		}
		sort.Strings(got)
		if strings.Join(got, "\n") != strings.Join(wantTop, "\n") {
			t.Fatalf("delimiter, page size %d: got %d entries, want %d\n%v", pageSize, len(got), len(wantTop), got)
		}
	}

	// Prefix + delimiter inside a directory.
	out, err := e.alice.ListObjectsV2(tctx, &s3.ListObjectsV2Input{Bucket: aws.String("many"), Prefix: aws.String("dir07/"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 100 || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "dir07/sub/" ||
		aws.ToString(out.Prefix) != "dir07/" || aws.ToString(out.Delimiter) != "/" {
		t.Fatalf("dir07/: %d contents, %v", len(out.Contents), out.CommonPrefixes)
	}

	// start-after, max-keys 0, fetch-owner.
	out, err = e.alice.ListObjectsV2(tctx, &s3.ListObjectsV2Input{Bucket: aws.String("many"), StartAfter: aws.String("top28"), FetchOwner: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 2 || aws.ToString(out.Contents[0].Key) != "top29" || out.Contents[0].Owner == nil ||
		aws.ToString(out.Contents[0].Owner.ID) != "111111111111" || aws.ToString(out.StartAfter) != "top28" {
		t.Fatalf("start-after: %+v", out.Contents)
	}
	out, err = e.alice.ListObjectsV2(tctx, &s3.ListObjectsV2Input{Bucket: aws.String("many"), MaxKeys: aws.Int32(0)})
	if err != nil || len(out.Contents) != 0 || aws.ToInt32(out.KeyCount) != 0 {
		t.Fatalf("max-keys 0: %+v %v", out, err)
	}
	// Bad parameters.
	for _, q := range []string{"list-type=2&max-keys=-1", "list-type=2&max-keys=x", "list-type=2&continuation-token=%21%21",
		"list-type=2&encoding-type=base64", "list-type=3"} {
		resp := e.raw("AKIDALICE", "GET", "/many?"+q, nil, nil)
		body := readAll(t, resp)
		if resp.StatusCode != 400 || !bytes.Contains(body, []byte("<Code>InvalidArgument</Code>")) {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
	// max-keys above 1000 is capped.
	out, err = e.alice.ListObjectsV2(tctx, &s3.ListObjectsV2Input{Bucket: aws.String("many"), MaxKeys: aws.Int32(5000)})
	if err != nil || len(out.Contents) != 1000 || aws.ToInt32(out.MaxKeys) != 1000 || !aws.ToBool(out.IsTruncated) {
		t.Fatalf("max-keys 5000: %d %v", len(out.Contents), err)
	}
}

func TestListEncodingURL(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("enc")
	for _, k := range []string{"a b/c+d", "a b/x", "100%/ü", "plain"} {
		e.put("enc", k, nil)
	}
	var res listBucketResultV2
	resp := e.raw("AKIDALICE", "GET", "/enc?list-type=2&encoding-type=url&delimiter=%2F&prefix=a+b%2F&start-after=a+b%2Fa", nil, nil)
	body := readAll(t, resp)
	if err := xml.Unmarshal(body, &res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s %v", resp.StatusCode, body, err)
	}
	if res.EncodingType != "url" || res.Prefix != "a+b/" || res.Delimiter != "/" || res.StartAfter != "a+b/a" {
		t.Fatalf("echoed params: %+v", res)
	}
	if len(res.Contents) != 2 || res.Contents[0].Key != "a+b/c%2Bd" || res.Contents[1].Key != "a+b/x" {
		t.Fatalf("keys: %+v", res.Contents)
	}
	resp = e.raw("AKIDALICE", "GET", "/enc?list-type=2&encoding-type=url&delimiter=/", nil, nil)
	body = readAll(t, resp)
	res = listBucketResultV2{}
	if err := xml.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	var cps []string
	for _, cp := range res.CommonPrefixes {
		d, _ := url.QueryUnescape(cp.Prefix)
		cps = append(cps, d)
	}
	if strings.Join(cps, ",") != "100%/,a b/" || len(res.Contents) != 1 || res.Contents[0].Key != "plain" {
		t.Fatalf("common prefixes %v, contents %+v", cps, res.Contents)
	}
}

func testListV1(t *testing.T, e *env, keys []string) {

	// No delimiter: NextMarker absent, the last key is the marker.
	var got []string
	marker := ""
	for {
		out, err := e.alice.ListObjects(tctx, &s3.ListObjectsInput{Bucket: aws.String("many"), Marker: aws.String(marker), MaxKeys: aws.Int32(500)})
		if err != nil {
			t.Fatal(err)
		}
		if out.NextMarker != nil {
			t.Fatal("NextMarker without delimiter")
		}
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
			if o.Owner == nil {
				t.Fatal("v1 listing without Owner")
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		marker = got[len(got)-1]
	}
	if strings.Join(got, "\n") != strings.Join(keys, "\n") {
		t.Fatalf("v1: %d keys, want %d", len(got), len(keys))
	}
	// With a delimiter: NextMarker given.
	got = nil
	marker = ""
	for {
		out, err := e.alice.ListObjects(tctx, &s3.ListObjectsInput{Bucket: aws.String("many"), Marker: aws.String(marker),
			Delimiter: aws.String("/"), MaxKeys: aws.Int32(9)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
		}
		for _, cp := range out.CommonPrefixes {
			got = append(got, aws.ToString(cp.Prefix))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		if out.NextMarker == nil {
			t.Fatal("no NextMarker with delimiter")
		}
		marker = *out.NextMarker
	}
	if len(got) != 30+30+5-1 { // dirNN/ + topNN + dir, dir00, "a b+c%d/", z  (dir00 is a key, dir00/ a prefix)
		t.Fatalf("v1 delimiter: %d entries: %v", len(got), got)
	}
}
