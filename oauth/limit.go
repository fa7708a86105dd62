package oauth

import (
	"context"
	"fmt"
	"time"

	"github.com/doorwayhq/doorway/store"
)

// failures limits failed client authentications per client id and address:
// a burst of 10, then one every 6 seconds (GCRA). A client that keeps
// sending a wrong secret is told to wait (429) instead of being answered.
//
// The state is a row in the store, so every node behind a load balancer
// counts the same failures. Only failures touch it: a correct secret is
// accepted without a lookup, because client secrets are 256-bit random
// values and a correct one is proof, not a lucky guess. The limit is about
// a client hammering with a wrong secret, not about guessing.
type failures struct{ store store.Store }

const (
	failureBurst = 10
	failureEvery = 6 * time.Second
)

// fail counts a failure of client id from host and reports how long they
// must now wait (0: not blocked yet).
func (f failures) fail(ctx context.Context, id, host string, now time.Time) (time.Duration, error) {
	// The id is the client's input: quoted, so that NUL bytes and invalid
	// UTF-8 become text any database keeps, and clipped.
	key := fmt.Sprintf("oauth-client %.80q %s", id, host)
	tat, err := f.store.Throttle(ctx, key, now, failureEvery)
	if err != nil {
		return 0, err
	}
	if over := tat.Sub(now) - failureBurst*failureEvery; over > 0 {
		return over, nil
	}
	return 0, nil
}
