package registry

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/wharfml/wharf/internal/awsapi"
)

// ErrInvalidCredentials is returned (possibly wrapped) by an Authenticator
// for an unknown access key or a wrong secret. The registry answers it with
// 401; any other Authenticator error is a server fault (500, logged).
var ErrInvalidCredentials = errors.New("registry: invalid credentials")

// Authenticator checks the credentials docker sends with HTTP Basic auth.
type Authenticator interface {
	// Authenticate checks an access key id and its secret access key.
	Authenticate(ctx context.Context, accessKeyID, secret string) (awsapi.Identity, error)
	// Lookup returns the identity that owns an access key; the registry uses
	// it for ECR authorization tokens, which name an access key. It returns
	// ErrInvalidCredentials if the key no longer exists, so deleting a key
	// revokes its tokens.
	Lookup(ctx context.Context, accessKeyID string) (awsapi.Identity, error)
}

// TokenUser is the Basic auth user name that marks the password as an ECR
// authorization token.
const TokenUser = "AWS"

// authenticate checks the request's Basic credentials. On failure it writes
// the response (401 with a Basic challenge, or 500) and returns false.
func (rg *Registry) authenticate(w http.ResponseWriter, r *http.Request) (awsapi.Identity, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" {
		rg.challenge(w, "authentication required: log in with an access key id and secret, or user AWS and an ECR authorization token")
		return awsapi.Identity{}, false
	}
	ctx := r.Context()
	var id awsapi.Identity
	var err error
	if user == TokenUser {
		var keyID string
		if keyID, err = rg.verifyToken(pass); err != nil {
			rg.challenge(w, "invalid or expired authorization token")
			return id, false
		}
		id, err = rg.cfg.Auth.Lookup(ctx, keyID)
	} else {
		id, err = rg.cfg.Auth.Authenticate(ctx, user, pass)
	}
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		rg.challenge(w, "invalid username or password")
		return id, false
	case err != nil:
		rg.log.ErrorContext(ctx, "registry: authenticate", "err", err)
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithMessage("authentication failed; try again"))
		return id, false
	case id.AccountID == "":
		rg.log.ErrorContext(ctx, "registry: authenticator returned an identity without an account", "user", user)
		_ = errcode.ServeJSON(w, errcode.ErrorCodeUnknown.WithMessage("authentication failed; try again"))
		return id, false
	}
	return id, true
}

// challenge answers 401 UNAUTHORIZED with a Basic challenge, which makes
// docker send the credentials of `docker login`. Messages must not be the
// code's default text (see errDenied).
func (rg *Registry) challenge(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", rg.challengeHeader)
	_ = errcode.ServeJSON(w, errcode.ErrorCodeUnauthorized.WithMessage(msg))
}

func basicChallenge(realm string) string {
	realm = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(realm)
	return `Basic realm="` + realm + `"`
}

// grant is what the front handler authorised for one request; it travels to
// the access controller in the request context.
type grant struct {
	user  string
	repos []string // repositories the caller may use in this request
}

type grantKey struct{}

func withGrant(ctx context.Context, g *grant) context.Context {
	return context.WithValue(ctx, grantKey{}, g)
}

// accessController is the auth.AccessController distribution consults for
// every request. Authentication and authorisation happen in the front
// handler (which can answer 403 DENIED; distribution's controllers can only
// challenge); this controller checks that each access distribution asks for
// was authorised there, so a request that reaches the app without passing
// the front handler, or a new kind of access, is refused.
type accessController struct{ challenge string }

type challengeError struct {
	header string
	msg    string
}

func (e challengeError) Error() string { return e.msg }

func (e challengeError) SetHeaders(_ *http.Request, w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", e.header)
}

func (ac *accessController) Authorized(r *http.Request, access ...auth.Access) (*auth.Grant, error) {
	g, ok := r.Context().Value(grantKey{}).(*grant)
	if !ok {
		return nil, challengeError{header: ac.challenge, msg: "registry: request not authenticated"}
	}
	out := &auth.Grant{User: auth.UserInfo{Name: g.user}}
	for _, a := range access {
		switch a.Type {
		case "repository":
			allowed := false
			for _, name := range g.repos {
				if name == a.Name {
					allowed = true
					break
				}
			}
			if !allowed {
				return nil, challengeError{header: ac.challenge, msg: "registry: access to " + a.Name + " not authorised"}
			}
			out.Resources = append(out.Resources, a.Resource)
		case "registry":
			// The catalog; the front handler serves it filtered by owner.
			out.Resources = append(out.Resources, a.Resource)
		default:
			return nil, challengeError{header: ac.challenge, msg: "registry: unknown resource type " + a.Type}
		}
	}
	return out, nil
}
