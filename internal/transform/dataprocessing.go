package transform

// DataProcessing (container-contract.md §4.7): InputFilter, JoinSource and
// OutputFilter of batch transform. Everything here is pure record handling;
// object() in batch.go feeds it one mini-batch at a time, so memory stays
// bounded by the batches in flight.
//
// JSONPath expressions are parsed by github.com/theory/jsonpath (RFC 9535)
// and restricted to the subset the service documents. They are evaluated
// here rather than by the library because JSON objects must keep their key
// order (Go maps do not, and a wildcard over a map would come out in random
// order), and because out-of-range indexes must fail instead of selecting
// nothing.

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/theory/jsonpath"
	"github.com/theory/jsonpath/spec"
)

// Keys the join adds to JSON records (the service's names).
const (
	joinOutputKey = "SageMakerOutput"
	joinInputKey  = "SageMakerInput"
)

const (
	maxFilterLen = 63 // api.md: InputFilter/OutputFilter length
)

// dpFormat is a data format DataProcessing understands.
type dpFormat int

const (
	dpCSV dpFormat = iota + 1
	dpJSON
	dpJSONLines
)

func (f dpFormat) String() string {
	switch f {
	case dpCSV:
		return "text/csv"
	case dpJSON:
		return "application/json"
	case dpJSONLines:
		return "application/jsonlines"
	}
	return "unknown"
}

// parseDPFormat maps a MIME type (parameters such as charset ignored) to a format.
func parseDPFormat(contentType string) (dpFormat, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, false
	}
	switch mt {
	case "text/csv":
		return dpCSV, true
	case "application/json":
		return dpJSON, true
	case "application/jsonlines":
		return dpJSONLines, true
	}
	return 0, false
}

// dataProcessing is a job's compiled DataProcessing; nil means inactive.
type dataProcessing struct {
	in, out dpFormat        // TransformInput.ContentType, TransformOutput.Accept
	line    bool            // SplitType=Line (else None: the object is one record)
	input   *dpFilter       // nil = "$"
	output  *dpFilter       // nil = "$"
	join    bool            // JoinSource=Input
	split   types.SplitType // for newRecordReader
}

// CheckDataProcessing validates a CreateTransformJob request's DataProcessing
// against its input and output; the error text is meant for a
// ValidationException.
func CheckDataProcessing(in *types.TransformInput, out *types.TransformOutput, dp *types.DataProcessing, maxPayloadInMB *int32) error {
	p, err := compileDataProcessing(in, out, dp)
	if err != nil || p == nil {
		return err
	}
	if maxPayloadInMB != nil && *maxPayloadInMB == 0 {
		return errors.New("DataProcessing cannot be combined with MaxPayloadInMB 0, which streams whole objects unsplit: records must be split to be filtered and joined. Set MaxPayloadInMB between 1 and 100.")
	}
	return nil
}

// compileDataProcessing parses and checks dp; it returns nil when dp is
// absent or changes nothing ("$", None, "$").
func compileDataProcessing(in *types.TransformInput, out *types.TransformOutput, dp *types.DataProcessing) (*dataProcessing, error) {
	if dp == nil {
		return nil, nil
	}
	p := &dataProcessing{}
	switch dp.JoinSource {
	case "", types.JoinSourceNone:
	case types.JoinSourceInput:
		p.join = true
	default:
		return nil, fmt.Errorf("1 validation error detected: Value '%s' at 'dataProcessing.joinSource' failed to satisfy constraint: Member must satisfy enum value set: [Input, None]", dp.JoinSource)
	}
	var err error
	if p.input, err = compileFilter("inputFilter", aws.ToString(dp.InputFilter)); err != nil {
		return nil, err
	}
	if p.output, err = compileFilter("outputFilter", aws.ToString(dp.OutputFilter)); err != nil {
		return nil, err
	}
	if p.input == nil && p.output == nil && !p.join {
		return nil, nil
	}

	var ct, accept string
	if in != nil {
		ct = aws.ToString(in.ContentType)
		p.split = in.SplitType
	}
	if out != nil {
		accept = aws.ToString(out.Accept)
	}
	var ok bool
	if p.in, ok = parseDPFormat(ct); !ok {
		return nil, fmt.Errorf("DataProcessing (InputFilter, JoinSource, OutputFilter) works only with CSV and JSON data: TransformInput.ContentType must be text/csv, application/json or application/jsonlines, not %s.", describeType(ct))
	}
	if p.out, ok = parseDPFormat(accept); !ok {
		return nil, fmt.Errorf("DataProcessing (InputFilter, JoinSource, OutputFilter) works only with CSV and JSON data: TransformOutput.Accept must be text/csv, application/json or application/jsonlines, not %s.", describeType(accept))
	}
	switch p.split {
	case types.SplitTypeLine:
		p.line = true
	case "", types.SplitTypeNone:
		p.split = types.SplitTypeNone
		if p.in != dpJSON {
			return nil, fmt.Errorf("DataProcessing with ContentType %s needs TransformInput.SplitType Line (one record per line), not None.", p.in)
		}
	default:
		return nil, fmt.Errorf("DataProcessing needs TransformInput.SplitType Line (or None for application/json), not %s.", p.split)
	}
	if p.in == dpCSV && p.input != nil && !p.input.indexOnly {
		return nil, fmt.Errorf("DataProcessing.InputFilter '%s' cannot be applied to text/csv input: a CSV row is an array of fields, so only index forms such as $[0], $[1:] or $[0,-1] apply.", p.input.expr)
	}
	if p.output != nil && p.outputFormat() == dpCSV && !p.output.indexOnly {
		why := "Accept is text/csv"
		if p.join {
			why = "the input is text/csv, so joined records are CSV rows"
		}
		return nil, fmt.Errorf("DataProcessing.OutputFilter '%s' cannot be applied to CSV records (%s): only index forms such as $[0], $[1:] or $[0,-1] apply.", p.output.expr, why)
	}
	return p, nil
}

