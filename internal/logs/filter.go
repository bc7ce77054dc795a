package logs

import "strings"

// pattern is a parsed FilterLogEvents filterPattern. Wharf supports the
// unstructured subset of CloudWatch's syntax:
//
//	(empty)            every event
//	ERROR Exception    events containing every term (case-sensitive substrings)
//	"Out of memory"    a quoted phrase is one term (\" and \\ escape inside)
//	?ERROR ?WARN       events containing at least one ?-term
//
// Plain and ?-terms combine: all plain terms and, if there are ?-terms, at
// least one of them. Any other syntax (-exclusions, JSON {…} and
// space-delimited […] patterns, %regex%) is taken literally, term by term.
type pattern struct {
	all []string // every one must appear
	any []string // at least one must appear, when not empty
}

// parsePattern parses a filterPattern; it never fails.
func parsePattern(s string) pattern {
	var p pattern
	for i := 0; i < len(s); {
		if isASCIISpace(s[i]) {
			i++
			continue
		}
		optional := false
		if s[i] == '?' && i+1 < len(s) && !isASCIISpace(s[i+1]) {
			optional = true
			i++
		}
		var term string
		if s[i] == '"' {
			term, i = quoted(s, i+1)
		} else {
			j := i
			for j < len(s) && !isASCIISpace(s[j]) {
				j++
			}
			term, i = s[i:j], j
		}
		if term == "" {
			continue // "" matches everything
		}
		if optional {
			p.any = append(p.any, term)
		} else {
			p.all = append(p.all, term)
		}
	}
	return p
}

// quoted reads a quoted phrase starting after its opening quote; an
// unterminated phrase runs to the end of s. It returns the phrase and the
// index after the closing quote.
func quoted(s string, i int) (string, int) {
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i += 2
		case c == '"':
			return b.String(), i + 1
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), i
}

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// matchesAll reports whether p matches every message.
func (p pattern) matchesAll() bool { return len(p.all) == 0 && len(p.any) == 0 }

// match reports whether msg satisfies p.
func (p pattern) match(msg string) bool {
	for _, t := range p.all {
		if !strings.Contains(msg, t) {
			return false
		}
	}
	if len(p.any) == 0 {
		return true
	}
	for _, t := range p.any {
		if strings.Contains(msg, t) {
			return true
		}
	}
	return false
}
