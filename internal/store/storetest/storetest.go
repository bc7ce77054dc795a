// Package storetest is the conformance suite every store.Store passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wharfml/wharf/internal/store"
)

// Run exercises a fresh, empty store returned by newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Accounts", func(t *testing.T) { testAccounts(t, newStore(t)) })
	t.Run("Buckets", func(t *testing.T) { testBuckets(t, newStore(t)) })
	t.Run("Resources", func(t *testing.T) { testResources(t, newStore(t)) })
	t.Run("ListResources", func(t *testing.T) { testListResources(t, newStore(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testConcurrentUpdates(t, newStore(t)) })
	t.Run("Tags", func(t *testing.T) { testTags(t, newStore(t)) })
	t.Run("Metrics", func(t *testing.T) { testMetrics(t, newStore(t)) })
	t.Run("AllAccounts", func(t *testing.T) { testAllAccounts(t, newStore(t)) })
}

func testMetrics(t *testing.T, s store.Store) {
	ctx := context.Background()
	arn := "arn:aws:sagemaker:us-east-1:111111111111:training-job/x"
	must(t, s.AppendMetrics(ctx, arn, []store.MetricPoint{{Name: "mse", Value: 2, Time: t0}, {Name: "acc", Value: 0.5, Time: t0}}))
	must(t, s.AppendMetrics(ctx, arn, []store.MetricPoint{{Name: "mse", Value: 1.5, Time: t0.Add(time.Second)}}))
	must(t, s.AppendMetrics(ctx, arn+"2", []store.MetricPoint{{Name: "mse", Value: 9, Time: t0}}))
	got, err := s.ListMetrics(ctx, arn)
	must(t, err)
	if len(got) != 3 || got[0].Name != "mse" || got[0].Value != 2 || got[2].Value != 1.5 || !got[2].Time.Equal(t0.Add(time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("got %+v", got)
	}
}

// testAllAccounts: controllers list one type across accounts by status.
func testAllAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateResource(ctx, res("111111111111", "a", t0, "InProgress")))
	must(t, s.CreateResource(ctx, res("222222222222", "b", t0.Add(time.Second), "Stopping")))
	must(t, s.CreateResource(ctx, res("222222222222", "c", t0.Add(2*time.Second), "Completed")))
	rs, err := s.ListResources(ctx, store.ResourceQuery{Type: "model-package-group", Statuses: []string{"InProgress", "Stopping"}})
	must(t, err)
	if fmt.Sprint(names(rs)) != "[a b]" {
		t.Fatalf("got %v", names(rs))
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func testAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateAccount(ctx, store.Account{ID: "111111111111", Name: "acme", Created: t0}))
	wantErr(t, s.CreateAccount(ctx, store.Account{ID: "111111111111", Name: "other", Created: t0}), store.ErrExists)
	wantErr(t, s.CreateAccount(ctx, store.Account{ID: "222222222222", Name: "acme", Created: t0}), store.ErrExists)
	a, err := s.GetAccount(ctx, "111111111111")
	must(t, err)
	if a.Name != "acme" || !a.Created.Equal(t0.Truncate(time.Millisecond)) {
		t.Fatalf("got %+v", a)
	}
	_, err = s.GetAccount(ctx, "999999999999")
	wantErr(t, err, store.ErrNotFound)

	must(t, s.CreateAccessKey(ctx, store.AccessKey{ID: "AKIA1", Secret: "s1", AccountID: a.ID, Created: t0}))
	must(t, s.CreateAccessKey(ctx, store.AccessKey{ID: "AKIA2", Secret: "s2", AccountID: a.ID, Created: t0.Add(time.Second)}))
	wantErr(t, s.CreateAccessKey(ctx, store.AccessKey{ID: "AKIA1", Secret: "x", AccountID: a.ID, Created: t0}), store.ErrExists)
	k, err := s.GetAccessKey(ctx, "AKIA2")
	must(t, err)
	if k.Secret != "s2" || k.AccountID != a.ID {
		t.Fatalf("got %+v", k)
	}
	keys, err := s.ListAccessKeys(ctx, a.ID)
	must(t, err)
	if len(keys) != 2 || keys[0].ID != "AKIA1" {
		t.Fatalf("got %+v", keys)
	}
	must(t, s.DeleteAccessKey(ctx, "AKIA1"))
	wantErr(t, s.DeleteAccessKey(ctx, "AKIA1"), store.ErrNotFound)
	_, err = s.GetAccessKey(ctx, "AKIA1")
	wantErr(t, err, store.ErrNotFound)
	accts, err := s.ListAccounts(ctx)
	must(t, err)
	if len(accts) != 1 {
		t.Fatalf("got %d accounts", len(accts))
	}
}

