package awsjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/aws/smithy-go/traits"

	"github.com/wharfml/wharf/internal/awsapi/shapes"
)

// Member names. The aws-sdk-go-v2 structs do not carry wire names, and they
// differ from the Go field names in some services (ECR and CloudWatch Logs
// use lowerCamelCase, except ECR's Tag.Key/Value). Every SDK struct has a
// generated Serialize method whose first call is WriteStruct(<its schema>);
// calling it once on a zero value yields the schema, whose member names are
// the wire names (matched to fields ignoring case, which Smithy guarantees is
// unambiguous). Structs without a schema (Wharf's own API types) use the
// encoding/json tag name if any, else the field name.

var (
	timeType          = reflect.TypeFor[time.Time]()
	metadataType      = reflect.TypeFor[middleware.Metadata]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	serializableType  = reflect.TypeFor[smithy.Serializable]()
	docMarshalerType  = reflect.TypeFor[documentMarshaler]()
	docUnmarshalerTyp = reflect.TypeFor[documentUnmarshaler]()
)

// documentMarshaler is implemented by the SDKs' document.Interface values.
type documentMarshaler interface {
	MarshalSmithyDocument() ([]byte, error)
}

type documentUnmarshaler interface {
	UnmarshalSmithyDocument(v interface{}) error
}

type fieldInfo struct {
	index     []int
	goName    string
	wire      string
	omitEmpty bool   // `json:",omitempty"` on non-SDK structs
	tsFormat  string // timestampFormat trait: "", "epoch-seconds", "date-time", "http-date"
}

type structInfo struct {
	fields []fieldInfo
	byWire map[string]*fieldInfo
}

var structCache sync.Map // reflect.Type -> *structInfo

// schemaRecorder captures the schema passed to the first WriteStruct call.
// Other ShapeSerializer methods are left to the nil embedded interface: they
// panic, which schemaOf recovers from after the schema has been captured.
type schemaRecorder struct {
	smithy.ShapeSerializer
	schema *smithy.Schema
}

func (r *schemaRecorder) WriteStruct(s *smithy.Schema) {
	if r.schema == nil {
		r.schema = s
	}
	panic(r) // stop: nothing else is needed
}

func schemaOf(t reflect.Type) (schema *smithy.Schema) {
	if !reflect.PointerTo(t).Implements(serializableType) {
		return nil
	}
	rec := &schemaRecorder{}
	func() {
		defer func() { _ = recover() }()
		reflect.New(t).Interface().(smithy.Serializable).Serialize(rec)
	}()
	return rec.schema
}

func infoFor(t reflect.Type) *structInfo {
	if v, ok := structCache.Load(t); ok {
		return v.(*structInfo)
	}
	info := &structInfo{byWire: map[string]*fieldInfo{}}
	var members map[string]*smithy.Schema
	if s := schemaOf(t); s != nil {
		members = s.Members()
	}
	collectFields(t, nil, members, info)
	for i := range info.fields {
		info.byWire[info.fields[i].wire] = &info.fields[i]
	}
	v, _ := structCache.LoadOrStore(t, info)
	return v.(*structInfo)
}

func collectFields(t reflect.Type, prefix []int, members map[string]*smithy.Schema, info *structInfo) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		index := append(slices.Clone(prefix), i)
		if f.Anonymous && members == nil && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == "" {
			collectFields(f.Type, index, nil, info) // promoted fields of an embedded struct
			continue
		}
		if !f.IsExported() || f.Type == metadataType {
			continue
		}
		fi := fieldInfo{index: index, goName: f.Name, wire: f.Name}
		if members != nil {
			var ms *smithy.Schema
			for name, s := range members {
				if strings.EqualFold(name, f.Name) {
					fi.wire, ms = name, s
					break
				}
			}
			// No member matching the field (none known in the SDK versions
			// used): keep the Go name rather than drop data.
			if ms != nil {
				if tf, ok := smithy.SchemaTrait[*traits.TimestampFormat](ms); ok {
					fi.tsFormat = tf.Format
				}
			}
		} else if tag, ok := f.Tag.Lookup("json"); ok {
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" && opts == "" {
				continue
			}
			if name != "" {
				fi.wire = name
			}
			fi.omitEmpty = slices.Contains(strings.Split(opts, ","), "omitempty")
		}
		info.fields = append(info.fields, fi)
	}
}

