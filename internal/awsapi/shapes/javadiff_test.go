package shapes

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/wharfml/wharf/internal/awsapi/shapes/javare"
)

// alphabet holds characters where Java and RE2 semantics tend to differ.
var alphabet = []rune("aZz09-_./:@=+*!#$%^&()[]{}|\\'\" \t\n\r\x0b\f\u0085\u2028\u00a0é☃😀\x00")

// TestPatternsAgainstJava compares javare with java.util.regex on every
// pattern of the embedded models: strings generated from the translated
// expression, mutations of them, and a fixed corpus must match (or not) in
// both engines. Skipped when no java launcher is installed.
func TestPatternsAgainstJava(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	javaBin, err := exec.LookPath("java")
	if err != nil {
		t.Skip("java not installed")
	}
	var patterns []string
	seen := map[string]bool{}
	for _, svc := range Services() {
		for p := range MustLoad(svc).Patterns() {
			if !seen[p] {
				seen[p] = true
				patterns = append(patterns, p)
			}
		}
	}
	sort.Strings(patterns)

	corpus := []string{"", "a", "abc", "abc-", "-abc", "a-b", "a--b", "ABC", "a b", " ", "  x  ", "a\nb", "\n", "x\r", "\x0b", "é",
		"ünïcode ☃", "😀", "123456789012", "1234567890123", "s3://bucket/key", "https://host/p", "s3://", "s3://b",
		"arn:aws:sagemaker:us-east-1:123456789012:model-package/grp/12", "arn:aws:iam::123456789012:role/r",
		"arn:aws:sagemaker:us-east-1:123456789012:algorithm/my-algo", "arn:aws:sagemaker:us-east-1:123456789012:algorithm/my-algo-",
		"sha256:" + strings.Repeat("a", 64), "1.2.3", "team:ml/x=y+z-@", "a\u2028", "x\u0085", "fs-0123abcd", strings.Repeat("a", 64)}

	rng := rand.New(rand.NewSource(1))
	type probe struct {
		pattern int
		input   string
		want    bool
	}
	var probes []probe
	for i, p := range patterns {
		m, err := javare.Compile(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		inputs := append([]string(nil), corpus...)
		if src, _ := javare.RE2(p); src != "" {
			re, err := syntax.Parse(src, syntax.Perl)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			re = re.Simplify()
			for j := 0; j < 40; j++ {
				var b strings.Builder
				generate(rng, re, &b)
				s := b.String()
				inputs = append(inputs, s, mutate(rng, s), mutate(rng, mutate(rng, s)))
			}
		}
		for _, s := range inputs {
			if !utf8.ValidString(s) {
				continue
			}
			probes = append(probes, probe{i, s, m.MatchString(s)})
		}
	}

	dir := t.TempDir()
	var pf, inf bytes.Buffer
	for _, p := range patterns {
		pf.WriteString(base64.StdEncoding.EncodeToString([]byte(p)) + "\n")
	}
	for _, pr := range probes {
		fmt.Fprintf(&inf, "%d\t%s\n", pr.pattern, base64.StdEncoding.EncodeToString([]byte(pr.input)))
	}
	pPath, iPath := filepath.Join(dir, "patterns"), filepath.Join(dir, "inputs")
	if err := os.WriteFile(pPath, pf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(iPath, inf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ := filepath.Abs("testdata/RegexCheck.java")
	cmd := exec.Command(javaBin, src, pPath, iPath)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("java oracle failed to run: %v", err)
	}
	results := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(results) != len(probes) {
		t.Fatalf("java answered %d of %d probes", len(results), len(probes))
	}
	bad, unicodeSkew := 0, 0
	for k, pr := range probes {
		res := results[k]
		if strings.HasSuffix(res, "u") || !allAssigned(pr.input) {
			// Go's and the JVM's Unicode versions differ on this code point.
			unicodeSkew++
			continue
		}
		var javaSays bool
		switch res {
		case "1":
			javaSays = true
		case "0":
		default:
			t.Fatalf("java cannot compile %s", patterns[pr.pattern])
		}
		if javaSays != pr.want {
			bad++
			if bad <= 20 {
				t.Errorf("%s on %s: java %v, javare %v", patterns[pr.pattern], strconv.Quote(pr.input), javaSays, pr.want)
			}
		}
	}
	t.Logf("%d patterns, %d probes, %d skipped for Unicode version skew, %d disagreements", len(patterns), len(probes), unicodeSkew, bad)
}

var assignedTables = []*unicode.RangeTable{unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Cc, unicode.Cf, unicode.Co}

func allAssigned(s string) bool {
	for _, r := range s {
		if !unicode.IsOneOf(assignedTables, r) {
			return false
		}
	}
	return true
}

// generate appends a random member of re's language.
func generate(rng *rand.Rand, re *syntax.Regexp, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			b.WriteRune(r)
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return
		}
		k := rng.Intn(len(re.Rune) / 2)
		lo, hi := re.Rune[2*k], re.Rune[2*k+1]
		if hi-lo > 256 && rng.Intn(2) == 0 {
			hi = lo + 256
		}
		r := lo + rune(rng.Int63n(int64(hi-lo)+1))
		if r >= 0xD800 && r <= 0xDFFF || r > utf8.MaxRune {
			r = lo
		}
		b.WriteRune(r)
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		b.WriteRune(alphabet[rng.Intn(len(alphabet))])
	case syntax.OpCapture:
		generate(rng, re.Sub[0], b)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, 3
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = re.Min, re.Max
			if hi < 0 || hi > lo+4 {
				hi = lo + 4
				if re.Max >= 0 && rng.Intn(4) == 0 {
					hi = re.Max
				}
			}
		}
		n := lo + rng.Intn(hi-lo+1)
		for i := 0; i < n; i++ {
			generate(rng, re.Sub[0], b)
		}
	case syntax.OpConcat:
		for _, s := range re.Sub {
			generate(rng, s, b)
		}
	case syntax.OpAlternate:
		generate(rng, re.Sub[rng.Intn(len(re.Sub))], b)
	}
}

// mutate deletes, inserts or replaces one character.
func mutate(rng *rand.Rand, s string) string {
	rs := []rune(s)
	i := 0
	if len(rs) > 0 {
		i = rng.Intn(len(rs) + 1)
	}
	c := alphabet[rng.Intn(len(alphabet))]
	switch op := rng.Intn(3); {
	case op == 0 && i < len(rs):
		rs = append(rs[:i], rs[i+1:]...)
	case op == 1 && i < len(rs):
		rs[i] = c
	default:
		rs = append(rs[:i], append([]rune{c}, rs[i:]...)...)
	}
	return string(rs)
}
