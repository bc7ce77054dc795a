package logs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/wharfml/wharf/internal/awsapi/awsjson"
)

// Paging tokens are opaque to clients: "<kind>/<base64url(JSON)>.<mac>",
// the MAC (HMAC-SHA256, truncated) keyed with a secret kept in the database,
// so tokens survive restarts and cannot be forged. Encoding is deterministic:
// the same position always yields the same token, which GetLogEvents relies
// on (clients stop when nextForwardToken comes back unchanged).
//
// Kinds: "f" and "b" (GetLogEvents forward and backward), "e"
// (FilterLogEvents), "g" (DescribeLogGroups), "s" (DescribeLogStreams).

// cursor is a position between two events of the (timestamp, sequence)
// order: events with (ts, id) >= (TS, ID) are after it, the others before.
type cursor struct {
	TS int64 `json:"t"`
	ID int64 `json:"i"`
}

// eventToken is a GetLogEvents or FilterLogEvents token.
type eventToken struct {
	Scope string `json:"s"` // stream id (GetLogEvents) or filter hash (FilterLogEvents)
	cursor
}

// listToken is a DescribeLogGroups or DescribeLogStreams token: resume after
// (Value, Name) in the listing's order.
type listToken struct {
	Scope string `json:"s"` // hash of the request's filters
	Value int64  `json:"v,omitempty"`
	Name  string `json:"n"`
}

const macLen = 16

// encodeToken signs and encodes v as a token of the given kind.
func (s *Store) encodeToken(kind string, v any) string {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and integers
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(kind))
	mac.Write(body)
	return kind + "/" + base64.RawURLEncoding.EncodeToString(body) + "." +
		base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:macLen])
}

// decodeToken checks token's kind (one of kinds) and MAC and decodes it into
// v; it returns the kind. Any failure is InvalidParameterException.
func (s *Store) decodeToken(token string, v any, kinds ...string) (string, error) {
	kind, rest, ok := strings.Cut(token, "/")
	body64, mac64, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || !slices.Contains(kinds, kind) {
		return "", errBadToken
	}
	body, err1 := base64.RawURLEncoding.DecodeString(body64)
	sig, err2 := base64.RawURLEncoding.DecodeString(mac64)
	if err1 != nil || err2 != nil {
		return "", errBadToken
	}
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(kind))
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)[:macLen]) {
		return "", errBadToken
	}
	if err := json.Unmarshal(body, v); err != nil {
		return "", errBadToken
	}
	return kind, nil
}

var errBadToken = awsjson.Errorf("InvalidParameterException", http.StatusBadRequest, "The specified nextToken is invalid.")

// scopeHash condenses the parameters a token is valid for.
func scopeHash(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		if sp, ok := p.(*string); ok { // by value, not address
			if sp == nil {
				p = "<nil>"
			} else {
				p = "=" + *sp
			}
		}
		fmt.Fprintf(h, "%#v\x00", p)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}
