// Package awsapi holds what every AWS protocol front shares: the caller's
// identity once a request is authenticated, and SigV4 verification (sigv4/).
package awsapi

import "context"

// RootAccountID is the account id of Wharf's root (operator) account.
const RootAccountID = "000000000000"

// Identity is the authenticated caller of a request.
type Identity struct {
	AccountID   string // 12 digits
	AccessKeyID string
	// Root reports whether the caller is the operator's root account.
	Root bool
}

// ARN is the caller's principal ARN, as STS GetCallerIdentity reports it.
func (id Identity) ARN() string {
	if id.Root {
		return "arn:aws:iam::" + id.AccountID + ":root"
	}
	return "arn:aws:iam::" + id.AccountID + ":user/" + id.AccessKeyID
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity stored by WithIdentity, if any.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
