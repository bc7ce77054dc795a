package shapes

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

const tagPattern = `([\p{L}\p{Z}\p{N}_.:/=+\-@]*)`

// trainingJob returns a valid CreateTrainingJob body with extra JSON members
// spliced in (replacing same-named ones is left to the last-wins rule).
func trainingJob(extra string) string {
	base := `"TrainingJobName":"job-1","RoleArn":"arn:aws:iam::123456789012:role/SageMaker",` +
		`"AlgorithmSpecification":{"TrainingInputMode":"File","TrainingImage":"img:1"},` +
		`"ResourceConfig":{"InstanceType":"ml.m5.large","InstanceCount":1,"VolumeSizeInGB":10},` +
		`"StoppingCondition":{"MaxRuntimeInSeconds":3600},"OutputDataConfig":{"S3OutputPath":"s3://b/out"},` +
		`"InputDataConfig":[{"ChannelName":"train","DataSource":{"S3DataSource":{"S3DataType":"S3Prefix","S3Uri":"s3://b/in"}}}]`
	if extra != "" {
		base += "," + extra
	}
	return "{" + base + "}"
}

func tags(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"Key":"k%d","Value":"v"}`, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", 64)
	tagList := make([]string, 51)
	for i := range tagList {
		tagList[i] = fmt.Sprintf("{Key=k%d, Value=v}", i)
	}
	cases := []struct {
		name, service, op, body string
		want                    string // "" = valid; "ser:" prefix = SerializationError
	}{
		{"valid group", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":"my-group","Tags":[{"Key":"team","Value":"ml é 1"}]}`, ""},
		{"empty body", "sagemaker", "ListModelPackageGroups", ``, ""},
		{"unknown members ignored", "sagemaker", "ListModelPackageGroups", `{"Future":{"x":[1,{"y":null}]},"MaxResults":10}`, ""},
		{"null counts as absent", "sagemaker", "ListModelPackageGroups", `{"MaxResults":null,"NameContains":null}`, ""},
		{"64-char name", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":"` + long + `"}`,
			"2 validation errors detected: Value '" + long + "' at 'modelPackageGroupName' failed to satisfy constraint: Member must have length less than or equal to 63; " +
				"Value '" + long + "' at 'modelPackageGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"},
		{"name ending in -", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":"group-"}`,
			"1 validation error detected: Value 'group-' at 'modelPackageGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"},
		{"bad tag key", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":"g","Tags":[{"Key":"ok","Value":"v"},{"Key":"bad!key","Value":"v"}]}`,
			"1 validation error detected: Value 'bad!key' at 'tags.2.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: " + tagPattern},
		{"51 tags", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":"g","Tags":` + tags(51) + `}`,
			"1 validation error detected: Value '[" + strings.Join(tagList, ", ") + "]' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"},
		{"50 tags ok", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":"g","Tags":` + tags(50) + `}`, ""},
		{"missing required", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupDescription":"d"}`,
			"1 validation error detected: Value null at 'modelPackageGroupName' failed to satisfy constraint: Member must not be null"},
		{"missing tag value", "sagemaker", "AddTags", `{"ResourceArn":"arn:aws:sagemaker:us-east-1:123456789012:model/m","Tags":[{"Key":"k"}]}`,
			"1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy constraint: Member must not be null"},
		{"valid training job", "sagemaker", "CreateTrainingJob", trainingJob(""), ""},
		{"bad instance type", "sagemaker", "CreateTrainingJob", trainingJob(`"ResourceConfig":{"InstanceType":"ml.bogus","InstanceCount":1}`),
			"1 validation error detected: Value 'ml.bogus' at 'resourceConfig.instanceType' failed to satisfy constraint: Member must satisfy enum value set: [ml.m4.xlarge, ml.m4.2xlarge, "},
		{"channel without name", "sagemaker", "CreateTrainingJob", trainingJob(`"InputDataConfig":[{"DataSource":{"S3DataSource":{"S3DataType":"S3Prefix","S3Uri":"s3://b/in"}}}]`),
			"1 validation error detected: Value null at 'inputDataConfig.1.member.channelName' failed to satisfy constraint: Member must not be null"},
		{"MaxRuntimeInSeconds 0", "sagemaker", "CreateTrainingJob", trainingJob(`"StoppingCondition":{"MaxRuntimeInSeconds":0}`),
			"1 validation error detected: Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"several at once, model order", "sagemaker", "CreateTrainingJob",
			`{"TrainingJobName":"j_1","StoppingCondition":{"MaxRuntimeInSeconds":0},"OutputDataConfig":{"S3OutputPath":"s3://b/o"}}`,
			"3 validation errors detected: Value 'j_1' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; " +
				"Value null at 'roleArn' failed to satisfy constraint: Member must not be null; " +
				"Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"list of scalars", "sagemaker", "CreateTrainingJob", trainingJob(`"VpcConfig":{"SecurityGroupIds":["sg-1","bad id"],"Subnets":["subnet-1"]}`),
			"1 validation error detected: Value '[sg-1, bad id]' at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must satisfy constraint: " +
				"[Member must have length less than or equal to 32, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: [-0-9a-zA-Z]+, Member must not be null]"},
		{"list too short", "sagemaker", "CreateTrainingJob", trainingJob(`"VpcConfig":{"SecurityGroupIds":[],"Subnets":["subnet-1"]}`),
			"1 validation error detected: Value '[]' at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"map key", "sagemaker", "CreateTrainingJob", trainingJob(`"HyperParameters":{"ok":"1","bad\nkey":"2"}`),
			"1 validation error detected: Value '{ok=1, bad\nkey=2}' at 'hyperParameters' failed to satisfy constraint: Map keys must satisfy constraint: " +
				"[Member must have length less than or equal to 256, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: .*]"},
		{"map value too long", "sagemaker", "CreateTrainingJob", trainingJob(`"Environment":{"A":"` + strings.Repeat("x", 512+1) + `"}`),
			"at 'environment' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 512, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: [\\S\\s]*]"},
		{"code points, not bytes", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":"g","Tags":[{"Key":"` + strings.Repeat("é", 128) + `","Value":"v"}]}`, ""},
		{"code points over", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":"g","Tags":[{"Key":"` + strings.Repeat("é", 129) + `","Value":"v"}]}`,
			"at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"},
		{"float min", "sagemaker", "UpdateEndpointWeightsAndCapacities", `{"EndpointName":"e","DesiredWeightsAndCapacities":[{"VariantName":"v","DesiredWeight":-1.5e0}]}`,
			"1 validation error detected: Value '-1.5' at 'desiredWeightsAndCapacities.1.member.desiredWeight' failed to satisfy constraint: Member must have value greater than or equal to 0"},
		{"max results", "sagemaker", "ListTrainingJobs", `{"MaxResults":101,"SortOrder":"Up"}`,
			"2 validation errors detected: Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100; " +
				"Value 'Up' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [Ascending, Descending]"},
		{"timestamps", "sagemaker", "ListTrainingJobs", `{"CreationTimeAfter":1542752036.687,"CreationTimeBefore":"2024-01-02T03:04:05Z"}`, ""},
		{"arn or name look-behind", "sagemaker", "DescribeModelPackage", `{"ModelPackageName":"pkg-"}`,
			"at 'modelPackageName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:[a-z\\-]*\\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)(\\/[0-9]{1,9})?"},
		{"versioned arn ok", "sagemaker", "DescribeModelPackage", `{"ModelPackageName":"arn:aws:sagemaker:us-east-1:123456789012:model-package/grp/12"}`, ""},
		{"logs tags map", "logs", "CreateLogGroup", `{"logGroupName":"/aws/sagemaker/TrainingJobs","tags":{"ok":"v","bad*":"x"}}`,
			"1 validation error detected: Value '{ok=v, bad*=x}' at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: " +
				"[Member must have length less than or equal to 128, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+)$]"},
		{"logs limit", "logs", "GetLogEvents", `{"logStreamName":"s","limit":0}`,
			"1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"ecr repository name", "ecr", "CreateRepository", `{"repositoryName":"Team/App"}`,
			"1 validation error detected: Value 'Team/App' at 'repositoryName' failed to satisfy constraint: Member must satisfy regular expression pattern: "},
		{"ecr list of scalars", "ecr", "GetAuthorizationToken", `{"registryIds":["123456789012","abc"]}`,
			"1 validation error detected: Value '[123456789012, abc]' at 'registryIds' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]{12}, Member must not be null]"},
		{"null list item", "ecr", "GetAuthorizationToken", `{"registryIds":[null]}`,
			"at 'registryIds' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]{12}, Member must not be null]"},

		{"malformed", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":`, "ser:Malformed JSON request body"},
		{"trailing garbage", "sagemaker", "CreateModelPackageGroup", `{} {}`, "ser:Malformed JSON request body"},
		{"not an object", "sagemaker", "CreateModelPackageGroup", `["x"]`, "ser:Request body must be a JSON object, found START_ARRAY"},
		{"number for string", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":12}`, "ser:NUMBER_VALUE can not be converted to a String at 'modelPackageGroupName'"},
		{"string for integer", "sagemaker", "CreateTrainingJob", trainingJob(`"StoppingCondition":{"MaxRuntimeInSeconds":"60"}`),
			"ser:STRING_VALUE can not be converted to an Integer at 'stoppingCondition.maxRuntimeInSeconds'"},
		{"fraction for integer", "sagemaker", "CreateTrainingJob", trainingJob(`"StoppingCondition":{"MaxRuntimeInSeconds":1.5}`),
			"ser:NUMBER_VALUE 1.5 can not be converted to an Integer at 'stoppingCondition.maxRuntimeInSeconds'"},
		{"int32 overflow", "sagemaker", "CreateTrainingJob", trainingJob(`"StoppingCondition":{"MaxRuntimeInSeconds":2147483648}`),
			"ser:NUMBER_VALUE 2147483648 can not be converted to an Integer at 'stoppingCondition.maxRuntimeInSeconds'"},
		{"string for structure", "sagemaker", "CreateTrainingJob", trainingJob(`"StoppingCondition":"soon"`),
			"ser:STRING_VALUE can not be converted to a structure at 'stoppingCondition'"},
		{"object for list", "sagemaker", "CreateTrainingJob", trainingJob(`"InputDataConfig":{"ChannelName":"x"}`),
			"ser:Start of structure or map found where not expected at 'inputDataConfig'"},
		{"list for string", "sagemaker", "CreateModelPackageGroup", `{"ModelPackageGroupName":["g"]}`, "ser:Start of list found where not expected at 'modelPackageGroupName'"},
		{"string for boolean", "sagemaker", "CreateTrainingJob", trainingJob(`"EnableNetworkIsolation":"true"`),
			"ser:STRING_VALUE can not be converted to a Boolean at 'enableNetworkIsolation'"},
		{"bad item type", "sagemaker", "CreateTrainingJob", trainingJob(`"VpcConfig":{"SecurityGroupIds":["sg",5],"Subnets":["s"]}`),
			"ser:NUMBER_VALUE can not be converted to a String at 'vpcConfig.securityGroupIds.2.member'"},
		{"bad timestamp", "sagemaker", "ListTrainingJobs", `{"CreationTimeAfter":"yesterday"}`, "ser:STRING_VALUE \"yesterday\" can not be converted to a Timestamp at 'creationTimeAfter'"},
		{"serialization wins over validation", "sagemaker", "CreateTrainingJob", `{"TrainingJobName":"bad_name","Tags":"x"}`,
			"ser:STRING_VALUE can not be converted to a list at 'tags'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := MustLoad(c.service).Validate(c.op, []byte(c.body))
			var ve *ValidationError
			var se *SerializationError
			switch {
			case c.want == "":
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
			case strings.HasPrefix(c.want, "ser:"):
				if !errors.As(err, &se) || !strings.HasPrefix(se.Message, strings.TrimPrefix(c.want, "ser:")) {
					t.Fatalf("got %T %v\nwant SerializationError %q", err, err, c.want)
				}
			default:
				if !errors.As(err, &ve) {
					t.Fatalf("got %T %v, want ValidationError", err, err)
				}
				if c.want[0] >= '0' && c.want[0] <= '9' {
					if !strings.HasPrefix(ve.Message, c.want) {
						t.Fatalf("got  %q\nwant %q", ve.Message, c.want)
					}
				} else if !strings.Contains(ve.Message, c.want) {
					t.Fatalf("got  %q\nwant it to contain %q", ve.Message, c.want)
				}
			}
		})
	}
}

func TestValidateUnknownOperation(t *testing.T) {
	err := MustLoad("sagemaker").Validate("CreateNotebookInstance", []byte(`{}`))
	if !errors.Is(err, ErrUnknownOperation) {
		t.Fatalf("got %v", err)
	}
}

func TestLoad(t *testing.T) {
	if got := strings.Join(Services(), ","); got != "ecr,logs,sagemaker" {
		t.Fatalf("services %s", got)
	}
	for svc, prefix := range map[string]string{"sagemaker": "SageMaker", "logs": "Logs_20140328", "ecr": "AmazonEC2ContainerRegistry_V20150921"} {
		m, err := Load(svc)
		if err != nil {
			t.Fatal(err)
		}
		if m.TargetPrefix != prefix || m != MustLoad(svc) {
			t.Fatalf("%s: prefix %q", svc, m.TargetPrefix)
		}
	}
	if got := len(MustLoad("sagemaker").Operations()); got != 38 {
		t.Fatalf("sagemaker operations: %d", got)
	}
	if _, err := Load("s3"); err == nil {
		t.Fatal("want error for unknown service")
	}
}

// TestAllPatternsCompile compiles every pattern of every embedded model and
// lists each failure, so no pattern is silently skipped at run time.
func TestAllPatternsCompile(t *testing.T) {
	for _, svc := range Services() {
		m := MustLoad(svc)
		for _, err := range m.CompilePatterns() {
			t.Errorf("%s: %v", svc, err)
		}
		t.Logf("%s: %d distinct patterns", svc, len(m.Patterns()))
	}
}

func TestConcurrentValidate(t *testing.T) {
	m, err := parseModel(mustRead(t, "models/sagemaker.json")) // fresh model: patterns not compiled yet
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if err := m.Validate("CreateTrainingJob", []byte(trainingJob(""))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := modelFS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJavaFloat(t *testing.T) {
	for f, want := range map[float64]string{1: "1.0", 1.5: "1.5", 0.001: "0.001", 1e7: "1.0E7", 1.5e-7: "1.5E-7", -2.5e10: "-2.5E10", 0: "0.0"} {
		if got := javaFloat(f, 64); got != want {
			t.Errorf("%v: got %s want %s", f, got, want)
		}
	}
}

func TestViolationFormat(t *testing.T) {
	err := NewValidationError(
		Violation{Path: "maxResults", Value: "500", Constraint: "Member must have value less than or equal to 100"},
		Violation{Path: "nextToken", Null: true, Constraint: "Member must not be null"},
	)
	want := "2 validation errors detected: Value '500' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100; " +
		"Value null at 'nextToken' failed to satisfy constraint: Member must not be null"
	if err.Message != want {
		t.Fatalf("got %s", err.Message)
	}
	if NewValidationError() != nil {
		t.Fatal("no violations must give nil")
	}
}

func FuzzValidate(f *testing.F) {
	seeds := []string{
		``, `{}`, `[]`, `null`, `{"ModelPackageGroupName":"g"}`, trainingJob(""),
		trainingJob(`"HyperParameters":{"a":"b"},"VpcConfig":{"SecurityGroupIds":["x",null],"Subnets":[]}`),
		`{"Tags":[{"Key":1},null,[]],"ModelPackageGroupName":{"a":[[[]]]}}`, `{"MaxResults":1e400}`, `{"a":"\ud800"}`,
		`{"CreationTimeAfter":-1e300}`, `{"DesiredWeightsAndCapacities":[{"DesiredWeight":"NaN","VariantName":"v"}],"EndpointName":"e"}`,
		strings.Repeat("[", 300) + strings.Repeat("]", 300),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	m := MustLoad("sagemaker")
	ops := []string{"CreateModelPackageGroup", "CreateTrainingJob", "ListTrainingJobs", "UpdateEndpointWeightsAndCapacities", "CreateModel"}
	f.Fuzz(func(t *testing.T, body string) {
		for _, op := range ops {
			err := m.Validate(op, []byte(body))
			if err == nil {
				continue
			}
			var ve *ValidationError
			var se *SerializationError
			if !errors.As(err, &ve) && !errors.As(err, &se) {
				t.Fatalf("%s: unexpected error kind %T: %v", op, err, err)
			}
		}
	})
}
