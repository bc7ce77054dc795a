package logs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"

	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/awsapi/shapes"
)

const (
	otherAccount = "222222222222"
	testRegion   = "us-east-1"
)

// testAccounts maps access key ids to accounts for withIdentity.
var testAccounts = map[string]string{"AKIDALICE": testAccount, "AKIDBOB": otherAccount}

// withIdentity stands in for the SigV4 layer: it takes the access key id
// from the Authorization header (ignoring the signature) and puts its
// account into the request context.
func withIdentity(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
		ak, _, _ := strings.Cut(cred, "/")
		account, ok := testAccounts[ak]
		if !ok {
			awsjson.WriteError(w, &awsjson.Error{Code: "UnrecognizedClientException", Status: http.StatusForbidden,
				Message: "The security token included in the request is invalid."})
			return
		}
		ctx := awsapi.WithIdentity(r.Context(), awsapi.Identity{AccountID: account, AccessKeyID: ak})
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// newTestServer serves s's API the way the server wires it.
func newTestServer(t testing.TB, s *Store) *httptest.Server {
	t.Helper()
	r := &awsjson.Router{TargetPrefix: "Logs_20140328", Model: shapes.MustLoad("logs")}
	s.Register(r, testRegion)
	srv := httptest.NewServer(withIdentity(r))
	t.Cleanup(srv.Close)
	return srv
}

func newClient(url, accessKey string) *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{
		BaseEndpoint:     aws.String(url),
		Region:           testRegion,
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, "secret", ""),
		RetryMaxAttempts: 1,
	})
}

// writeEvents appends msgs to a stream at ts0, ts0+step, ... and flushes.
func writeEvents(t testing.TB, s *Store, account, group, stream string, ts0 time.Time, step time.Duration, msgs ...string) {
	t.Helper()
	ctx := context.Background()
	w, err := s.Stream(ctx, account, group, stream)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if err := w.Write(ctx, ts0.Add(time.Duration(i)*step), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func apiCode(t testing.TB, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}

func messages[E any](evs []E, msg func(E) *string) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = aws.ToString(msg(e))
	}
	return out
}

func outMsgs(evs []types.OutputLogEvent) []string {
	return messages(evs, func(e types.OutputLogEvent) *string { return e.Message })
}

