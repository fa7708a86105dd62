package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// running starts a Doorway whose dispatcher runs in the background.
func running(t *testing.T) *testkit.Server {
	return testkit.Start(t, func(m *cli.Main) { m.WebhookAllowPrivate = true })
}

func eventOf(t *testing.T, s *testkit.Server, instance string) *doorway.Event {
	t.Helper()
	evs, err := s.Store.Events(context.Background(), instance)
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %v", err)
	}
	return &evs[0]
}

// TestShutdownFinishesInFlight: a delivery under way when the server stops
// is finished and recorded.
func TestShutdownFinishesInFlight(t *testing.T) {
	s := running(t)
	rc := newReceiver(t)
	arrived := make(chan struct{}, 1)
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		time.Sleep(200 * time.Millisecond)
		w.WriteHeader(200)
	})
	app := appWith(t, s, rc.URL+"/hooks", "")
	instance := install(t, s, app.App.ID, "ada@example.com", "")
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Dispatcher.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if e := eventOf(t, s, instance); e.Delivery != doorway.Delivered {
		t.Fatalf("after a graceful shutdown the in-flight event is %s, want delivered", e.Delivery)
	}
}

// TestShutdownReleasesLeases: a delivery still hanging when the shutdown's
// time is up is cut off and its lease given back, so it is due at once for
// the next dispatcher rather than after the lease.
func TestShutdownReleasesLeases(t *testing.T) {
	s := running(t)
	rc := newReceiver(t)
	arrived := make(chan struct{}, 1)
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	app := appWith(t, s, rc.URL+"/hooks", "")
	instance := install(t, s, app.App.ID, "ada@example.com", "")
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Dispatcher.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown = %v, want the deadline", err)
	}
	e := eventOf(t, s, instance)
	if e.Delivery != doorway.Pending || e.Attempts != 0 {
		t.Fatalf("cut-off event = %s after %d attempts; want pending, not counted", e.Delivery, e.Attempts)
	}
	claimed, err := s.Store.ClaimEvents(context.Background(), "next-node", s.Clock.Now(), time.Minute, 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != e.ID {
		t.Fatalf("another dispatcher claimed %v, %v; want the released event at once", claimed, err)
	}
}
