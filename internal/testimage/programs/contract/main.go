// Command contract is Wharf's reference SageMaker container: one static
// binary, installed as /usr/local/bin/{train,serve,prog}, that implements the
// training and serving contract (docs: shared/spec/container-contract.md).
// Its behaviour is chosen by hyperparameters (training) or environment
// variables (serving) so tests all over the repository can drive it. It uses
// the standard library only.
//
// The mode is the base name it was invoked as ("train", "serve") or, when run
// through the image ENTRYPOINT ["/usr/local/bin/prog"], its first argument.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	configDir = "/opt/ml/input/config"
	dataDir   = "/opt/ml/input/data"
	modelDir  = "/opt/ml/model"
	outputDir = "/opt/ml/output"
)

func main() {
	cmd := filepath.Base(os.Args[0])
	if cmd != "train" && cmd != "serve" && len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	switch cmd {
	case "train":
		train()
	case "serve":
		serve()
	default:
		fmt.Fprintf(os.Stderr, "contract: unknown command %q (want train or serve)\n", cmd)
		os.Exit(2)
	}
}

// ---------------------------------------------------------------- training

// hps holds the hyperparameters (all strings, as the contract promises).
var hps = map[string]string{}

func train() {
	readJSON("hyperparameters.json", &hps)
	mode := hp("mode", "succeed")
	fmt.Printf("contract train mode=%s\n", mode)
	fmt.Fprintln(os.Stderr, "contract: stderr works")

	for _, name := range []string{"hyperparameters.json", "inputdataconfig.json", "resourceconfig.json"} {
		b, err := os.ReadFile(filepath.Join(configDir, name))
		if err != nil {
			fmt.Printf("config %s missing\n", name)
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			fmt.Printf("config %s invalid\n", name)
			continue
		}
		fmt.Printf("config %s %s\n", name, buf.String())
	}
	host, _ := os.Hostname()
	fmt.Printf("whoami uid=%d gid=%d hostname=%s\n", os.Getuid(), os.Getgid(), host)

	readChannels()

	for _, k := range []string{"TRAINING_JOB_NAME", "TRAINING_JOB_ARN", "AWS_REGION"} {
		if v, ok := os.LookupEnv(k); ok {
			fmt.Printf("env %s=%s\n", k, v)
		} else {
			fmt.Printf("env %s unset\n", k)
		}
	}
	var sm []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SM_") {
			sm = append(sm, kv)
		}
	}
	sort.Strings(sm)
	for _, kv := range sm {
		fmt.Printf("env %s\n", kv)
	}
	if len(sm) == 0 {
		fmt.Println("env SM_* none")
	}

	if mode != "sleep" && mode != "ignore-sigterm" {
		// PID 1 ignores SIGTERM unless it installs a handler.
		exitOnSignal(143)
	}
	switch mode {
	case "succeed":
	case "fail":
		msg := hp("failure_message", "bad things")
		_ = os.WriteFile(filepath.Join(outputDir, "failure"), []byte(msg), 0o644)
		code := hpInt("exit_code", 3)
		fmt.Fprintf(os.Stderr, "failing: %s (exit code %d)\n", msg, code)
		os.Exit(code)
	case "sleep":
		sleepMode()
	case "ignore-sigterm":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		for {
			time.Sleep(time.Hour)
		}
	case "peers":
		peers()
	case "netinfo":
		netinfo()
	case "flood":
		flood()
	case "bigwrite":
		bigwrite()
	case "oom":
		oom()
	case "symlink":
		must(os.MkdirAll(modelDir, 0o755))
		must(os.Symlink("model.txt", filepath.Join(modelDir, "ok")))
		must(os.Symlink("/etc/passwd", filepath.Join(modelDir, "escape")))
		fmt.Println("symlinks ok escape")
	case "checkpoint":
		checkpoint()
	default:
		fail(2, "unknown mode %q", mode)
	}
	succeed()
}

