package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/store"
)

// testRateLimits: each hit moves the key's time on by every, from now or
// from where it was, whichever is later; hits from many writers at once all
// count (on PostgreSQL they come from many nodes); Sweep forgets a key
// whose time has passed.
func testRateLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	const every = 6 * time.Second
	if got, err := s.Throttled(ctx, "k"); err != nil || !got.IsZero() {
		t.Fatalf("a key never hit = %v, %v; want the zero time", got, err)
	}
	for i := 1; i <= 3; i++ {
		got, err := s.Throttle(ctx, "k", t0, every)
		must(t, err)
		if want := t0.Add(time.Duration(i) * every); !got.Equal(want) {
			t.Fatalf("hit %d at t0 = %v, want %v", i, got, want)
		}
	}
	// An hour later the budget is full again: the time starts from now.
	later := t0.Add(time.Hour)
	got, err := s.Throttle(ctx, "k", later, every)
	must(t, err)
	if want := later.Add(every); !got.Equal(want) {
		t.Fatalf("hit an hour later = %v, want %v", got, want)
	}

	const writers = 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Throttle(ctx, "shared", t0, every)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	got, err = s.Throttled(ctx, "shared")
	must(t, err)
	if want := t0.Add(writers * every); !got.Equal(want) {
		t.Fatalf("after %d parallel hits the time is %v, want %v (a lost update)", writers, got, want)
	}

	if _, err := s.Sweep(ctx, later.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"k", "shared"} {
		if got, err := s.Throttled(ctx, key); err != nil || !got.IsZero() {
			t.Fatalf("%s after Sweep = %v, %v; want it forgotten", key, got, err)
		}
	}
}
