// Package javare applies the regular expressions of AWS service models
// (botocore's "pattern" traits) the way the services do.
//
// AWS services are written in Java and evaluate model patterns with
// java.util.regex as a full match (Matcher.matches: the model patterns are
// unanchored, yet "abc-" does not satisfy "[a-z]+"). Go's regexp is RE2, which
// shares most of the syntax but not all of the semantics. Compile translates a
// Java pattern into an anchored RE2 program:
//
//   - Generic rewrites (exact, applied by the translator):
//     Java's "." excludes every Java line terminator (\n \r \u0085 \u2028 \u2029),
//     RE2's only \n: "." becomes [^\n\r\x{85}\x{2028}\x{2029}].
//     Java's \s is [ \t\n\x0B\f\r] (RE2 lacks \x0B): \s and \S are spelled out,
//     also as the only item of a class ([\S]); a class holding both \s and \S
//     matches any character.
//     POSIX classes \p{Alnum}, \p{Alpha}, \p{Punct}, ... (ASCII in Java) become
//     RE2's [[:alnum:]] etc.; \p{IsL} becomes \p{L}.
//     Counted repetitions above RE2's limit of 1000 (e.g. [\S]{1,2048}) are split
//     into consecutive repetitions of the same atom (X{1,2048} = X{1,1000}X{0,1000}X{0,48}).
//     A quantified anchor (Java accepts "${1,128}", RE2 does not) is the anchor
//     itself when the minimum is at least 1, and nothing when it is 0.
//     \uXXXX, \xhh, \0ooo, \e, \cX and \Q...\E are rewritten to RE2 spellings.
//   - Constructs RE2 cannot express (look-around, atomic groups, possessive
//     quantifiers, back-references, \b with Java's Unicode word semantics, \Z,
//     class intersection "&&", nested classes, \h \v \R \X) make the translator
//     fail. Every model pattern that uses one must have an entry in Table: an
//     equivalent RE2 expression or Go function written by hand, with the
//     reasoning beside it. The generator and the shapes tests compile every
//     pattern of the embedded models, so none is silently skipped.
package javare

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Matcher reports whether a whole string satisfies a pattern.
type Matcher interface {
	MatchString(s string) bool
}

// MatchFunc adapts a function to Matcher.
type MatchFunc func(string) bool

// MatchString calls f(s).
func (f MatchFunc) MatchString(s string) bool { return f(s) }

// Translation is a hand-written equivalent of a Java pattern that the generic
// translator cannot handle. Exactly one of RE2 and Match is set. RE2 is
// matched against the whole string (it is anchored by Compile).
type Translation struct {
	Java  string
	RE2   string
	Match func(string) bool
	Why   string
}

// javaDot is Java's "." without DOTALL: anything but a line terminator.
const javaDot = `[^\n\r\x{85}\x{2028}\x{2029}]`

// javaSpace is the body of Java's \s (without UNICODE_CHARACTER_CLASS).
const javaSpace = `\t\n\x0B\f\r `

// Table lists the model patterns that use constructs RE2 lacks, each with an
// equivalent check. Keys are the exact pattern text of the model.
var Table = []Translation{
	{
		// sagemaker ArnOrName (AlgorithmSpecification.AlgorithmName, ModelPackage
		// names given as ARN or name, ...).
		Java: `(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)`,
		RE2:  `(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*/)?([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)`,
		Why: `look-behind (?<!-) right after the name: the name (1-63 of [a-zA-Z0-9-], first alphanumeric) must not end in "-", ` +
			`i.e. it is one alphanumeric, or an alphanumeric, up to 61 of [a-zA-Z0-9-] and a final alphanumeric`,
	},
	{
		// sagemaker VersionedArnOrName (ModelPackageName in Describe/Delete/CreateModel).
		Java: `(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)(\/[0-9]{1,9})?`,
		RE2:  `(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*/)?([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(/[0-9]{1,9})?`,
		Why:  `as ArnOrName: (?<!-) forbids a trailing "-" on the name, before the optional /<version>`,
	},
	{
		// sagemaker NonEmptyString64-like shapes ("(?!\s*$).+").
		Java: `(?!\s*$).+`,
		RE2:  javaDot + `*[^` + javaSpace + `\x{85}\x{2028}\x{2029}]` + javaDot + `*`,
		Why: `negative look-ahead at the start: the string is not all Java whitespace; with ".+" (no line terminators) ` +
			`that is: only non-terminators, at least one of them not whitespace`,
	},
}

