package contract

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MetricDefinition is a MetricDefinitions entry: a name and a regex whose
// first capture group is the value.
type MetricDefinition struct{ Name, Regex string }

// MetricPoint is one value taken from a log line.
type MetricPoint struct {
	Name  string
	Value float64
	Time  time.Time
}

// MetricMatcher extracts metrics from log lines (§2.11). It is safe for
// concurrent use.
type MetricMatcher struct {
	names []string
	res   []*regexp.Regexp
}

// CheckMetricRegex compiles a metric regex under RE2 and requires a capture
// group. Look-around and back-references get an error saying RE2 lacks them.
func CheckMetricRegex(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		for _, la := range []string{"(?=", "(?!", "(?<=", "(?<!"} {
			if strings.Contains(expr, la) {
				return nil, fmt.Errorf("regex %q uses look-around (%s…), which RE2 does not support", expr, la)
			}
		}
		if strings.Contains(err.Error(), "invalid escape sequence") && hasBackReference(expr) {
			return nil, fmt.Errorf("regex %q uses a back-reference, which RE2 does not support", expr)
		}
		return nil, fmt.Errorf("regex %q does not compile under RE2: %w", expr, err)
	}
	if re.NumSubexp() < 1 {
		return nil, fmt.Errorf("regex %q has no capture group for the metric value", expr)
	}
	return re, nil
}

func hasBackReference(expr string) bool {
	for i := 0; i+1 < len(expr); i++ {
		if expr[i] == '\\' {
			if c := expr[i+1]; c >= '1' && c <= '9' {
				return true
			}
			i++
		}
	}
	return false
}

// NewMetricMatcher compiles the definitions; errors name the metric.
func NewMetricMatcher(defs []MetricDefinition) (*MetricMatcher, error) {
	m := &MetricMatcher{}
	for _, d := range defs {
		re, err := CheckMetricRegex(d.Regex)
		if err != nil {
			return nil, fmt.Errorf("metric %q: %w", d.Name, err)
		}
		m.names = append(m.names, d.Name)
		m.res = append(m.res, re)
	}
	return m, nil
}

// Match returns one point per definition whose regex matches line: capture
// group 1 of the first match, spaces trimmed, parsed as a float. Unparsable,
// NaN and infinite values are dropped.
func (m *MetricMatcher) Match(line string, t time.Time) []MetricPoint {
	var pts []MetricPoint
	for i, re := range m.res {
		sub := re.FindStringSubmatch(line)
		if sub == nil {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(sub[1]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		pts = append(pts, MetricPoint{Name: m.names[i], Value: v, Time: t})
	}
	return pts
}
