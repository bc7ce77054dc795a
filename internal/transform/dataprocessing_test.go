package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

const (
	csvT   = "text/csv"
	jsonT  = "application/json"
	jsonlT = "application/jsonlines"
)

// dpCase describes a job's data settings.
type dpCase struct {
	ct, accept string
	split      types.SplitType
	in, out    string
	join       bool
}

func (c dpCase) compile() (*dataProcessing, error) {
	if c.split == "" {
		c.split = types.SplitTypeLine
	}
	dp := &types.DataProcessing{}
	if c.in != "" {
		dp.InputFilter = aws.String(c.in)
	}
	if c.out != "" {
		dp.OutputFilter = aws.String(c.out)
	}
	if c.join {
		dp.JoinSource = types.JoinSourceInput
	}
	return compileDataProcessing(&types.TransformInput{ContentType: aws.String(c.ct), SplitType: c.split},
		&types.TransformOutput{Accept: aws.String(c.accept)}, dp)
}

func (c dpCase) mustCompile(t testing.TB) *dataProcessing {
	t.Helper()
	p, err := c.compile()
	if err != nil || p == nil {
		t.Fatalf("compile %+v: %v, %v", c, p, err)
	}
	return p
}

func TestDataProcessingCheck(t *testing.T) {
	long := "$." + strings.Repeat("a", 62)
	for _, tc := range []struct {
		name    string
		ct, acc string
		split   types.SplitType
		dp      *types.DataProcessing
		payload *int32
		want    string // "" = accepted
	}{
		{name: "absent", ct: "image/png", split: types.SplitTypeRecordio},
		{name: "all defaults is a no-op for any data", ct: "image/png", split: types.SplitTypeRecordio,
			dp: &types.DataProcessing{InputFilter: aws.String("$"), OutputFilter: aws.String(""), JoinSource: types.JoinSourceNone}},
		{name: "csv", ct: csvT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("$[1:]"), JoinSource: types.JoinSourceInput, OutputFilter: aws.String("$[0,-1]")}},
		{name: "csv with charset", ct: "text/csv; charset=utf-8", acc: "TEXT/CSV", split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("$[1]")}},
		{name: "json lines", ct: jsonlT, acc: jsonlT, split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("$.features"), JoinSource: types.JoinSourceInput, OutputFilter: aws.String("$['id','SageMakerOutput']")}},
		{name: "json whole object", ct: jsonT, acc: jsonT, split: types.SplitTypeNone, dp: &types.DataProcessing{JoinSource: types.JoinSourceInput}},
		{name: "json split unset means None", ct: jsonT, acc: csvT, dp: &types.DataProcessing{InputFilter: aws.String("$.x")}},
		{name: "jayway dot before bracket", ct: jsonlT, acc: jsonlT, split: types.SplitTypeLine, dp: &types.DataProcessing{OutputFilter: aws.String("$.a.['b','c']")}},
		{name: "index and slice mixed", ct: csvT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{OutputFilter: aws.String("$[0,5:]")}},
		{name: "payload 1", ct: csvT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{JoinSource: types.JoinSourceInput}, payload: aws.Int32(1)},

		{name: "bad join source", ct: csvT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{JoinSource: "Output"},
			want: "Value 'Output' at 'dataProcessing.joinSource' failed to satisfy constraint: Member must satisfy enum value set: [Input, None]"},
		{name: "too long", ct: csvT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{OutputFilter: aws.String(long)},
			want: "at 'dataProcessing.outputFilter' failed to satisfy constraint: Member must have length less than or equal to 63"},
		{name: "not a path", ct: csvT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("features")},
			want: "DataProcessing.InputFilter 'features' is not a valid JSONPath expression"},
		{name: "unterminated", ct: jsonlT, acc: jsonlT, split: types.SplitTypeLine, dp: &types.DataProcessing{OutputFilter: aws.String("$['id'")},
			want: "DataProcessing.OutputFilter '$['id'' is not a valid JSONPath expression"},
		{name: "bad path even when join is off and the other filter is $", ct: "image/png", split: types.SplitTypeNone, dp: &types.DataProcessing{InputFilter: aws.String("$["), OutputFilter: aws.String("$")},
			want: "is not a valid JSONPath expression"},
		{name: "recursive descent", ct: jsonlT, acc: jsonlT, split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("$..features")},
			want: "uses recursive descent (..), which is not supported"},
		{name: "filter expression", ct: jsonlT, acc: jsonlT, split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("$[?(@.a > 1)]")},
			want: "uses a filter expression (?...), which is not supported"},
		{name: "slice step", ct: csvT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("$[::2]")},
			want: "uses a slice step, which is not supported"},
		{name: "no content type", split: types.SplitTypeLine, acc: csvT, dp: &types.DataProcessing{JoinSource: types.JoinSourceInput},
			want: "TransformInput.ContentType must be text/csv, application/json or application/jsonlines, not unset"},
		{name: "binary content type", ct: "application/x-recordio-protobuf", acc: csvT, split: types.SplitTypeRecordio, dp: &types.DataProcessing{JoinSource: types.JoinSourceInput},
			want: `not "application/x-recordio-protobuf"`},
		{name: "no accept", ct: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("$[1:]")},
			want: "TransformOutput.Accept must be text/csv, application/json or application/jsonlines, not unset"},
		{name: "csv unsplit", ct: csvT, acc: csvT, split: types.SplitTypeNone, dp: &types.DataProcessing{InputFilter: aws.String("$[1:]")},
			want: "ContentType text/csv needs TransformInput.SplitType Line"},
		{name: "json lines unsplit", ct: jsonlT, acc: jsonlT, dp: &types.DataProcessing{JoinSource: types.JoinSourceInput},
			want: "ContentType application/jsonlines needs TransformInput.SplitType Line"},
		{name: "json recordio", ct: jsonT, acc: jsonT, split: types.SplitTypeRecordio, dp: &types.DataProcessing{JoinSource: types.JoinSourceInput},
			want: "needs TransformInput.SplitType Line (or None for application/json), not RecordIO"},
		{name: "name on csv input", ct: csvT, acc: jsonT, split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("$.features")},
			want: "InputFilter '$.features' cannot be applied to text/csv input"},
		{name: "wildcard on csv input", ct: csvT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("$[*]")},
			want: "cannot be applied to text/csv input"},
		{name: "nested index on csv", ct: csvT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{InputFilter: aws.String("$[1][0]")},
			want: "cannot be applied to text/csv input"},
		{name: "name on joined csv", ct: csvT, acc: jsonT, split: types.SplitTypeLine, dp: &types.DataProcessing{JoinSource: types.JoinSourceInput, OutputFilter: aws.String("$.SageMakerOutput")},
			want: "OutputFilter '$.SageMakerOutput' cannot be applied to CSV records (the input is text/csv, so joined records are CSV rows)"},
		{name: "name on csv results", ct: jsonlT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{OutputFilter: aws.String("$.label")},
			want: "cannot be applied to CSV records (Accept is text/csv)"},
		{name: "name on json joined from csv results is fine", ct: jsonlT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{JoinSource: types.JoinSourceInput, OutputFilter: aws.String("$.SageMakerOutput[0]")}},
		{name: "payload 0", ct: csvT, acc: csvT, split: types.SplitTypeLine, dp: &types.DataProcessing{JoinSource: types.JoinSourceInput}, payload: aws.Int32(0),
			want: "DataProcessing cannot be combined with MaxPayloadInMB 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &types.TransformInput{SplitType: tc.split}
			if tc.ct != "" {
				in.ContentType = aws.String(tc.ct)
			}
			out := &types.TransformOutput{}
			if tc.acc != "" {
				out.Accept = aws.String(tc.acc)
			}
			err := CheckDataProcessing(in, out, tc.dp, tc.payload)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDataProcessingInactive(t *testing.T) {
	for _, dp := range []*types.DataProcessing{nil, {}, {InputFilter: aws.String("$"), OutputFilter: aws.String("$"), JoinSource: types.JoinSourceNone}} {
		p, err := compileDataProcessing(&types.TransformInput{ContentType: aws.String(csvT)}, &types.TransformOutput{}, dp)
		if p != nil || err != nil {
			t.Fatalf("%+v: %+v %v, want inactive", dp, p, err)
		}
	}
}

// TestDataProcessingInputFilter covers filterInput: what is sent for one record.
func TestDataProcessingInputFilter(t *testing.T) {
	for _, tc := range []struct {
		c         dpCase
		rec, want string // want "" with err
		err       string
	}{
		// CSV rows are arrays of fields; the selection is re-encoded as a row.
		{c: dpCase{ct: csvT, accept: csvT, in: "$[1:]"}, rec: "id7,1,2,3\n", want: "1,2,3\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[1:]"}, rec: "id7,1,2,3", want: "1,2,3\n"}, // the last line, unterminated
		{c: dpCase{ct: csvT, accept: csvT, in: "$[1:]"}, rec: "id7,1,2,3\r\n", want: "1,2,3\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[1:3]"}, rec: "a,b,c,d\n", want: "b,c\n"}, // end exclusive (RFC 9535)
		{c: dpCase{ct: csvT, accept: csvT, in: "$[:2]"}, rec: "a,b,c,d\n", want: "a,b\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[-2:]"}, rec: "a,b,c,d\n", want: "c,d\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[0,-1]"}, rec: "a,b,c,d\n", want: "a,d\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[3,0]"}, rec: "a,b,c,d\n", want: "d,a\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[0,2:]"}, rec: "a,b,c,d\n", want: "a,c,d\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[-1]"}, rec: "a,b,c,d\n", want: "d\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[9:]"}, rec: "a,b\n", want: "\n"}, // slices never fail
		// CSV quoting survives: fields are parsed and re-encoded by encoding/csv.
		{c: dpCase{ct: csvT, accept: csvT, in: "$[1:]"}, rec: "1,\"a,b\",\"say \"\"hi\"\"\",plain\n", want: "\"a,b\",\"say \"\"hi\"\"\",plain\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[0]"}, rec: "\"x,y\",z\n", want: "\"x,y\"\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[1]"}, rec: "a,\" lead\"\n", want: "\" lead\"\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[1:]"}, rec: "a,,c\n", want: ",c\n"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[4]"}, rec: "a,b,c\n", err: "index 4 is out of range (the array has 3 elements)"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[-4]"}, rec: "a,b,c\n", err: "index -4 is out of range"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[1:]"}, rec: "a,\"b\n", err: "malformed CSV"},
		{c: dpCase{ct: csvT, accept: csvT, in: "$[1:]"}, rec: "a,b\"c\n", err: "malformed CSV"},

		// JSON records: the selected value is sent as JSON.
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.features"}, rec: `{"id":1,"features":[1,2.50,3e2]}` + "\n", want: "[1,2.50,3e2]\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.features"}, rec: `{"id":1,"features":{"b":1,"a":2}}`, want: `{"b":1,"a":2}` + "\n"}, // key order kept
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$['b','a']"}, rec: `{"a":1,"b":"<&>","c":3}`, want: `{"b":"<&>","a":1}` + "\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.x['p','q']"}, rec: `{"x":{"q":1,"p":2,"r":3}}`, want: `{"p":2,"q":1}` + "\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.f[1:]"}, rec: `{"f":[1,2,3]}`, want: "[2,3]\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.f[0]"}, rec: `{"f":[1,2,3]}`, want: "1\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.f[0,-1]"}, rec: `{"f":[1,2,3]}`, want: "[1,3]\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.*"}, rec: `{"z":1,"a":[2],"m":"s"}`, want: `[1,[2],"s"]` + "\n"}, // document order
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$[*].v"}, rec: `[{"v":1},{"v":2}]`, want: "[1,2]\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$[*]['v','w']"}, rec: `[{"w":0,"v":1},{"v":2,"w":3}]`, want: `[{"v":1,"w":0},{"v":2,"w":3}]` + "\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.a.['b','c']"}, rec: `{"a":{"c":1,"b":2}}`, want: `{"b":2,"c":1}` + "\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$['a.b']"}, rec: `{"a.b":1,"a":{"b":2}}`, want: "1\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$['x.[y']"}, rec: `{"x.[y":1,"x":{"y":2}}`, want: "1\n"}, // no dot dropped inside quotes
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.n"}, rec: `{"n":12345678901234567890.123456789}`, want: "12345678901234567890.123456789\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.s"}, rec: `{"s":"é\u00e9\n\"\\"}`, want: `"éé\n\"\\"` + "\n"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.s"}, rec: `{"s":1,"s":2}`, want: "2\n"}, // a repeated key: the last value
		{c: dpCase{ct: jsonT, accept: jsonT, split: types.SplitTypeNone, in: "$.features"}, rec: "{\n  \"features\": [1, 2]\n}\n", want: "[1,2]"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.features"}, rec: `{"id":1}`, err: `the object has no key "features"`},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$['id','x']"}, rec: `{"id":1}`, err: `the object has no key "x"`},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.features"}, rec: `[1,2]`, err: `cannot select key "features" from an array`},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$[0]"}, rec: `{"a":1}`, err: "cannot select index 0 from an object"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.f[3]"}, rec: `{"f":[1,2,3]}`, err: "index 3 is out of range (the array has 3 elements)"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.f"}, rec: `{"f":1} {"f":2}`, err: "invalid character '{' after top-level value"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.f"}, rec: `{"f":`, err: "not valid JSON"},
		{c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.f"}, rec: strings.Repeat("[", 10005) + strings.Repeat("]", 10005), err: "exceeded max depth"},
		// Without an InputFilter the record goes as it is.
		{c: dpCase{ct: jsonlT, accept: jsonlT, join: true}, rec: `{"a" : 1}` + "\r\n", want: `{"a" : 1}` + "\r\n"},
	} {
		t.Run(tc.c.in+" "+tc.rec, func(t *testing.T) {
			p := tc.c.mustCompile(t)
			got, err := p.filterInput(&dpCodec{}, []byte(tc.rec))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestDataProcessingAssemble covers one response: the count check, the join
// and the OutputFilter.
func TestDataProcessingAssemble(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      dpCase
		inputs []string // unfiltered records of the batch
		resp   string
		want   string
		err    string
	}{
		{name: "csv join and output filter", c: dpCase{ct: csvT, accept: csvT, in: "$[1:]", join: true, out: "$[0,-1]"},
			inputs: []string{"r1,1,2\n", "\"r,2\",3,4\n"}, resp: "3\n7\n", want: "r1,3\n\"r,2\",7\n"},
		{name: "csv join keeps every field", c: dpCase{ct: csvT, accept: csvT, join: true},
			inputs: []string{"a,\"b,c\"\n"}, resp: "x,\"y\"\"z\"\r\n", want: "a,\"b,c\",x,\"y\"\"z\"\n"},
		{name: "csv join then slice", c: dpCase{ct: csvT, accept: csvT, join: true, out: "$[1:]"},
			inputs: []string{"id,f1\n", "id2,f2\n"}, resp: "p1,q1\np2,q2", want: "f1,p1,q1\nf2,p2,q2\n"},
		{name: "csv results, output filter only", c: dpCase{ct: csvT, accept: csvT, out: "$[1]"},
			inputs: []string{"1\n", "2\n"}, resp: "a,b\nc,d\n", want: "b\nd\n"},
		{name: "csv output filter out of range", c: dpCase{ct: csvT, accept: csvT, join: true, out: "$[0,5]"},
			inputs: []string{"a,b\n", "c,d\n"}, resp: "1\n2\n", err: "record 4: OutputFilter $[0,5]: index 5 is out of range (the array has 3 elements)"},
		{name: "csv input, json results", c: dpCase{ct: csvT, accept: jsonlT, join: true},
			inputs: []string{"a,b\n", "c,d\n", "e,f\n", "g,h\n"}, resp: "[0.5,\"x,y\"]\n{\"label\":1}\n\"s\"\nnull\n",
			want: "a,b,0.5,\"x,y\"\nc,d,\"{\"\"label\"\":1}\"\ne,f,s\ng,h,null\n"},
		{name: "json lines join and pick", c: dpCase{ct: jsonlT, accept: jsonlT, in: "$.features", join: true, out: "$['id','SageMakerOutput']"},
			inputs: []string{`{"id":"a","features":[1,2]}` + "\n", `{"features":[3],"id":"b"}` + "\n"}, resp: "3\n{\"p\":0.9}\n",
			want: `{"id":"a","SageMakerOutput":3}` + "\n" + `{"id":"b","SageMakerOutput":{"p":0.9}}` + "\n"},
		{name: "json join appends, overwrites SageMakerOutput in place", c: dpCase{ct: jsonlT, accept: jsonlT, join: true},
			inputs: []string{`{"SageMakerOutput":"old","id":1}`, `{"id":2,"x":{"b":1,"a":2}}`}, resp: "1\n2\n",
			want: `{"SageMakerOutput":1,"id":1}` + "\n" + `{"id":2,"x":{"b":1,"a":2},"SageMakerOutput":2}` + "\n"},
		{name: "json non-objects are wrapped", c: dpCase{ct: jsonlT, accept: jsonlT, join: true},
			inputs: []string{"[1,2]", "7", `"s"`, "null"}, resp: "3\n[7]\n\"S\"\nnull\n",
			want: `{"SageMakerInput":[1,2],"SageMakerOutput":3}` + "\n" + `{"SageMakerInput":7,"SageMakerOutput":[7]}` + "\n" +
				`{"SageMakerInput":"s","SageMakerOutput":"S"}` + "\n" + `{"SageMakerInput":null,"SageMakerOutput":null}` + "\n"},
		{name: "json input, csv results", c: dpCase{ct: jsonlT, accept: csvT, join: true, out: "$['id','SageMakerOutput']"},
			inputs: []string{`{"id":1}`}, resp: "0.5,\"a,b\"\n", want: `{"id":1,"SageMakerOutput":["0.5","a,b"]}` + "\n"},
		{name: "json output filter slices the result", c: dpCase{ct: jsonlT, accept: jsonlT, join: true, out: "$.SageMakerOutput[1:]"},
			inputs: []string{`{"id":1}`}, resp: "[1,2,3]", want: "[2,3]\n"},
		{name: "json output filter missing key", c: dpCase{ct: jsonlT, accept: jsonlT, join: true, out: "$.id"},
			inputs: []string{`{"id":1}`, `{"name":2}`}, resp: "1\n2\n", err: `record 5: OutputFilter $.id: the object has no key "id"`},
		{name: "json output filter out of range", c: dpCase{ct: jsonlT, accept: jsonlT, join: true, out: "$.SageMakerOutput[2]"},
			inputs: []string{`{"id":1}`}, resp: "[1,2]", err: "index 2 is out of range"},
		{name: "json results compacted one per line", c: dpCase{ct: jsonlT, accept: jsonT, in: "$.f"},
			inputs: []string{"x", "y"}, resp: "{\n \"a\": 1\n}\n[1, 2]", want: "{\"a\":1}\n[1,2]\n"},
		{name: "json whole object with join", c: dpCase{ct: jsonT, accept: jsonT, split: types.SplitTypeNone, in: "$.features", join: true},
			inputs: []string{"{\"id\": 7,\n \"features\": [1, 2]}"}, resp: "{\n  \"score\": 3\n}\n",
			want: `{"id":7,"features":[1,2],"SageMakerOutput":{"score":3}}`},
		{name: "too few lines", c: dpCase{ct: csvT, accept: csvT, join: true},
			inputs: []string{"a\n", "b\n", "c\n"}, resp: "1\n2\n",
			err: "the response to records 4-6 holds 2 result lines for 3 input records; with DataProcessing the container must return exactly one result per input record (Accept text/csv)"},
		{name: "too many lines", c: dpCase{ct: csvT, accept: csvT, in: "$[0]"},
			inputs: []string{"a\n"}, resp: "1\n2\n", err: "the response to records 4 holds 2 result lines for 1 input record;"},
		{name: "empty response", c: dpCase{ct: csvT, accept: csvT, in: "$[0]"},
			inputs: []string{"a\n"}, resp: "", err: "holds 0 result lines for 1 input record;"},
		{name: "too many json values", c: dpCase{ct: jsonT, accept: jsonT, split: types.SplitTypeNone, join: true},
			inputs: []string{`{"a":1}`}, resp: `{"p":1}{"p":2}`, err: "holds 2 JSON values for 1 input record;"},
		{name: "json results that are not json", c: dpCase{ct: jsonlT, accept: jsonlT, join: true},
			inputs: []string{`{"a":1}`, `{"a":2}`}, resp: "positive\nnegative\n", err: "the response is not a sequence of JSON values (Accept application/jsonlines)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.c.mustCompile(t)
			b := dpBatch{}
			for i, in := range tc.inputs {
				b.nums = append(b.nums, 4+i)
				if p.join {
					b.inputs = append(b.inputs, []byte(in))
				}
			}
			got, err := p.assemble([]byte(tc.resp), b)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "ClientError: ") {
					t.Fatalf("got %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// sumContainer stands in for a container returning, per line, the sum of
// the numbers on it (a CSV row or a JSON array).
func sumContainer(body []byte) []byte {
	var out bytes.Buffer
	for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		l = strings.Trim(l, "[]\r")
		sum := 0.0
		for _, f := range strings.Split(l, ",") {
			v, _ := strconv.ParseFloat(f, 64)
			sum += v
		}
		fmt.Fprintf(&out, "%g\n", sum)
	}
	return out.Bytes()
}

// TestDataProcessingBatches streams an object through dp.batches: filtered
// records are batched within the limit, blank lines skipped, and each
// batch's response is assembled with its own inputs.
func TestDataProcessingBatches(t *testing.T) {
	var in strings.Builder
	var want strings.Builder
	sent, longest := 0, 0 // filtered bytes in all, and of the longest record
	for i := 1; i <= 200; i++ {
		fmt.Fprintf(&in, "\"id,%d\",%d,%d\n", i, i, 2*i)
		n := len(fmt.Sprintf("%d,%d\n", i, 2*i))
		sent += n
		longest = max(longest, n)
		if i%50 == 0 {
			in.WriteString("\n") // blank: neither sent nor written
		}
		fmt.Fprintf(&want, "\"id,%d\",%d\n", i, 3*i)
	}
	const limit = 100
	for _, strategy := range []types.BatchStrategy{types.BatchStrategyMultiRecord, types.BatchStrategySingleRecord} {
		t.Run(string(strategy), func(t *testing.T) {
			p := dpCase{ct: csvT, accept: csvT, in: "$[1:]", join: true, out: "$[0,-1]"}.mustCompile(t)
			var out bytes.Buffer
			calls := 0
			err := p.batches(strings.NewReader(in.String()), strategy, limit, nil, func(body []byte, assemble func([]byte) ([]byte, error)) error {
				calls++
				if len(body) > limit {
					t.Errorf("batch of %d bytes exceeds the limit", len(body))
				}
				if strings.Contains(string(body), "id") || strings.Contains(string(body), "\n\n") {
					t.Errorf("unfiltered or blank records sent: %q", body)
				}
				if strategy == types.BatchStrategySingleRecord && strings.Count(string(body), "\n") != 1 {
					t.Errorf("SingleRecord batch %q", body)
				}
				res, err := assemble(sumContainer(body))
				out.Write(res)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != want.String() {
				t.Fatalf("output differs:\n%s\nwant\n%s", out.String(), want.String())
			}
			// MultiRecord fills each batch until the next record would not fit.
			minCalls, maxCalls := (sent+limit-1)/limit, sent/(limit-longest)+1
			if strategy == types.BatchStrategySingleRecord && calls != 200 || strategy == types.BatchStrategyMultiRecord && (calls < minCalls || calls > maxCalls) {
				t.Fatalf("%d batches (MultiRecord wants %d-%d)", calls, minCalls, maxCalls)
			}
		})
	}
}

func TestDataProcessingBatchesErrors(t *testing.T) {
	p := dpCase{ct: csvT, accept: csvT, in: "$[2]"}.mustCompile(t)
	send := func([]byte, func([]byte) ([]byte, error)) error { return nil }
	err := p.batches(strings.NewReader("a,b,c\n\na,b\n"), types.BatchStrategyMultiRecord, 1<<20, nil, send)
	if err == nil || err.Error() != "ClientError: record 3: InputFilter $[2]: index 2 is out of range (the array has 2 elements)" {
		t.Fatalf("got %v", err)
	}
	// A record larger than MaxPayloadInMB fails before any filtering.
	err = p.batches(strings.NewReader(strings.Repeat("x", 200)+"\n"), types.BatchStrategyMultiRecord, 100, nil, send)
	if err == nil || !strings.Contains(err.Error(), "exceeds MaxPayloadInMB") {
		t.Fatalf("got %v", err)
	}
	// The callback's error stops the stream.
	stop := errors.New("stop")
	calls := 0
	err = p.batches(strings.NewReader("a,b,c\na,b,c\n"), types.BatchStrategySingleRecord, 100, nil, func([]byte, func([]byte) ([]byte, error)) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Fatalf("got %v after %d calls", err, calls)
	}
}

// TestDataProcessingWholeJSONObject is the SplitType=None path: the object
// is one record.
func TestDataProcessingWholeJSONObject(t *testing.T) {
	p := dpCase{ct: jsonT, accept: jsonT, split: types.SplitTypeNone, in: "$.features", join: true, out: "$['id','SageMakerOutput']"}.mustCompile(t)
	obj := "{\n  \"id\": \"doc-1\",\n  \"features\": [1, 2, 3],\n  \"note\": \"line\\nbreak\"\n}\n"
	var got []byte
	calls := 0
	err := p.batches(strings.NewReader(obj), types.BatchStrategyMultiRecord, 1<<20, nil, func(body []byte, assemble func([]byte) ([]byte, error)) error {
		calls++
		if string(body) != "[1,2,3]" {
			t.Errorf("sent %q", body)
		}
		var err error
		got, err = assemble([]byte("{\"score\": 6}\n"))
		return err
	})
	if err != nil || calls != 1 || string(got) != `{"id":"doc-1","SageMakerOutput":{"score":6}}` {
		t.Fatalf("got %q, %v after %d calls", got, err, calls)
	}
}

// benchmarkDataProcessing streams records through filtering, batching
// (1 MB) and assembly with sumContainer standing in for the container.
func benchmarkDataProcessing(b *testing.B, c dpCase, record func(i int) string) {
	p := c.mustCompile(b)
	var in strings.Builder
	for i := range 20000 {
		in.WriteString(record(i))
	}
	data := in.String()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		out := 0
		err := p.batches(strings.NewReader(data), types.BatchStrategyMultiRecord, 1<<20, nil, func(body []byte, assemble func([]byte) ([]byte, error)) error {
			res, err := assemble(sumContainer(body))
			out += len(res)
			return err
		})
		if err != nil || out == 0 {
			b.Fatal(err)
		}
	}
}

func BenchmarkDataProcessingCSVJoin(b *testing.B) {
	benchmarkDataProcessing(b, dpCase{ct: csvT, accept: csvT, in: "$[1:]", join: true, out: "$[0,-1]"},
		func(i int) string { return fmt.Sprintf("\"id,%d\",%d,%d,%d,%d\n", i, i, i+1, i+2, i+3) })
}

func BenchmarkDataProcessingJSONLinesJoin(b *testing.B) {
	benchmarkDataProcessing(b, dpCase{ct: jsonlT, accept: jsonlT, in: "$.features", join: true, out: "$['id','SageMakerOutput']"},
		func(i int) string {
			return fmt.Sprintf(`{"id":"r%d","features":[%d,%d,%d,%d],"meta":{"src":"web","n":%d}}`+"\n", i, i, i+1, i+2, i+3, i)
		})
}

// FuzzDataProcessingJSON checks the order-keeping JSON reader and writer
// against encoding/json: any valid document reads back to the same value.
func FuzzDataProcessingJSON(f *testing.F) {
	for _, seed := range []string{
		`{"b":1,"a":[true,false,null,-0.5e+3,"x"],"c":{}}`, `[]`, `[[],{},""]`, ` {"k" : "v" } `,
		`"esc \" \\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 <&>"`, "\"raw \xff bytes\"", `{"a":1,"a":2}`,
		`12345678901234567890.123456789e-7`, `{"nested":{"z":[1,{"y":2}]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeJSON(b)
		if !json.Valid(b) {
			if err == nil {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			return
		}
		if err != nil {
			t.Fatalf("rejected valid JSON %q: %v", b, err)
		}
		var out bytes.Buffer
		appendJSON(&out, v)
		var want, got any
		for _, x := range []struct {
			b []byte
			v *any
		}{{b, &want}, {out.Bytes(), &got}} {
			d := json.NewDecoder(bytes.NewReader(x.b))
			d.UseNumber()
			if err := d.Decode(x.v); err != nil {
				t.Fatalf("%q re-encoded as %q: %v", b, out.Bytes(), err)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q re-encoded as %q: %#v, want %#v", b, out.Bytes(), got, want)
		}
	})
}

func TestDataProcessingJSONKeyOrder(t *testing.T) {
	v, err := decodeJSON([]byte(` { "z" : 1 , "a" : { "y" : [ ] , "b" : { } } , "m" : "\u003c" } `))
	var out bytes.Buffer
	appendJSON(&out, v)
	if err != nil || out.String() != `{"z":1,"a":{"y":[],"b":{}},"m":"<"}` {
		t.Fatalf("got %q, %v", out.String(), err)
	}
}