func filteredMsgs(evs []types.FilteredLogEvent) []string {
	return messages(evs, func(e types.FilteredLogEvent) *string { return e.Message })
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func TestDescribeLogGroupsAndStreams(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	c := newClient(newTestServer(t, s).URL, "AKIDALICE")
	t0 := time.UnixMilli(1_700_000_000_000)
	for i := range 7 {
		writeEvents(t, s, testAccount, fmt.Sprintf("/aws/sagemaker/G%d", i), "s", t0, time.Millisecond, "x")
	}
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("mine")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("mine")})
	apiCode(t, err, "ResourceAlreadyExistsException")
	var rae *types.ResourceAlreadyExistsException
	if !errors.As(err, &rae) {
		t.Fatalf("SDK did not map the error to its type: %T", err)
	}

	// Paging by 3 with a prefix.
	var names []string
	pager := cloudwatchlogs.NewDescribeLogGroupsPaginator(c, &cloudwatchlogs.DescribeLogGroupsInput{
		LogGroupNamePrefix: aws.String("/aws/sagemaker/"), Limit: aws.Int32(3)})
	pages := 0
	for pager.HasMorePages() {
		out, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range out.LogGroups {
			names = append(names, *g.LogGroupName)
			if *g.Arn != "arn:aws:logs:us-east-1:"+testAccount+":log-group:"+*g.LogGroupName+":*" ||
				*g.LogGroupArn != strings.TrimSuffix(*g.Arn, ":*") || aws.ToInt64(g.StoredBytes) != 1 || g.CreationTime == nil {
				t.Errorf("group %+v", g)
			}
		}
	}
	if pages != 3 || !slices.Equal(names, seq("/aws/sagemaker/G", 0, 7)) {
		t.Fatalf("%d pages: %v", pages, names)
	}
	out, err := c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePattern: aws.String("G3")})
	if err != nil || len(out.LogGroups) != 1 || *out.LogGroups[0].LogGroupName != "/aws/sagemaker/G3" || out.LogGroups[0].StoredBytes != nil {
		t.Fatalf("pattern: %v %+v", err, out)
	}
	out, err = c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePattern: aws.String("g3")})
	if err != nil || len(out.LogGroups) != 0 {
		t.Fatalf("pattern is case-sensitive: %v %+v", err, out)
	}
	out, err = c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	if err != nil || len(out.LogGroups) != 8 || out.NextToken != nil {
		t.Fatalf("all: %v %d", err, len(out.LogGroups))
	}
	_, err = c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePattern: aws.String("a"), LogGroupNamePrefix: aws.String("a")})
	apiCode(t, err, "InvalidParameterException")
	_, err = c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{NextToken: aws.String("g/forged.token")})
	apiCode(t, err, "InvalidParameterException")
	_, err = c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(51)})
	apiCode(t, err, "ValidationException") // the model's range check

	// Streams: 5 in one group, by name and by last event time.
	for i := range 5 {
		writeEvents(t, s, testAccount, "/aws/sagemaker/TrainingJobs", fmt.Sprintf("job-%d/algo-1-1700000000", i),
			t0.Add(time.Duration(5-i)*time.Second), time.Second, "a", "b")
	}
	writeEvents(t, s, testAccount, "/aws/sagemaker/TrainingJobs", "other/algo-1", t0, time.Second, "c")
	var streams []types.LogStream
	sp := cloudwatchlogs.NewDescribeLogStreamsPaginator(c, &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupName: aws.String("/aws/sagemaker/TrainingJobs"), LogStreamNamePrefix: aws.String("job-"), Limit: aws.Int32(2)})
	for sp.HasMorePages() {
		out, err := sp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, out.LogStreams...)
	}
	if len(streams) != 5 {
		t.Fatalf("%d streams", len(streams))
	}
	for i, st := range streams {
		first := t0.Add(time.Duration(5-i) * time.Second).UnixMilli()
		if *st.LogStreamName != fmt.Sprintf("job-%d/algo-1-1700000000", i) || aws.ToInt64(st.FirstEventTimestamp) != first ||
			aws.ToInt64(st.LastEventTimestamp) != first+1000 || aws.ToInt64(st.StoredBytes) != 2 || st.LastIngestionTime == nil ||
			*st.Arn != "arn:aws:logs:us-east-1:"+testAccount+":log-group:/aws/sagemaker/TrainingJobs:log-stream:"+*st.LogStreamName {
			t.Errorf("stream %d: %+v", i, st)
		}
	}
	// Newest first, by last event time, paged by 4, identified by ARN.
	var order []string
	sp = cloudwatchlogs.NewDescribeLogStreamsPaginator(c, &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:" + testAccount + ":log-group:/aws/sagemaker/TrainingJobs"),
		OrderBy:            types.OrderByLastEventTime, Descending: aws.Bool(true), Limit: aws.Int32(4)})
	for sp.HasMorePages() {
		out, err := sp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range out.LogStreams {
			order = append(order, *st.LogStreamName)
		}
	}
	want := []string{"job-0/algo-1-1700000000", "job-1/algo-1-1700000000", "job-2/algo-1-1700000000",
		"job-3/algo-1-1700000000", "job-4/algo-1-1700000000", "other/algo-1"}
	if !slices.Equal(order, want) {
		t.Fatalf("by last event time: %v", order)
	}
	_, err = c.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/sagemaker/TrainingJobs"),
		OrderBy: types.OrderByLastEventTime, LogStreamNamePrefix: aws.String("job")})
	apiCode(t, err, "InvalidParameterException")
	_, err = c.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("nope")})
	apiCode(t, err, "ResourceNotFoundException")
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || aws.ToString(rnf.Message) != "The specified log group does not exist." {
		t.Fatalf("not found: %v", err)
	}
	_, err = c.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("a"), LogGroupIdentifier: aws.String("a")})
	apiCode(t, err, "InvalidParameterException")

	// Another account sees nothing.
	bob := newClient(*c.Options().BaseEndpoint, "AKIDBOB")
	out, err = bob.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
	if err != nil || len(out.LogGroups) != 0 {
		t.Fatalf("bob sees %v %+v", err, out)
	}
	_, err = bob.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/sagemaker/TrainingJobs")})
	apiCode(t, err, "ResourceNotFoundException")
	_, err = bob.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:" + testAccount + ":log-group:/aws/sagemaker/TrainingJobs")})
	apiCode(t, err, "ResourceNotFoundException")
	// Alice's token is no good for Bob.
	first, err := c.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bob.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{Limit: aws.Int32(1), NextToken: first.NextToken})
	apiCode(t, err, "InvalidParameterException")
}

