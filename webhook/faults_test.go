package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
	"github.com/doorwayhq/doorway/store"
	"github.com/doorwayhq/doorway/webhook"
)

// lastAttempt is the newest row of the app's delivery log.
func lastAttempt(t *testing.T, s *testkit.Server, appID string) doorway.Attempt {
	t.Helper()
	log, err := s.Store.Attempts(context.Background(), appID, 0, 1)
	if err != nil || len(log) == 0 {
		t.Fatalf("delivery log: %v, %d rows", err, len(log))
	}
	return log[0]
}

// TestReceiverFaults: each way an endpoint can fail, on a fake clock (the
// retry schedule runs in milliseconds, without jitter so times are exact).
func TestReceiverFaults(t *testing.T) {
	tests := []struct {
		name       string
		reply      func(w http.ResponseWriter, r *http.Request)
		outcome    doorway.Delivery
		status     int
		errHas     string
		retryAfter time.Duration // when the event is due again; 0: not pending
	}{
		{"500 retries on the schedule", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "database is down", 500)
		}, doorway.Pending, 500, "answered 500", 5 * time.Second},
		{"429 with Retry-After waits as asked", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
		}, doorway.Pending, 429, "answered 429", 120 * time.Second},
		{"410 disables the endpoint", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(410)
		}, doorway.Disabled, 410, "410 Gone", 0},
		{"a redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, doorway.Pending, 302, `redirected (302 to "/elsewhere")`, 5 * time.Second},
		{"a reset connection retries", func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(interface{ SetLinger(int) error }).SetLinger(0)
			conn.Close()
		}, doorway.Pending, 0, "connection reset", 5 * time.Second},
		{"no answer within the timeout", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, doorway.Pending, 0, "no answer within 300ms", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := manual(t)
			s.Dispatcher.Timeout = 300 * time.Millisecond
			s.Dispatcher.Jitter = func(d time.Duration) time.Duration { return d }
			rc := newReceiver(t)
			rc.set(tt.reply)
			app := appWith(t, s, rc.URL+"/hooks", "")
			install(t, s, app.App.ID, "ada@example.com", "")
			start := s.Clock.Now()
			deliverDue(t, s)

			a := lastAttempt(t, s, app.App.ID)
			if a.Outcome != tt.outcome || a.StatusCode != tt.status || !strings.Contains(a.Error, tt.errHas) || a.Number != 1 {
				t.Fatalf("attempt = %+v; want outcome %s, status %d, error containing %q", a, tt.outcome, tt.status, tt.errHas)
			}
			if n := len(rc.deliveries()); n != 1 {
				t.Fatalf("the receiver got %d requests, want 1 (a redirect is not followed, a failure waits for its retry)", n)
			}
			if tt.retryAfter > 0 {
				if !a.NextAt.Equal(start.Add(tt.retryAfter)) {
					t.Fatalf("next attempt at +%s, want +%s", a.NextAt.Sub(start), tt.retryAfter)
				}
				s.Clock.Advance(tt.retryAfter - time.Second)
				if n := deliverDue(t, s); n != 0 {
					t.Fatalf("retried %d events a second early", n)
				}
				rc.set(nil) // the endpoint recovers
				s.Clock.Advance(time.Second)
				if n := deliverDue(t, s); n != 1 {
					t.Fatalf("retried %d events when due, want 1", n)
				}
				if a := lastAttempt(t, s, app.App.ID); a.Outcome != doorway.Delivered || a.Number != 2 {
					t.Fatalf("retry = %+v, want delivered on attempt 2", a)
				}
			}
		})
	}
}

// TestHTTPDateRetryAfter: an HTTP-date Retry-After an hour ahead makes the
// event due an hour later.
func TestHTTPDateRetryAfter(t *testing.T) {
	s := manual(t)
	rc := newReceiver(t)
	app := appWith(t, s, rc.URL+"/hooks", "")
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", s.Clock.Now().Add(time.Hour).Format(http.TimeFormat))
		w.WriteHeader(503)
	})
	install(t, s, app.App.ID, "ada@example.com", "")
	start := s.Clock.Now()
	deliverDue(t, s)
	if d := lastAttempt(t, s, app.App.ID).NextAt.Sub(start); d != time.Hour {
		t.Fatalf("next attempt after %s, want 1h", d)
	}
}