var tableByJava = func() map[string]*Translation {
	m := make(map[string]*Translation, len(Table))
	for i := range Table {
		m[Table[i].Java] = &Table[i]
	}
	return m
}()

// Method says how Compile handled a pattern.
type Method string

// Methods reported by Explain.
const (
	Direct     Method = "direct"     // RE2 accepts the pattern with the same meaning
	Translated Method = "translated" // generic rewrite (see package doc)
	Tabled     Method = "table"      // hand-written equivalent from Table
)

// Compile returns a matcher applying the Java pattern as a full match.
func Compile(java string) (Matcher, error) {
	m, _, err := Explain(java)
	return m, err
}

// Explain is Compile that also reports how the pattern was handled and, for
// Translated, the RE2 text used.
func Explain(java string) (Matcher, Method, error) {
	if t, ok := tableByJava[java]; ok {
		if t.Match != nil {
			return MatchFunc(t.Match), Tabled, nil
		}
		re, err := regexp.Compile(`^(?:` + t.RE2 + `)$`)
		if err != nil {
			return nil, Tabled, fmt.Errorf("javare: table entry for %q: %w", java, err)
		}
		return re, Tabled, nil
	}
	body, err := Translate(java)
	if err != nil {
		return nil, "", err
	}
	re, err := regexp.Compile(`^(?:` + body + `)$`)
	if err != nil {
		return nil, "", fmt.Errorf("javare: pattern %q (as RE2 %q): %w", java, body, err)
	}
	method := Translated
	if body == java {
		method = Direct
	}
	return re, method, nil
}

// RE2 returns the RE2 expression Compile uses for a Java pattern (matched as
// a full match). It is "" for a Table entry implemented as a Go function.
func RE2(java string) (string, error) {
	if t, ok := tableByJava[java]; ok {
		return t.RE2, nil
	}
	return Translate(java)
}

// Translate rewrites a Java pattern into RE2 syntax with the same meaning
// (unanchored, like its input). It fails on constructs RE2 cannot express.
func Translate(java string) (string, error) {
	t := &translator{src: []rune(java)}
	out, err := t.alternation()
	if err == nil && t.pos < len(t.src) {
		err = t.errorf("unbalanced ')'")
	}
	if err != nil {
		return "", fmt.Errorf("javare: pattern %q: %w", java, err)
	}
	return out, nil
}

type translator struct {
	src []rune
	pos int
}

func (t *translator) errorf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", t.pos, fmt.Sprintf(format, args...))
}

func (t *translator) peek(off int) (rune, bool) {
	if t.pos+off < len(t.src) {
		return t.src[t.pos+off], true
	}
	return 0, false
}

func (t *translator) alternation() (string, error) {
	var b strings.Builder
	for {
		seq, err := t.sequence()
		if err != nil {
			return "", err
		}
		b.WriteString(seq)
		if r, ok := t.peek(0); ok && r == '|' {
			t.pos++
			b.WriteByte('|')
			continue
		}
		return b.String(), nil
	}
}

// atom is one translated, quantifiable unit.
type atom struct {
	text       string
	zeroWidth  bool // anchors
	quantified bool
}

func (t *translator) sequence() (string, error) {
	var atoms []atom
	for t.pos < len(t.src) {
		r := t.src[t.pos]
		switch r {
		case '|', ')':
			return join(atoms), nil
		case '*', '+', '?', '{':
			if len(atoms) == 0 || atoms[len(atoms)-1].quantified {
				return "", t.errorf("dangling quantifier %q", r)
			}
			q, err := t.quantifier()
			if err != nil {
				return "", err
			}
			last := &atoms[len(atoms)-1]
			last.text = applyQuantifier(*last, q)
			last.quantified = true
			continue
		}
		a, err := t.atom()
		if err != nil {
			return "", err
		}
		atoms = append(atoms, a)
	}
	return join(atoms), nil
}

func join(atoms []atom) string {
	var b strings.Builder
	for _, a := range atoms {
		b.WriteString(a.text)
	}
	return b.String()
}

