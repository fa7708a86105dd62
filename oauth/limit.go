package oauth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// failures limits failed client authentications per client id and address:
// a burst of 10, then one every 6 seconds. A client that keeps sending a
// wrong secret is told to wait (429) instead of being allowed to guess. The
// state is per node; with N nodes an attacker gets N times the rate, which
// at 128-bit secrets changes nothing.
type failures struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

const (
	failureBurst = 10
	failureEvery = 6 * time.Second
)

func (f *failures) limiter(key string) *rate.Limiter {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*rate.Limiter{}
	}
	l, ok := f.m[key]
	if !ok {
		if len(f.m) >= 100_000 {
			f.prune()
		}
		l = rate.NewLimiter(rate.Every(failureEvery), failureBurst)
		f.m[key] = l
	}
	return l
}

// blocked reports how long key must wait, or 0.
func (f *failures) blocked(key string, now time.Time) time.Duration {
	tokens := f.limiter(key).TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) * float64(failureEvery))
}

func (f *failures) fail(key string, now time.Time) { f.limiter(key).AllowN(now, 1) }

// prune forgets limiters that are full again; f.mu is held.
func (f *failures) prune() {
	now := time.Now()
	for k, l := range f.m {
		if l.TokensAt(now) >= failureBurst {
			delete(f.m, k)
		}
	}
}