// TestScheduleRunsOut: an endpoint that always fails gets eleven attempts,
// spaced as the schedule says (with jitter within ±10%), then the event
// has failed; a replay sends it once more.
func TestScheduleRunsOut(t *testing.T) {
	s := manual(t)
	rc := newReceiver(t)
	rc.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	app := appWith(t, s, rc.URL+"/hooks", "")
	install(t, s, app.App.ID, "ada@example.com", "")
	deliverDue(t, s)
	for i, want := range webhook.Schedule {
		a := lastAttempt(t, s, app.App.ID)
		wait := a.NextAt.Sub(a.At)
		if a.Outcome != doorway.Pending || wait < want-want/10 || wait > want+want/10 {
			t.Fatalf("after attempt %d: %s, next in %s; want pending, next in %s ±10%%", i+1, a.Outcome, wait, want)
		}
		s.Clock.Advance(wait)
		if n := deliverDue(t, s); n != 1 {
			t.Fatalf("attempt %d: %d events due", i+2, n)
		}
	}
	a := lastAttempt(t, s, app.App.ID)
	if a.Outcome != doorway.Failed || a.Number != 11 || !strings.Contains(a.Error, "gave up after 11 attempts") {
		t.Fatalf("last attempt = %+v; want failed after 11", a)
	}
	if got := len(rc.deliveries()); got != 11 {
		t.Fatalf("receiver got %d requests, want 11", got)
	}
	s.Clock.Advance(48 * time.Hour)
	if n := deliverDue(t, s); n != 0 {
		t.Fatalf("a failed event was retried (%d)", n)
	}
	rc.set(nil)
	if _, err := s.Admin.Replay(context.Background(), a.EventID); err != nil {
		t.Fatal(err)
	}
	deliverDue(t, s)
	if a := lastAttempt(t, s, app.App.ID); a.Outcome != doorway.Delivered || a.Number != 12 {
		t.Fatalf("replay = %+v, want delivered on attempt 12", a)
	}
}

// TestGoneThenEnable: after a 410 nothing more is sent to the endpoint —
// the installation's later events are held back, not sent — until the
// operator re-enables it; then they go out, in order.
func TestGoneThenEnable(t *testing.T) {
	s := manual(t)
	rc := newReceiver(t)
	rc.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) })
	app := appWith(t, s, rc.URL+"/hooks", "")
	instance := install(t, s, app.App.ID, "ada@example.com", "")
	deliverDue(t, s)
	if _, err := s.Store.Uninstall(context.Background(), instance, "", "evt_gone2", s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	deliverDue(t, s)
	if got := len(rc.deliveries()); got != 1 {
		t.Fatalf("the endpoint got %d requests after its 410, want only the first", got)
	}
	if a := lastAttempt(t, s, app.App.ID); a.Outcome != doorway.Disabled || a.StatusCode != 0 || !strings.Contains(a.Error, "doorway webhooks enable") {
		t.Fatalf("held-back attempt = %+v", a)
	}
	rc.set(nil)
	n, err := s.Admin.Enable(context.Background(), app.App.ID)
	if err != nil || n != 2 {
		t.Fatalf("enable = %d, %v; want 2 events queued", n, err)
	}
	deliverDue(t, s)
	got := rc.deliveries()
	if len(got) != 3 || !strings.Contains(string(got[1].Body), `"app.installed"`) || !strings.Contains(string(got[2].Body), `"app.uninstalled"`) {
		t.Fatalf("after enable the receiver got %d requests; want installed then uninstalled", len(got)-1)
	}
}