type quant struct {
	min, max int // max -1: unbounded
	lazy     bool
	text     string // original spelling when it needs no rewriting
}

func (t *translator) quantifier() (quant, error) {
	start := t.pos
	r := t.src[t.pos]
	t.pos++
	var q quant
	switch r {
	case '*':
		q = quant{min: 0, max: -1}
	case '+':
		q = quant{min: 1, max: -1}
	case '?':
		q = quant{min: 0, max: 1}
	case '{':
		end := t.pos
		for end < len(t.src) && t.src[end] != '}' {
			end++
		}
		if end == len(t.src) {
			return q, t.errorf("unclosed counted repetition")
		}
		spec := string(t.src[t.pos:end])
		lo, hi, comma := strings.Cut(spec, ",")
		n, err := strconv.Atoi(lo)
		if err != nil || n < 0 {
			return q, t.errorf("illegal repetition {%s}", spec)
		}
		q.min, q.max = n, n
		if comma {
			q.max = -1
			if hi != "" {
				m, err := strconv.Atoi(hi)
				if err != nil || m < n {
					return q, t.errorf("illegal repetition {%s}", spec)
				}
				q.max = m
			}
		}
		t.pos = end + 1
	}
	if next, ok := t.peek(0); ok {
		switch next {
		case '?':
			q.lazy = true
			t.pos++
		case '+':
			return q, t.errorf("possessive quantifier")
		}
	}
	q.text = string(t.src[start:t.pos])
	return q, nil
}

const re2MaxRepeat = 1000

func applyQuantifier(a atom, q quant) string {
	if a.zeroWidth {
		// Repeating an assertion: it holds once or, with a zero minimum, is optional.
		if q.min >= 1 {
			return a.text
		}
		return ""
	}
	if q.min <= re2MaxRepeat && q.max <= re2MaxRepeat {
		return a.text + q.text
	}
	// Split X{n,m} into X{a1,b1}X{a2,b2}... with every bound <= 1000: the
	// concatenation accepts exactly the counts n..m.
	var b strings.Builder
	b.WriteString("(?:")
	remainMin, remainMax := q.min, q.max
	for remainMin > 0 || remainMax != 0 {
		hi := re2MaxRepeat
		if remainMax >= 0 && remainMax < hi {
			hi = remainMax
		}
		lo := min(remainMin, hi)
		if remainMax < 0 && remainMin <= re2MaxRepeat {
			// Last chunk of an unbounded repetition.
			fmt.Fprintf(&b, "%s{%d,}", a.text, remainMin)
			break
		}
		fmt.Fprintf(&b, "%s{%d,%d}", a.text, lo, hi)
		remainMin -= lo
		if remainMax > 0 {
			remainMax -= hi
		}
	}
	// Laziness (q.lazy) does not change what a full match accepts.
	b.WriteString(")")
	return b.String()
}

func (t *translator) atom() (atom, error) {
	r := t.src[t.pos]
	switch r {
	case '(':
		return t.group()
	case '[':
		s, err := t.class()
		return atom{text: s}, err
	case '.':
		t.pos++
		return atom{text: javaDot}, nil
	case '^':
		t.pos++
		return atom{text: `^`, zeroWidth: true}, nil
	case '$':
		t.pos++
		return atom{text: `$`, zeroWidth: true}, nil
	case '\\':
		return t.escape()
	}
	t.pos++
	return atom{text: literal(r)}, nil
}

func literal(r rune) string {
	if r < 0x20 || r == 0x7f || !unicode.IsPrint(r) {
		return fmt.Sprintf(`\x{%x}`, r)
	}
	return regexp.QuoteMeta(string(r))
}

