package sagemaker

import (
	"regexp"
	"strings"
)

// Resource types as they appear in ARNs and in the metadata store.
const (
	typeModelPackageGroup = "model-package-group"
)

// arn builds a resource ARN. The name is lower-cased, as the service does for
// most resources, because names are unique ignoring case.
func (s *Service) arn(account, typ, name string) string {
	return "arn:aws:sagemaker:" + s.Region + ":" + account + ":" + typ + "/" + strings.ToLower(name)
}

var arnRE = regexp.MustCompile(`^arn:aws[a-z\-]*:sagemaker:([a-z0-9\-]*):(\d{12}):([a-z\-]+)/(.+)$`)

// parsedARN is a SageMaker ARN split into its parts.
type parsedARN struct {
	Region, Account, Type, Name string
}

func parseARN(arn string) (parsedARN, bool) {
	m := arnRE.FindStringSubmatch(arn)
	if m == nil {
		return parsedARN{}, false
	}
	return parsedARN{Region: m[1], Account: m[2], Type: m[3], Name: m[4]}, true
}

// nameFromArnOrName accepts either a bare name or an ARN of the given type
// (the ArnOrName members); an ARN must name the caller's account and this
// region, else ok is false and the caller answers "not found".
func (s *Service) nameFromArnOrName(v, account, typ string) (name string, ok bool) {
	if !strings.HasPrefix(v, "arn:") {
		return v, true
	}
	p, parsed := parseARN(v)
	if !parsed || p.Type != typ || p.Account != account || p.Region != s.Region {
		return "", false
	}
	return p.Name, true
}