// pathJoin builds member paths like the shapes package: lowerCamelCase names
// joined by ".", list items as ".<n>.member".
func pathJoin(path, name string) string {
	r, size := utf8.DecodeRuneInString(name)
	if r != utf8.RuneError && unicode.IsUpper(r) {
		name = string(unicode.ToLower(r)) + name[size:]
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

func displayPath(path string) string {
	if path == "" {
		return "<root>"
	}
	return path
}

// --- Unmarshal ------------------------------------------------------------

// Unmarshal decodes an AWS JSON request body into v, a non-nil pointer
// (usually to an aws-sdk-go-v2 input struct).
//
// Members are matched by exact wire name; unknown members are skipped; JSON
// null leaves a member unset; an empty body counts as {}. Supported targets:
// pointers, strings and string-kinded enums, bools, integers (integral JSON
// numbers in range), floats (also "NaN", "Infinity", "-Infinity"), []byte
// (base64), slices, maps with string keys, structs, time.Time (epoch seconds
// as an integer or fractional number, or leniently an ISO-8601 string), any
// (the decoded JSON with json.Number numbers) and json.RawMessage. SDK
// document members are skipped. SDK union members are not supported: a
// request setting one fails with a ValidationException *Error.
//
// A JSON value of the wrong type yields a *shapes.SerializationError naming
// the member path.
func Unmarshal(body []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("awsjson: Unmarshal needs a non-nil pointer, got %T", v)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var data any
	if err := dec.Decode(&data); err != nil {
		return &shapes.SerializationError{Message: "Malformed JSON request body: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &shapes.SerializationError{Message: "Malformed JSON request body: unexpected data after the top-level value"}
	}
	if rv.Elem().Kind() == reflect.Struct {
		if _, ok := data.(map[string]any); !ok {
			return &shapes.SerializationError{Message: "Request body must be a JSON object, found " + jsonKind(data)}
		}
	}
	return decodeValue(rv.Elem(), data, "", "")
}

func jsonKind(data any) string {
	switch data.(type) {
	case string:
		return "STRING_VALUE"
	case json.Number:
		return "NUMBER_VALUE"
	case bool:
		return "BOOLEAN_VALUE"
	case []any:
		return "START_ARRAY"
	case map[string]any:
		return "START_OBJECT"
	}
	return "VALUE_NULL"
}

func typeMismatch(data any, path, want string) error {
	msg := jsonKind(data) + " can not be converted to " + want
	switch data.(type) {
	case map[string]any:
		msg = "Start of structure or map found where not expected"
	case []any:
		msg = "Start of list found where not expected"
	}
	return &shapes.SerializationError{Message: fmt.Sprintf("%s at '%s'", msg, displayPath(path))}
}

func decodeValue(rv reflect.Value, data any, path, tsFormat string) error {
	if data == nil {
		return nil
	}
	t := rv.Type()
	switch t {
	case timeType:
		tm, err := parseTime(data, path)
		if err != nil {
			return err
		}
		rv.Set(reflect.ValueOf(tm))
		return nil
	case rawMessageType:
		b, err := json.Marshal(data)
		if err != nil {
			return &shapes.SerializationError{Message: fmt.Sprintf("cannot re-encode value at '%s': %v", displayPath(path), err)}
		}
		rv.SetBytes(b)
		return nil
	}
	switch rv.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := decodeValue(p.Elem(), data, path, tsFormat); err != nil {
			return err
		}
		rv.Set(p)
	case reflect.String:
		s, ok := data.(string)
		if !ok {
			return typeMismatch(data, path, "a String")
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := data.(bool)
		if !ok {
			return typeMismatch(data, path, "a Boolean")
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := data.(json.Number)
		if !ok {
			return typeMismatch(data, path, "an Integer")
		}
		i, err := parseInt(string(n), t.Bits())
		if err != nil {
			return &shapes.SerializationError{Message: fmt.Sprintf("NUMBER_VALUE %s can not be converted to a %d-bit integer at '%s'", n, t.Bits(), displayPath(path))}
		}
		rv.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := data.(json.Number)
		if !ok {
			return typeMismatch(data, path, "an Integer")
		}
		u, err := strconv.ParseUint(string(n), 10, t.Bits())
		if err != nil {
			return &shapes.SerializationError{Message: fmt.Sprintf("NUMBER_VALUE %s can not be converted to an unsigned %d-bit integer at '%s'", n, t.Bits(), displayPath(path))}
		}
		rv.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := parseFloat(data, t.Bits(), path)
		if err != nil {
			return err
		}
		rv.SetFloat(f)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			s, ok := data.(string)
			if !ok {
				return typeMismatch(data, path, "a Blob")
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return &shapes.SerializationError{Message: fmt.Sprintf("Blob value at '%s' is not valid base64", displayPath(path))}
			}
			rv.SetBytes(b)
			return nil
		}
		items, ok := data.([]any)
		if !ok {
			return typeMismatch(data, path, "a list")
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			if err := decodeValue(out.Index(i), item, path+"."+strconv.Itoa(i+1)+".member", tsFormat); err != nil {
				return err
			}
		}
		rv.Set(out)
	case reflect.Map:
		obj, ok := data.(map[string]any)
		if !ok {
			return typeMismatch(data, path, "a map")
		}
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("awsjson: unsupported map key type %s at '%s'", t.Key(), displayPath(path))
		}
		out := reflect.MakeMapWithSize(t, len(obj))
		for k, item := range obj {
			ev := reflect.New(t.Elem()).Elem()
			if err := decodeValue(ev, item, path+"."+k+".member", tsFormat); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		rv.Set(out)
	case reflect.Struct:
		obj, ok := data.(map[string]any)
		if !ok {
			return typeMismatch(data, path, "a structure")
		}
		info := infoFor(t)
		for k, item := range obj {
			f := info.byWire[k]
			if f == nil {
				continue
			}
			if err := decodeValue(rv.FieldByIndex(f.index), item, pathJoin(path, f.wire), f.tsFormat); err != nil {
				return err
			}
		}
	case reflect.Interface:
		switch {
		case t.NumMethod() == 0:
			rv.Set(reflect.ValueOf(data))
		case t.Implements(docUnmarshalerTyp) || t.Implements(docMarshalerType):
			// SDK document member: no constructor reachable generically; skipped.
		default:
			return Errorf("ValidationException", 400, "Member '%s' (a %s union) is not supported", displayPath(path), t.Name())
		}
	default:
		return fmt.Errorf("awsjson: unsupported Go type %s at '%s'", t, displayPath(path))
	}
	return nil
}

// parseInt accepts integral JSON numbers (also written 1.0 or 1e3) in range.
func parseInt(text string, bits int) (int64, error) {
	if i, err := strconv.ParseInt(text, 10, bits); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) {
		return 0, errors.New("not an integer")
	}
	lim := math.Ldexp(1, bits-1)
	if f < -lim || f >= lim {
		return 0, errors.New("out of range")
	}
	return int64(f), nil
}

func parseFloat(data any, bits int, path string) (float64, error) {
	switch d := data.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(d), bits)
		if err != nil {
			return 0, &shapes.SerializationError{Message: fmt.Sprintf("NUMBER_VALUE %s is out of range at '%s'", d, displayPath(path))}
		}
		return f, nil
	case string:
		switch d {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
	}
	return 0, typeMismatch(data, path, "a Double")
}

// parseTime reads epoch seconds (integer or fractional, kept to the
// microsecond) or, leniently, an ISO-8601 string.
func parseTime(data any, path string) (time.Time, error) {
	switch d := data.(type) {
	case json.Number:
		if t, ok := epochToTime(string(d)); ok {
			return t, nil
		}
		return time.Time{}, &shapes.SerializationError{Message: fmt.Sprintf("NUMBER_VALUE %s can not be converted to a Timestamp at '%s'", d, displayPath(path))}
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02", time.RFC1123} {
			if t, err := time.Parse(layout, d); err == nil {
				return t, nil
			}
		}
		if t, ok := epochToTime(d); ok {
			return t, nil
		}
		return time.Time{}, &shapes.SerializationError{Message: fmt.Sprintf("STRING_VALUE %q can not be converted to a Timestamp at '%s'", d, displayPath(path))}
	}
	return time.Time{}, typeMismatch(data, path, "a Timestamp")
}