// succeed writes the standard outputs, prints the metrics and exits 0.
func succeed() {
	must(os.MkdirAll(filepath.Join(modelDir, "sub", "dir"), 0o755))
	must(os.WriteFile(filepath.Join(modelDir, "model.txt"), []byte(hp("model_content", "trained")), 0o644))
	w := make([]byte, 1024)
	for i := range w {
		w[i] = byte(i)
	}
	must(os.WriteFile(filepath.Join(modelDir, "sub", "dir", "weights.bin"), w, 0o644))
	must(os.MkdirAll(filepath.Join(outputDir, "data"), 0o755))
	must(os.WriteFile(filepath.Join(outputDir, "data", "extra.txt"), []byte("extra\n"), 0o644))
	epochs := hpInt("epochs", 1)
	for i := 1; i <= epochs; i++ {
		fmt.Printf("epoch=%d train_mse=%.6f\n", i, 1/float64(i+1))
	}
	fmt.Println("train: success")
	if s, ok := hps["final_text"]; ok {
		fmt.Print(s) // no newline: tests partial last lines
	}
	os.Exit(0)
}

func readChannels() {
	var channels map[string]struct {
		TrainingInputMode string
	}
	readJSON("inputdataconfig.json", &channels)
	names := make([]string, 0, len(channels))
	for n := range channels {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, ch := range names {
		mode := channels[ch].TrainingInputMode
		if mode == "" {
			mode = "File"
		}
		fmt.Printf("channel %s %s\n", ch, mode)
		if mode == "Pipe" {
			readPipes(ch)
			continue
		}
		root := filepath.Join(dataDir, ch)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			size, sum := hashFile(p)
			rel, _ := filepath.Rel(root, p)
			fmt.Printf("file %s/%s %d %s\n", ch, filepath.ToSlash(rel), size, sum)
			return nil
		})
		if err != nil {
			fmt.Printf("channel %s error %v\n", ch, err)
		}
	}
}

// readPipes reads epochs FIFOs <channel>_0, _1, ... in order, polling for
// each to appear.
func readPipes(ch string) {
	epochs := hpInt("epochs", 1)
	wait := time.Duration(hpInt("pipe_timeout_s", 60)) * time.Second
	for e := 0; e < epochs; e++ {
		p := filepath.Join(dataDir, fmt.Sprintf("%s_%d", ch, e))
		deadline := time.Now().Add(wait)
		for {
			if _, err := os.Stat(p); err == nil {
				break
			}
			if time.Now().After(deadline) {
				fail(1, "pipe %s did not appear", p)
			}
			time.Sleep(20 * time.Millisecond)
		}
		size, sum := hashFile(p)
		fmt.Printf("pipe %s %d %d %s\n", ch, e, size, sum)
	}
}

func sleepMode() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	fmt.Println("sleeping")
	select {
	case <-sig:
		fmt.Println("got SIGTERM")
		must(os.MkdirAll(modelDir, 0o755))
		must(os.WriteFile(filepath.Join(modelDir, "stopped.txt"), []byte("stopped\n"), 0o644))
		os.Exit(hpInt("exit_code", 0))
	case <-time.After(time.Duration(hpInt("seconds", 3600)) * time.Second):
		fmt.Println("slept")
	}
}

func exitOnSignal(code int) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Println("got SIGTERM")
		os.Exit(code)
	}()
}

