package logs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// awsCLIv2 finds AWS CLI v2 ($WHARF_TEST_AWS_CLI, /usr/bin/aws or aws on
// PATH) or skips the test. `aws logs tail` exists only in v2.
func awsCLIv2(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("WHARF_TEST_AWS_CLI"), "/usr/bin/aws", "aws"} {
		if name == "" {
			continue
		}
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		out, _ := exec.Command(path, "--version").CombinedOutput()
		if strings.HasPrefix(string(out), "aws-cli/2") {
			return path
		}
	}
	t.Skip("AWS CLI v2 not installed")
	return ""
}

// cliEnv is a clean environment pointing the CLI at Alice's credentials.
func cliEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"AWS_ACCESS_KEY_ID=AKIDALICE",
		"AWS_SECRET_ACCESS_KEY=secret",
		"AWS_DEFAULT_REGION=" + testRegion,
		"AWS_PAGER=",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"PYTHONUNBUFFERED=1", // tail does not flush; a pipe would hold --follow's lines
	}
}

// countLines counts output lines ending in " "+msg (tail prints
// "<time> <stream> <message>").
func countLines(out, msg string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, " "+msg) {
			n++
		}
	}
	return n
}

func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cli := awsCLIv2(t)
	s := openTest(t, Options{})
	url := newTestServer(t, s).URL
	env := cliEnv(t)
	const group = "/aws/sagemaker/TrainingJobs"
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"--endpoint-url", url}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	now := time.Now().Add(-time.Minute) // within tail's default --since 10m
	msgs1, msgs2 := seq("job-x algo-1 line ", 0, 30), seq("job-x algo-2 line ", 0, 30)
	writeEvents(t, s, testAccount, group, "job-x/algo-1-1700000000", now, 2*time.Millisecond, msgs1...)
	writeEvents(t, s, testAccount, group, "job-x/algo-2-1700000000", now.Add(time.Millisecond), 2*time.Millisecond, msgs2...)
	writeEvents(t, s, testAccount, group, "job-y/algo-1-1700000000", now, time.Millisecond, "job-y line")

	out := run("logs", "tail", group, "--log-stream-name-prefix", "job-x/")
	for _, m := range append(msgs1, msgs2...) {
		if countLines(out, m) != 1 {
			t.Fatalf("tail printed %q %d times:\n%s", m, countLines(out, m), out)
		}
	}
	if strings.Contains(out, "job-y") || strings.Count(out, "\n") != 60 {
		t.Fatalf("tail printed extra lines:\n%s", out)
	}
	if !strings.Contains(out, " job-x/algo-2-1700000000 job-x algo-2 line 7") {
		t.Fatalf("tail output lacks the stream name:\n%s", out)
	}

	out = run("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "job-x/algo-1-1700000000", "--start-from-head")
	var resp struct {
		Events []struct {
			Timestamp int64  `json:"timestamp"`
			Message   string `json:"message"`
		} `json:"events"`
		NextForwardToken  string `json:"nextForwardToken"`
		NextBackwardToken string `json:"nextBackwardToken"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("get-log-events output: %v\n%s", err, out)
	}
	if len(resp.Events) != 30 || resp.Events[29].Message != msgs1[29] || resp.Events[0].Timestamp != now.UnixMilli() ||
		!strings.HasPrefix(resp.NextForwardToken, "f/") || !strings.HasPrefix(resp.NextBackwardToken, "b/") {
		t.Fatalf("get-log-events: %s", out)
	}
	out = run("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "job-x/algo-1-1700000000",
		"--start-from-head", "--next-token", resp.NextForwardToken)
	if !strings.Contains(out, `"events": []`) || !strings.Contains(out, resp.NextForwardToken) {
		t.Fatalf("get-log-events at the end:\n%s", out)
	}
}

// TestAWSCLIFollow runs `aws logs tail --follow` (which polls every 5 s)
// while events are appended, including events sharing the timestamp of ones
// already printed, and checks each is printed exactly once.
func TestAWSCLIFollow(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cli := awsCLIv2(t)
	s := openTest(t, Options{})
	url := newTestServer(t, s).URL
	const group, stream = "/aws/sagemaker/TrainingJobs", "job-f/algo-1-1700000000"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, "--endpoint-url", url, "logs", "tail", group, "--log-stream-name-prefix", "job-f/", "--follow")
	cmd.Env = cliEnv(t)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr

	var mu sync.Mutex
	var output strings.Builder
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			output.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	waitFor := func(msgs []string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			out := output.String()
			mu.Unlock()
			missing := ""
			for _, m := range msgs {
				if countLines(out, m) == 0 {
					missing = m
					break
				}
			}
			if missing == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("tail --follow never printed %q; output:\n%s\nstderr:\n%s", missing, out, stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	w, err := s.Stream(ctx, testAccount, group, stream)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write := func(ts time.Time, msgs ...string) {
		for _, m := range msgs {
			if err := w.Write(ctx, ts, m); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-10 * time.Second)
	var all []string
	for i := range 5 {
		m := fmt.Sprintf("follow first %d", i)
		write(t0.Add(time.Duration(i)*time.Millisecond), m)
		all = append(all, m)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	waitFor(all)

	// New events, three sharing one millisecond.
	t1 := time.Now()
	second := []string{"follow second 0", "follow second 1", "follow second 2"}
	write(t1, second...)
	all = append(all, second...)
	waitFor(all)

	// More events at that same millisecond (the CLI re-polls from the newest
	// timestamp it saw and must tell them apart by eventId), and later ones.
	third := []string{"follow third 0", "follow third 1"}
	write(t1, third...)
	later := []string{"follow later 0", "follow later 1"}
	write(t1.Add(time.Millisecond), later...)
	all = append(all, append(third, later...)...)
	waitFor(all)

	time.Sleep(6 * time.Second) // one more poll: nothing may be printed again
	_ = cmd.Process.Kill()
	<-readDone
	_ = cmd.Wait()
	mu.Lock()
	out := output.String()
	mu.Unlock()
	for _, m := range all {
		if n := countLines(out, m); n != 1 {
			t.Errorf("%q printed %d times", m, n)
		}
	}
	if n := strings.Count(out, "\n"); n != len(all) {
		t.Errorf("%d lines printed, want %d:\n%s", n, len(all), out)
	}
}