// epochToTime converts decimal epoch seconds without float rounding for the
// common "sec.frac" spelling.
func epochToTime(s string) (time.Time, bool) {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if !strings.ContainsAny(s, "eE") {
		sec, err := strconv.ParseInt(intPart, 10, 64)
		if err == nil && (!hasFrac || isDigits(frac)) {
			var nsec int64
			if hasFrac {
				f := (frac + "000000000")[:9]
				nsec, _ = strconv.ParseInt(f, 10, 64)
				if strings.HasPrefix(intPart, "-") {
					nsec = -nsec
				}
			}
			return time.Unix(sec, nsec).UTC(), true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1e15 {
		return time.Time{}, false
	}
	sec, fr := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(fr*1e6))*1e3).UTC(), true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// --- Marshal --------------------------------------------------------------

// Marshal encodes v (usually a pointer to an aws-sdk-go-v2 output struct) as
// an AWS JSON response body.
//
// Nil pointers, nil slices, nil maps, nil interfaces, empty enum strings,
// zero time.Time values and ResultMetadata are omitted (as are zero values of
// omitempty-tagged fields of non-SDK structs); non-nil empty slices and maps
// are written as [] and {}; null is never written: a nil element inside a
// slice or map is an error. time.Time is written as epoch seconds with
// millisecond precision (1542752036.687, 1542752036 for whole seconds;
// sub-millisecond digits are truncated) unless the member's schema asks for
// another timestampFormat. Enums are strings, []byte is base64, non-finite
// floats are "NaN"/"Infinity"/"-Infinity". SDK document members are written
// from MarshalSmithyDocument; SDK union members are not supported (error).
// A nil v, or a nil pointer, encodes as {}.
func Marshal(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) {
		if rv.IsNil() {
			return []byte("{}"), nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return []byte("{}"), nil
	}
	return appendValue(nil, rv, "", "")
}

func omit(fv reflect.Value, f *fieldInfo) bool {
	switch fv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		if fv.IsNil() {
			return true
		}
	case reflect.String:
		if fv.Type() != reflect.TypeFor[string]() && fv.Len() == 0 {
			return true // unset enum
		}
	}
	if fv.Type() == timeType && fv.Interface().(time.Time).IsZero() {
		return true
	}
	return f.omitEmpty && fv.IsZero()
}

