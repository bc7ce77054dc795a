package fs

import (
	"context"
	"fmt"
	"strings"

	"github.com/wharfml/wharf/internal/blob"
)

// keyMax is greater than every valid key: 0xFF never occurs in UTF-8.
const keyMax = "\xff"

// successor returns the smallest string greater than every string that has
// prefix p (p with its last non-0xFF byte incremented and the rest dropped),
// or false if there is none (p is empty or all 0xFF).
func successor(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// List implements blob.Store. Keys are compared as bytes. The walk seeks in
// the index: after a common prefix it continues from the prefix's successor
// instead of stepping over the keys it rolls up, so a page costs one index
// query plus one per common prefix whose keys it would otherwise scan.
func (s *Store) List(ctx context.Context, bucket string, opts blob.ListOptions) (blob.ListResult, error) {
	res, err := s.list(ctx, bucket, opts)
	if err != nil {
		return blob.ListResult{}, fmt.Errorf("list %s: %w", bucket, err)
	}
	return res, nil
}

func (s *Store) list(ctx context.Context, bucket string, opts blob.ListOptions) (blob.ListResult, error) {
	var res blob.ListResult
	if err := checkBucket(bucket); err != nil {
		return res, err
	}
	maxKeys := opts.MaxKeys
	if maxKeys <= 0 {
		maxKeys = 1000
	}
	prefix, delim := opts.Prefix, opts.Delimiter

	// Keys are searched in [lo, hi).
	hi := keyMax
	if prefix != "" {
		var ok bool
		if hi, ok = successor(prefix); !ok || hi > keyMax {
			hi = keyMax
		}
	}
	lo := prefix
	if sa := opts.StartAfter; sa != "" && sa >= prefix {
		lo = sa + "\x00" // keys hold no NUL: the first key > sa is >= this
		if delim != "" && strings.HasPrefix(sa, prefix) {
			if i := strings.Index(sa[len(prefix):], delim); i >= 0 {
				// sa lies inside common prefix cp <= sa: all of cp's keys
				// roll up into something not after sa, so skip them.
				cp := sa[:len(prefix)+i+len(delim)]
				next, ok := successor(cp)
				if !ok {
					return res, nil
				}
				lo = next
			}
		}
	}
	if lo == "" {
		lo = "\x00" // the driver binds an empty []byte oddly; every key is >= "\x00"
	}

	count := 0
	var last string
	for lo < hi {
		limit := maxKeys - count + 1
		rows, err := s.stmtList.QueryContext(ctx, bucket, []byte(lo), []byte(hi), limit)
		if err != nil {
			return blob.ListResult{}, fmt.Errorf("index: %w", err)
		}
		nrows, done, reseek := 0, false, false
		pendingCP := ""
		for rows.Next() {
			nrows++
			var (
				key               []byte
				etag, attrs, sums string
				size, mod         int64
				parts             int
			)
			if err := rows.Scan(&key, &size, &etag, &mod, &attrs, &sums, &parts); err != nil {
				rows.Close()
				return blob.ListResult{}, fmt.Errorf("index: %w", err)
			}
			k := string(key)
			if pendingCP != "" {
				if strings.HasPrefix(k, pendingCP) {
					// More keys under the prefix just reported: seek past them.
					reseek = true
					break
				}
				pendingCP = ""
			}
			if count == maxKeys {
				res.IsTruncated = true
				done = true
				break
			}
			if delim != "" {
				if i := strings.Index(k[len(prefix):], delim); i >= 0 {
					cp := k[:len(prefix)+i+len(delim)]
					res.CommonPrefixes = append(res.CommonPrefixes, cp)
					count++
					last = cp
					next, ok := successor(cp)
					if !ok {
						next = hi
					}
					lo = next
					pendingCP = cp
					continue
				}
			}
			info, err := makeInfo(bucket, k, size, etag, mod, attrs, sums, parts)
			if err != nil {
				rows.Close()
				return blob.ListResult{}, err
			}
			res.Objects = append(res.Objects, info)
			count++
			last = k
			lo = k + "\x00"
		}
		if err := rows.Close(); err != nil {
			return blob.ListResult{}, fmt.Errorf("index: %w", err)
		}
		if err := rows.Err(); err != nil {
			return blob.ListResult{}, fmt.Errorf("index: %w", err)
		}
		if done || (!reseek && nrows < limit) {
			break
		}
	}
	if res.IsTruncated {
		res.NextStartAfter = last
	}
	return res, nil
}