func testBuckets(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateAccount(ctx, store.Account{ID: "111111111111", Name: "a", Created: t0}))
	must(t, s.CreateAccount(ctx, store.Account{ID: "222222222222", Name: "b", Created: t0}))
	must(t, s.CreateBucket(ctx, store.Bucket{Name: "zeta", Owner: "111111111111", Region: "us-east-1", Created: t0}))
	must(t, s.CreateBucket(ctx, store.Bucket{Name: "alpha", Owner: "111111111111", Region: "us-east-1", Created: t0}))
	// Names are global: another account cannot take one.
	wantErr(t, s.CreateBucket(ctx, store.Bucket{Name: "alpha", Owner: "222222222222", Region: "us-east-1", Created: t0}), store.ErrExists)
	bs, err := s.ListBuckets(ctx, "111111111111")
	must(t, err)
	if len(bs) != 2 || bs[0].Name != "alpha" || bs[1].Name != "zeta" {
		t.Fatalf("got %+v", bs)
	}
	bs, err = s.ListBuckets(ctx, "222222222222")
	must(t, err)
	if len(bs) != 0 {
		t.Fatalf("other account sees %+v", bs)
	}
	must(t, s.DeleteBucket(ctx, "alpha"))
	_, err = s.GetBucket(ctx, "alpha")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteBucket(ctx, "alpha"), store.ErrNotFound)
}

func res(account, name string, created time.Time, status string) store.Resource {
	return store.Resource{
		Account: account, Type: "model-package-group", Name: name,
		ARN:    fmt.Sprintf("arn:aws:sagemaker:us-east-1:%s:model-package-group/%s", account, name),
		Status: status, Created: created, Modified: created, Doc: []byte(`{"n":"` + name + `"}`),
	}
}

func testResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateResource(ctx, res("111111111111", "Churn", t0, "Completed")))
	// Unique ignoring case within an account and type; other accounts are separate.
	wantErr(t, s.CreateResource(ctx, res("111111111111", "churn", t0, "Completed")), store.ErrExists)
	must(t, s.CreateResource(ctx, res("222222222222", "churn", t0, "Completed")))

	r, err := s.GetResource(ctx, "111111111111", "model-package-group", "CHURN")
	must(t, err)
	if r.Name != "Churn" || r.Version != 1 || string(r.Doc) != `{"n":"Churn"}` {
		t.Fatalf("got %+v", r)
	}
	_, err = s.GetResource(ctx, "111111111111", "training-job", "churn")
	wantErr(t, err, store.ErrNotFound)

	r.Status, r.Doc, r.Modified = "Deleting", []byte(`{"x":1}`), t0.Add(time.Minute)
	v, err := s.UpdateResource(ctx, r)
	must(t, err)
	if v != 2 {
		t.Fatalf("version %d", v)
	}
	_, err = s.UpdateResource(ctx, r) // stale version
	wantErr(t, err, store.ErrConflict)
	r2, err := s.GetResource(ctx, "111111111111", "model-package-group", "churn")
	must(t, err)
	if r2.Status != "Deleting" || string(r2.Doc) != `{"x":1}` || !r2.Modified.Equal(t0.Add(time.Minute).Truncate(time.Millisecond)) {
		t.Fatalf("got %+v", r2)
	}
	must(t, s.PutTags(ctx, r.ARN, []store.Tag{{Key: "k", Value: "v"}}))
	must(t, s.DeleteResource(ctx, "111111111111", "model-package-group", "churn"))
	wantErr(t, s.DeleteResource(ctx, "111111111111", "model-package-group", "churn"), store.ErrNotFound)
	tags, err := s.ListTags(ctx, r.ARN)
	must(t, err)
	if len(tags) != 0 {
		t.Fatalf("tags survived delete: %+v", tags)
	}
	// The other account's resource is untouched.
	_, err = s.GetResource(ctx, "222222222222", "model-package-group", "churn")
	must(t, err)
}

