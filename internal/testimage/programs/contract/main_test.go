package main

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestInvocations(t *testing.T) {
	for _, tc := range []struct {
		env         map[string]string
		ct, body    string
		status      int
		wantCT, out string
	}{
		{nil, "application/json", `{"a":1}`, 200, "application/json", `{"a":1}`},
		{map[string]string{"ECHO_PREFIX": "p:"}, "application/json", `{"a":1}`, 200, "application/json", `p:{"a":1}`},
		{map[string]string{"ECHO_PREFIX": "p:"}, "text/csv", "1,2\n3,4\n", 200, "text/csv", "p:1,2\np:3,4\n"},
		{map[string]string{"ECHO_PREFIX": "p:"}, "text/csv", "1,2\r\n3,4", 200, "text/csv", "p:1,2\np:3,4"},
		{map[string]string{"INVOKE_MODE": "upper"}, "text/plain", "abc", 200, "text/plain", "ABC"},
		{map[string]string{"INVOKE_MODE": "error"}, "text/plain", "abc", 500, "text/plain", "model failed"},
		{map[string]string{"INVOKE_MODE": "error", "ERROR_STATUS": "400"}, "", "abc", 400, "text/plain", "model failed"},
		{map[string]string{"INVOKE_MODE": "count"}, "text/csv", "a\nb\nc\n", 200, "application/json", `{"lines": 3}`},
		{map[string]string{"INVOKE_MODE": "sum"}, "text/csv", "1,2,3\n\"4\",5.5\r\n", 200, "text/csv", "6\n9.5\n"},
		{map[string]string{"INVOKE_MODE": "sum"}, "application/jsonlines", "[1,2]\n3\n[]", 200, "application/jsonlines", "3\n3\n0\n"},
		{map[string]string{"INVOKE_MODE": "sum"}, "text/csv", "1\nid7,2\n", 400, "text/plain; charset=utf-8", "line 2: \"id7\" is not a number\n"},
		{map[string]string{"INVOKE_MODE": "slow", "SLOW_MS": "1"}, "", "x", 200, "application/octet-stream", "x"},
		{map[string]string{"INVOKE_MODE": "headers", "STEP_NAME": "s"}, "text/plain", "x\n", 200, "text/plain", "x\ns content-type=text/plain accept=\n"},
		{map[string]string{"INVOKE_MODE": "headers", "STEP_NAME": "s", "RESPONSE_CONTENT_TYPE": "application/x-s"}, "", "", 200, "application/x-s", "s content-type= accept=\n"},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		req := httptest.NewRequest("POST", "/invocations", strings.NewReader(tc.body))
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		w := httptest.NewRecorder()
		invocations(w, req)
		b, _ := io.ReadAll(w.Result().Body)
		if w.Code != tc.status || w.Header().Get("Content-Type") != tc.wantCT || string(b) != tc.out {
			t.Errorf("%v %q: got %d %q %q, want %d %q %q", tc.env, tc.body, w.Code, w.Header().Get("Content-Type"), b, tc.status, tc.wantCT, tc.out)
		}
		for k := range tc.env {
			t.Setenv(k, "")
		}
	}
}

func TestCustomAttributesAndMetering(t *testing.T) {
	t.Setenv("METERING_UNITS", "3")
	req := httptest.NewRequest("POST", "/invocations", strings.NewReader("x"))
	req.Header.Set("X-Amzn-SageMaker-Custom-Attributes", "k=v")
	w := httptest.NewRecorder()
	invocations(w, req)
	if w.Header().Get("X-Amzn-SageMaker-Custom-Attributes") != "k=v" ||
		w.Header().Get("X-Amzn-Inference-Metering") != `{"Dimension": "inference.count", "ConsumedUnits": 3}` {
		t.Errorf("headers %v", w.Header())
	}
}
