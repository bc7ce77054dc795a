// Package admin serves Wharf's operator API: accounts, access keys and
// registry garbage collection. It speaks AWS JSON 1.1 (X-Amz-Target
// "WharfAdmin.<Operation>", SigV4 signed) so the `wharf admin` commands
// authenticate with the standard AWS credential chain. Only the root
// account may call it.
package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/awsapi/awsjson"
	"github.com/wharfml/wharf/internal/iam"
	"github.com/wharfml/wharf/internal/registry"
	"github.com/wharfml/wharf/internal/store"
)

// TargetPrefix is the X-Amz-Target prefix of admin operations.
const TargetPrefix = "WharfAdmin."

// SigningName is the SigV4 service name clients sign admin requests with.
const SigningName = "wharf"

// Wire shapes of the admin API.
type (
	CreateAccountInput struct{ Name *string }
	// Credentials is a new key pair; the secret is shown only once.
	Credentials struct {
		AccountId       *string
		AccessKeyId     *string
		SecretAccessKey *string
	}
	ListAccountsInput  struct{}
	ListAccountsOutput struct{ Accounts []Account }
	Account            struct {
		AccountId    *string
		Name         *string
		CreationTime *time.Time
	}
	CreateAccessKeyInput  struct{ AccountId *string }
	DeleteAccessKeyInput  struct{ AccessKeyId *string }
	DeleteAccessKeyOutput struct{}
	ListAccessKeysInput   struct{ AccountId *string }
	ListAccessKeysOutput  struct{ AccessKeys []AccessKey }
	AccessKey             struct {
		AccessKeyId  *string
		AccountId    *string
		CreationTime *time.Time
	}
	// GarbageCollectRegistryInput: GracePeriodSeconds defaults to
	// registry.DefaultGCGrace; DryRun and DeleteUntagged to false.
	GarbageCollectRegistryInput struct {
		DryRun             *bool
		GracePeriodSeconds *int64
		DeleteUntagged     *bool
	}
	GarbageCollectRegistryOutput struct {
		BlobsMarked      int64
		BlobsDeleted     int64
		BytesFreed       int64
		UploadsPurged    int64
		ManifestsDeleted int64
		LinksDeleted     int64
		ReferrersFixed   int64
		DurationSeconds  float64
		DryRun           bool
	}
)

// RegistryCollector is the registry's garbage collector.
type RegistryCollector interface {
	GarbageCollect(ctx context.Context, opts registry.GCOptions) (registry.GCResult, error)
}

// Service implements the admin operations.
type Service struct {
	IAM *iam.Service
	// Registry, if set, serves GarbageCollectRegistry.
	Registry RegistryCollector
}

// Register adds the admin operations to r.
func (s *Service) Register(r *awsjson.Router) {
	awsjson.Handle(r, "CreateAccount", s.CreateAccount)
	awsjson.Handle(r, "ListAccounts", s.ListAccounts)
	awsjson.Handle(r, "CreateAccessKey", s.CreateAccessKey)
	awsjson.Handle(r, "ListAccessKeys", s.ListAccessKeys)
	awsjson.Handle(r, "DeleteAccessKey", s.DeleteAccessKey)
	awsjson.Handle(r, "GarbageCollectRegistry", s.GarbageCollectRegistry)
}

func requireRoot(ctx context.Context) error {
	return requireRootTo(ctx, "manage accounts and access keys")
}

func requireRootTo(ctx context.Context, what string) error {
	id, ok := awsapi.IdentityFrom(ctx)
	if !ok || !id.Root {
		return awsjson.Errorf("AccessDeniedException", http.StatusBadRequest, "Only the root account may %s.", what)
	}
	return nil
}

