package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// TokenTTL is how long an ECR authorization token is valid, as on AWS.
const TokenTTL = 12 * time.Hour

// tokenPrefix versions the token format.
const tokenPrefix = "wharf1."

var errBadToken = errors.New("registry: invalid or expired authorization token")

// subkey derives a purpose-specific key from the registry key.
func subkey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// IssueToken returns an ECR authorization token for accessKeyID and when it
// expires. The token is "wharf1.<payload>.<mac>": the payload (base64url)
// names the access key and the expiry, the HMAC-SHA256 under the registry
// key makes it unforgeable, so the registry verifies it without storage. Use
// it as the password of user "AWS"; ECR's GetAuthorizationToken returns
// base64("AWS:" + token).
func (rg *Registry) IssueToken(accessKeyID string) (token string, expiresAt time.Time) {
	expiresAt = rg.now().Add(TokenTTL).Truncate(time.Second)
	payload := base64.RawURLEncoding.EncodeToString([]byte(accessKeyID + "\n" + strconv.FormatInt(expiresAt.Unix(), 10)))
	return tokenPrefix + payload + "." + rg.tokenMAC(payload), expiresAt
}

func (rg *Registry) tokenMAC(payload string) string {
	m := hmac.New(sha256.New, rg.tokenKey)
	m.Write([]byte(tokenPrefix + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifyToken returns the access key id a valid, unexpired token names.
func (rg *Registry) verifyToken(token string) (string, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return "", errBadToken
	}
	payload, mac, ok := strings.Cut(rest, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(rg.tokenMAC(payload))) {
		return "", errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", errBadToken
	}
	keyID, exp, ok := strings.Cut(string(raw), "\n")
	if !ok || keyID == "" {
		return "", errBadToken
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !rg.now().Before(time.Unix(unix, 0)) {
		return "", errBadToken
	}
	return keyID, nil
}