func describeType(t string) string {
	if t == "" {
		return "unset"
	}
	return fmt.Sprintf("%q", t)
}

// outputFormat is the format of the records written: joined records keep
// the input's format (the service documents the join by input format),
// plain results keep the container's.
func (p *dataProcessing) outputFormat() dpFormat {
	if p.join {
		return p.in
	}
	return p.out
}

// ------------------------------------------------------------------ filters

// dpFilter is a compiled JSONPath expression of the supported subset:
// child segments of name, index, slice (no step) and wildcard selectors.
type dpFilter struct {
	expr      string
	segs      [][]spec.Selector
	singular  bool // every segment is one name or one index: selects one value
	names     bool // the last segment lists several names: rebuild an object
	indexOnly bool // at most one segment of indexes and slices (what CSV rows take)
}

// compileFilter parses one filter; "" and "$" (the whole record) give nil.
func compileFilter(member, expr string) (*dpFilter, error) {
	if utf8.RuneCountInString(expr) > maxFilterLen {
		return nil, fmt.Errorf("1 validation error detected: Value '%s' at 'dataProcessing.%s' failed to satisfy constraint: Member must have length less than or equal to %d", expr, member, maxFilterLen)
	}
	if expr == "" || expr == "$" {
		return nil, nil
	}
	name := strings.ToUpper(member[:1]) + member[1:]
	bad := func(format string, args ...any) error {
		return fmt.Errorf("DataProcessing.%s '%s' %s; supported: $, .name, ['a','b'], [i], [i,j] (negative from the end), [start:end] and *.", name, expr, fmt.Sprintf(format, args...))
	}
	p, err := jsonpath.Parse(dotBracket(expr))
	if err != nil {
		return nil, bad("is not a valid JSONPath expression (%s)", strings.TrimPrefix(err.Error(), "jsonpath: "))
	}
	f := &dpFilter{expr: expr, singular: true}
	for _, seg := range p.Query().Segments() {
		if seg.IsDescendant() {
			return nil, bad("uses recursive descent (..), which is not supported")
		}
		sels := seg.Selectors()
		for _, sel := range sels {
			switch s := sel.(type) {
			case spec.Name, spec.Index, spec.WildcardSelector:
			case spec.SliceSelector:
				if s.Step() != 1 {
					return nil, bad("uses a slice step, which is not supported")
				}
			case *spec.FilterSelector:
				return nil, bad("uses a filter expression (?...), which is not supported")
			default:
				return nil, bad("uses an unsupported selector %s", sel)
			}
		}
		if len(sels) != 1 || !isSingularSelector(sels[0]) {
			f.singular = false
		}
		f.segs = append(f.segs, sels)
	}
	if n := len(f.segs); n > 0 {
		last := f.segs[n-1]
		f.names = len(last) > 1
		for _, sel := range last {
			if _, ok := sel.(spec.Name); !ok {
				f.names = false
			}
		}
	}
	f.indexOnly = len(f.segs) <= 1
	for _, seg := range f.segs {
		for _, sel := range seg {
			switch sel.(type) {
			case spec.Index, spec.SliceSelector:
			default:
				f.indexOnly = false
			}
		}
	}
	return f, nil
}

