package endpoint

import "testing"

func TestMeteredUnits(t *testing.T) {
	for _, tc := range []struct {
		header string
		units  int
		valid  bool
	}{
		{"", 1, true},
		{`{"Dimension": "inference.count", "ConsumedUnits": 7}`, 7, true},
		{`{"Dimension":"inference.count","ConsumedUnits":10000}`, 10000, true},
		{`{"Dimension":"inference.count","ConsumedUnits":10001}`, 1, false},
		{`{"Dimension":"inference.count","ConsumedUnits":0}`, 1, false},
		{`{"Dimension":"inference.count","ConsumedUnits":2.5}`, 1, false},
		{`{"Dimension":"inference.count","ConsumedUnits":"3"}`, 1, false},
		{`{"Dimension":"training.hours","ConsumedUnits":3}`, 1, false},
		{`not json`, 1, false},
	} {
		if units, valid := meteredUnits(tc.header); units != tc.units || valid != tc.valid {
			t.Errorf("meteredUnits(%q) = %d, %v; want %d, %v", tc.header, units, valid, tc.units, tc.valid)
		}
	}
}