// TestGoneOnAnotherNode: an endpoint that another node disabled (its 410)
// gets nothing from this node once webhook.OpenFor has passed since this
// node last found it open; the held-back event is logged as disabled.
func TestGoneOnAnotherNode(t *testing.T) {
	s := manual(t)
	rc := newReceiver(t)
	app := appWith(t, s, rc.URL+"/hooks", "")
	first := install(t, s, app.App.ID, "ada@example.com", "")
	deliverDue(t, s) // this node finds the endpoint open
	other := &webhook.Dispatcher{Store: s.Store, Secrets: s.Registry, Now: s.Clock.Now, AllowPrivate: true}
	rc.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) })
	install(t, s, app.App.ID, "bob@example.com", "")
	if n, err := other.DeliverDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("the other node delivered %d, %v; want its one event", n, err)
	}
	rc.set(nil)
	if _, err := s.Store.Uninstall(context.Background(), first, "", "evt_gone_elsewhere", s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(webhook.OpenFor)
	deliverDue(t, s)
	if got := len(rc.deliveries()); got != 2 {
		t.Fatalf("the endpoint got %d requests; want 2 (one from each node before the 410)", got)
	}
	if a := lastAttempt(t, s, app.App.ID); a.EventID != "evt_gone_elsewhere" || a.Outcome != doorway.Disabled || a.StatusCode != 0 {
		t.Fatalf("held-back attempt = %+v; want the uninstall event, disabled, not sent", a)
	}
}

// TestInOrder: while an installation's first event is failing, its later
// events wait; another installation's events are not held up.
func TestInOrder(t *testing.T) {
	s := manual(t)
	s.Dispatcher.Jitter = func(d time.Duration) time.Duration { return d }
	rc := newReceiver(t)
	rc.set(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	app := appWith(t, s, rc.URL+"/hooks", "")
	first := install(t, s, app.App.ID, "ada@example.com", "")
	deliverDue(t, s) // fails
	if _, err := s.Store.CompleteSetup(context.Background(), first, "evt_order2", s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	rc.set(nil)
	second := install(t, s, app.App.ID, "bob@example.com", "")
	if n := deliverDue(t, s); n != 1 {
		t.Fatalf("%d events went out; want only the other installation's", n)
	}
	s.Clock.Advance(5 * time.Second)
	deliverDue(t, s)
	deliverDue(t, s)
	var order []string
	for _, d := range rc.deliveries()[1:] {
		var b webhook.Body
		if err := json.Unmarshal(d.Body, &b); err != nil {
			t.Fatal(err)
		}
		who := "first"
		if b.Data.InstanceID == second {
			who = "second"
		}
		order = append(order, who+":"+b.Type)
	}
	want := "second:app.installed first:app.installed first:app.setup_completed"
	if strings.Join(order, " ") != want {
		t.Fatalf("delivered %v, want %s", order, want)
	}
}

// TestPrivateRefused: without --webhook-allow-private a loopback receiver
// is never contacted, and the log says which switch allows it.
func TestPrivateRefused(t *testing.T) {
	s := testkit.Start(t, func(m *cli.Main) { m.DispatchManually = true })
	rc := newReceiver(t)
	app := appWith(t, s, rc.URL+"/hooks", "")
	install(t, s, app.App.ID, "ada@example.com", "")
	deliverDue(t, s)
	a := lastAttempt(t, s, app.App.ID)
	if len(rc.deliveries()) != 0 || a.Outcome != doorway.Pending || !strings.Contains(a.Error, "--webhook-allow-private") {
		t.Fatalf("attempt = %+v, receiver hit %d times", a, len(rc.deliveries()))
	}
}

// TestPerEndpointCap: one endpoint never gets more concurrent requests than
// the cap, however many events are due.
func TestPerEndpointCap(t *testing.T) {
	s := manual(t)
	s.Dispatcher.PerEndpoint = 2
	rc := newReceiver(t)
	var mu sync.Mutex
	now, peak := 0, 0
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now++
		peak = max(peak, now)
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		now--
		mu.Unlock()
	})
	app := appWith(t, s, rc.URL+"/hooks", "")
	for i := range 6 {
		install(t, s, app.App.ID, fmt.Sprintf("u%d@example.com", i), "")
	}
	if n := deliverDue(t, s); n != 6 {
		t.Fatalf("delivered %d, want 6", n)
	}
	if peak != 2 {
		t.Fatalf("at most %d requests at once reached the endpoint, want the cap of 2", peak)
	}
}

