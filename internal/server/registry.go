package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/distribution/reference"
	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/iam"
	"github.com/wharfml/wharf/internal/registry"
)

// registryAuth adapts IAM to the registry's Authenticator contract.
type registryAuth struct{ iam *iam.Service }

func (a registryAuth) Authenticate(ctx context.Context, keyID, secret string) (awsapi.Identity, error) {
	id, err := a.iam.Authenticate(ctx, keyID, secret)
	if errors.Is(err, iam.ErrUnknownKey) || errors.Is(err, iam.ErrBadSecret) {
		return id, fmt.Errorf("%w: %v", registry.ErrInvalidCredentials, err)
	}
	return id, err
}

func (a registryAuth) Lookup(ctx context.Context, keyID string) (awsapi.Identity, error) {
	_, id, err := a.iam.Lookup(ctx, keyID)
	if errors.Is(err, iam.ErrUnknownKey) {
		return id, fmt.Errorf("%w: %v", registry.ErrInvalidCredentials, err)
	}
	return id, err
}

// deriveKey derives a purpose-specific key from the server's secret, so one
// leaked derived key reveals nothing about the others.
func deriveKey(secret []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// isRegistryRequest: the OCI distribution API lives under /v2/. A SigV4
// request there is S3 addressing a bucket named "v2", not the registry.
func isRegistryRequest(r *http.Request) bool {
	if r.URL.Path != "/v2" && !strings.HasPrefix(r.URL.Path, "/v2/") {
		return false
	}
	if r.Header.Get("X-Amz-Target") != "" || strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-") ||
		r.URL.Query().Has("X-Amz-Credential") {
		return false
	}
	return true
}

// registryOperation names a registry request for metrics with a bounded
// set of labels (never repository names or digests).
func registryOperation(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/v2" || p == "/v2/":
		return "Base"
	case p == "/v2/_catalog":
		return "Catalog"
	case strings.Contains(p, "/blobs/uploads"):
		return r.Method + "BlobUpload"
	case strings.Contains(p, "/blobs/"):
		return r.Method + "Blob"
	case strings.Contains(p, "/manifests/"):
		return r.Method + "Manifest"
	case strings.HasSuffix(p, "/tags/list"):
		return "ListTags"
	case strings.Contains(p, "/referrers/"):
		return "Referrers"
	}
	return "Unknown"
}

// imageResolver lets jobs use images pushed to Wharf's registry: the engine
// pulls them with a short-lived registry token of the job owner's.
type imageResolver struct {
	registry *registry.Registry
	iam      *iam.Service
}

func (ir imageResolver) Resolve(ctx context.Context, account, ref string) (bool, string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false, "", nil // not a registry reference; let the engine say
	}
	if reference.Domain(named) == "docker.io" {
		return false, "", nil
	}
	repo, err := ir.registry.Repos().GetRepository(ctx, reference.Path(named))
	if errors.Is(err, registry.ErrRepositoryNotFound) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	if repo.AccountID != account {
		return false, "", fmt.Errorf("image %s belongs to another account's repository", ref)
	}
	keys, err := ir.iam.Store.ListAccessKeys(ctx, account)
	if err != nil || len(keys) == 0 {
		return false, "", fmt.Errorf("account %s has no access key to pull %s with", account, ref)
	}
	token, _ := ir.registry.IssueToken(keys[0].ID)
	cred, _ := json.Marshal(map[string]string{"username": registry.TokenUser, "password": token, "serveraddress": reference.Domain(named)})
	return true, base64.URLEncoding.EncodeToString(cred), nil
}

// Pin resolves a Wharf-registry image reference to its current digest
// (host/repo@sha256:...); ours is false for images of other registries or
// the engine. Another account's private image is an error.
func (ir imageResolver) Pin(ctx context.Context, account, ref string) (pinned string, ours bool, err error) {
	ours, _, err = ir.Resolve(ctx, account, ref)
	if err != nil || !ours {
		return ref, ours, err
	}
	named, _ := reference.ParseNormalizedNamed(ref)
	if canonical, ok := named.(reference.Canonical); ok {
		return reference.Domain(named) + "/" + reference.Path(named) + "@" + canonical.Digest().String(), true, nil
	}
	tag := "latest"
	if tagged, ok := named.(reference.Tagged); ok {
		tag = tagged.Tag()
	}
	dgst, err := ir.registry.ResolveTag(ctx, reference.Path(named), tag)
	if err != nil {
		return "", true, fmt.Errorf("tag %s of %s: %w", tag, reference.Path(named), err)
	}
	return reference.Domain(named) + "/" + reference.Path(named) + "@" + dgst, true, nil
}