func names(rs []store.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func testListResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct := "111111111111"
	// Created in this order, one second apart; statuses alternate.
	all := []string{"delta", "Alpha", "charlie", "bravo", "echo"}
	for i, n := range all {
		status := "Completed"
		if i%2 == 1 {
			status = "Failed"
		}
		must(t, s.CreateResource(ctx, res(acct, n, t0.Add(time.Duration(i)*time.Second), status)))
	}
	must(t, s.CreateResource(ctx, res("222222222222", "alpha2", t0, "Completed")))

	list := func(q store.ResourceQuery) []string {
		t.Helper()
		q.Account, q.Type = acct, "model-package-group"
		rs, err := s.ListResources(ctx, q)
		must(t, err)
		return names(rs)
	}
	check := func(got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	check(list(store.ResourceQuery{}), all...)
	check(list(store.ResourceQuery{SortBy: store.SortByName}), "Alpha", "bravo", "charlie", "delta", "echo")
	check(list(store.ResourceQuery{SortBy: store.SortByName, Descending: true}), "echo", "delta", "charlie", "bravo", "Alpha")
	check(list(store.ResourceQuery{SortBy: store.SortByStatus}), "charlie", "delta", "echo", "Alpha", "bravo")
	check(list(store.ResourceQuery{NameContains: "ALP"}), "Alpha")
	check(list(store.ResourceQuery{Status: "Failed"}), "Alpha", "bravo")
	check(list(store.ResourceQuery{CreatedAfter: t0.Add(time.Second), CreatedBefore: t0.Add(4 * time.Second)}), "charlie", "bravo")

	// Keyset paging visits everything exactly once, for every sort and direction.
	for _, sortBy := range []string{store.SortByName, store.SortByCreationTime, store.SortByStatus} {
		for _, desc := range []bool{false, true} {
			full := list(store.ResourceQuery{SortBy: sortBy, Descending: desc})
			var paged []string
			q := store.ResourceQuery{SortBy: sortBy, Descending: desc, Limit: 2}
			for i := 0; i < 10; i++ {
				q.Account, q.Type = acct, "model-package-group"
				page, err := s.ListResources(ctx, q)
				must(t, err)
				paged = append(paged, names(page)...)
				if len(page) < 2 {
					break
				}
				last := page[len(page)-1]
				q.AfterName = toLower(last.Name)
				switch sortBy {
				case store.SortByName:
					q.AfterSortValue = toLower(last.Name)
				case store.SortByCreationTime:
					q.AfterSortValue = fmt.Sprint(last.Created.UnixMilli())
				case store.SortByStatus:
					q.AfterSortValue = last.Status
				}
			}
			check(paged, full...)
		}
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// testConcurrentUpdates: optimistic updates from many goroutines never lose one.
func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.CreateResource(ctx, res("111111111111", "counter", t0, "InProgress")))
	var wg sync.WaitGroup
	const workers, each = 4, 10
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for {
					r, err := s.GetResource(ctx, "111111111111", "model-package-group", "counter")
					if err != nil {
						t.Error(err)
						return
					}
					_, err = s.UpdateResource(ctx, r)
					if err == nil {
						break
					}
					if !errors.Is(err, store.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	r, err := s.GetResource(ctx, "111111111111", "model-package-group", "counter")
	must(t, err)
	if r.Version != 1+workers*each {
		t.Fatalf("version %d, want %d", r.Version, 1+workers*each)
	}
}

func testTags(t *testing.T, s store.Store) {
	ctx := context.Background()
	arn := "arn:aws:sagemaker:us-east-1:111111111111:model-package-group/x"
	must(t, s.PutTags(ctx, arn, []store.Tag{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}}))
	must(t, s.PutTags(ctx, arn, []store.Tag{{Key: "b", Value: "3"}}))
	tags, err := s.ListTags(ctx, arn)
	must(t, err)
	if fmt.Sprint(tags) != "[{a 2} {b 3}]" {
		t.Fatalf("got %v", tags)
	}
	must(t, s.DeleteTags(ctx, arn, []string{"a", "missing"}))
	tags, err = s.ListTags(ctx, arn)
	must(t, err)
	if fmt.Sprint(tags) != "[{b 3}]" {
		t.Fatalf("got %v", tags)
	}
}