// slowRecords is the real store, with each record of attempts held until
// release is closed (or a few seconds pass, so a failing test ends).
type slowRecords struct {
	store.Store
	release chan struct{}
	waited  atomic.Bool // a record gave up waiting for release
	mu      sync.Mutex
	sizes   []int // the attempts of each record
}

// onArrival answers every request at once and calls f as the nth
// arrives; it returns the count of requests.
func (rc *receiver) onArrival(n int32, f func()) *atomic.Int32 {
	var got atomic.Int32
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		if got.Add(1) == n {
			f()
		}
	})
	return &got
}

// holdRecords gives s's dispatcher perEndpoint requests an endpoint and a
// store whose records wait for release.
func holdRecords(s *testkit.Server, perEndpoint int) *slowRecords {
	slow := &slowRecords{Store: s.Dispatcher.Store, release: make(chan struct{})}
	s.Dispatcher.PerEndpoint, s.Dispatcher.Store = perEndpoint, slow
	return slow
}

func (s *slowRecords) RecordAttempts(ctx context.Context, owner string, as []*doorway.Attempt) ([]string, error) {
	s.mu.Lock()
	s.sizes = append(s.sizes, len(as))
	s.mu.Unlock()
	select {
	case <-s.release:
	case <-time.After(3 * time.Second):
		s.waited.Store(true)
	}
	return s.Store.RecordAttempts(ctx, owner, as)
}

// TestEndpointSlotFreeWhileRecording: the per-endpoint cap bounds the
// endpoint's requests, not Doorway's own bookkeeping. With a cap of 1, the
// second webhook goes out while the first's attempt is still being
// recorded. (The slot was held through the record, so a burst of installs
// of one app was delivered at the pace of the database's commits: under
// load, 250 webhooks a second for 870 installs, seconds behind.)
func TestEndpointSlotFreeWhileRecording(t *testing.T) {
	s := manual(t)
	slow := holdRecords(s, 1)
	rc := newReceiver(t)
	got := rc.onArrival(2, func() { close(slow.release) }) // both went out: let the records through
	app := appWith(t, s, rc.URL+"/hooks", "")
	install(t, s, app.App.ID, "first@example.com", "")
	install(t, s, app.App.ID, "second@example.com", "")
	if n := deliverDue(t, s); n != 2 {
		t.Fatalf("delivered %d, want 2", n)
	}
	if slow.waited.Load() || got.Load() != 2 {
		t.Fatalf("the endpoint got %d of 2 requests while the first's attempt was being recorded (a record gave up waiting: %v)", got.Load(), slow.waited.Load())
	}
	log, err := s.Store.Attempts(context.Background(), app.App.ID, 0, 10)
	if err != nil || len(log) != 2 {
		t.Fatalf("delivery log: %v, %d rows, want 2", err, len(log))
	}
	for _, a := range log {
		if a.Outcome != doorway.Delivered {
			t.Errorf("attempt %+v, want delivered", a)
		}
	}
}

