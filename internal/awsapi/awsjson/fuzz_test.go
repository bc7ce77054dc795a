package awsjson

import (
	"testing"

	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
)

// FuzzUnmarshal: arbitrary request bodies decode or fail cleanly, never
// panic, and whatever decodes marshals again.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"TrainingJobName":"a","HyperParameters":{"x":"1"},"ResourceConfig":{"InstanceCount":2}}`))
	f.Add([]byte(`{"StoppingCondition":{"MaxRuntimeInSeconds":"x"}}`))
	f.Add([]byte(`{"Tags":[{"Key":1}],"InputDataConfig":[null]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var in sm.CreateTrainingJobInput
		if Unmarshal(body, &in) != nil {
			return
		}
		if _, err := Marshal(&in); err != nil {
			t.Fatalf("decoded input does not marshal: %v", err)
		}
	})
}
