package s3api

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// TestUploadManager uploads 40 MiB with the SDK's upload manager (8 parts
// of 5 MiB, concurrently) and reads it back with the download manager
// (ranged GETs) and by part number.
func TestUploadManager(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			e := newEnv(t, envOpts{tls: tls})
			e.mkBucket("big")
			data := randomBytes(40<<20, 1)
			up := manager.NewUploader(e.alice)
			res, err := up.Upload(tctx, &s3.PutObjectInput{
				Bucket: aws.String("big"), Key: aws.String("models/model.tar.gz"), Body: bytes.NewReader(data),
				ContentType: aws.String("application/gzip"), Metadata: map[string]string{"stage": "prod"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(aws.ToString(res.ETag), `-8"`) || res.UploadID == "" {
				t.Fatalf("upload result: etag %s id %q", aws.ToString(res.ETag), res.UploadID)
			}

			h, err := e.alice.HeadObject(tctx, &s3.HeadObjectInput{
				Bucket: aws.String("big"), Key: aws.String("models/model.tar.gz"), ChecksumMode: types.ChecksumModeEnabled,
			})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt64(h.ContentLength) != int64(len(data)) || aws.ToString(h.ContentType) != "application/gzip" ||
				h.Metadata["stage"] != "prod" || aws.ToString(h.ETag) != aws.ToString(res.ETag) {
				t.Fatalf("head: %+v", h)
			}
			if h.ChecksumCRC32 == nil || !strings.HasSuffix(*h.ChecksumCRC32, "-8") || h.ChecksumType != types.ChecksumTypeComposite {
				t.Fatalf("composite checksum: %v %v", aws.ToString(h.ChecksumCRC32), h.ChecksumType)
			}

			// Download manager: concurrent ranged GETs.
			buf := manager.NewWriteAtBuffer(make([]byte, 0, len(data)))
			dl := manager.NewDownloader(e.alice, func(d *manager.Downloader) { d.PartSize = 7 << 20 })
			n, err := dl.Download(tctx, buf, &s3.GetObjectInput{Bucket: aws.String("big"), Key: aws.String("models/model.tar.gz")})
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("downloaded %d bytes, equal=%v", n, bytes.Equal(buf.Bytes(), data))
			}
			// Whole GET, checksum mode on (the SDK skips composite checksums).
			if got := e.get("big", "models/model.tar.gz"); !bytes.Equal(got, data) {
				t.Fatal("GET differs")
			}
			// By part number.
			const part = 5 << 20
			for _, pn := range []int32{1, 3, 8} {
				g, err := e.alice.GetObject(tctx, &s3.GetObjectInput{
					Bucket: aws.String("big"), Key: aws.String("models/model.tar.gz"), PartNumber: aws.Int32(pn),
				})
				if err != nil {
					t.Fatalf("part %d: %v", pn, err)
				}
				b, _ := io.ReadAll(g.Body)
				g.Body.Close()
				start := int(pn-1) * part
				if !bytes.Equal(b, data[start:start+part]) || aws.ToInt32(g.PartsCount) != 8 ||
					aws.ToString(g.ContentRange) != fmt.Sprintf("bytes %d-%d/%d", start, start+part-1, len(data)) {
					t.Fatalf("part %d: %d bytes, parts %d, range %s", pn, len(b), aws.ToInt32(g.PartsCount), aws.ToString(g.ContentRange))
				}
			}
			hp, err := e.alice.HeadObject(tctx, &s3.HeadObjectInput{
				Bucket: aws.String("big"), Key: aws.String("models/model.tar.gz"), PartNumber: aws.Int32(2),
			})
			if err != nil || aws.ToInt64(hp.ContentLength) != part || aws.ToInt32(hp.PartsCount) != 8 {
				t.Fatalf("head part: %+v %v", hp, err)
			}
			_, err = e.alice.GetObject(tctx, &s3.GetObjectInput{
				Bucket: aws.String("big"), Key: aws.String("models/model.tar.gz"), PartNumber: aws.Int32(9),
			})
			wantErr(t, err, "InvalidPartNumber", 416)

			// Replacing the object forgets its part layout.
			e.put("big", "models/model.tar.gz", []byte("small now"))
			if _, err := e.blobs.Head(tctx, layoutNamespace, layoutKey("big", "models/model.tar.gz")); err == nil {
				t.Fatal("part layout left behind by an overwrite")
			}
		})
	}
}

