package webhook

import (
	"context"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/store"
)

// Watch returns s with every write that adds or re-queues an event waking
// d, so an event written on this node goes out at once instead of at the
// next poll. Events written by other nodes are found by polling.
func Watch(s store.Store, d *Dispatcher) store.Store { return watched{s, d} }

type watched struct {
	store.Store
	d *Dispatcher
}

func (w watched) Decide(ctx context.Context, dec store.Decision) (*doorway.Installation, error) {
	i, err := w.Store.Decide(ctx, dec)
	if err == nil && dec.Decision == doorway.Approved {
		w.d.Wake()
	}
	return i, err
}

func (w watched) CompleteSetup(ctx context.Context, id, eventID string, now time.Time) (*doorway.Installation, error) {
	i, err := w.Store.CompleteSetup(ctx, id, eventID, now)
	if err == nil {
		w.d.Wake()
	}
	return i, err
}

func (w watched) Uninstall(ctx context.Context, id, userID, eventID string, now time.Time) (*doorway.Installation, error) {
	i, err := w.Store.Uninstall(ctx, id, userID, eventID, now)
	if err == nil {
		w.d.Wake()
	}
	return i, err
}

func (w watched) ReplayEvent(ctx context.Context, id string, now time.Time) (*doorway.Event, error) {
	e, err := w.Store.ReplayEvent(ctx, id, now)
	if err == nil {
		w.d.Wake()
	}
	return e, err
}

func (w watched) EnableWebhooks(ctx context.Context, appID string, now time.Time) (int, error) {
	n, err := w.Store.EnableWebhooks(ctx, appID, now)
	if err == nil {
		w.d.Wake()
	}
	return n, err
}
