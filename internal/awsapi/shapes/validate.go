package shapes

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds the nesting of request JSON (AWS models nest far less).
const maxDepth = 256

// Validate checks a JSON request body against the operation's input shape.
// It returns nil, a *ValidationError, a *SerializationError, an error
// wrapping ErrUnknownOperation, or (only for a broken model) another error.
// An empty body counts as "{}".
func (m *Model) Validate(operation string, body []byte) error {
	op, ok := m.ops[operation]
	if !ok {
		return fmt.Errorf("shapes: %s %s: %w", m.Service, operation, ErrUnknownOperation)
	}
	root, err := parseJSON(body)
	if err != nil {
		return err
	}
	if root.kind != kindObject {
		return &SerializationError{Message: "Request body must be a JSON object, found " + root.describe()}
	}
	if op.Input == "" {
		return nil
	}
	v := validator{m: m}
	v.structure(m.shapes[op.Input], root, "")
	switch {
	case v.internal != nil:
		return v.internal
	case v.serr != nil:
		return v.serr
	case len(v.violations) > 0:
		return NewValidationError(v.violations...)
	}
	return nil
}

// --- ordered JSON tree ----------------------------------------------------

type kind uint8

const (
	kindNull kind = iota
	kindString
	kindNumber
	kindBool
	kindArray
	kindObject
)

// node is a parsed JSON value that keeps object key order and number text.
type node struct {
	kind  kind
	text  string // string value or number text
	b     bool
	items []*node // array items or object values
	keys  []string
}

func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.items[i]
		}
	}
	return nil
}

// describe names the JSON kind the way Coral/Jackson messages do.
func (n *node) describe() string {
	switch n.kind {
	case kindString:
		return "STRING_VALUE"
	case kindNumber:
		return "NUMBER_VALUE"
	case kindBool:
		return "BOOLEAN_VALUE"
	case kindArray:
		return "START_ARRAY"
	case kindObject:
		return "START_OBJECT"
	}
	return "VALUE_NULL"
}

func parseJSON(body []byte) (*node, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return &node{kind: kindObject}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	n, err := parseValue(dec, 0)
	if err != nil {
		return nil, malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("unexpected data after the top-level value")
		}
		return nil, malformed(err)
	}
	return n, nil
}

func malformed(err error) error {
	var se *SerializationError
	if errors.As(err, &se) {
		return se
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = errors.New("unexpected end of JSON input")
	}
	return &SerializationError{Message: "Malformed JSON request body: " + err.Error()}
}

