package oauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// ClientCacheFor is how long a node trusts the app and client secrets it
// read to authenticate a client. Every app call authenticates, and reading
// both rows was a fifth of the token endpoint's time; a second of reuse
// takes that to nearly nothing at any real request rate.
//
// What it costs: a client secret revoked at once (rotated with no overlap)
// is still accepted for up to a second by nodes that had read it. A new
// secret works at once, because a secret that matches nothing cached is
// looked up again before it is refused, and an expiry already set is
// honoured to the moment.
const ClientCacheFor = time.Second

// clients caches apps with their client secrets, by app id.
type clients struct {
	mu sync.Mutex
	m  map[string]cachedClient
}

type cachedClient struct {
	app     *doorway.App
	secrets []doorway.AppSecret // client secrets only
	at      time.Time
}

func (c cachedClient) matches(hash string, now time.Time) bool {
	match := false
	for _, s := range c.secrets {
		if s.ValidAt(now) && secret.Equal(s.Hash, hash) {
			match = true
		}
	}
	return match
}

// check returns the app whose id and client secret these are, or nil when
// the app does not exist or the secret is not one of its valid ones.
func (c *clients) check(ctx context.Context, st store.Store, id, sec string, now time.Time) (*doorway.App, error) {
	if sec == "" {
		return nil, nil
	}
	hash := secret.Hash(sec)
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < ClientCacheFor && now.Sub(e.at) >= 0 && e.matches(hash, now) {
		return e.app, nil
	}
	app, err := st.App(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	rows, err := st.AppSecrets(ctx, id)
	if err != nil {
		return nil, err
	}
	e = cachedClient{app: app, at: now}
	for _, r := range rows {
		if r.Kind == doorway.ClientSecret {
			e.secrets = append(e.secrets, r)
		}
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= 10_000 {
		c.m = map[string]cachedClient{} // a rare reset beats tracking age
	}
	c.m[id] = e
	c.mu.Unlock()
	if !e.matches(hash, now) {
		return nil, nil
	}
	return app, nil
}