func (t *translator) group() (atom, error) {
	t.pos++ // '('
	open := "("
	if r, ok := t.peek(0); ok && r == '?' {
		t.pos++
		r2, _ := t.peek(0)
		switch {
		case r2 == ':':
			t.pos++
			open = "(?:"
		case r2 == '=' || r2 == '!':
			return atom{}, t.errorf("look-ahead (?%c...) is not supported by RE2", r2)
		case r2 == '>':
			return atom{}, t.errorf("atomic group (?>...) is not supported by RE2")
		case r2 == '<':
			r3, _ := t.peek(1)
			if r3 == '=' || r3 == '!' {
				return atom{}, t.errorf("look-behind (?<%c...) is not supported by RE2", r3)
			}
			end := t.pos + 1
			for end < len(t.src) && (isWordRune(t.src[end])) {
				end++
			}
			if end >= len(t.src) || t.src[end] != '>' || end == t.pos+1 {
				return atom{}, t.errorf("malformed named group")
			}
			open = "(?P<" + string(t.src[t.pos+1:end]) + ">"
			t.pos = end + 1
		default:
			// Inline flags: (?ims-ims) or (?ims-ims:...)
			end := t.pos
			for end < len(t.src) && strings.ContainsRune("imsdux-U", t.src[end]) {
				end++
			}
			if end >= len(t.src) || (t.src[end] != ')' && t.src[end] != ':') {
				return atom{}, t.errorf("unsupported group construct")
			}
			flags := string(t.src[t.pos:end])
			if strings.ContainsAny(flags, "duxU") {
				return atom{}, t.errorf("inline flags %q have no RE2 equivalent", flags)
			}
			if t.src[end] == ')' {
				t.pos = end + 1
				if flags == "" || flags == "-" {
					return atom{text: ""}, nil
				}
				return atom{text: "(?" + flags + ")", zeroWidth: true}, nil
			}
			open = "(?" + flags + ":"
			t.pos = end + 1
		}
	}
	inner, err := t.alternation()
	if err != nil {
		return atom{}, err
	}
	if r, ok := t.peek(0); !ok || r != ')' {
		return atom{}, t.errorf("missing ')'")
	}
	t.pos++
	return atom{text: open + inner + ")"}, nil
}

func isWordRune(r rune) bool {
	return r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
}

// posixClasses maps Java's POSIX character class names (ASCII-only in Java
// without UNICODE_CHARACTER_CLASS) to RE2's ASCII classes of the same content.
var posixClasses = map[string]string{
	"Lower": "lower", "Upper": "upper", "ASCII": "ascii", "Alpha": "alpha",
	"Digit": "digit", "Alnum": "alnum", "Punct": "punct", "Graph": "graph",
	"Print": "print", "Blank": "blank", "Cntrl": "cntrl", "XDigit": "xdigit",
	"Space": "space",
}

// property translates the name inside \p{...} or \P{...}. It returns either
// a POSIX class name (posix true) or an RE2 Unicode class name.
func property(name string) (string, bool, error) {
	if p, ok := posixClasses[name]; ok {
		return p, true, nil
	}
	n := strings.TrimPrefix(name, "Is")
	if _, ok := unicode.Categories[n]; ok {
		return n, false, nil
	}
	if _, ok := unicode.Scripts[n]; ok && strings.HasPrefix(name, "Is") {
		return n, false, nil
	}
	return "", false, fmt.Errorf("character property \\p{%s} has no RE2 equivalent", name)
}

// escapeChar reads an escape that denotes a single character, at t.pos just
// after the backslash. ok is false when the escape is not a character escape.
func (t *translator) escapeChar() (r rune, ok bool, err error) {
	c := t.src[t.pos]
	switch c {
	case 't':
		r = '\t'
	case 'n':
		r = '\n'
	case 'r':
		r = '\r'
	case 'f':
		r = '\f'
	case 'a':
		r = '\a'
	case 'e':
		r = 0x1b
	case 'c':
		if t.pos+1 >= len(t.src) {
			return 0, false, t.errorf("incomplete \\c escape")
		}
		t.pos++
		r = t.src[t.pos] ^ 64
	case '0':
		end := t.pos + 1
		for end < len(t.src) && end < t.pos+4 && '0' <= t.src[end] && t.src[end] <= '7' {
			end++
		}
		v, perr := strconv.ParseUint(string(t.src[t.pos+1:end]), 8, 32)
		if perr != nil || v > 0377 {
			return 0, false, t.errorf("illegal octal escape")
		}
		t.pos = end
		return rune(v), true, nil
	case 'x':
		if next, ok := t.peek(1); ok && next == '{' {
			end := t.pos + 2
			for end < len(t.src) && t.src[end] != '}' {
				end++
			}
			v, perr := strconv.ParseUint(string(t.src[t.pos+2:min(end, len(t.src))]), 16, 32)
			if end >= len(t.src) || perr != nil || v > unicode.MaxRune {
				return 0, false, t.errorf("illegal \\x{...} escape")
			}
			t.pos = end + 1
			return rune(v), true, nil
		}
		return t.hexEscape(2)
	case 'u':
		return t.hexEscape(4)
	default:
		if c < utf8.RuneSelf && !isWordRune(c) {
			r = c // escaped punctuation or space
		} else if c >= utf8.RuneSelf {
			r = c
		} else {
			return 0, false, nil
		}
	}
	t.pos++
	return r, true, nil
}

