package sagemaker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wharfml/wharf/internal/store"
)

// listParams are the filters and paging members every List* operation shares.
type listParams struct {
	MaxResults     *int32
	NextToken      *string
	NameContains   *string
	SortBy         string
	SortOrder      string
	CreatedAfter   *time.Time
	CreatedBefore  *time.Time
	ModifiedAfter  *time.Time
	ModifiedBefore *time.Time
	Status         string
	// DefaultDescending is the operation's default order (api.md §1.4).
	DefaultDescending bool
}

// pageToken is what a NextToken carries: the resume point and a hash of the
// filters it was issued for.
type pageToken struct {
	SortValue string `json:"s"`
	Name      string `json:"n"`
	Filters   string `json:"f"`
}

// list runs a List* query: it applies filters and the sort, resumes from
// NextToken and returns one page plus the next token ("" when done).
func (s *Service) list(ctx context.Context, account, typ string, p listParams) ([]store.Resource, string, error) {
	limit := 10
	if p.MaxResults != nil {
		limit = int(*p.MaxResults)
	}
	q := store.ResourceQuery{Account: account, Type: typ, SortBy: p.SortBy, Status: p.Status, Limit: limit + 1}
	if q.SortBy == "" {
		q.SortBy = store.SortByCreationTime
	}
	switch p.SortOrder {
	case "Ascending":
		q.Descending = false
	case "Descending":
		q.Descending = true
	default:
		q.Descending = p.DefaultDescending
	}
	if p.NameContains != nil {
		q.NameContains = *p.NameContains
	}
	setTime := func(dst *time.Time, src *time.Time) {
		if src != nil {
			*dst = *src
		}
	}
	setTime(&q.CreatedAfter, p.CreatedAfter)
	setTime(&q.CreatedBefore, p.CreatedBefore)
	setTime(&q.ModifiedAfter, p.ModifiedAfter)
	setTime(&q.ModifiedBefore, p.ModifiedBefore)

	filters := s.filterHash(typ, q)
	if p.NextToken != nil && *p.NextToken != "" {
		tok, err := s.decodeToken(*p.NextToken)
		if err != nil || tok.Filters != filters {
			return nil, "", validationError("Invalid pagination token because of a different filter or sort, or a damaged token.")
		}
		q.AfterSortValue, q.AfterName = tok.SortValue, tok.Name
	}
	rs, err := s.Store.ListResources(ctx, q)
	if err != nil {
		return nil, "", err
	}
	if len(rs) <= limit {
		return rs, "", nil
	}
	rs = rs[:limit]
	last := rs[limit-1]
	tok := pageToken{Name: strings.ToLower(last.Name), Filters: filters}
	switch q.SortBy {
	case store.SortByName:
		tok.SortValue = strings.ToLower(last.Name)
	case store.SortByStatus:
		tok.SortValue = last.Status
	default:
		tok.SortValue = strconv.FormatInt(last.Created.UnixMilli(), 10)
	}
	return rs, s.encodeToken(tok), nil
}

func (s *Service) filterHash(typ string, q store.ResourceQuery) string {
	q.Limit, q.AfterName, q.AfterSortValue = 0, "", ""
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%+v", typ, q)))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func (s *Service) encodeToken(t pageToken) string {
	body, _ := json.Marshal(t)
	mac := hmac.New(sha256.New, s.PageKey)
	mac.Write(body)
	return base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Service) decodeToken(v string) (pageToken, error) {
	var t pageToken
	body64, sig64, ok := strings.Cut(v, ".")
	if !ok {
		return t, fmt.Errorf("malformed token")
	}
	body, err1 := base64.RawURLEncoding.DecodeString(body64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil {
		return t, fmt.Errorf("malformed token")
	}
	mac := hmac.New(sha256.New, s.PageKey)
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return t, fmt.Errorf("token signature mismatch")
	}
	if err := json.Unmarshal(body, &t); err != nil {
		return t, fmt.Errorf("malformed token")
	}
	return t, nil
}
