// Package store defines Wharf's metadata persistence: accounts and access
// keys, bucket ownership, SageMaker resources and tags. The embedded
// implementation is store/sqlite; every implementation passes storetest.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors returned by every Store implementation; test with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	// ErrConflict: an update lost a race (the stored version changed).
	ErrConflict = errors.New("store: version conflict")
)

// Account is a tenant: it owns access keys, buckets and resources.
type Account struct {
	ID      string // 12 digits
	Name    string
	Created time.Time
}

// AccessKey is an access key pair belonging to an account.
type AccessKey struct {
	ID        string // AKIA...
	Secret    string
	AccountID string
	Created   time.Time
}

// Bucket is an S3 bucket and its owner. Bucket names are global.
type Bucket struct {
	Name    string
	Owner   string // account id
	Region  string
	Created time.Time
}

// Resource is a stored SageMaker resource of any type. Doc holds the
// resource's full description as JSON; the other fields are its index.
type Resource struct {
	Account string // owner account id
	Type    string // ARN resource type: "model-package-group", "training-job", ...
	Name    string // as created; unique per (Account, Type) ignoring case
	ARN     string
	Status  string
	Created time.Time
	// Modified is the last change; Version counts changes for optimistic updates.
	Modified time.Time
	Version  int64
	Doc      json.RawMessage
}

// Sort keys for ListResources.
const (
	SortByName         = "Name"
	SortByCreationTime = "CreationTime"
	SortByStatus       = "Status"
)

// ResourceQuery selects resources of one type in one account.
type ResourceQuery struct {
	// Account limits the query to one account; "" means every account
	// (for controllers).
	Account      string
	Type         string
	NameContains string // case-insensitive substring
	Status       string // exact, if set
	// Statuses, if set, keeps resources whose status is any of these.
	Statuses      []string
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// ModifiedAfter/Before filter on Modified (exclusive), if set.
	ModifiedAfter  time.Time
	ModifiedBefore time.Time
	SortBy         string // SortByName, SortByCreationTime (default) or SortByStatus
	Descending     bool
	// After resumes a listing after the resource with this (sort value, lower-case name).
	AfterSortValue string
	AfterName      string
	Limit          int // <=0: no limit
}

// MetricPoint is one value of a job metric (from its log lines).
type MetricPoint struct {
	Name  string
	Value float64
	Time  time.Time
}

// Tag is a resource tag.
type Tag struct {
	Key   string
	Value string
}

// Store is the metadata store. Implementations are safe for concurrent use.
type Store interface {
	CreateAccount(ctx context.Context, a Account) error // ErrExists on a taken id or name
	GetAccount(ctx context.Context, id string) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)

	CreateAccessKey(ctx context.Context, k AccessKey) error
	GetAccessKey(ctx context.Context, id string) (AccessKey, error)
	ListAccessKeys(ctx context.Context, accountID string) ([]AccessKey, error)
	DeleteAccessKey(ctx context.Context, id string) error

	CreateBucket(ctx context.Context, b Bucket) error // ErrExists if the name is taken by anyone
	GetBucket(ctx context.Context, name string) (Bucket, error)
	ListBuckets(ctx context.Context, owner string) ([]Bucket, error) // by name
	DeleteBucket(ctx context.Context, name string) error

	// CreateResource stores r with Version 1; ErrExists if (Account, Type,
	// lower(Name)) is taken.
	CreateResource(ctx context.Context, r Resource) error
	// GetResource finds a resource by name, ignoring case.
	GetResource(ctx context.Context, account, typ, name string) (Resource, error)
	// UpdateResource replaces Status, Modified and Doc if the stored Version
	// equals r.Version (else ErrConflict) and returns the new version.
	UpdateResource(ctx context.Context, r Resource) (int64, error)
	DeleteResource(ctx context.Context, account, typ, name string) error
	ListResources(ctx context.Context, q ResourceQuery) ([]Resource, error)

	// Tags are keyed by resource ARN. PutTags adds or overwrites keys.
	PutTags(ctx context.Context, arn string, tags []Tag) error
	ListTags(ctx context.Context, arn string) ([]Tag, error) // by key
	DeleteTags(ctx context.Context, arn string, keys []string) error

	// AppendMetrics adds points to a resource's metric series (keyed by ARN);
	// ListMetrics returns them in the order appended.
	AppendMetrics(ctx context.Context, arn string, points []MetricPoint) error
	ListMetrics(ctx context.Context, arn string) ([]MetricPoint, error)

	Close() error
}