func TestMultipartOperations(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.mkBucket("mpu")
	src := randomBytes(6<<20, 2)
	e.put("mpu", "source", src)

	cmu, err := e.alice.CreateMultipartUpload(tctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), ContentType: aws.String("text/x-mp"),
		Metadata: map[string]string{"m": "1"}, ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cmu.ChecksumAlgorithm != types.ChecksumAlgorithmSha256 {
		t.Fatalf("checksum algorithm %q", cmu.ChecksumAlgorithm)
	}
	id := cmu.UploadId
	p1 := randomBytes(5<<20, 3)
	p3 := []byte("tail")
	up1, err := e.alice.UploadPart(tctx, &s3.UploadPartInput{
		Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), UploadId: id, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(p1), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up1.ETag) != `"`+md5hex(p1)+`"` || up1.ChecksumSHA256 == nil {
		t.Fatalf("part 1: %+v", up1)
	}
	// Part 2 copies 5 MiB + 1 byte of another object.
	upc, err := e.alice.UploadPartCopy(tctx, &s3.UploadPartCopyInput{
		Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), UploadId: id, PartNumber: aws.Int32(2),
		CopySource: aws.String("mpu/source"), CopySourceRange: aws.String(fmt.Sprintf("bytes=100-%d", 100+5<<20)),
	})
	if err != nil {
		t.Fatal(err)
	}
	p2 := src[100 : 100+5<<20+1]
	if aws.ToString(upc.CopyPartResult.ETag) != `"`+md5hex(p2)+`"` || upc.CopyPartResult.ChecksumSHA256 == nil {
		t.Fatalf("part copy: %+v", upc.CopyPartResult)
	}
	_, err = e.alice.UploadPartCopy(tctx, &s3.UploadPartCopyInput{
		Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), UploadId: id, PartNumber: aws.Int32(2),
		CopySource: aws.String("mpu/source"), CopySourceRange: aws.String("bytes=0-99999999"),
	})
	wantErr(t, err, "InvalidArgument", 400)
	up3, err := e.alice.UploadPart(tctx, &s3.UploadPartInput{
		Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), UploadId: id, PartNumber: aws.Int32(3), Body: bytes.NewReader(p3),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		t.Fatal(err)
	}

	// ListParts with pagination.
	lp, err := e.alice.ListParts(tctx, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), UploadId: id, MaxParts: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(lp.Parts) != 2 || !aws.ToBool(lp.IsTruncated) || aws.ToString(lp.NextPartNumberMarker) != "2" ||
		aws.ToInt64(lp.Parts[0].Size) != 5<<20 || lp.ChecksumAlgorithm != types.ChecksumAlgorithmSha256 {
		t.Fatalf("ListParts page 1: %+v", lp)
	}
	lp, err = e.alice.ListParts(tctx, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), UploadId: id,
		PartNumberMarker: lp.NextPartNumberMarker})
	if err != nil || len(lp.Parts) != 1 || aws.ToInt32(lp.Parts[0].PartNumber) != 3 || aws.ToBool(lp.IsTruncated) {
		t.Fatalf("ListParts page 2: %+v %v", lp, err)
	}

	// ListMultipartUploads with a prefix.
	other, err := e.alice.CreateMultipartUpload(tctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("elsewhere")})
	if err != nil {
		t.Fatal(err)
	}
	lu, err := e.alice.ListMultipartUploads(tctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu"), Prefix: aws.String("dir/")})
	if err != nil || len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].UploadId) != aws.ToString(id) {
		t.Fatalf("ListMultipartUploads: %+v %v", lu, err)
	}
	lu, err = e.alice.ListMultipartUploads(tctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu"), Delimiter: aws.String("/")})
	if err != nil || len(lu.Uploads) != 1 || len(lu.CommonPrefixes) != 1 || aws.ToString(lu.CommonPrefixes[0].Prefix) != "dir/" {
		t.Fatalf("ListMultipartUploads delimiter: %+v %v", lu, err)
	}
	lu, err = e.alice.ListMultipartUploads(tctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu"), MaxUploads: aws.Int32(1)})
	if err != nil || len(lu.Uploads) != 1 || !aws.ToBool(lu.IsTruncated) || aws.ToString(lu.NextKeyMarker) != "dir/obj" {
		t.Fatalf("ListMultipartUploads page 1: %+v %v", lu, err)
	}
	lu, err = e.alice.ListMultipartUploads(tctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu"), MaxUploads: aws.Int32(1),
		KeyMarker: lu.NextKeyMarker, UploadIdMarker: lu.NextUploadIdMarker})
	if err != nil || len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].Key) != "elsewhere" || aws.ToBool(lu.IsTruncated) {
		t.Fatalf("ListMultipartUploads page 2: %+v %v", lu, err)
	}

	complete := func(parts ...types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
		return e.alice.CompleteMultipartUpload(tctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
	}
	part := func(n int32, etag *string) types.CompletedPart {
		return types.CompletedPart{PartNumber: aws.Int32(n), ETag: etag}
	}
	_, err = complete(part(1, up1.ETag), part(2, aws.String(`"0123456789abcdef0123456789abcdef"`)))
	wantErr(t, err, "InvalidPart", 400)
	_, err = complete(part(2, upc.CopyPartResult.ETag), part(1, up1.ETag))
	wantErr(t, err, "InvalidPartOrder", 400)
	_, err = complete(part(1, up1.ETag), part(3, up3.ETag), part(4, up3.ETag))
	wantErr(t, err, "InvalidPart", 400)
	_, err = complete(part(3, up3.ETag), part(3, up3.ETag))
	if err == nil {
		t.Fatal("duplicate part accepted")
	}
	// A mismatching part checksum in the request is InvalidPart.
	bad := part(1, up1.ETag)
	bad.ChecksumSHA256 = up3.ChecksumSHA256
	_, err = complete(bad, part(3, up3.ETag))
	wantErr(t, err, "InvalidPart", 400)
	// Part 3 (4 bytes) is too small unless last.
	_, err = complete(part(3, up3.ETag), part(4, up3.ETag))
	if err == nil {
		t.Fatal("completed with a missing part")
	}
	res, err := complete(part(1, up1.ETag), part(2, upc.CopyPartResult.ETag), part(3, up3.ETag))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(res.ETag), `-3"`) || aws.ToString(res.Key) != "dir/obj" ||
		res.ChecksumSHA256 == nil || !strings.HasSuffix(*res.ChecksumSHA256, "-3") {
		t.Fatalf("complete: %+v", res)
	}
	want := append(append(append([]byte{}, p1...), p2...), p3...)
	if got := e.get("mpu", "dir/obj"); !bytes.Equal(got, want) {
		t.Fatal("assembled object differs")
	}
	h, err := e.alice.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String("mpu"), Key: aws.String("dir/obj")})
	if err != nil || aws.ToString(h.ContentType) != "text/x-mp" || h.Metadata["m"] != "1" {
		t.Fatalf("attrs of assembled object: %+v %v", h, err)
	}
	g, err := e.alice.GetObject(tctx, &s3.GetObjectInput{Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), PartNumber: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if string(b) != "tail" {
		t.Fatalf("part 3: %q", b)
	}

	// Deleting a multipart object forgets its part layout.
	if _, err := e.blobs.Head(tctx, layoutNamespace, layoutKey("mpu", "dir/obj")); err != nil {
		t.Fatalf("no part layout: %v", err)
	}
	defer func() {
		if _, err := e.alice.DeleteObject(tctx, &s3.DeleteObjectInput{Bucket: aws.String("mpu"), Key: aws.String("dir/obj")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.blobs.Head(tctx, layoutNamespace, layoutKey("mpu", "dir/obj")); err == nil {
			t.Fatal("part layout left behind by a delete")
		}
	}()

	// The upload is gone.
	_, err = e.alice.ListParts(tctx, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), UploadId: id})
	wantErr(t, err, "NoSuchUpload", 404)
	_, err = e.alice.UploadPart(tctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("dir/obj"), UploadId: id,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(p3)})
	wantErr(t, err, "NoSuchUpload", 404)

	// EntityTooSmall, then abort.
	id2 := other.UploadId
	var etags []*string
	for i := int32(1); i <= 2; i++ {
		o, err := e.alice.UploadPart(tctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("elsewhere"), UploadId: id2,
			PartNumber: aws.Int32(i), Body: bytes.NewReader([]byte("small"))})
		if err != nil {
			t.Fatal(err)
		}
		etags = append(etags, o.ETag)
	}
	_, err = e.alice.CompleteMultipartUpload(tctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("mpu"), Key: aws.String("elsewhere"), UploadId: id2,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{part(1, etags[0]), part(2, etags[1])}},
	})
	wantErr(t, err, "EntityTooSmall", 400)
	_, err = e.alice.UploadPart(tctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("elsewhere"), UploadId: id2,
		PartNumber: aws.Int32(10001), Body: bytes.NewReader(p3)})
	wantErr(t, err, "InvalidArgument", 400)
	if _, err := e.alice.AbortMultipartUpload(tctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("elsewhere"), UploadId: id2}); err != nil {
		t.Fatal(err)
	}
	_, err = e.alice.AbortMultipartUpload(tctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("elsewhere"), UploadId: id2})
	wantErr(t, err, "NoSuchUpload", 404)
	_, err = e.alice.CompleteMultipartUpload(tctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("mpu"), Key: aws.String("elsewhere"), UploadId: aws.String("bogus"),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{part(1, etags[0])}},
	})
	wantErr(t, err, "NoSuchUpload", 404)

	// Malformed and oversized Complete bodies.
	cmu3, err := e.alice.CreateMultipartUpload(tctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	path := "/mpu/x?uploadId=" + aws.ToString(cmu3.UploadId)
	for body, code := range map[string]string{
		"<CompleteMultipartUpload><Part>":                     "MalformedXML",
		"<CompleteMultipartUpload></CompleteMultipartUpload>": "MalformedXML",
		"":                                 "MalformedXML",
		strings.Repeat("x", maxXMLBody+10): "MaxMessageLengthExceeded",
	} {
		resp := e.raw("AKIDALICE", "POST", path, []byte(body), nil)
		got := readAll(t, resp)
		if resp.StatusCode != 400 || !bytes.Contains(got, []byte("<Code>"+code+"</Code>")) {
			t.Errorf("Complete with %.40q: %d %s", body, resp.StatusCode, got)
		}
	}
}

