package sigv4

import "sync"

// maxCachedKeys bounds the signing-key cache. A key is valid for one
// (secret, day, region, service); a busy server sees a handful of services
// and regions per access key, so a few hundred entries cover thousands of
// active keys per day without letting a flood of distinct scopes grow memory.
const maxCachedKeys = 1024

type keyID struct{ secret, date, region, service string }

// keyCache holds derived signing keys. Deriving one is four HMACs; caching
// it turns the per-request cost into one map lookup. It lives in memory
// only, next to the secrets Lookup already returns.
type keyCache struct {
	mu   sync.Mutex
	keys map[keyID][]byte
}

func (c *keyCache) get(secret string, cr credential) []byte {
	id := keyID{secret, cr.date, cr.region, cr.service}
	c.mu.Lock()
	k, ok := c.keys[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = deriveKey(secret, cr)
	c.mu.Lock()
	if c.keys == nil {
		c.keys = make(map[keyID][]byte)
	}
	if len(c.keys) >= maxCachedKeys {
		// Evict an arbitrary entry (map order is randomised): cheap, and
		// good enough since the steady state fits comfortably.
		for old := range c.keys {
			delete(c.keys, old)
			break
		}
	}
	c.keys[id] = k
	c.mu.Unlock()
	return k
}

func deriveKey(secret string, c credential) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), c.date)
	k = hmacSHA256(k, c.region)
	k = hmacSHA256(k, c.service)
	return hmacSHA256(k, scopeTerminal)
}