func TestGetLogEvents(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	srv := newTestServer(t, s)
	c := newClient(srv.URL, "AKIDALICE")
	const group, stream = "/aws/sagemaker/TrainingJobs", "job/algo-1-1700000000"
	t0 := time.UnixMilli(1_700_000_000_000)
	writeEvents(t, s, testAccount, group, stream, t0, time.Second, seq("e", 0, 25)...)
	in := func(mod func(*cloudwatchlogs.GetLogEventsInput)) *cloudwatchlogs.GetLogEventsInput {
		v := &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}
		mod(v)
		return v
	}

	// Forward from the head, as the SageMaker SDK and CLI follow a stream:
	// until nextForwardToken comes back unchanged.
	var got []string
	var token *string
	calls := 0
	for {
		out, err := c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) {
			v.StartFromHead, v.Limit, v.NextToken = aws.Bool(true), aws.Int32(10), token
		}))
		if err != nil {
			t.Fatal(err)
		}
		calls++
		got = append(got, outMsgs(out.Events)...)
		if out.NextForwardToken == nil || out.NextBackwardToken == nil {
			t.Fatal("tokens must never be null")
		}
		if token != nil && *out.NextForwardToken == *token {
			if len(out.Events) != 0 {
				t.Fatal("token repeated on a page with events")
			}
			break
		}
		token = out.NextForwardToken
		if calls > 10 {
			t.Fatal("forward paging does not end")
		}
	}
	if calls != 4 || !slices.Equal(got, seq("e", 0, 25)) {
		t.Fatalf("%d calls: %v", calls, got)
	}
	// New events show up behind the final token.
	writeEvents(t, s, testAccount, group, stream, t0.Add(25*time.Second), time.Second, "e25", "e26")
	out, err := c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) { v.StartFromHead, v.NextToken = aws.Bool(true), token }))
	if err != nil || !slices.Equal(outMsgs(out.Events), []string{"e25", "e26"}) || *out.NextForwardToken == *token {
		t.Fatalf("follow: %v %v", err, outMsgs(out.Events))
	}
	if ev := out.Events[0]; aws.ToInt64(ev.Timestamp) != t0.Add(25*time.Second).UnixMilli() || ev.IngestionTime == nil {
		t.Fatalf("event %+v", ev)
	}

	// The SDK paginator with StopOnDuplicateToken reads everything.
	var all []string
	p := cloudwatchlogs.NewGetLogEventsPaginator(c, in(func(v *cloudwatchlogs.GetLogEventsInput) { v.StartFromHead, v.Limit = aws.Bool(true), aws.Int32(7) }),
		func(o *cloudwatchlogs.GetLogEventsPaginatorOptions) { o.StopOnDuplicateToken = true })
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, outMsgs(out.Events)...)
	}
	if !slices.Equal(all, seq("e", 0, 27)) {
		t.Fatalf("paginator: %v", all)
	}

	// Default (no startFromHead): the last page, then backwards.
	out, err = c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) { v.Limit = aws.Int32(10) }))
	if err != nil || !slices.Equal(outMsgs(out.Events), seq("e", 17, 27)) {
		t.Fatalf("tail: %v %v", err, outMsgs(out.Events))
	}
	fwd := out.NextForwardToken
	var back [][]string
	token = out.NextBackwardToken
	for range 10 {
		out, err := c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) { v.Limit, v.NextToken = aws.Int32(10), token }))
		if err != nil {
			t.Fatal(err)
		}
		if *out.NextBackwardToken == *token {
			if len(out.Events) != 0 {
				t.Fatal("backward token repeated on a page with events")
			}
			break
		}
		back = append(back, outMsgs(out.Events))
		token = out.NextBackwardToken
	}
	if len(back) != 2 || !slices.Equal(back[0], seq("e", 7, 17)) || !slices.Equal(back[1], seq("e", 0, 7)) {
		t.Fatalf("backward pages: %v", back)
	}
	// The tail's forward token is the end: nothing new, same token.
	out, err = c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) { v.NextToken = fwd }))
	if err != nil || len(out.Events) != 0 || *out.NextForwardToken != *fwd {
		t.Fatalf("forward at end: %v %v", err, outMsgs(out.Events))
	}

	// Time ranges: startTime inclusive, endTime exclusive.
	out, err = c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) {
		v.StartFromHead = aws.Bool(true)
		v.StartTime, v.EndTime = aws.Int64(t0.Add(3*time.Second).UnixMilli()), aws.Int64(t0.Add(6*time.Second).UnixMilli())
	}))
	if err != nil || !slices.Equal(outMsgs(out.Events), []string{"e3", "e4", "e5"}) {
		t.Fatalf("range: %v %v", err, outMsgs(out.Events))
	}
	out, err = c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) {
		v.StartTime, v.Limit = aws.Int64(t0.Add(20*time.Second).UnixMilli()), aws.Int32(3)
	}))
	if err != nil || !slices.Equal(outMsgs(out.Events), []string{"e24", "e25", "e26"}) {
		t.Fatalf("range tail: %v %v", err, outMsgs(out.Events))
	}
	// An empty range still gives tokens, and following them stays put.
	out, err = c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) {
		v.StartFromHead, v.StartTime = aws.Bool(true), aws.Int64(t0.Add(time.Hour).UnixMilli())
	}))
	if err != nil || len(out.Events) != 0 {
		t.Fatalf("empty range: %v %v", err, out)
	}
	again, err := c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) {
		v.StartFromHead, v.StartTime, v.NextToken = aws.Bool(true), aws.Int64(t0.Add(time.Hour).UnixMilli()), out.NextForwardToken
	}))
	if err != nil || *again.NextForwardToken != *out.NextForwardToken {
		t.Fatalf("empty range follow: %v", err)
	}

	// The 1 MB page limit.
	big := strings.Repeat("z", 200<<10)
	writeEvents(t, s, testAccount, group, "big", t0, time.Millisecond, big, big, big, big, big, big, big)
	out, err = c.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String("big"), StartFromHead: aws.Bool(true)})
	if err != nil || len(out.Events) != 5 {
		t.Fatalf("1 MB page: %v, %d events", err, len(out.Events))
	}

	// Errors.
	_, err = c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) { v.LogStreamName = aws.String("missing") }))
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || aws.ToString(rnf.Message) != "The specified log stream does not exist." {
		t.Fatalf("missing stream: %v", err)
	}
	_, err = c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) { v.NextToken = aws.String("f/garbage") }))
	apiCode(t, err, "InvalidParameterException")
	_, err = c.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String("big"), NextToken: fwd})
	apiCode(t, err, "InvalidParameterException") // another stream's token
	tampered := []byte(*fwd)
	tampered[3] ^= 1
	_, err = c.GetLogEvents(ctx, in(func(v *cloudwatchlogs.GetLogEventsInput) { v.NextToken = aws.String(string(tampered)) }))
	apiCode(t, err, "InvalidParameterException")

	// Another account: not found, even by ARN.
	bob := newClient(srv.URL, "AKIDBOB")
	_, err = bob.GetLogEvents(ctx, in(func(*cloudwatchlogs.GetLogEventsInput) {}))
	apiCode(t, err, "ResourceNotFoundException")
	_, err = bob.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogStreamName: aws.String(stream),
		LogGroupIdentifier: aws.String("arn:aws:logs:us-east-1:" + testAccount + ":log-group:" + group)})
	apiCode(t, err, "ResourceNotFoundException")
}