// TestSlowEndpointDoesNotStarveOthers: events waiting for a hung endpoint
// hand their place back, so another app's webhook still goes out at once.
func TestSlowEndpointDoesNotStarveOthers(t *testing.T) {
	s := manual(t)
	s.Dispatcher.Batch, s.Dispatcher.PerEndpoint = 8, 2
	hung := newReceiver(t)
	unblock := make(chan struct{})
	hung.set(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(unblock) })
	slow := appWith(t, s, hung.URL+"/hooks", "")
	for i := range 10 {
		install(t, s, slow.App.ID, fmt.Sprintf("slow%d@example.com", i), "")
	}
	s.Dispatcher.Start() // claims the 8 oldest: all for the hung endpoint
	fast := newReceiver(t)
	app := appWith(t, s, fast.URL+"/hooks", "")
	install(t, s, app.App.ID, "fast@example.com", "")
	s.Dispatcher.Wake()
	deadline := time.Now().Add(5 * time.Second)
	for len(fast.deliveries()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("another app's webhook waited behind a hung endpoint for 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConnectionsKeptForOneHost: webhooks to many URLs on one host (one
// vendor's apps, a webhook gateway) reuse their connections. The idle pool
// kept per-endpoint's 4 connections a host, so a burst to eight URLs on one
// host closed 28 of its 32 connections after it and dialled them again for
// the next: under load, 5 % of the server's CPU in connect(2) and a
// TIME_WAIT socket for every webhook.
func TestConnectionsKeptForOneHost(t *testing.T) {
	const urls, per = 8, 2
	s := manual(t)
	s.Dispatcher.PerEndpoint = per
	var opened atomic.Int32
	var mu sync.Mutex
	waiting, all := 0, make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hold each request until urls×per are in flight, so each burst
		// needs that many connections at once.
		mu.Lock()
		wait := all
		if waiting++; waiting == urls*per {
			close(all)
			waiting, all = 0, make(chan struct{})
		}
		mu.Unlock()
		select {
		case <-wait:
		case <-time.After(10 * time.Second):
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	var apps []string
	for i := range urls {
		apps = append(apps, appWith(t, s, fmt.Sprintf("%s/hooks/%d", srv.URL, i), "").App.ID)
	}
	burst := func(round int) int32 {
		before := opened.Load()
		for _, app := range apps {
			s.Installs(t, app, per, 0)
		}
		if n := deliverDue(t, s); n != urls*per {
			t.Fatalf("round %d delivered %d, want %d", round, n, urls*per)
		}
		return opened.Load() - before
	}
	if n := burst(1); n != urls*per {
		t.Fatalf("the first burst opened %d connections, want %d (one a request in flight)", n, urls*per)
	}
	if n := burst(2); n != 0 {
		t.Fatalf("the second burst opened %d new connections to the same host, want 0: the first's were not kept", n)
	}
}

// countClaims is the real store, counting the claims made through it.
type countClaims struct {
	store.Store
	n atomic.Int32
}

func (c *countClaims) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]doorway.Event, error) {
	c.n.Add(1)
	return c.Store.ClaimEvents(ctx, owner, now, lease, limit)
}

// background starts s's dispatcher on a store that counts its claims,
// polling only once an hour: what it claims, it claims because it was
// told to or because a delivery finished.
func background(t *testing.T, s *testkit.Server) *countClaims {
	c := &countClaims{Store: s.Dispatcher.Store}
	s.Dispatcher.Store, s.Dispatcher.Poll = c, time.Hour
	s.Dispatcher.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Dispatcher.Shutdown(ctx)
	})
	return c
}

// until waits up to 5 s for ok.
func until(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
		}
	}
}

// TestFinishedDeliveriesClaimOnce: a burst of deliveries that finish
// together is followed by one claim, not one each. A claim is a write
// transaction (four round trips on PostgreSQL), and each finished delivery
// used to make one: during b, more than half of the claims found nothing.
func TestFinishedDeliveriesClaimOnce(t *testing.T) {
	const n = 16
	s := manual(t)
	// However slowly this machine finishes the burst, within one recheck.
	s.Dispatcher.PerEndpoint, s.Dispatcher.Recheck = n, 500*time.Millisecond
	release := make(chan struct{})
	var arrived atomic.Int32
	rc := newReceiver(t)
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done(): // the test failed, and its dispatcher stopped
		}
	})
	app := appWith(t, s, rc.URL+"/hooks", "")
	claims := background(t, s)
	s.Installs(t, app.App.ID, n, 0)
	until(t, "the burst's webhooks arrive", func() bool { return arrived.Load() == n })
	before := claims.n.Load()
	close(release)
	until(t, "the burst's deliveries are recorded", func() bool {
		log, err := s.Store.Attempts(context.Background(), app.App.ID, 0, n)
		return err == nil && len(log) == n
	})
	until(t, "a claim after the burst", func() bool { return claims.n.Load() > before })
	time.Sleep(2 * s.Dispatcher.Recheck) // any other claim the deliveries cause has come
	if got := claims.n.Load() - before; got != 1 {
		t.Fatalf("%d deliveries that finished together were followed by %d claims, want 1", n, got)
	}
}