func isSingularSelector(sel spec.Selector) bool {
	switch sel.(type) {
	case spec.Name, spec.Index:
		return true
	}
	return false
}

// dotBracket drops a '.' written before '[' outside quotes: the service's
// documented `$.field1.['child1','child2']` is Jayway syntax, which RFC 9535
// spells `$.field1['child1','child2']`.
func dotBracket(expr string) string {
	var b strings.Builder
	var quote byte
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(expr) {
				b.WriteByte(c)
				i++
				c = expr[i]
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '.' && i+1 < len(expr) && expr[i+1] == '[' && (i == 0 || expr[i-1] != '.'):
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// apply selects from v (a decoded record). A singular path gives the value
// itself; several names of one object give an object with those keys (in
// the order listed); anything else gives an array of the matches. A name
// missing from an object, an index out of range, or a name or index applied
// to the wrong kind of value fails: the record does not have the shape the
// filter expects.
func (f *dpFilter) apply(v any) (any, error) {
	nodes := []any{v}
	for i, seg := range f.segs {
		if i == len(f.segs)-1 && f.names {
			objs := make([]any, 0, len(nodes))
			for _, n := range nodes {
				o, ok := n.(*jsonObject)
				if !ok {
					return nil, fmt.Errorf("%s: %s is not a JSON object", f.expr, kindOf(n))
				}
				sel := &jsonObject{}
				for _, s := range seg {
					name := string(s.(spec.Name))
					val, ok := o.get(name)
					if !ok {
						return nil, fmt.Errorf("%s: the object has no key %q", f.expr, name)
					}
					sel.set(name, val)
				}
				objs = append(objs, sel)
			}
			if f.singularPrefix() {
				return objs[0], nil
			}
			return objs, nil
		}
		var next []any
		for _, n := range nodes {
			for _, sel := range seg {
				got, err := f.selectOne(sel, n)
				if err != nil {
					return nil, err
				}
				next = append(next, got...)
			}
		}
		nodes = next
	}
	if f.singular {
		return nodes[0], nil
	}
	if nodes == nil {
		nodes = []any{}
	}
	return nodes, nil
}

// singularPrefix reports whether every segment but the last is singular.
func (f *dpFilter) singularPrefix() bool {
	for _, seg := range f.segs[:len(f.segs)-1] {
		if len(seg) != 1 || !isSingularSelector(seg[0]) {
			return false
		}
	}
	return true
}

func (f *dpFilter) selectOne(sel spec.Selector, n any) ([]any, error) {
	switch s := sel.(type) {
	case spec.Name:
		o, ok := n.(*jsonObject)
		if !ok {
			return nil, fmt.Errorf("%s: cannot select key %q from %s", f.expr, string(s), kindOf(n))
		}
		val, ok := o.get(string(s))
		if !ok {
			return nil, fmt.Errorf("%s: the object has no key %q", f.expr, string(s))
		}
		return []any{val}, nil
	case spec.Index:
		a, ok := n.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: cannot select index %d from %s", f.expr, int(s), kindOf(n))
		}
		i := int(s)
		if i < 0 {
			i += len(a)
		}
		if i < 0 || i >= len(a) {
			return nil, fmt.Errorf("%s: index %d is out of range (the array has %d elements)", f.expr, int(s), len(a))
		}
		return []any{a[i]}, nil
	case spec.SliceSelector:
		a, ok := n.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: cannot slice %s", f.expr, kindOf(n))
		}
		lo, hi := s.Bounds(len(a))
		if lo >= hi {
			return nil, nil
		}
		return a[lo:hi], nil
	case spec.WildcardSelector:
		switch c := n.(type) {
		case []any:
			return c, nil
		case *jsonObject:
			vals := make([]any, len(c.keys))
			for i, k := range c.keys {
				vals[i] = c.vals[k]
			}
			return vals, nil
		}
		return nil, nil // a scalar has no children
	}
	return nil, fmt.Errorf("%s: unsupported selector %s", f.expr, sel)
}

