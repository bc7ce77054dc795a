package training

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

func TestWaitForCapacity(t *testing.T) {
	created := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	newDoc := func(maxPending *int32) *sm.DescribeTrainingJobOutput {
		return &sm.DescribeTrainingJobOutput{
			TrainingJobStatus: types.TrainingJobStatusInProgress, SecondaryStatus: types.SecondaryStatusStarting,
			CreationTime:      aws.Time(created),
			StoppingCondition: &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(3600), MaxPendingTimeInSeconds: maxPending},
		}
	}

	doc := newDoc(aws.Int32(7200))
	if !waitForCapacity(doc, created.Add(time.Minute)) || doc.SecondaryStatus != types.SecondaryStatusPending ||
		doc.TrainingJobStatus != types.TrainingJobStatusInProgress {
		t.Fatalf("a waiting job is Pending: %s/%s", doc.TrainingJobStatus, doc.SecondaryStatus)
	}
	if waitForCapacity(doc, created.Add(2*time.Hour)) {
		t.Fatal("exactly MaxPendingTimeInSeconds is still within the limit; nothing to write")
	}
	if !waitForCapacity(doc, created.Add(2*time.Hour+time.Second)) {
		t.Fatal("a job pending too long is stopped")
	}
	if doc.TrainingJobStatus != types.TrainingJobStatusStopped || doc.SecondaryStatus != types.SecondaryStatusStopped || doc.TrainingEndTime == nil {
		t.Fatalf("stopped job: %s/%s end %v", doc.TrainingJobStatus, doc.SecondaryStatus, doc.TrainingEndTime)
	}
	last := doc.SecondaryStatusTransitions[len(doc.SecondaryStatusTransitions)-1]
	if !strings.Contains(aws.ToString(last.StatusMessage), "MaxPendingTimeInSeconds (7200 s)") || last.EndTime == nil {
		t.Fatalf("last transition: %+v", last)
	}
	if waitForCapacity(doc, created.Add(3*time.Hour)) {
		t.Fatal("a stopped job is left alone")
	}

	doc = newDoc(nil)
	waitForCapacity(doc, created)
	if waitForCapacity(doc, created.Add(1000*time.Hour)) || doc.TrainingJobStatus != types.TrainingJobStatusInProgress {
		t.Fatal("without MaxPendingTimeInSeconds a job waits as long as it takes")
	}
}
