// Package iam manages Wharf's accounts and access keys: the root account
// created when a data dir is initialised, tenant accounts, and the key lookup
// SigV4 verification uses.
package iam

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sync"
	"time"

	"github.com/wharfml/wharf/internal/awsapi"
	"github.com/wharfml/wharf/internal/store"
)

// ErrUnknownKey is returned by Lookup for an access key that does not exist.
var ErrUnknownKey = errors.New("iam: unknown access key")

// ErrInvalid reports bad input to an IAM operation.
var ErrInvalid = errors.New("iam: invalid input")

// Service manages accounts and keys on top of a store.
type Service struct {
	Store store.Store
	Now   func() time.Time

	// keys caches Lookup for keyCacheTTL: every signed request looks its
	// key up, and a database read per request showed up in profiles. A key
	// deleted through another server replica stays usable here for at
	// most the TTL.
	mu   sync.Mutex
	keys map[string]cachedKey
}

type cachedKey struct {
	secret string
	id     awsapi.Identity
	at     time.Time
}

const (
	keyCacheTTL  = 5 * time.Second
	keyCacheSize = 10000
)

// Credentials are a new access key pair.
type Credentials struct {
	AccountID       string
	AccessKeyID     string
	SecretAccessKey string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// accountNameRE: names are for people and CLI output; keep them simple.
var accountNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`)

// accessKeyIDRE matches AWS's key id shape, which SDKs do not check but users expect.
var accessKeyIDRE = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)

// Bootstrap creates the root account if it does not exist yet. If id and
// secret are empty it generates them. It returns the root credentials and
// whether they were created now (false: the root account already existed and
// the returned Credentials are empty).
func (s *Service) Bootstrap(ctx context.Context, id, secret string) (Credentials, bool, error) {
	if _, err := s.Store.GetAccount(ctx, awsapi.RootAccountID); err == nil {
		return Credentials{}, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return Credentials{}, false, fmt.Errorf("bootstrap root account: %w", err)
	}
	if (id == "") != (secret == "") {
		return Credentials{}, false, fmt.Errorf("bootstrap root account: set both the root access key id and secret, or neither: %w", ErrInvalid)
	}
	if id != "" && !accessKeyIDRE.MatchString(id) {
		return Credentials{}, false, fmt.Errorf("bootstrap root account: access key id must be 16-128 upper-case letters and digits: %w", ErrInvalid)
	}
	if secret != "" && len(secret) < 16 {
		return Credentials{}, false, fmt.Errorf("bootstrap root account: secret must be at least 16 characters: %w", ErrInvalid)
	}
	if err := s.Store.CreateAccount(ctx, store.Account{ID: awsapi.RootAccountID, Name: "root", Created: s.now()}); err != nil {
		return Credentials{}, false, fmt.Errorf("bootstrap root account: %w", err)
	}
	creds, err := s.addKey(ctx, awsapi.RootAccountID, id, secret)
	if err != nil {
		return Credentials{}, false, fmt.Errorf("bootstrap root account: %w", err)
	}
	return creds, true, nil
}

// CreateAccount creates a tenant account with a fresh 12-digit id and one access key.
func (s *Service) CreateAccount(ctx context.Context, name string) (Credentials, error) {
	if !accountNameRE.MatchString(name) {
		return Credentials{}, fmt.Errorf("account name %q must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit: %w", name, ErrInvalid)
	}
	for attempt := 0; ; attempt++ {
		id, err := randomDigits(12)
		if err != nil {
			return Credentials{}, err
		}
		if id == awsapi.RootAccountID || id[0] == '0' {
			continue // keep the root id and leading zeros out of tenant ids
		}
		err = s.Store.CreateAccount(ctx, store.Account{ID: id, Name: name, Created: s.now()})
		if errors.Is(err, store.ErrExists) {
			if _, getErr := s.Store.GetAccount(ctx, id); getErr == nil && attempt < 5 {
				continue // id collision: draw again
			}
			return Credentials{}, fmt.Errorf("account %q: %w", name, store.ErrExists)
		}
		if err != nil {
			return Credentials{}, fmt.Errorf("create account %q: %w", name, err)
		}
		return s.addKey(ctx, id, "", "")
	}
}

// CreateAccessKey adds a new generated key pair to an existing account.
func (s *Service) CreateAccessKey(ctx context.Context, accountID string) (Credentials, error) {
	if _, err := s.Store.GetAccount(ctx, accountID); err != nil {
		return Credentials{}, fmt.Errorf("create access key: %w", err)
	}
	return s.addKey(ctx, accountID, "", "")
}

// DeleteAccessKey removes a key. The last key of the root account cannot be
// removed: that would lock the operator out.
func (s *Service) DeleteAccessKey(ctx context.Context, keyID string) error {
	k, err := s.Store.GetAccessKey(ctx, keyID)
	if err != nil {
		return fmt.Errorf("delete access key: %w", err)
	}
	if k.AccountID == awsapi.RootAccountID {
		keys, err := s.Store.ListAccessKeys(ctx, k.AccountID)
		if err != nil {
			return fmt.Errorf("delete access key: %w", err)
		}
		if len(keys) <= 1 {
			return fmt.Errorf("delete access key %s: it is the root account's last key: %w", keyID, ErrInvalid)
		}
	}
	if err := s.Store.DeleteAccessKey(ctx, keyID); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.keys, keyID)
	s.mu.Unlock()
	return nil
}

// Lookup returns the secret and identity for an access key id.
func (s *Service) Lookup(ctx context.Context, accessKeyID string) (string, awsapi.Identity, error) {
	s.mu.Lock()
	c, ok := s.keys[accessKeyID]
	s.mu.Unlock()
	if ok && time.Since(c.at) < keyCacheTTL {
		return c.secret, c.id, nil
	}
	secret, id, err := s.lookup(ctx, accessKeyID)
	if err == nil {
		s.mu.Lock()
		if s.keys == nil || len(s.keys) >= keyCacheSize {
			s.keys = map[string]cachedKey{}
		}
		s.keys[accessKeyID] = cachedKey{secret: secret, id: id, at: time.Now()}
		s.mu.Unlock()
	}
	return secret, id, err
}

func (s *Service) lookup(ctx context.Context, accessKeyID string) (string, awsapi.Identity, error) {
	k, err := s.Store.GetAccessKey(ctx, accessKeyID)
	if errors.Is(err, store.ErrNotFound) {
		return "", awsapi.Identity{}, ErrUnknownKey
	}
	if err != nil {
		return "", awsapi.Identity{}, err
	}
	return k.Secret, awsapi.Identity{AccountID: k.AccountID, AccessKeyID: k.ID, Root: k.AccountID == awsapi.RootAccountID}, nil
}

func (s *Service) addKey(ctx context.Context, accountID, id, secret string) (Credentials, error) {
	var err error
	if id == "" {
		if id, err = randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16); err != nil {
			return Credentials{}, err
		}
		id = "AKIA" + id
	}
	if secret == "" {
		if secret, err = randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40); err != nil {
			return Credentials{}, err
		}
	}
	if err := s.Store.CreateAccessKey(ctx, store.AccessKey{ID: id, Secret: secret, AccountID: accountID, Created: s.now()}); err != nil {
		return Credentials{}, fmt.Errorf("create access key: %w", err)
	}
	return Credentials{AccountID: accountID, AccessKeyID: id, SecretAccessKey: secret}, nil
}

func randomString(alphabet string, n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b), nil
}

func randomDigits(n int) (string, error) { return randomString("0123456789", n) }

// ErrBadSecret is returned by Authenticate for a wrong secret.
var ErrBadSecret = errors.New("iam: wrong secret access key")

// Authenticate checks an access key pair given in the clear (HTTP Basic
// auth to the registry), comparing secrets in constant time.
func (s *Service) Authenticate(ctx context.Context, accessKeyID, secret string) (awsapi.Identity, error) {
	want, id, err := s.Lookup(ctx, accessKeyID)
	if err != nil {
		return id, err
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return awsapi.Identity{}, ErrBadSecret
	}
	return id, nil
}