func peers() {
	var rc struct {
		CurrentHost string   `json:"current_host"`
		Hosts       []string `json:"hosts"`
	}
	readJSON("resourceconfig.json", &rc)
	if rc.CurrentHost == "" || len(rc.Hosts) == 0 {
		fail(1, "resourceconfig.json has no current_host/hosts")
	}
	for _, h := range rc.Hosts {
		ip, err := resolve(h, time.Now().Add(60*time.Second))
		if err != nil {
			fail(1, "resolve %s: %v", h, err)
		}
		fmt.Printf("resolved %s %s\n", h, ip)
	}
	leader := rc.Hosts[0]
	seen := []string{rc.CurrentHost}
	if rc.CurrentHost == leader {
		ln, err := net.Listen("tcp", ":9000")
		if err != nil {
			fail(1, "listen: %v", err)
		}
		_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(120 * time.Second))
		for len(seen) < len(rc.Hosts) {
			c, err := ln.Accept()
			if err != nil {
				fail(1, "accept: %v", err)
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			name, err := bufio.NewReader(c).ReadString('\n')
			if err == nil {
				name = strings.TrimSpace(name)
				seen = append(seen, name)
				fmt.Printf("peer %s\n", name)
				_, _ = io.WriteString(c, "ok\n")
			}
			c.Close()
		}
		ln.Close()
	} else {
		deadline := time.Now().Add(60 * time.Second)
		for {
			err := sendName(net.JoinHostPort(leader, "9000"), rc.CurrentHost)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fail(1, "contact %s: %v", leader, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		fmt.Printf("sent %s to %s\n", rc.CurrentHost, leader)
		seen = append(seen, leader)
	}
	must(os.MkdirAll(modelDir, 0o755))
	must(os.WriteFile(filepath.Join(modelDir, "peers.txt"), []byte(strings.Join(seen, "\n")+"\n"), 0o644))
}

func sendName(addr, name string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, name+"\n"); err != nil {
		return err
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(reply) != "ok" {
		return fmt.Errorf("unexpected reply %q", reply)
	}
	return nil
}

func resolve(host string, deadline time.Time) (string, error) {
	for {
		// Short attempts: engines may sit on queries for names not yet known.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		cancel()
		if err == nil {
			for _, a := range addrs {
				if a.IP.To4() != nil {
					return a.IP.String(), nil
				}
			}
			if len(addrs) > 0 {
				return addrs[0].IP.String(), nil
			}
		}
		if time.Now().After(deadline) {
			return "", err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func netinfo() {
	entries, _ := os.ReadDir("/sys/class/net")
	for _, e := range entries {
		addrs := "-"
		if ifc, err := net.InterfaceByName(e.Name()); err == nil {
			var v4 []string
			as, _ := ifc.Addrs()
			for _, a := range as {
				if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
					v4 = append(v4, n.String())
				}
			}
			if len(v4) > 0 {
				addrs = strings.Join(v4, ",")
			}
		}
		fmt.Printf("iface %s %s\n", e.Name(), addrs)
	}
	def := "no"
	if b, err := os.ReadFile("/proc/net/route"); err == nil {
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 3 {
				continue
			}
			dest, gw := hexIP(f[1]), hexIP(f[2])
			fmt.Printf("route %s %s %s\n", f[0], dest, gw)
			if dest == "0.0.0.0" {
				def = "yes"
			}
		}
	}
	fmt.Printf("default-route %s\n", def)
}

// hexIP decodes /proc/net/route's little-endian hex IPv4 addresses.
func hexIP(s string) string {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return s
	}
	return net.IPv4(byte(v), byte(v>>8), byte(v>>16), byte(v>>24)).String()
}

func flood() {
	n, size := hpInt("lines", 1000000), hpInt("line_bytes", 100)
	w := bufio.NewWriterSize(os.Stdout, 1<<16)
	line := make([]byte, 0, size+1)
	for i := 0; i < n; i++ {
		line = append(line[:0], "flood "...)
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, ' ')
		for len(line) < size {
			line = append(line, 'x')
		}
		line = append(line[:size], '\n')
		_, _ = w.Write(line)
	}
	must(w.Flush())
}

func bigwrite() {
	mb := hpInt("mb", 1)
	dir := modelDir
	if d := hps["dir"]; d != "" {
		dir = d // e.g. /tmp, outside /opt/ml
	}
	f, err := os.Create(filepath.Join(dir, "big.bin"))
	if err != nil {
		fail(1, "bigwrite: %v", err)
	}
	chunk := bytes.Repeat([]byte{0xab}, 1<<20)
	for i := 0; i < mb; i++ {
		if _, err := f.Write(chunk); err != nil {
			fail(1, "bigwrite: %v", err)
		}
	}
	if err := f.Close(); err != nil {
		fail(1, "bigwrite: %v", err)
	}
	fmt.Printf("bigwrite %d MiB\n", mb)
}

func oom() {
	var keep [][]byte
	for i := 1; i <= hpInt("max_mb", 1<<20); i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
		if i%16 == 0 {
			fmt.Printf("allocated %d MiB\n", i)
		}
	}
	fmt.Printf("oom: still alive after %d MiB\n", len(keep))
}

func checkpoint() {
	dir := "/opt/ml/checkpoints"
	var cc struct{ LocalPath string }
	readJSON("checkpointconfig.json", &cc)
	if cc.LocalPath != "" {
		dir = cc.LocalPath
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		_, sum := hashFile(p)
		fmt.Printf("ckpt %s %s\n", filepath.ToSlash(rel), sum)
		return nil
	})
	must(os.MkdirAll(dir, 0o755))
	interval := time.Duration(hpInt("interval_ms", 100)) * time.Millisecond
	for n := 1; n <= hpInt("steps", 3); n++ {
		name := fmt.Sprintf("step-%d.txt", n)
		must(os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("step %d\n", n)), 0o644))
		fmt.Printf("wrote checkpoint %s\n", name)
		time.Sleep(interval)
	}
}