// TestHeldBackEventGoesOut: an event held back behind its installation's
// earlier one goes out once that one is delivered, with no write to
// announce it and no poll to find it: whether the earlier one was held by
// its endpoint's answer or by its record. (A delivery's slot is free once
// the answer is read, before the record, so the claim the answer asks for
// can come before the record has let the next event go; the record asks
// again when it is written.)
func TestHeldBackEventGoesOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold func(s *testkit.Server, rc *receiver) (release func())
	}{
		{"by the answer", func(s *testkit.Server, rc *receiver) func() {
			release := make(chan struct{})
			rc.set(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			})
			return func() { close(release) }
		}},
		{"by the record", func(s *testkit.Server, rc *receiver) func() {
			slow := holdRecords(s, 4)
			return func() { close(slow.release) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := manual(t)
			rc := newReceiver(t)
			release := tc.hold(s, rc)
			app := appWith(t, s, rc.URL+"/hooks", "")
			background(t, s)
			id := s.Installs(t, app.App.ID, 1, 0)[0].ID
			until(t, "app.installed arrives", func() bool { return len(rc.deliveries()) == 1 })
			// Written, and the dispatcher told, while app.installed is
			// held: the claims that follow leave it for after app.installed.
			if _, err := s.Store.CompleteSetup(context.Background(), id, "evt_heldback", s.Clock.Now()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * s.Dispatcher.Recheck)
			if n := len(rc.deliveries()); n != 1 {
				t.Fatalf("%d webhooks arrived while the installation's first was held, want 1", n)
			}
			release()
			until(t, "app.setup_completed follows app.installed", func() bool { return len(rc.deliveries()) == 2 })
		})
	}
}

// TestAttemptsFinishedTogetherAreRecordedTogether: the attempts that
// finish while one is being recorded are recorded together, in one
// RecordAttempts (on PostgreSQL one statement and one commit), and each is
// logged and moves its own event.
func TestAttemptsFinishedTogetherAreRecordedTogether(t *testing.T) {
	s := manual(t)
	counted := holdRecords(s, 6)
	rc := newReceiver(t)
	// The other five finish while the first is held: a moment after the
	// sixth arrives they all wait to be recorded.
	rc.onArrival(6, func() { time.AfterFunc(time.Second, func() { close(counted.release) }) })
	app := appWith(t, s, rc.URL+"/hooks", "")
	var ids []string
	for i := range 6 {
		ids = append(ids, install(t, s, app.App.ID, fmt.Sprintf("u%d@example.com", i), ""))
	}
	if n := deliverDue(t, s); n != 6 {
		t.Fatalf("delivered %d, want 6", n)
	}
	counted.mu.Lock()
	sizes := fmt.Sprint(counted.sizes)
	counted.mu.Unlock()
	if sizes != "[1 5]" {
		t.Fatalf("attempts recorded %s at a time, want [1 5]: the first, then the five that finished while it was held", sizes)
	}
	for _, id := range ids {
		events, err := s.Store.Events(context.Background(), id)
		if err != nil || len(events) != 1 || events[0].Delivery != doorway.Delivered || events[0].Attempts != 1 {
			t.Fatalf("events of %s: %+v, %v; want one, delivered after one attempt", id, events, err)
		}
	}
	if log, err := s.Store.Attempts(context.Background(), app.App.ID, 0, 10); err != nil || len(log) != 6 {
		t.Fatalf("delivery log: %v, %d rows, want 6", err, len(log))
	}
}