func (t *translator) hexEscape(n int) (rune, bool, error) {
	if t.pos+1+n > len(t.src) {
		return 0, false, t.errorf("incomplete hexadecimal escape")
	}
	v, err := strconv.ParseUint(string(t.src[t.pos+1:t.pos+1+n]), 16, 32)
	if err != nil {
		return 0, false, t.errorf("illegal hexadecimal escape")
	}
	if 0xD800 <= v && v <= 0xDFFF {
		return 0, false, t.errorf("UTF-16 surrogate escapes are not supported")
	}
	t.pos += 1 + n
	return rune(v), true, nil
}

// propertyName reads "{Name}" or a single letter after \p / \P.
func (t *translator) propertyName() (string, error) {
	if r, ok := t.peek(0); ok && r != '{' {
		t.pos++
		return string(r), nil
	}
	end := t.pos + 1
	for end < len(t.src) && t.src[end] != '}' {
		end++
	}
	if end >= len(t.src) {
		return "", t.errorf("unclosed character property")
	}
	name := string(t.src[t.pos+1 : end])
	t.pos = end + 1
	return name, nil
}

// quoted reads \Q...\E (t.pos just after the Q) and returns its characters.
func (t *translator) quoted() []rune {
	start := t.pos
	for t.pos < len(t.src) {
		if t.src[t.pos] == '\\' && t.pos+1 < len(t.src) && t.src[t.pos+1] == 'E' {
			s := t.src[start:t.pos]
			t.pos += 2
			return s
		}
		t.pos++
	}
	return t.src[start:]
}

