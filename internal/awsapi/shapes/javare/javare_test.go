package javare

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	const (
		arnOrName    = `(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)`
		versioned    = arnOrName + `(\/[0-9]{1,9})?`
		notBlank     = `(?!\s*$).+`
		entityName   = `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`
		tagKey128    = `([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,128}`
		lambdaArn    = `arn:[\p{Alnum}\-]+:lambda:[\p{Alnum}\-]+:[0-9]{12}:function:.*`
		packageGroup = `arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]{9,16}:[0-9]{12}:model-package-group/[\S]{1,2048}`
	)
	cases := []struct {
		pattern, input string
		want           bool
	}{
		// Full match, not search.
		{`[a-z]+`, "abc", true},
		{`[a-z]+`, "abc-", false},
		{`[a-z]+`, "-abc", false},
		{`a|b`, "ab", false},
		{entityName, "my-model-1", true},
		{entityName, "my--model", true},
		{entityName, "model-", false},
		{entityName, strings.Repeat("a", 63), true},
		{entityName, strings.Repeat("a", 64), false},

		// Table: look-behind.
		{arnOrName, "algo", true},
		{arnOrName, "a", true},
		{arnOrName, "algo-", false},
		{arnOrName, "-algo", false},
		{arnOrName, "a-b-c", true},
		{arnOrName, strings.Repeat("a", 63), true},
		{arnOrName, strings.Repeat("a", 64), false},
		{arnOrName, strings.Repeat("a", 62) + "-", false},
		{arnOrName, "arn:aws:sagemaker:us-east-1:123456789012:algorithm/my-algo", true},
		{arnOrName, "arn:aws:sagemaker:us-east-1:123456789012:algorithm/my-algo-", false},
		{arnOrName, "arn:aws:sagemaker:us-east-1:12345678901:algorithm/x", false},
		{versioned, "pkg", true},
		{versioned, "pkg-", false},
		{versioned, "arn:aws:sagemaker:us-east-1:123456789012:model-package/grp/3", true},
		{versioned, "arn:aws:sagemaker:us-east-1:123456789012:model-package/grp-/3", false},
		{versioned, "grp/1234567890", false},

		// Table: negative look-ahead.
		{notBlank, "x", true},
		{notBlank, "  x ", true},
		{notBlank, "", false},
		{notBlank, "   ", false},
		{notBlank, "\t\x0b\f", false},
		{notBlank, "a\nb", false},
		{notBlank, "a\u2028", false},

		// Java "." excludes all line terminators.
		{`.*`, "a\rb", false},
		{`.*`, "a\u0085b", false},
		{`.*`, "tab\there", true},
		{`.*`, "ünïcödé", true},

		// Java \s / \S.
		{`[\S]+`, "img:latest", true},
		{`[\S]+`, "img latest", false},
		{`[\S]+`, "img\x0blatest", false},
		{`\s*`, "\x0b", true},
		{`[\S\s]*`, "any\nthing\x00", true},
		{`[\s\S]+`, "", false},

		// Quantified anchor.
		{tagKey128, "team:ml/x=y+z-@", true},
		{tagKey128, "bad!", false},
		{tagKey128, "", true},
		{`^[0-9a-zA-Z._*-]{1,128}$`, "v1.0*", true},

		// POSIX classes.
		{lambdaArn, "arn:aws:lambda:us-east-1:123456789012:function:f", true},
		{lambdaArn, "arn:aws_x:lambda:us-east-1:123456789012:function:f", false},

		// Repetition above RE2's limit.
		{packageGroup, "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/" + strings.Repeat("g", 2048), true},
		{packageGroup, "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/" + strings.Repeat("g", 2049), false},
		{packageGroup, "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/", false},
		{`a{1500}`, strings.Repeat("a", 1500), true},
		{`a{1500}`, strings.Repeat("a", 1499), false},
		{`a{1200,}`, strings.Repeat("a", 5000), true},
		{`a{1200,}`, strings.Repeat("a", 1199), false},

		// Unicode categories, escapes.
		{`[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*`, "Ünïcode ☃ – ok.", true},
		{`[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*`, "no\nnewline", false},
		{`\u00e9\x41\0101\t`, "éAA\t", true},
		{`\Qa.b\E`, "a.b", true},
		{`\Qa.b\E`, "axb", false},
		{`[a\-z]+`, "a-z", true},
		{`[a\-z]+`, "b", false},
		{`\d{1,4}.\d{1,4}.\d{1,4}`, "1.2.3", true},
	}
	for _, c := range cases {
		m, err := Compile(c.pattern)
		if err != nil {
			t.Errorf("%s: %v", c.pattern, err)
			continue
		}
		if got := m.MatchString(c.input); got != c.want {
			t.Errorf("%s on %q: got %v want %v", c.pattern, c.input, got, c.want)
		}
	}
}

func TestUnsupported(t *testing.T) {
	for _, p := range []string{
		`(?<!-)x`, `(?=a)a`, `(?!a)b`, `(?<=a)b`, `(?>a)`, `a*+`, `(a)\1`, `\bword\b`, `a\Z`,
		`[a-z&&[^e]]`, `[a[b]]`, `\h`, `\R`, `\p{InGreek}`, `(?U)a`, `a**`, `*a`, `(a`, `a)`, `[a`, `x{2,1}`,
	} {
		if _, err := Compile(p); err == nil {
			t.Errorf("%s: want an error", p)
		}
	}
}

func TestTableEntriesCompile(t *testing.T) {
	for _, e := range Table {
		if _, method, err := Explain(e.Java); err != nil || method != Tabled {
			t.Errorf("%s: %v %v", e.Java, method, err)
		}
		if _, err := Translate(e.Java); err == nil {
			t.Errorf("%s: the generic translator handles it; drop the table entry", e.Java)
		}
	}
}

func TestExplainMethods(t *testing.T) {
	for p, want := range map[string]Method{
		`[0-9]{12}`:  Direct,
		`.*`:         Translated,
		`(?!\s*$).+`: Tabled,
	} {
		if _, got, err := Explain(p); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", p, got, err, want)
		}
	}
}
