package contract

import (
	"fmt"
	"strings"
)

// ParseS3URI splits "s3://bucket/key" into bucket and key. The key may be
// empty ("s3://bucket" or "s3://bucket/").
func ParseS3URI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("S3 URI %q: must start with s3://", uri)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("S3 URI %q: missing bucket name", uri)
	}
	if strings.ContainsRune(uri, 0) {
		return "", "", fmt.Errorf("S3 URI %q: contains a NUL byte", uri)
	}
	return bucket, key, nil
}

// S3URI formats bucket and key as "s3://bucket/key".
func S3URI(bucket, key string) string { return "s3://" + bucket + "/" + key }

// OutputKeys returns where training outputs go (§2.6): the bucket, the keys of
// model.tar.gz and output.tar.gz, and the "model/" prefix used when
// OutputDataConfig.CompressionType is NONE. A trailing "/" on S3OutputPath
// makes no difference.
func OutputKeys(s3OutputPath, jobName string) (bucket, modelKey, outputKey, modelPrefix string, err error) {
	bucket, key, err := ParseS3URI(s3OutputPath)
	if err != nil {
		return "", "", "", "", err
	}
	if jobName == "" || strings.Contains(jobName, "/") {
		return "", "", "", "", fmt.Errorf("output keys: invalid job name %q", jobName)
	}
	key = strings.TrimRight(key, "/")
	base := jobName + "/output/"
	if key != "" {
		base = key + "/" + base
	}
	return bucket, base + "model.tar.gz", base + "output.tar.gz", base + "model/", nil
}
