// Command s3 benchmarks Wharf's S3 API against `cp` on the same disk.
//
// It starts an in-process Wharf on a loopback port with a data dir in -dir,
// then times PutObject/GetObject with aws-sdk-go-v2: latency of small objects
// (4 KiB, 1 MiB) and throughput of a large one (256 MiB), and prints each
// beside the same bytes copied with cp(1) in the same directory.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/wharfml/wharf/internal/server"
)

func main() {
	dir := flag.String("dir", "", "directory on the disk to measure (default: a temp dir)")
	smallN := flag.Int("n", 300, "requests per small-object size")
	largeMiB := flag.Int("large-mib", 256, "size of the large object in MiB")
	largeN := flag.Int("large-n", 3, "repetitions of the large object")
	fsync := flag.Bool("fsync", false, "run Wharf with --fsync")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the large-object runs to this file")
	flag.Parse()

	root := *dir
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "wharf-bench-s3"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(root)
	}
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{
		DataDir: filepath.Join(root, "data"), Region: "us-east-1",
		RootAccessKeyID: "AKIABENCHROOT0000001", RootSecretAccessKey: "bench-secret-0123456789abcdef",
		Fsync:  *fsync,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, srv.Handler())

	client := s3.New(s3.Options{
		BaseEndpoint: aws.String("http://" + ln.Addr().String()),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIABENCHROOT0000001", "bench-secret-0123456789abcdef", ""),
		HTTPClient:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		log.Fatal(err)
	}
	scratch := filepath.Join(root, "cp")
	os.MkdirAll(scratch, 0o755)

	fmt.Printf("Wharf S3 API vs cp, same disk (%s), fsync=%v\n\n", root, *fsync)
	fmt.Printf("%-22s %12s %12s %12s %8s\n", "case", "wharf p50", "wharf p99", "cp p50", "ratio")
	for _, size := range []int{4 << 10, 1 << 20} {
		data := randomBytes(size)
		put := timeN(*smallN, func(i int) {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("small/%d", i%50)), Body: bytes.NewReader(data)})
			check(err)
		})
		get := timeN(*smallN, func(i int) {
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("small/%d", i%50))})
			check(err)
			io.Copy(io.Discard, out.Body)
			out.Body.Close()
		})
		src := filepath.Join(scratch, "src")
		check(os.WriteFile(src, data, 0o644))
		cp := timeN(min(*smallN, 100), func(i int) { check(exec.Command("cp", src, filepath.Join(scratch, fmt.Sprintf("dst%d", i%50))).Run()) })
		label := sizeLabel(size)
		fmt.Printf("%-22s %12s %12s %12s %8.2f\n", "PUT "+label+" latency", p(put, 50), p(put, 99), p(cp, 50), float64(p(cp, 50))/float64(p(put, 50)))
		fmt.Printf("%-22s %12s %12s %12s %8.2f\n", "GET "+label+" latency", p(get, 50), p(get, 99), p(cp, 50), float64(p(cp, 50))/float64(p(get, 50)))
	}
	fmt.Println("(ratio = cp time / wharf time; above 1 means wharf is faster than spawning cp)")

	size := int64(*largeMiB) << 20
	src := filepath.Join(scratch, "large")
	writeRandomFile(src, size)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	var putBest, getBest, cpBest time.Duration
	for i := 0; i < *largeN; i++ {
		f, err := os.Open(src)
		check(err)
		start := time.Now()
		_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String("large"), Body: f, ContentLength: aws.Int64(size)})
		check(err)
		putBest = best(putBest, time.Since(start))
		f.Close()

		start = time.Now()
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("large")})
		check(err)
		dst, err := os.Create(filepath.Join(scratch, "large.get"))
		check(err)
		_, err = io.Copy(dst, out.Body)
		check(err)
		out.Body.Close()
		dst.Close()
		getBest = best(getBest, time.Since(start))

		start = time.Now()
		check(exec.Command("cp", src, filepath.Join(scratch, "large.cp")).Run())
		cpBest = best(cpBest, time.Since(start))
		os.Remove(filepath.Join(scratch, "large.cp"))
		os.Remove(filepath.Join(scratch, "large.get"))
	}
	mbps := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	fmt.Printf("\n%-22s %12s %12s %8s\n", "case (best of "+fmt.Sprint(*largeN)+")", "wharf MB/s", "cp MB/s", "ratio")
	fmt.Printf("%-22s %12.0f %12.0f %8.2f\n", "PUT "+sizeLabel(int(size)), mbps(putBest), mbps(cpBest), mbps(putBest)/mbps(cpBest))
	fmt.Printf("%-22s %12.0f %12.0f %8.2f\n", "GET "+sizeLabel(int(size)), mbps(getBest), mbps(cpBest), mbps(getBest)/mbps(cpBest))
	fmt.Println("(ratio = wharf throughput / cp throughput; target >= 0.7)")
}

func timeN(n int, f func(i int)) []time.Duration {
	f(0) // warm up connections and caches
	out := make([]time.Duration, n)
	for i := range out {
		start := time.Now()
		f(i)
		out[i] = time.Since(start)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

func p(sorted []time.Duration, pct int) time.Duration {
	return sorted[(len(sorted)-1)*pct/100].Round(time.Microsecond)
}

func best(cur, d time.Duration) time.Duration {
	if cur == 0 || d < cur {
		return d
	}
	return cur
}

func sizeLabel(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func writeRandomFile(path string, size int64) {
	f, err := os.Create(path)
	check(err)
	defer f.Close()
	_, err = io.CopyN(f, rand.Reader, size)
	check(err)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