func TestFilterLogEvents(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	srv := newTestServer(t, s)
	c := newClient(srv.URL, "AKIDALICE")
	const group = "/aws/sagemaker/TrainingJobs"
	t0 := time.UnixMilli(1_700_000_000_000)
	// Interleaved timestamps: algo-1 at even seconds, algo-2 at odd ones.
	writeEvents(t, s, testAccount, group, "job-a/algo-1", t0, 2*time.Second,
		"a1 starting", "a1 ERROR disk full", "a1 WARN slow", "a1 epoch=1 loss=0.5", "a1 Out of memory")
	writeEvents(t, s, testAccount, group, "job-a/algo-2", t0.Add(time.Second), 2*time.Second,
		"a2 starting", "a2 error lowercase", "a2 ERROR network", "a2 done")
	writeEvents(t, s, testAccount, group, "job-b/algo-1", t0, time.Second, "b1 ERROR elsewhere")
	writeEvents(t, s, otherAccount, group, "job-a/algo-1", t0, time.Second, "bob ERROR")

	filter := func(mod func(*cloudwatchlogs.FilterLogEventsInput)) ([]string, *cloudwatchlogs.FilterLogEventsOutput) {
		t.Helper()
		in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)}
		mod(in)
		var msgs []string
		var last *cloudwatchlogs.FilterLogEventsOutput
		p := cloudwatchlogs.NewFilterLogEventsPaginator(c, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, filteredMsgs(out.Events)...)
			last = out
		}
		return msgs, last
	}
	got, out := filter(func(in *cloudwatchlogs.FilterLogEventsInput) { in.LogStreamNamePrefix = aws.String("job-a/") })
	want := []string{"a1 starting", "a2 starting", "a1 ERROR disk full", "a2 error lowercase", "a1 WARN slow",
		"a2 ERROR network", "a1 epoch=1 loss=0.5", "a2 done", "a1 Out of memory"}
	if !slices.Equal(got, want) {
		t.Fatalf("interleaved: %v", got)
	}
	if len(out.SearchedLogStreams) != 2 || !aws.ToBool(out.SearchedLogStreams[0].SearchedCompletely) {
		t.Fatalf("searched: %+v", out.SearchedLogStreams)
	}
	ev := out.Events[0]
	if aws.ToString(ev.LogStreamName) != "job-a/algo-1" || aws.ToInt64(ev.Timestamp) != t0.UnixMilli() || ev.IngestionTime == nil || ev.EventId == nil {
		t.Fatalf("event %+v", ev)
	}

	for _, c := range []struct {
		pattern string
		want    []string
	}{
		{"ERROR", []string{"b1 ERROR elsewhere", "a1 ERROR disk full", "a2 ERROR network"}},
		{"ERROR disk", []string{"a1 ERROR disk full"}},
		{`"Out of memory"`, []string{"a1 Out of memory"}},
		{`"out of memory"`, nil},
		{"?WARN ?network", []string{"a1 WARN slow", "a2 ERROR network"}},
		{"a2 ?ERROR ?done", []string{"a2 ERROR network", "a2 done"}},
		{"loss=0.5", []string{"a1 epoch=1 loss=0.5"}},
		{"  ", []string{"a1 starting", "b1 ERROR elsewhere", "a2 starting"}}, // with the limit below
	} {
		got, _ := filter(func(in *cloudwatchlogs.FilterLogEventsInput) {
			in.FilterPattern = aws.String(c.pattern)
			if strings.TrimSpace(c.pattern) == "" {
				in.EndTime = aws.Int64(t0.Add(time.Second).UnixMilli()) // inclusive
			}
		})
		if !slices.Equal(got, c.want) {
			t.Errorf("pattern %q: %q, want %q", c.pattern, got, c.want)
		}
	}

	// Paging by 2 with a time range and stream names.
	var pages int
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), Limit: aws.Int32(2),
		LogStreamNames: []string{"job-a/algo-2", "job-a/algo-1"},
		StartTime:      aws.Int64(t0.Add(2 * time.Second).UnixMilli()), EndTime: aws.Int64(t0.Add(7 * time.Second).UnixMilli())}
	var paged []string
	for p := cloudwatchlogs.NewFilterLogEventsPaginator(c, in); p.HasMorePages(); pages++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, filteredMsgs(out.Events)...)
	}
	if pages != 3 || !slices.Equal(paged, want[2:8]) {
		t.Fatalf("%d pages: %v", pages, paged)
	}

	// A token belongs to its filter.
	first, err := c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), Limit: aws.Int32(1)})
	if err != nil || first.NextToken == nil {
		t.Fatal(err)
	}
	_, err = c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), Limit: aws.Int32(1),
		FilterPattern: aws.String("ERROR"), NextToken: first.NextToken})
	apiCode(t, err, "InvalidParameterException")
	_, err = c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group),
		LogStreamNames: []string{"x"}, LogStreamNamePrefix: aws.String("x")})
	apiCode(t, err, "InvalidParameterException")
	_, err = c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String("missing")})
	apiCode(t, err, "ResourceNotFoundException")

	// Event ids are unique and stable.
	a, _ := c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
	b, _ := c.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), StartTime: aws.Int64(t0.Add(5 * time.Second).UnixMilli())})
	ids := map[string]string{}
	for _, e := range a.Events {
		if _, dup := ids[*e.EventId]; dup {
			t.Fatalf("duplicate event id %s", *e.EventId)
		}
		ids[*e.EventId] = *e.Message
	}
	for _, e := range b.Events {
		if ids[*e.EventId] != *e.Message {
			t.Fatalf("event id %s changed meaning", *e.EventId)
		}
	}

	// Bob sees only his own events.
	bob := newClient(srv.URL, "AKIDBOB")
	bo, err := bob.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group)})
	if err != nil || !slices.Equal(filteredMsgs(bo.Events), []string{"bob ERROR"}) {
		t.Fatalf("bob: %v %v", err, bo)
	}
}

