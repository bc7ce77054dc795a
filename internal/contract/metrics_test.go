package contract

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMetricMatcher(t *testing.T) {
	for _, tc := range []struct{ regex, want string }{
		{`loss=[0-9.]+`, "no capture group"},
		{`(?<=loss=)([0-9.]+)`, "RE2 does not support"},
		{`loss=(?![a-z])([0-9.]+)`, "RE2 does not support"},
		{`(a)\1`, "RE2 does not support"},
		{`loss=([0-9.]+`, "does not compile"},
	} {
		_, err := NewMetricMatcher([]MetricDefinition{{Name: "ok", Regex: `x=(\d+)`}, {Name: "bad", Regex: tc.regex}})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `metric "bad"`) {
			t.Errorf("%q: error %v, want %q", tc.regex, err, tc.want)
		}
	}
	m, err := NewMetricMatcher([]MetricDefinition{
		{Name: "train:loss", Regex: `loss[:=]\s*(\S+)`},
		{Name: "acc", Regex: `acc=\s*([^,]+),`},
		{Name: "named", Regex: `(?P<v>[0-9]+)%`},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	for line, want := range map[string][]MetricPoint{
		"epoch 1 loss: 0.25 loss: 0.5": {{"train:loss", 0.25, now}},
		"loss=NaN acc= 0.9 , 42%":      {{"acc", 0.9, now}, {"named", 42, now}},
		"loss=inf":                     nil,
		"loss=1e400":                   nil,
		"loss=abc":                     nil,
		"nothing here":                 nil,
		"loss=-3.5e-2 acc=1,":          {{"train:loss", -0.035, now}, {"acc", 1, now}},
	} {
		if got := m.Match(line, now); !reflect.DeepEqual(got, want) {
			t.Errorf("Match(%q) = %v, want %v", line, got, want)
		}
	}
}
