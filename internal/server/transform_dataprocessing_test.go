package server_test

// Batch transform DataProcessing (InputFilter, JoinSource, OutputFilter;
// container-contract.md §4.7) against a real Docker Engine. The contract
// image's "sum" mode answers one line per request line: the sum of its
// numbers, so any unfiltered id column reaching it fails the request.

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

func dataProcessing(in, join, out string) *types.DataProcessing {
	dp := &types.DataProcessing{JoinSource: types.JoinSource(join)}
	if in != "" {
		dp.InputFilter = aws.String(in)
	}
	if out != "" {
		dp.OutputFilter = aws.String(out)
	}
	return dp
}

func TestTransformDataProcessingCSV(t *testing.T) {
	te := startTransform(t)
	te.createModel(t, "sum", map[string]string{"INVOKE_MODE": "sum"})
	te.put(t, "dp-csv/a.csv", []byte("r1,1,2,3\nr2,10,20,30\n\"r,3\",0.5,0.25,1\n"))
	te.put(t, "dp-csv/b.csv", []byte("\"say \"\"hi\"\"\",4,4\n\nlast,1,1")) // a blank line, no final newline
	in := te.transformInput("dpcsv", "sum", "dp-csv/")
	in.TransformOutput.Accept = aws.String("text/csv")
	in.MaxPayloadInMB = aws.Int32(1)
	in.DataProcessing = dataProcessing("$[1:]", "Input", "$[0,-1]")
	d := te.runTransform(t, in)
	if d.TransformJobStatus != types.TransformJobStatusCompleted {
		t.Fatalf("status %s: %s", d.TransformJobStatus, aws.ToString(d.FailureReason))
	}
	if got, _ := te.get(t, "out-dpcsv/a.csv.out"); got != "r1,6\nr2,60\n\"r,3\",1.75\n" {
		t.Fatalf("a.csv.out = %q", got)
	}
	if got, _ := te.get(t, "out-dpcsv/b.csv.out"); got != "\"say \"\"hi\"\"\",8\nlast,2\n" {
		t.Fatalf("b.csv.out = %q", got)
	}
	if dp := d.DataProcessing; dp == nil || aws.ToString(dp.InputFilter) != "$[1:]" || dp.JoinSource != types.JoinSourceInput || aws.ToString(dp.OutputFilter) != "$[0,-1]" {
		t.Fatalf("DataProcessing not echoed: %+v", d.DataProcessing)
	}
	te.assertTransformClean(t, "dpcsv")
}

func TestTransformDataProcessingJSON(t *testing.T) {
	te := startTransform(t)
	te.createModel(t, "sum", map[string]string{"INVOKE_MODE": "sum"})

	// JSON Lines, one record per request, two in flight: results still
	// pair with their own inputs, in input order.
	te.put(t, "dp-jsonl/a.jsonl", []byte(`{"id":"a","features":[1,2,3],"meta":{"z":1,"a":2}}`+"\n"+
		`{"features":[4,5],"id":"b","SageMakerOutput":"old"}`+"\n"+
		`{"id":"c","features":[0.5]}`+"\n"))
	in := te.transformInput("dpjsonl", "sum", "dp-jsonl/")
	in.TransformInput.ContentType = aws.String("application/jsonlines")
	in.TransformOutput.Accept = aws.String("application/jsonlines")
	in.BatchStrategy = types.BatchStrategySingleRecord
	in.MaxConcurrentTransforms = aws.Int32(2)
	in.DataProcessing = dataProcessing("$.features", "Input", "$['id','SageMakerOutput']")
	d := te.runTransform(t, in)
	if d.TransformJobStatus != types.TransformJobStatusCompleted {
		t.Fatalf("status %s: %s", d.TransformJobStatus, aws.ToString(d.FailureReason))
	}
	want := `{"id":"a","SageMakerOutput":6}` + "\n" + `{"id":"b","SageMakerOutput":9}` + "\n" + `{"id":"c","SageMakerOutput":0.5}` + "\n"
	if got, _ := te.get(t, "out-dpjsonl/a.jsonl.out"); got != want {
		t.Fatalf("a.jsonl.out = %q, want %q", got, want)
	}

	// A whole JSON document (SplitType None) is one record; without an
	// OutputFilter the joined record keeps every input key in order.
	te.put(t, "dp-json/doc.json", []byte("{\n  \"id\": 7,\n  \"features\": [1, 2],\n  \"note\": \"<kept>\"\n}\n"))
	in = te.transformInput("dpjson", "sum", "dp-json/")
	in.TransformInput.ContentType = aws.String("application/json")
	in.TransformInput.SplitType = types.SplitTypeNone
	in.TransformOutput.Accept = aws.String("application/json")
	in.TransformOutput.AssembleWith = types.AssemblyTypeNone
	in.DataProcessing = dataProcessing("$.features", "Input", "")
	d = te.runTransform(t, in)
	if d.TransformJobStatus != types.TransformJobStatusCompleted {
		t.Fatalf("status %s: %s", d.TransformJobStatus, aws.ToString(d.FailureReason))
	}
	if got, _ := te.get(t, "out-dpjson/doc.json.out"); got != `{"id":7,"features":[1,2],"note":"<kept>","SageMakerOutput":3}` {
		t.Fatalf("doc.json.out = %q", got)
	}
	te.assertTransformClean(t, "dpjsonl", "dpjson")
}