func parseValue(dec *json.Decoder, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, &SerializationError{Message: fmt.Sprintf("Malformed JSON request body: nesting deeper than %d levels", maxDepth)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &node{kind: kindNull}, nil
	case string:
		return &node{kind: kindString, text: t}, nil
	case json.Number:
		return &node{kind: kindNumber, text: string(t)}, nil
	case bool:
		return &node{kind: kindBool, b: t}, nil
	case json.Delim:
		switch t {
		case '[':
			n := &node{kind: kindArray}
			for dec.More() {
				item, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, item)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		case '{':
			n := &node{kind: kindObject}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				val, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				if i := indexOf(n.keys, key); i >= 0 {
					n.items[i] = val // the last duplicate wins
				} else {
					n.keys = append(n.keys, key)
					n.items = append(n.items, val)
				}
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		}
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

func indexOf(keys []string, k string) int {
	for i, x := range keys {
		if x == k {
			return i
		}
	}
	return -1
}

// --- validation -----------------------------------------------------------

type validator struct {
	m          *Model
	violations []Violation
	serr       *SerializationError
	internal   error
}

func (v *validator) stopped() bool { return v.serr != nil || v.internal != nil }

func (v *validator) typeError(n *node, path, want string) {
	if v.serr != nil {
		return
	}
	msg := n.describe() + " can not be converted to " + want
	switch n.kind {
	case kindObject:
		msg = "Start of structure or map found where not expected"
	case kindArray:
		msg = "Start of list found where not expected"
	}
	if path == "" {
		path = "<root>"
	}
	v.serr = &SerializationError{Message: fmt.Sprintf("%s at '%s'", msg, path)}
}

func (v *validator) add(path string, n *node, s *shape, constraint string) {
	viol := Violation{Path: path, Constraint: constraint}
	if n == nil || n.kind == kindNull {
		viol.Null = true
	} else {
		viol.Value = v.render(n, s)
	}
	v.violations = append(v.violations, viol)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// lowerFirst turns a member name into the path segment AWS uses.
func lowerFirst(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToLower(r)) + s[size:]
}

func isComposite(s *shape) bool {
	switch s.Type {
	case "structure", "list", "map":
		return true
	}
	return false
}

// value validates a present, non-null value.
func (v *validator) value(s *shape, n *node, path string) {
	if v.stopped() {
		return
	}
	switch s.Type {
	case "structure":
		v.structure(s, n, path)
	case "list":
		v.list(s, n, path)
	case "map":
		v.mapValue(s, n, path)
	default:
		if !v.scalarType(s, n, path) {
			return
		}
		for _, c := range v.scalarViolations(s, n) {
			v.add(path, n, s, c)
		}
	}
}

func (v *validator) structure(s *shape, n *node, path string) {
	if n.kind != kindObject {
		v.typeError(n, path, "a structure")
		return
	}
	for _, mem := range s.Members {
		if v.stopped() {
			return
		}
		p := join(path, lowerFirst(mem.Name))
		child := n.get(mem.Name)
		if child == nil || child.kind == kindNull {
			if s.required[mem.Name] {
				v.add(p, nil, nil, "Member must not be null")
			}
			continue
		}
		v.value(v.m.shapes[mem.Shape], child, p)
	}
}

func (v *validator) lengthViolations(s *shape, length int) []string {
	var out []string
	if s.Max != "" {
		if max, err := strconv.ParseInt(string(s.Max), 10, 64); err == nil && int64(length) > max {
			out = append(out, "Member must have length less than or equal to "+string(s.Max))
		}
	}
	if s.Min != "" {
		if min, err := strconv.ParseInt(string(s.Min), 10, 64); err == nil && int64(length) < min {
			out = append(out, "Member must have length greater than or equal to "+string(s.Min))
		}
	}
	return out
}

func (v *validator) list(s *shape, n *node, path string) {
	if n.kind != kindArray {
		v.typeError(n, path, "a list")
		return
	}
	for _, c := range v.lengthViolations(s, len(n.items)) {
		v.add(path, n, s, c)
	}
	ms := v.m.shapes[s.Member]
	if isComposite(ms) {
		for i, item := range n.items {
			p := path + "." + strconv.Itoa(i+1) + ".member"
			if item.kind == kindNull {
				v.add(p, nil, nil, "Member must not be null")
				continue
			}
			v.value(ms, item, p)
			if v.stopped() {
				return
			}
		}
		return
	}
	bad := false
	for i, item := range n.items {
		if item.kind == kindNull {
			bad = true
			continue
		}
		if !v.scalarType(ms, item, path+"."+strconv.Itoa(i+1)+".member") {
			return
		}
		if len(v.scalarViolations(ms, item)) > 0 {
			bad = true
		}
	}
	if bad {
		rules := append(v.scalarRules(ms), "Member must not be null")
		v.add(path, n, s, "Member must satisfy constraint: ["+strings.Join(rules, ", ")+"]")
	}
}

func (v *validator) mapValue(s *shape, n *node, path string) {
	if n.kind != kindObject {
		v.typeError(n, path, "a map")
		return
	}
	for _, c := range v.lengthViolations(s, len(n.keys)) {
		v.add(path, n, s, c)
	}
	ks := v.m.shapes[s.Key]
	badKey := false
	for _, k := range n.keys {
		if len(v.scalarViolations(ks, &node{kind: kindString, text: k})) > 0 {
			badKey = true
			break
		}
	}
	if badKey {
		v.add(path, n, s, "Map keys must satisfy constraint: ["+strings.Join(v.scalarRules(ks), ", ")+"]")
	}
	vs := v.m.shapes[s.Value]
	if isComposite(vs) {
		for i, item := range n.items {
			p := path + "." + n.keys[i] + ".member"
			if item.kind == kindNull {
				v.add(p, nil, nil, "Member must not be null")
				continue
			}
			v.value(vs, item, p)
			if v.stopped() {
				return
			}
		}
		return
	}
	bad, null := false, false
	for i, item := range n.items {
		if item.kind == kindNull {
			bad, null = true, true
			continue
		}
		if !v.scalarType(vs, item, path+"."+n.keys[i]+".member") {
			return
		}
		if len(v.scalarViolations(vs, item)) > 0 {
			bad = true
		}
	}
	if bad {
		rules := v.scalarRules(vs)
		if null {
			rules = append(rules, "Member must not be null")
		}
		v.add(path, n, s, "Map value must satisfy constraint: ["+strings.Join(rules, ", ")+"]")
	}
}

// scalarType checks the JSON type of a scalar value; false after recording a
// SerializationError.
func (v *validator) scalarType(s *shape, n *node, path string) bool {
	switch s.Type {
	case "string":
		if n.kind != kindString {
			v.typeError(n, path, "a String")
			return false
		}
	case "boolean":
		if n.kind != kindBool {
			v.typeError(n, path, "a Boolean")
			return false
		}
	case "integer", "long", "byte", "short":
		if n.kind != kindNumber {
			v.typeError(n, path, "an Integer")
			return false
		}
		if _, err := parseInteger(n.text, s.Type); err != nil {
			v.serr = &SerializationError{Message: fmt.Sprintf("NUMBER_VALUE %s can not be converted to %s at '%s'", n.text, integerTypeName(s.Type), path)}
			return false
		}
	case "float", "double":
		if _, ok := parseFloatNode(n, s.Type); !ok {
			if n.kind == kindNumber {
				v.serr = &SerializationError{Message: fmt.Sprintf("NUMBER_VALUE %s is out of range for a %s at '%s'", n.text, floatTypeName(s.Type), path)}
			} else {
				v.typeError(n, path, "a "+floatTypeName(s.Type))
			}
			return false
		}
	case "timestamp":
		switch n.kind {
		case kindNumber:
			if f, err := strconv.ParseFloat(n.text, 64); err != nil || math.IsInf(f, 0) {
				v.serr = &SerializationError{Message: fmt.Sprintf("NUMBER_VALUE %s can not be converted to a Timestamp at '%s'", n.text, path)}
				return false
			}
		case kindString:
			if _, err := parseTimestampString(n.text); err != nil {
				v.serr = &SerializationError{Message: fmt.Sprintf("STRING_VALUE %q can not be converted to a Timestamp at '%s'", n.text, path)}
				return false
			}
		default:
			v.typeError(n, path, "a Timestamp")
			return false
		}
	case "blob":
		if n.kind != kindString {
			v.typeError(n, path, "a Blob")
			return false
		}
		if _, err := base64.StdEncoding.DecodeString(n.text); err != nil {
			v.serr = &SerializationError{Message: fmt.Sprintf("Blob value at '%s' is not valid base64", path)}
			return false
		}
	}
	return true
}

func integerTypeName(t string) string {
	if t == "long" {
		return "a Long"
	}
	return "an Integer"
}

func floatTypeName(t string) string {
	if t == "float" {
		return "Float"
	}
	return "Double"
}

// parseInteger accepts integral JSON numbers (also written as 1.0 or 1e3)
// within the type's range.
func parseInteger(text, typ string) (int64, error) {
	bits := 32
	switch typ {
	case "long":
		bits = 64
	case "short":
		bits = 16
	case "byte":
		bits = 8
	}
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

func parseFloatNode(n *node, typ string) (float64, bool) {
	bits := 64
	if typ == "float" {
		bits = 32
	}
	switch n.kind {
	case kindNumber:
		f, err := strconv.ParseFloat(n.text, bits)
		return f, err == nil
	case kindString: // Smithy's JSON spelling of non-finite values
		switch n.text {
		case "NaN":
			return math.NaN(), true
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		}
	}
	return 0, false
}

// parseTimestampString accepts timestamp strings leniently, like
// awsjson.Unmarshal: ISO-8601 (with or without zone or fraction, or a bare
// date), RFC 1123 HTTP dates and epoch seconds. Clients send epoch numbers;
// this is for hand-written requests.
func parseTimestampString(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02", time.RFC1123} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) <= 1e15 {
		return time.Unix(int64(f), 0), nil
	}
	return time.Time{}, fmt.Errorf("not a timestamp: %q", s)
}

// scalarRules lists every constraint of a scalar shape, in AWS's order.
func (v *validator) scalarRules(s *shape) []string {
	var out []string
	switch s.Type {
	case "string", "blob":
		if s.Max != "" {
			out = append(out, "Member must have length less than or equal to "+string(s.Max))
		}
		if s.Min != "" {
			out = append(out, "Member must have length greater than or equal to "+string(s.Min))
		}
	case "integer", "long", "byte", "short", "float", "double":
		if s.Max != "" {
			out = append(out, "Member must have value less than or equal to "+string(s.Max))
		}
		if s.Min != "" {
			out = append(out, "Member must have value greater than or equal to "+string(s.Min))
		}
	}
	if s.Pattern != "" {
		out = append(out, "Member must satisfy regular expression pattern: "+s.Pattern)
	}
	if len(s.Enum) > 0 {
		out = append(out, "Member must satisfy enum value set: ["+strings.Join(s.Enum, ", ")+"]")
	}
	return out
}

// scalarViolations returns the constraints a type-checked scalar breaks.
func (v *validator) scalarViolations(s *shape, n *node) []string {
	var out []string
	switch s.Type {
	case "string":
		out = append(out, v.lengthViolations(s, utf8.RuneCountInString(n.text))...)
		if s.Pattern != "" {
			re, err := s.compiled()
			if err != nil {
				if v.internal == nil {
					v.internal = err
				}
			} else if !re.MatchString(n.text) {
				out = append(out, "Member must satisfy regular expression pattern: "+s.Pattern)
			}
		}
		if s.enumSet != nil && !s.enumSet[n.text] {
			out = append(out, "Member must satisfy enum value set: ["+strings.Join(s.Enum, ", ")+"]")
		}
	case "blob":
		b, _ := base64.StdEncoding.DecodeString(n.text)
		out = append(out, v.lengthViolations(s, len(b))...)
	case "integer", "long", "byte", "short":
		i, err := parseInteger(n.text, s.Type)
		if err != nil {
			return nil
		}
		if s.Max != "" && intAbove(i, string(s.Max)) {
			out = append(out, "Member must have value less than or equal to "+string(s.Max))
		}
		if s.Min != "" && intBelow(i, string(s.Min)) {
			out = append(out, "Member must have value greater than or equal to "+string(s.Min))
		}
	case "float", "double":
		f, ok := parseFloatNode(n, s.Type)
		if !ok {
			return nil
		}
		if b, err := strconv.ParseFloat(string(s.Max), 64); s.Max != "" && err == nil && f > b {
			out = append(out, "Member must have value less than or equal to "+string(s.Max))
		}
		if b, err := strconv.ParseFloat(string(s.Min), 64); s.Min != "" && err == nil && f < b {
			out = append(out, "Member must have value greater than or equal to "+string(s.Min))
		}
	}
	return out
}

func intAbove(i int64, bound string) bool {
	if b, err := strconv.ParseInt(bound, 10, 64); err == nil {
		return i > b
	}
	b, err := strconv.ParseFloat(bound, 64)
	return err == nil && float64(i) > b
}

func intBelow(i int64, bound string) bool {
	if b, err := strconv.ParseInt(bound, 10, 64); err == nil {
		return i < b
	}
	b, err := strconv.ParseFloat(bound, 64)
	return err == nil && float64(i) < b
}

// render prints a value the way a Java service would (see the package doc).
// s is the value's shape when known, for number formatting.
func (v *validator) render(n *node, s *shape) string {
	var b strings.Builder
	v.renderTo(&b, n, s)
	return b.String()
}

func (v *validator) renderTo(b *strings.Builder, n *node, s *shape) {
	switch n.kind {
	case kindNull:
		b.WriteString("null")
	case kindString:
		b.WriteString(n.text)
	case kindBool:
		b.WriteString(strconv.FormatBool(n.b))
	case kindNumber:
		b.WriteString(renderNumber(n.text, s))
	case kindArray:
		var ms *shape
		if s != nil && s.Type == "list" {
			ms = v.m.shapes[s.Member]
		}
		b.WriteByte('[')
		for i, item := range n.items {
			if i > 0 {
				b.WriteString(", ")
			}
			v.renderTo(b, item, ms)
		}
		b.WriteByte(']')
	case kindObject:
		b.WriteByte('{')
		for i, item := range n.items {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(n.keys[i])
			b.WriteByte('=')
			var ms *shape
			if s != nil {
				switch s.Type {
				case "map":
					ms = v.m.shapes[s.Value]
				case "structure":
					for _, mem := range s.Members {
						if mem.Name == n.keys[i] {
							ms = v.m.shapes[mem.Shape]
						}
					}
				}
			}
			v.renderTo(b, item, ms)
		}
		b.WriteByte('}')
	}
}

func renderNumber(text string, s *shape) string {
	if s == nil {
		return text
	}
	switch s.Type {
	case "integer", "long", "byte", "short":
		if i, err := parseInteger(text, s.Type); err == nil {
			return strconv.FormatInt(i, 10)
		}
	case "float", "double":
		bits := 64
		if s.Type == "float" {
			bits = 32
		}
		if f, err := strconv.ParseFloat(text, bits); err == nil {
			return javaFloat(f, bits)
		}
	}
	return text
}

// javaFloat formats like Java's Double.toString / Float.toString.
func javaFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, bits)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, bits)
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(exp, "+-0")
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}