// ----------------------------------------------------------------- serving

func serve() {
	start := time.Now()
	port := os.Getenv("SAGEMAKER_BIND_TO_PORT")
	if port == "" {
		port = "8080"
	}
	model, modelErr := os.ReadFile(filepath.Join(modelDir, "model.txt"))
	pingDelay := time.Duration(envFloat("PING_DELAY_SECONDS", 0) * float64(time.Second))

	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case os.Getenv("PING_FAIL") == "1":
			w.WriteHeader(http.StatusInternalServerError)
		case fileExists(filepath.Join(modelDir, "unhealthy")): // a model that cannot load
			w.WriteHeader(http.StatusInternalServerError)
		case time.Since(start) < pingDelay:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	mux.HandleFunc("/execution-parameters", func(w http.ResponseWriter, r *http.Request) {
		p, ok := os.LookupEnv("EXEC_PARAMS")
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, p)
	})
	mux.HandleFunc("/model", func(w http.ResponseWriter, r *http.Request) {
		if modelErr != nil {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(model)
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(env)
	})
	mux.HandleFunc("POST /invocations", invocations)

	srv := &http.Server{Addr: ":" + port, Handler: logRequests(mux)}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		fail(1, "listen: %v", err)
	}
	fmt.Printf("contract serve listening on :%s\n", port)
	if modelErr == nil {
		fmt.Printf("model %q\n", model)
	}
	done := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		fmt.Println("got SIGTERM, shutting down")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		close(done)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fail(1, "serve: %v", err)
	}
	<-done
	fmt.Println("serve: stopped")
}

func invocations(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	if a := r.Header.Get("X-Amzn-SageMaker-Custom-Attributes"); a != "" {
		w.Header().Set("X-Amzn-SageMaker-Custom-Attributes", a)
	}
	if u := os.Getenv("METERING_UNITS"); u != "" {
		w.Header().Set("X-Amzn-Inference-Metering", `{"Dimension": "inference.count", "ConsumedUnits": `+u+`}`)
	}
	if string(body) == "__exit__" { // the server crashes (tests of host replacement)
		fmt.Println("serve: exiting on request")
		os.Exit(3)
	}
	mode := os.Getenv("INVOKE_MODE")
	switch mode {
	case "", "echo", "slow":
		if mode == "slow" {
			time.Sleep(time.Duration(envFloat("SLOW_MS", 1000)) * time.Millisecond)
		}
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(echo(body, ct, os.Getenv("ECHO_PREFIX")))
	case "inflight": // how many invocations were in flight here on arrival (this one included), after SLOW_MS
		n := inflight.Add(1)
		defer inflight.Add(-1)
		time.Sleep(time.Duration(envFloat("SLOW_MS", 200)) * time.Millisecond)
		_, _ = fmt.Fprintf(w, "%d", n)
	case "upper":
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(bytes.ToUpper(body))
	case "error":
		status := int(envFloat("ERROR_STATUS", 500))
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "model failed")
	case "model": // the content of /opt/ml/model/model.txt, once per line of the request
		model, err := os.ReadFile(filepath.Join(modelDir, "model.txt"))
		if err != nil {
			http.Error(w, "no model: "+err.Error(), http.StatusInternalServerError)
			return
		}
		for range splitLines(body) {
			_, _ = w.Write(append(model, '\n'))
		}
	case "count":
		n := len(splitLines(body))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"lines\": %d}", n)
	case "headers": // the body, then a line with $STEP_NAME and the Content-Type and Accept received (inference pipeline tests)
		rct := os.Getenv("RESPONSE_CONTENT_TYPE")
		if rct == "" {
			rct = ct
		}
		w.Header().Set("Content-Type", rct)
		_, _ = w.Write(body)
		fmt.Fprintf(w, "%s content-type=%s accept=%s\n", os.Getenv("STEP_NAME"), r.Header.Get("Content-Type"), r.Header.Get("Accept"))
	case "sum": // one line per request line: the sum of its numbers (batch transform DataProcessing tests)
		out, err := sumLines(body, ct)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if a := r.Header.Get("Accept"); a != "" {
			ct = a
		}
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(out)
	case "dial":
		// The body is HOST:PORT ("gateway" = the default route's gateway):
		// answers "connected" or "refused: ..." to test network isolation.
		_, _ = w.Write([]byte(dial(strings.TrimSpace(string(body)))))
	default:
		http.Error(w, "unknown INVOKE_MODE "+mode, http.StatusInternalServerError)
	}
}