func TestTransformDataProcessingFailures(t *testing.T) {
	te := startTransform(t)
	ctx := context.Background()
	te.createModel(t, "count", map[string]string{"INVOKE_MODE": "count"}) // one line per request
	te.createModel(t, "sum", map[string]string{"INVOKE_MODE": "sum"})

	// Checked at CreateTransformJob.
	for _, tc := range []struct {
		name string
		edit func(*sm.CreateTransformJobInput)
		want string
	}{
		{"bad path", func(in *sm.CreateTransformJobInput) { in.DataProcessing = dataProcessing("$[1:", "", "") },
			"DataProcessing.InputFilter '$[1:' is not a valid JSONPath expression"},
		{"recursive descent", func(in *sm.CreateTransformJobInput) { in.DataProcessing = dataProcessing("", "Input", "$..id") },
			"DataProcessing.OutputFilter '$..id' uses recursive descent (..), which is not supported"},
		{"name on csv", func(in *sm.CreateTransformJobInput) { in.DataProcessing = dataProcessing("$.features", "", "") },
			"InputFilter '$.features' cannot be applied to text/csv input"},
		{"no accept", func(in *sm.CreateTransformJobInput) {
			in.TransformOutput.Accept = nil
			in.DataProcessing = dataProcessing("", "Input", "")
		}, "TransformOutput.Accept must be text/csv, application/json or application/jsonlines, not unset"},
		{"unsplit csv", func(in *sm.CreateTransformJobInput) {
			in.TransformInput.SplitType = types.SplitTypeNone
			in.DataProcessing = dataProcessing("", "Input", "")
		}, "ContentType text/csv needs TransformInput.SplitType Line"},
		{"payload 0", func(in *sm.CreateTransformJobInput) {
			in.MaxPayloadInMB = aws.Int32(0)
			in.DataProcessing = dataProcessing("$[1:]", "", "")
		}, "DataProcessing cannot be combined with MaxPayloadInMB 0"},
		{"bad join source", func(in *sm.CreateTransformJobInput) { in.DataProcessing = dataProcessing("", "Output", "") },
			"Member must satisfy enum value set: [Input, None]"},
	} {
		in := te.transformInput("v-"+strings.ReplaceAll(tc.name, " ", "-"), "sum", "train/")
		in.TransformOutput.Accept = aws.String("text/csv")
		tc.edit(in)
		_, err := te.sm.CreateTransformJob(ctx, in)
		if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a ValidationException containing %q", tc.name, err, tc.want)
		}
	}

	// A response without one result per input record fails the object.
	te.put(t, "dp-bad/a.csv", []byte("1,2\n3,4\n5,6\n"))
	in := te.transformInput("dpbad", "count", "dp-bad/")
	in.TransformOutput.Accept = aws.String("text/csv")
	in.DataProcessing = dataProcessing("", "Input", "")
	d := te.runTransform(t, in)
	if d.TransformJobStatus != types.TransformJobStatusFailed {
		t.Fatalf("status %s, want Failed", d.TransformJobStatus)
	}
	mustContain(t, "failure reason", aws.ToString(d.FailureReason), "1 of 1 input objects failed", "s3://data/dp-bad/a.csv",
		"the response to records 1-3 holds 1 result line for 3 input records", "exactly one result per input record")
	if _, ok := te.get(t, "out-dpbad/a.csv.out"); ok {
		t.Fatal("output written for a failed object")
	}

	// An OutputFilter index beyond the joined record fails the object too.
	te.put(t, "dp-range/a.csv", []byte("x,1\n"))
	in = te.transformInput("dprange", "sum", "dp-range/")
	in.TransformOutput.Accept = aws.String("text/csv")
	in.DataProcessing = dataProcessing("$[1:]", "Input", "$[3]")
	d = te.runTransform(t, in)
	if d.TransformJobStatus != types.TransformJobStatusFailed {
		t.Fatalf("status %s, want Failed", d.TransformJobStatus)
	}
	mustContain(t, "failure reason", aws.ToString(d.FailureReason), "s3://data/dp-range/a.csv",
		"record 1: OutputFilter $[3]: index 3 is out of range (the array has 3 elements)")
	te.assertTransformClean(t, "dpbad", "dprange")
}
