package webhook

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Schedule is how long to wait after each failed attempt: after the n-th
// failure the event is due again Schedule[n-1] later. When it runs out the
// event has failed for good (after about three days and eleven attempts).
var Schedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour,
}

// MaxRetryAfter caps what a Retry-After header can ask for.
const MaxRetryAfter = 24 * time.Hour

// Jitter spreads retries by ±10%, so that endpoints that failed together
// are not retried together.
func Jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

// retryAfter reads a Retry-After header (seconds or an HTTP date) relative
// to now; ok is false when there is none or it cannot be read.
func retryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		d = time.Duration(min(s, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(max(d, time.Second), MaxRetryAfter), true
}