func appendValue(b []byte, rv reflect.Value, path, tsFormat string) ([]byte, error) {
	t := rv.Type()
	switch t {
	case timeType:
		return appendTime(b, rv.Interface().(time.Time), tsFormat), nil
	case rawMessageType:
		raw := rv.Bytes()
		if len(raw) == 0 {
			return append(b, "{}"...), nil
		}
		if !json.Valid(raw) {
			return nil, fmt.Errorf("awsjson: invalid json.RawMessage at '%s'", displayPath(path))
		}
		return append(b, raw...), nil
	}
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nil, fmt.Errorf("awsjson: nil value at '%s' (null is never written)", displayPath(path))
		}
		return appendValue(b, rv.Elem(), path, tsFormat)
	case reflect.Interface:
		if rv.IsNil() {
			return nil, fmt.Errorf("awsjson: nil value at '%s' (null is never written)", displayPath(path))
		}
		if dm, ok := rv.Interface().(documentMarshaler); ok {
			raw, err := dm.MarshalSmithyDocument()
			if err != nil {
				return nil, fmt.Errorf("awsjson: document at '%s': %w", displayPath(path), err)
			}
			return append(b, raw...), nil
		}
		if t.NumMethod() > 0 {
			return nil, fmt.Errorf("awsjson: member '%s' (a %s union) is not supported", displayPath(path), t.Name())
		}
		return appendValue(b, rv.Elem(), path, tsFormat)
	case reflect.String:
		return appendString(b, rv.String()), nil
	case reflect.Bool:
		return strconv.AppendBool(b, rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(b, rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.AppendUint(b, rv.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		switch {
		case math.IsNaN(f):
			return append(b, `"NaN"`...), nil
		case math.IsInf(f, 1):
			return append(b, `"Infinity"`...), nil
		case math.IsInf(f, -1):
			return append(b, `"-Infinity"`...), nil
		}
		return appendFloat(b, f, t.Bits()), nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && rv.Kind() == reflect.Slice {
			return appendString(b, base64.StdEncoding.EncodeToString(rv.Bytes())), nil
		}
		b = append(b, '[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, rv.Index(i), path+"."+strconv.Itoa(i+1)+".member", tsFormat); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("awsjson: unsupported map key type %s at '%s'", t.Key(), displayPath(path))
		}
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, c reflect.Value) int { return strings.Compare(a.String(), c.String()) })
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k.String())
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, rv.MapIndex(k), path+"."+k.String()+".member", tsFormat); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case reflect.Struct:
		info := infoFor(t)
		b = append(b, '{')
		first := true
		for i := range info.fields {
			f := &info.fields[i]
			fv := rv.FieldByIndex(f.index)
			if omit(fv, f) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, f.wire)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, fv, pathJoin(path, f.wire), f.tsFormat); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("awsjson: unsupported Go type %s at '%s'", t, displayPath(path))
}

func appendFloat(b []byte, f float64, bits int) []byte {
	// Like encoding/json: plain notation for "normal" magnitudes.
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, bits)
}

// appendTime writes epoch seconds with millisecond precision, or the
// member's timestampFormat.
func appendTime(b []byte, t time.Time, format string) []byte {
	switch format {
	case "date-time":
		return appendString(b, t.UTC().Format("2006-01-02T15:04:05.999Z"))
	case "http-date":
		return appendString(b, t.UTC().Format(time.RFC1123[:len(time.RFC1123)-3]+"GMT"))
	}
	ms := t.UnixMilli()
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		digits := strconv.FormatInt(frac+1000, 10)[1:] // zero-padded to 3
		b = append(b, '.')
		b = append(b, strings.TrimRight(digits, "0")...)
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes a JSON string (no HTML escaping; invalid UTF-8 becomes
// U+FFFD; U+2028/U+2029 are escaped).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