func kindOf(v any) string {
	switch v.(type) {
	case *jsonObject:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// --------------------------------------------------------------- JSON model

// jsonObject is a JSON object that keeps its keys in document order.
type jsonObject struct {
	keys []string
	vals map[string]any
}

func (o *jsonObject) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// set adds k at the end, or replaces its value in place.
func (o *jsonObject) set(k string, v any) {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *jsonObject) clone() *jsonObject {
	c := &jsonObject{keys: append([]string(nil), o.keys...), vals: make(map[string]any, len(o.vals))}
	for k, v := range o.vals {
		c.vals[k] = v
	}
	return c
}

// decodeJSON parses exactly one JSON value (surrounding white space allowed).
// Objects become *jsonObject (a repeated key keeps its first position and
// last value), arrays []any, numbers json.Number (exact text kept).
// encoding/json checks the syntax (and bounds the nesting); the values are
// then read by parseJSON, because the Decoder's Token API, the only
// order-preserving way through encoding/json, is several times slower.
func decodeJSON(b []byte) (any, error) {
	if !json.Valid(b) {
		var raw json.RawMessage
		err := json.Unmarshal(b, &raw)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, err
	}
	return parseJSON(b), nil
}

// parseJSON reads one value of b, which must be valid JSON.
func parseJSON(b []byte) any {
	p := jsonParser{b: b}
	return p.value()
}

type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value() any {
	p.skipSpace()
	switch c := p.b[p.i]; c {
	case '{':
		p.i++
		o := &jsonObject{vals: map[string]any{}}
		p.skipSpace()
		if p.b[p.i] == '}' {
			p.i++
			return o
		}
		for {
			p.skipSpace()
			k := p.str()
			p.skipSpace()
			p.i++ // ':'
			o.set(k, p.value())
			p.skipSpace()
			c := p.b[p.i]
			p.i++ // ',' or '}'
			if c == '}' {
				return o
			}
		}
	case '[':
		p.i++
		a := []any{}
		p.skipSpace()
		if p.b[p.i] == ']' {
			p.i++
			return a
		}
		for {
			a = append(a, p.value())
			p.skipSpace()
			c := p.b[p.i]
			p.i++ // ',' or ']'
			if c == ']' {
				return a
			}
		}
	case '"':
		return p.str()
	case 't':
		p.i += 4
		return true
	case 'f':
		p.i += 5
		return false
	case 'n':
		p.i += 4
		return nil
	}
	start := p.i
	for p.i < len(p.b) && strings.IndexByte("+-0123456789.eE", p.b[p.i]) >= 0 {
		p.i++
	}
	return json.Number(p.b[start:p.i])
}

// str reads a string; escapes and invalid UTF-8 go through encoding/json,
// which decodes them (invalid bytes become U+FFFD).
func (p *jsonParser) str() string {
	start := p.i
	p.i++
	escaped := false
	for p.b[p.i] != '"' {
		if p.b[p.i] == '\\' {
			escaped = true
			p.i++
		}
		p.i++
	}
	p.i++
	raw := p.b[start:p.i]
	if !escaped && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// appendJSON writes v compactly; strings are escaped without the HTML
// escaping encoding/json applies by default, so text survives unchanged.
func appendJSON(buf *bytes.Buffer, v any) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	var walk func(v any)
	walk = func(v any) {
		switch c := v.(type) {
		case *jsonObject:
			buf.WriteByte('{')
			for i, k := range c.keys {
				if i > 0 {
					buf.WriteByte(',')
				}
				walk(k)
				buf.WriteByte(':')
				walk(c.vals[k])
			}
			buf.WriteByte('}')
		case []any:
			buf.WriteByte('[')
			for i, e := range c {
				if i > 0 {
					buf.WriteByte(',')
				}
				walk(e)
			}
			buf.WriteByte(']')
		case json.Number:
			buf.WriteString(string(c))
		case nil:
			buf.WriteString("null")
		case bool:
			if c {
				buf.WriteString("true")
			} else {
				buf.WriteString("false")
			}
		default: // string
			_ = enc.Encode(c)
			buf.Truncate(buf.Len() - 1) // Encode's newline
		}
	}
	walk(v)
}

// ---------------------------------------------------------------- CSV model

// dpCodec decodes and encodes records. CSV rows go through encoding/csv
// (RFC 4180 quoting) with one reader and one writer, each holding a 4 KB
// buffer, reused across records. The zero value is ready; not safe for
// concurrent use.
type dpCodec struct {
	src bytes.Reader
	r   *csv.Reader
	out bytes.Buffer
	w   *csv.Writer
}

// row reads one CSV row as a JSON array of its fields.
func (c *dpCodec) row(rec []byte) ([]any, error) {
	if c.r == nil {
		c.r = csv.NewReader(&c.src)
		c.r.FieldsPerRecord = -1
		c.r.ReuseRecord = true
	}
	c.src.Reset(rec)
	fields, err := c.r.Read()
	if err == io.EOF {
		return []any{""}, nil // an empty line is one empty field
	}
	var row []any
	if err == nil {
		row = make([]any, len(fields))
		for i, f := range fields {
			row[i] = f
		}
		if _, err = c.r.Read(); err == io.EOF {
			return row, nil
		} else if err == nil {
			err = errors.New("more than one row in one record")
		}
	}
	c.r = nil // it may hold unread bytes of this record
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		err = fmt.Errorf("column %d: %v", pe.Column, pe.Err) // pe.Line counts every record so far
	}
	return nil, fmt.Errorf("malformed CSV: %v", err)
}

// csvFields turns a value into CSV fields: an array gives one field per
// element, anything else one field; strings are taken as they are, other
// values as their compact JSON text.
func csvFields(v any) []string {
	a, ok := v.([]any)
	if !ok {
		a = []any{v}
	}
	fields := make([]string, len(a))
	for i, e := range a {
		if s, ok := e.(string); ok {
			fields[i] = s
			continue
		}
		var b bytes.Buffer
		appendJSON(&b, e)
		fields[i] = b.String()
	}
	return fields
}

// appendRow writes one CSV row (no line terminator), quoting as needed.
func (c *dpCodec) appendRow(buf *bytes.Buffer, fields []string) error {
	if c.w == nil {
		c.w = csv.NewWriter(&c.out)
	}
	c.out.Reset()
	if err := c.w.Write(fields); err != nil {
		return err
	}
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	buf.Write(c.out.Bytes()[:c.out.Len()-1]) // without the writer's "\n"
	return nil
}

// ------------------------------------------------------------------ records

// decode parses one record of format f.
func (c *dpCodec) decode(f dpFormat, rec []byte) (any, error) {
	if f == dpCSV {
		return c.row(rec)
	}
	v, err := decodeJSON(rec)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	return v, nil
}

// encode appends v as one record of format f (no line terminator).
func (c *dpCodec) encode(buf *bytes.Buffer, f dpFormat, v any) error {
	if f == dpCSV {
		return c.appendRow(buf, csvFields(v))
	}
	appendJSON(buf, v)
	return nil
}

// blankRecord reports a line holding only white space: such lines are
// neither sent nor written, so a trailing empty line does not break the
// one-result-per-record rule.
func blankRecord(rec []byte) bool {
	return len(bytes.TrimSpace(rec)) == 0
}

// filterInput returns what is sent for one input record: the record itself
// without an InputFilter, else the selected value re-encoded in the input
// format (line records end with "\n").
func (p *dataProcessing) filterInput(c *dpCodec, rec []byte) ([]byte, error) {
	if p.input == nil {
		return rec, nil
	}
	v, err := c.decode(p.in, rec)
	if err != nil {
		return nil, err
	}
	if v, err = p.input.apply(v); err != nil {
		return nil, fmt.Errorf("InputFilter %v", err)
	}
	var buf bytes.Buffer
	if err := c.encode(&buf, p.in, v); err != nil {
		return nil, err
	}
	if p.line {
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// splitResults cuts a response into its result records: lines for CSV;
// for JSON and JSON Lines, the JSON values it holds, so one pretty-printed
// value spanning lines is still one record.
func (p *dataProcessing) splitResults(body []byte) ([][]byte, error) {
	if p.out == dpCSV {
		if len(body) == 0 {
			return nil, nil
		}
		lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
		for i, l := range lines {
			lines[i] = bytes.TrimSuffix(l, []byte("\r"))
		}
		return lines, nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	var out [][]byte
	for {
		var raw json.RawMessage
		err := d.Decode(&raw)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("the response is not a sequence of JSON values (Accept %s): %v", p.out, err)
		}
		out = append(out, raw)
	}
}

// dpBatch is one mini-batch's bookkeeping for assembling its response.
type dpBatch struct {
	nums   []int    // 1-based record numbers in the object (for messages)
	inputs [][]byte // unfiltered records, kept only when joining
}

// assemble turns one response into the batch's output: exactly one result
// per input record, each joined with its unfiltered input (JoinSource=Input)
// and passed through the OutputFilter.
func (p *dataProcessing) assemble(body []byte, b dpBatch) ([]byte, error) {
	results, err := p.splitResults(body)
	if err != nil {
		return nil, fmt.Errorf("ClientError: records %s: %v", recordRange(b.nums), err)
	}
	if len(results) != len(b.nums) {
		unit := "result line"
		if p.out != dpCSV {
			unit = "JSON value"
		}
		return nil, fmt.Errorf("ClientError: the response to records %s holds %s for %s; with DataProcessing the container must return exactly one result per input record (Accept %s)",
			recordRange(b.nums), plural(len(results), unit), plural(len(b.nums), "input record"), p.out)
	}
	var (
		buf   bytes.Buffer
		codec dpCodec
	)
	for i, res := range results {
		if err := p.outputRecord(&codec, &buf, res, b, i); err != nil {
			return nil, fmt.Errorf("ClientError: record %d: %v", b.nums[i], err)
		}
		if p.line {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes(), nil
}

func (p *dataProcessing) outputRecord(c *dpCodec, buf *bytes.Buffer, res []byte, b dpBatch, i int) error {
	if !p.join && p.output == nil {
		if p.out == dpCSV {
			buf.Write(res)
			return nil
		}
		return json.Compact(buf, res) // one line per record
	}
	var v any
	if p.out == dpCSV {
		row, err := c.row(res)
		if err != nil {
			return fmt.Errorf("result: %v", err)
		}
		v = row
	} else {
		v = parseJSON(res) // splitResults checked it
	}
	if p.join {
		in, err := c.decode(p.in, b.inputs[i])
		if err != nil {
			return fmt.Errorf("input: %v", err)
		}
		v = joinRecord(p.in, in, v)
	}
	if p.output != nil {
		var err error
		if v, err = p.output.apply(v); err != nil {
			return fmt.Errorf("OutputFilter %v", err)
		}
	}
	return c.encode(buf, p.outputFormat(), v)
}

// joinRecord joins a result with its unfiltered input, by the input's
// format: a CSV row gets the result's fields appended; a JSON object gets
// the result under SageMakerOutput; any other JSON value is wrapped as
// {"SageMakerInput": input, "SageMakerOutput": result}.
func joinRecord(in dpFormat, input, result any) any {
	if in == dpCSV {
		row := append([]any(nil), input.([]any)...)
		for _, f := range csvFields(result) {
			row = append(row, f)
		}
		return row
	}
	if o, ok := input.(*jsonObject); ok {
		o = o.clone()
		o.set(joinOutputKey, result)
		return o
	}
	o := &jsonObject{}
	o.set(joinInputKey, input)
	o.set(joinOutputKey, result)
	return o
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func recordRange(nums []int) string {
	if len(nums) == 1 {
		return fmt.Sprint(nums[0])
	}
	return fmt.Sprintf("%d-%d", nums[0], nums[len(nums)-1])
}

// batches is batches() under DataProcessing: records are filtered before
// batching (MaxPayloadInMB bounds the filtered batch), blank lines are
// skipped, and each mini-batch (in a buffer from bufs, nil: new ones) is
// passed to fn with the function that assembles its response, which keeps
// the batch's unfiltered inputs.
func (p *dataProcessing) batches(r io.Reader, strategy types.BatchStrategy, limit int64, bufs *buffers, fn func(body []byte, assemble func([]byte) ([]byte, error)) error) error {
	next := newRecordReader(r, p.split, limit)
	var (
		buf   []byte
		cur   dpBatch
		seen  int
		codec dpCodec
	)
	flush := func() error {
		if len(cur.nums) == 0 {
			return nil
		}
		body, b := buf, cur
		buf, cur = nil, dpBatch{}
		return fn(body, func(resp []byte) ([]byte, error) { return p.assemble(resp, b) })
	}
	for {
		_, rec, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		seen++
		if p.line && blankRecord(rec) {
			continue
		}
		filtered, err := p.filterInput(&codec, rec)
		if err != nil {
			return fmt.Errorf("ClientError: record %d: %v", seen, err)
		}
		if limit > 0 && len(cur.nums) > 0 && int64(len(buf)+len(filtered)) > limit {
			if err := flush(); err != nil {
				return err
			}
		}
		if limit > 0 && int64(len(filtered)) > limit {
			return fmt.Errorf("ClientError: record %d is %d bytes after the InputFilter, more than MaxPayloadInMB", seen, len(filtered))
		}
		if buf == nil {
			buf = bufs.get(len(filtered))
		}
		buf = append(buf, filtered...)
		cur.nums = append(cur.nums, seen)
		if p.join {
			// rec is the record reader's until the next record.
			cur.inputs = append(cur.inputs, bytes.Clone(rec))
		}
		if strategy == types.BatchStrategySingleRecord {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