func TestPutLogEvents(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	c := newClient(newTestServer(t, s).URL, "AKIDALICE")
	now := time.Now().UnixMilli()
	put := func(group, stream string, ts ...int64) (*cloudwatchlogs.PutLogEventsOutput, error) {
		in := &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(stream)}
		for i, v := range ts {
			in.LogEvents = append(in.LogEvents, types.InputLogEvent{Timestamp: aws.Int64(v), Message: aws.String(fmt.Sprint("m", i))})
		}
		return c.PutLogEvents(ctx, in)
	}
	_, err := put("app", "s", now)
	apiCode(t, err, "ResourceNotFoundException")
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	_, err = put("app", "s", now)
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || aws.ToString(rnf.Message) != "The specified log stream does not exist." {
		t.Fatalf("put to missing stream: %v", err)
	}
	if _, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("app"), LogStreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("app"), LogStreamName: aws.String("s")})
	apiCode(t, err, "ResourceAlreadyExistsException")
	_, err = c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("nope"), LogStreamName: aws.String("s")})
	apiCode(t, err, "ResourceNotFoundException")

	out, err := put("app", "s", now-15*24*3600*1000, now, now+1, now+3*3600*1000)
	if err != nil {
		t.Fatal(err)
	}
	if r := out.RejectedLogEventsInfo; r == nil || aws.ToInt32(r.TooOldLogEventEndIndex) != 1 || aws.ToInt32(r.TooNewLogEventStartIndex) != 3 {
		t.Fatalf("rejected %+v", out.RejectedLogEventsInfo)
	}
	_, err = put("app", "s", now, now-1)
	apiCode(t, err, "InvalidParameterException")
	ev, err := c.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("app"), LogStreamName: aws.String("s"), StartFromHead: aws.Bool(true)})
	if err != nil || !slices.Equal(outMsgs(ev.Events), []string{"m1", "m2"}) {
		t.Fatalf("after put: %v %v", err, outMsgs(ev.Events))
	}
	_, err = c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("app"), LogStreamName: aws.String("s"),
		LogEvents: []types.InputLogEvent{}})
	apiCode(t, err, "ValidationException") // the model wants at least one event
}

func TestPattern(t *testing.T) {
	for _, c := range []struct {
		in        string
		all, any_ []string
	}{
		{"", nil, nil},
		{"ERROR", []string{"ERROR"}, nil},
		{` a  "b c" ?d ?"e f" "x\"y" "unterminated`, []string{"a", "b c", `x"y`, "unterminated"}, []string{"d", "e f"}},
		{"? a", []string{"?", "a"}, nil},
		{`{ $.level = "error" }`, []string{"{", "$.level", "=", "error", "}"}, nil},
		{`""`, nil, nil},
	} {
		p := parsePattern(c.in)
		if !slices.Equal(p.all, c.all) || !slices.Equal(p.any, c.any_) {
			t.Errorf("parsePattern(%q) = %q / %q", c.in, p.all, p.any)
		}
	}
}