func required(name string, v *string) error {
	if v == nil || *v == "" {
		return awsjson.Errorf("ValidationException", http.StatusBadRequest, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", name)
	}
	return nil
}

// mapError turns iam/store errors into the protocol's errors.
func mapError(err error) error {
	switch {
	case errors.Is(err, iam.ErrInvalid):
		return awsjson.Errorf("ValidationException", http.StatusBadRequest, "%s", err.Error())
	case errors.Is(err, store.ErrExists):
		return awsjson.Errorf("ResourceInUse", http.StatusBadRequest, "%s", err.Error())
	case errors.Is(err, store.ErrNotFound):
		return awsjson.Errorf("ResourceNotFound", http.StatusBadRequest, "%s", err.Error())
	}
	return err
}

func toWire(c iam.Credentials) *Credentials {
	return &Credentials{AccountId: &c.AccountID, AccessKeyId: &c.AccessKeyID, SecretAccessKey: &c.SecretAccessKey}
}

// CreateAccount creates an account with one access key.
func (s *Service) CreateAccount(ctx context.Context, in *CreateAccountInput) (*Credentials, error) {
	if err := requireRoot(ctx); err != nil {
		return nil, err
	}
	if err := required("name", in.Name); err != nil {
		return nil, err
	}
	c, err := s.IAM.CreateAccount(ctx, *in.Name)
	if err != nil {
		return nil, mapError(err)
	}
	return toWire(c), nil
}

// ListAccounts lists every account, root included.
func (s *Service) ListAccounts(ctx context.Context, _ *ListAccountsInput) (*ListAccountsOutput, error) {
	if err := requireRoot(ctx); err != nil {
		return nil, err
	}
	accts, err := s.IAM.Store.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := &ListAccountsOutput{Accounts: []Account{}}
	for _, a := range accts {
		out.Accounts = append(out.Accounts, Account{AccountId: &a.ID, Name: &a.Name, CreationTime: &a.Created})
	}
	return out, nil
}

// CreateAccessKey adds a key pair to an account.
func (s *Service) CreateAccessKey(ctx context.Context, in *CreateAccessKeyInput) (*Credentials, error) {
	if err := requireRoot(ctx); err != nil {
		return nil, err
	}
	if err := required("accountId", in.AccountId); err != nil {
		return nil, err
	}
	c, err := s.IAM.CreateAccessKey(ctx, *in.AccountId)
	if err != nil {
		return nil, mapError(err)
	}
	return toWire(c), nil
}

// ListAccessKeys lists an account's key ids (never the secrets).
func (s *Service) ListAccessKeys(ctx context.Context, in *ListAccessKeysInput) (*ListAccessKeysOutput, error) {
	if err := requireRoot(ctx); err != nil {
		return nil, err
	}
	if err := required("accountId", in.AccountId); err != nil {
		return nil, err
	}
	if _, err := s.IAM.Store.GetAccount(ctx, *in.AccountId); err != nil {
		return nil, mapError(err)
	}
	keys, err := s.IAM.Store.ListAccessKeys(ctx, *in.AccountId)
	if err != nil {
		return nil, err
	}
	out := &ListAccessKeysOutput{AccessKeys: []AccessKey{}}
	for _, k := range keys {
		out.AccessKeys = append(out.AccessKeys, AccessKey{AccessKeyId: &k.ID, AccountId: &k.AccountID, CreationTime: &k.Created})
	}
	return out, nil
}

// DeleteAccessKey removes a key pair.
func (s *Service) DeleteAccessKey(ctx context.Context, in *DeleteAccessKeyInput) (*DeleteAccessKeyOutput, error) {
	if err := requireRoot(ctx); err != nil {
		return nil, err
	}
	if err := required("accessKeyId", in.AccessKeyId); err != nil {
		return nil, err
	}
	if err := s.IAM.DeleteAccessKey(ctx, *in.AccessKeyId); err != nil {
		return nil, mapError(err)
	}
	return &DeleteAccessKeyOutput{}, nil
}

// GarbageCollectRegistry removes registry content nothing references; see
// registry.Registry.GarbageCollect. It runs while pushes are served and
// answers when done.
func (s *Service) GarbageCollectRegistry(ctx context.Context, in *GarbageCollectRegistryInput) (*GarbageCollectRegistryOutput, error) {
	if err := requireRootTo(ctx, "garbage-collect the registry"); err != nil {
		return nil, err
	}
	opts := registry.GCOptions{Grace: registry.DefaultGCGrace}
	if in.DryRun != nil {
		opts.DryRun = *in.DryRun
	}
	if in.DeleteUntagged != nil {
		opts.DeleteUntagged = *in.DeleteUntagged
	}
	if in.GracePeriodSeconds != nil {
		g := *in.GracePeriodSeconds
		if g < 0 || g > int64(100*365*24*time.Hour/time.Second) {
			return nil, awsjson.Errorf("ValidationException", http.StatusBadRequest,
				"1 validation error detected: Value '%d' at 'gracePeriodSeconds' failed to satisfy constraint: Member must be between 0 and 3153600000", g)
		}
		opts.Grace = time.Duration(g) * time.Second
	}
	if s.Registry == nil {
		return nil, errors.New("admin: no registry configured")
	}
	res, err := s.Registry.GarbageCollect(ctx, opts)
	if errors.Is(err, registry.ErrGCRunning) {
		return nil, awsjson.Errorf("ResourceInUse", http.StatusBadRequest, "A registry garbage collection is already running.")
	}
	if err != nil {
		return nil, err
	}
	return &GarbageCollectRegistryOutput{
		BlobsMarked:      int64(res.BlobsMarked),
		BlobsDeleted:     int64(res.BlobsDeleted),
		BytesFreed:       res.BytesFreed,
		UploadsPurged:    int64(res.UploadsPurged),
		ManifestsDeleted: int64(res.ManifestsDeleted),
		LinksDeleted:     int64(res.LinksDeleted),
		ReferrersFixed:   int64(res.ReferrersFixed),
		DurationSeconds:  res.Duration.Seconds(),
		DryRun:           res.DryRun,
	}, nil
}