// TestSlowResponses forces the keep-alive path of copies and completions:
// 200 with whitespace, then the result or an <Error> the SDK recognises.
func TestSlowResponses(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.h.slowAfter = 0
	e.h.keepAlive = time.Millisecond
	e.mkBucket("slow")
	data := randomBytes(1<<20, 4)
	e.put("slow", "src", data)
	co, err := e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("slow"), Key: aws.String("dst"), CopySource: aws.String("slow/src")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(co.CopyObjectResult.ETag) != `"`+md5hex(data)+`"` || !bytes.Equal(e.get("slow", "dst"), data) {
		t.Fatalf("slow copy: %+v", co.CopyObjectResult)
	}
	_, err = e.alice.CopyObject(tctx, &s3.CopyObjectInput{Bucket: aws.String("slow"), Key: aws.String("dst"), CopySource: aws.String("slow/missing")})
	if err == nil || errCode(err) != "NoSuchKey" {
		t.Fatalf("slow copy of a missing key: %v", err)
	}
	cmu, err := e.alice.CreateMultipartUpload(tctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("slow"), Key: aws.String("mpu")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.alice.CompleteMultipartUpload(tctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("slow"), Key: aws.String("mpu"), UploadId: cmu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"x"`)}}},
	})
	if err == nil || errCode(err) != "InvalidPart" {
		t.Fatalf("slow complete with a bad part: %v", err)
	}
	resp := e.raw("AKIDALICE", "PUT", "/slow/raw", nil, map[string]string{"X-Amz-Copy-Source": "/slow/src"})
	body := readAll(t, resp)
	if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("<?xml")) || !bytes.Contains(body, []byte("<CopyObjectResult")) {
		t.Fatalf("raw slow copy: %d %s", resp.StatusCode, body)
	}
}