func (t *translator) escape() (atom, error) {
	t.pos++ // backslash
	if t.pos >= len(t.src) {
		return atom{}, t.errorf("trailing backslash")
	}
	c := t.src[t.pos]
	switch c {
	case 'd', 'D', 'w', 'W':
		t.pos++
		return atom{text: `\` + string(c)}, nil
	case 's':
		t.pos++
		return atom{text: `[` + javaSpace + `]`}, nil
	case 'S':
		t.pos++
		return atom{text: `[^` + javaSpace + `]`}, nil
	case 'A', 'z':
		t.pos++
		return atom{text: `\` + string(c), zeroWidth: true}, nil
	case 'p', 'P':
		t.pos++
		name, err := t.propertyName()
		if err != nil {
			return atom{}, err
		}
		p, posix, err := property(name)
		if err != nil {
			return atom{}, t.errorf("%v", err)
		}
		neg := c == 'P'
		switch {
		case posix && neg:
			return atom{text: `[[:^` + p + `:]]`}, nil
		case posix:
			return atom{text: `[[:` + p + `:]]`}, nil
		default:
			return atom{text: `\` + string(c) + `{` + p + `}`}, nil
		}
	case 'Q':
		t.pos++
		q := t.quoted()
		return atom{text: "(?:" + regexp.QuoteMeta(string(q)) + ")"}, nil
	case 'b', 'B':
		return atom{}, t.errorf("\\%c uses Unicode word characters in Java; no RE2 equivalent", c)
	case 'Z', 'G', 'h', 'H', 'v', 'V', 'R', 'X', 'N', 'k':
		return atom{}, t.errorf("\\%c is not supported by RE2", c)
	}
	if '1' <= c && c <= '9' {
		return atom{}, t.errorf("back-reference \\%c is not supported by RE2", c)
	}
	r, ok, err := t.escapeChar()
	if err != nil {
		return atom{}, err
	}
	if !ok {
		return atom{}, t.errorf("unknown escape \\%c", c)
	}
	return atom{text: literal(r)}, nil
}

// class translates a bracketed character class; t.pos is at '['.
func (t *translator) class() (string, error) {
	t.pos++
	neg := false
	if r, ok := t.peek(0); ok && r == '^' {
		neg = true
		t.pos++
	}
	var items []string
	hasSpace, hasNonSpace := false, false
	first := true
	for {
		if t.pos >= len(t.src) {
			return "", t.errorf("unclosed character class")
		}
		r := t.src[t.pos]
		if r == ']' && !first {
			t.pos++
			break
		}
		first = false
		switch {
		case r == '[':
			return "", t.errorf("nested character classes are not supported")
		case r == '&' && t.pos+1 < len(t.src) && t.src[t.pos+1] == '&':
			return "", t.errorf("character class intersection && is not supported by RE2")
		}
		// A single character, possibly the start of a range.
		var lo rune
		if r == '\\' {
			t.pos++
			if t.pos >= len(t.src) {
				return "", t.errorf("trailing backslash")
			}
			c := t.src[t.pos]
			switch c {
			case 'd', 'D', 'w', 'W':
				t.pos++
				items = append(items, `\`+string(c))
				continue
			case 's':
				t.pos++
				hasSpace = true
				items = append(items, javaSpace)
				continue
			case 'S':
				t.pos++
				hasNonSpace = true
				items = append(items, `\S`)
				continue
			case 'p', 'P':
				t.pos++
				name, err := t.propertyName()
				if err != nil {
					return "", err
				}
				p, posix, err := property(name)
				if err != nil {
					return "", t.errorf("%v", err)
				}
				switch {
				case posix && c == 'P':
					items = append(items, `[:^`+p+`:]`)
				case posix:
					items = append(items, `[:`+p+`:]`)
				default:
					items = append(items, `\`+string(c)+`{`+p+`}`)
				}
				continue
			case 'Q':
				t.pos++
				for _, q := range t.quoted() {
					items = append(items, classLiteral(q))
				}
				continue
			}
			ch, ok, err := t.escapeChar()
			if err != nil {
				return "", err
			}
			if !ok {
				return "", t.errorf("unsupported escape \\%c in character class", c)
			}
			lo = ch
		} else {
			lo = r
			t.pos++
		}
		// Range?
		if t.pos+1 < len(t.src) && t.src[t.pos] == '-' && t.src[t.pos+1] != ']' {
			t.pos++
			var hi rune
			if t.src[t.pos] == '\\' {
				t.pos++
				if t.pos >= len(t.src) {
					return "", t.errorf("trailing backslash")
				}
				ch, ok, err := t.escapeChar()
				if err != nil {
					return "", err
				}
				if !ok {
					return "", t.errorf("illegal character range")
				}
				hi = ch
			} else if t.src[t.pos] == '[' {
				return "", t.errorf("illegal character range")
			} else {
				hi = t.src[t.pos]
				t.pos++
			}
			if hi < lo {
				return "", t.errorf("illegal character range %c-%c", lo, hi)
			}
			items = append(items, classLiteral(lo)+"-"+classLiteral(hi))
			continue
		}
		items = append(items, classLiteral(lo))
	}
	switch {
	case hasSpace && hasNonSpace:
		if neg {
			return "", t.errorf("empty character class")
		}
		return `[\x{0}-\x{10FFFF}]`, nil
	case hasNonSpace && len(items) == 1:
		// [\S] alone: Java's \S, which (unlike RE2's) excludes \x0B.
		if neg {
			return `[` + javaSpace + `]`, nil
		}
		return `[^` + javaSpace + `]`, nil
	}
	// Remaining deviation: \S mixed with other items (no model uses it) keeps
	// RE2's \S, which also admits \x0B.
	prefix := "["
	if neg {
		prefix = "[^"
	}
	return prefix + strings.Join(items, "") + "]", nil
}

func classLiteral(r rune) string {
	switch r {
	case '\\', ']', '[', '^', '-':
		return `\` + string(r)
	}
	if r < 0x20 || r == 0x7f || !unicode.IsPrint(r) {
		return fmt.Sprintf(`\x{%x}`, r)
	}
	return string(r)
}