// echo returns body with prefix; text/csv bodies get it on every line.
func echo(body []byte, ct, prefix string) []byte {
	if prefix == "" {
		return body
	}
	if !strings.HasPrefix(strings.ToLower(ct), "text/csv") {
		return append([]byte(prefix), body...)
	}
	var out bytes.Buffer
	lines := splitLines(body)
	for i, l := range lines {
		out.WriteString(prefix)
		out.Write(l)
		if i < len(lines)-1 || bytes.HasSuffix(body, []byte("\n")) {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// sumLines adds up the numbers of each line: the fields of a CSV row
// (text/csv) or the elements of a JSON array or a lone JSON number.
func sumLines(body []byte, ct string) ([]byte, error) {
	var out bytes.Buffer
	for i, l := range splitLines(body) {
		var nums []float64
		if strings.HasPrefix(strings.ToLower(ct), "text/csv") {
			fields, err := csv.NewReader(bytes.NewReader(l)).Read()
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", i+1, err)
			}
			for _, f := range fields {
				v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
				if err != nil {
					return nil, fmt.Errorf("line %d: %q is not a number", i+1, f)
				}
				nums = append(nums, v)
			}
		} else {
			var one float64
			if err := json.Unmarshal(l, &nums); err != nil {
				if err := json.Unmarshal(l, &one); err != nil {
					return nil, fmt.Errorf("line %d: not a JSON number or array of numbers", i+1)
				}
				nums = []float64{one}
			}
		}
		sum := 0.0
		for _, v := range nums {
			sum += v
		}
		out.WriteString(strconv.FormatFloat(sum, 'g', -1, 64) + "\n")
	}
	return out.Bytes(), nil
}

// splitLines splits at '\n'; a trailing newline does not start a new line.
func splitLines(b []byte) [][]byte {
	if len(b) == 0 {
		return nil
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	return lines
}

type statusWriter struct {
	http.ResponseWriter
	status, n int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.n += n
	return n, err
}

var logMu sync.Mutex

// inflight counts invocations being served (INVOKE_MODE=inflight).
var inflight atomic.Int64

func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		logMu.Lock()
		fmt.Printf("request %s %s %d %d\n", r.Method, r.URL.Path, sw.status, sw.n)
		logMu.Unlock()
	})
}

// ----------------------------------------------------------------- helpers

func readJSON(name string, v any) {
	b, err := os.ReadFile(filepath.Join(configDir, name))
	if err != nil {
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		fail(1, "parse %s: %v", name, err)
	}
}

func hp(name, def string) string {
	if v, ok := hps[name]; ok {
		return v
	}
	return def
}

func hpInt(name string, def int) int {
	v, ok := hps[name]
	if !ok {
		return def
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64) // accepts "1e6"
	if err != nil {
		fail(2, "hyperparameter %s=%q is not a number", name, v)
	}
	return int(n)
}

func envFloat(name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		fail(2, "%s=%q is not a number", name, v)
	}
	return f
}

func hashFile(p string) (int64, string) {
	f, err := os.Open(p)
	if err != nil {
		fail(1, "open %s: %v", p, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		fail(1, "read %s: %v", p, err)
	}
	return n, hex.EncodeToString(h.Sum(nil))
}

// fail writes /opt/ml/output/failure (best effort), reports on stderr and exits.
func fail(code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	_ = os.WriteFile(filepath.Join(outputDir, "failure"), []byte(msg), 0o644)
	fmt.Fprintln(os.Stderr, "contract: "+msg)
	os.Exit(code)
}

func must(err error) {
	if err != nil {
		fail(1, "%v", err)
	}
}

// dial opens a TCP connection to addr within 2 s.
func dial(addr string) string {
	if rest, ok := strings.CutPrefix(addr, "gateway:"); ok {
		gw := ""
		if b, err := os.ReadFile("/proc/net/route"); err == nil {
			for _, line := range strings.Split(string(b), "\n")[1:] {
				if f := strings.Fields(line); len(f) >= 3 && hexIP(f[1]) == "0.0.0.0" {
					gw = hexIP(f[2])
				}
			}
		}
		if gw == "" {
			return "refused: no default route"
		}
		addr = net.JoinHostPort(gw, rest)
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "refused: " + err.Error()
	}
	c.Close()
	return "connected " + addr
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
