package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// installIn approves an install of app into a new tenant of user, at t0+1m.
// installIn approves an install into a new tenant, at t0 plus a minute plus
// after.
func installIn(t *testing.T, s store.Store, app *doorway.App, user *doorway.User, tenant string, after time.Duration) *doorway.Installation {
	t.Helper()
	tn := newTenant(t, s, tenant, user.ID)
	inst, err := approve(s, newRequest(app, "st-"+tenant, user.ID, tn.ID), t0.Add(time.Minute+after))
	must(t, err)
	return inst
}

func claimIDs(t *testing.T, s store.Store, owner string, at time.Time, limit int) []string {
	t.Helper()
	evs, err := s.ClaimEvents(context.Background(), owner, at, 30*time.Second, limit)
	must(t, err)
	var ids []string
	for _, e := range evs {
		if e.Delivery != doorway.Pending {
			t.Fatalf("claimed event %s is %s, want pending", e.ID, e.Delivery)
		}
		ids = append(ids, fmt.Sprintf("%s#%d", e.InstallationID, e.Sequence))
	}
	return ids
}

func attempt(e string, app *doorway.App, outcome doorway.Delivery, at, next time.Time) *doorway.Attempt {
	return &doorway.Attempt{EventID: e, EventType: doorway.EventInstalled, AppID: app.ID, Number: 1,
		URL: "https://app.example/hooks", StatusCode: 200, Response: "ok", Latency: 3 * time.Millisecond,
		At: at, Outcome: outcome, NextAt: next}
}

// oneEvent makes an app with one installation and returns the app and the
// id of the installation's app.installed event.
func oneEvent(t *testing.T, s store.Store) (*doorway.App, string) {
	t.Helper()
	u := newUser(t, s, "owner@example.com")
	app, _ := newApp(t, s, "customer_read")
	inst := installIn(t, s, app, u, "A", 0)
	evs, err := s.Events(context.Background(), inst.ID)
	must(t, err)
	return app, evs[0].ID
}

// testOutboxOrder: only the lowest pending sequence of an installation is
// due, so its events go out in order, and a claimed event is not claimed
// again while leased.
func testOutboxOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "owner@example.com")
	app, _ := newApp(t, s, "customer_read")
	a := installIn(t, s, app, u, "A", 0)
	b := installIn(t, s, app, u, "B", time.Second)
	_, err := s.CompleteSetup(ctx, a.ID, secret.Token("evt_"), t0.Add(2*time.Minute))
	must(t, err)
	_, err = s.Uninstall(ctx, a.ID, "", secret.Token("evt_"), t0.Add(3*time.Minute))
	must(t, err)

	now := t0.Add(time.Hour)
	if got := claimIDs(t, s, "n1", t0, 10); len(got) != 0 {
		t.Fatalf("claimed %v before the events were due", got)
	}
	got := claimIDs(t, s, "n1", now, 10)
	want := []string{a.ID + "#1", b.ID + "#1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first claim = %v, want %v (one event per installation, oldest first)", got, want)
	}
	if got := claimIDs(t, s, "n2", now, 10); len(got) != 0 {
		t.Fatalf("a second dispatcher claimed %v while they were leased", got)
	}
	events, err := s.Events(ctx, a.ID)
	must(t, err)
	must(t, s.RecordAttempt(ctx, "n1", attempt(events[0].ID, app, doorway.Delivered, now, now)))
	if got := claimIDs(t, s, "n2", now, 10); fmt.Sprint(got) != fmt.Sprint([]string{a.ID + "#2"}) {
		t.Fatalf("after #1 was delivered: claimed %v, want %s#2", got, a.ID)
	}
	e, err := s.Event(ctx, events[0].ID)
	must(t, err)
	if e.Delivery != doorway.Delivered || e.Attempts != 1 {
		t.Fatalf("delivered event = %+v", e)
	}
	log, err := s.Attempts(ctx, app.ID, 0, 10)
	must(t, err)
	if len(log) != 1 || log[0].Dispatcher != "n1" {
		t.Fatalf("delivery log = %+v, want one attempt made by dispatcher n1", log)
	}
}

// testOutboxRetryAndLease: a failed attempt makes the event due again at
// NextAt; a lease that ran out (a crashed dispatcher) is claimed again, and
// the old owner can no longer record its attempt.
func testOutboxRetryAndLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	app, id := oneEvent(t, s)

	now := t0.Add(time.Hour)
	claimIDs(t, s, "n1", now, 1)
	failed := attempt(id, app, doorway.Pending, now, now.Add(5*time.Second))
	failed.StatusCode, failed.Error = 500, "the endpoint answered 500"
	must(t, s.RecordAttempt(ctx, "n1", failed))
	if log, err := s.Attempts(ctx, app.ID, 0, 10); err != nil || len(log) != 1 || log[0].ID != failed.ID || failed.ID == 0 {
		t.Fatalf("delivery log = %+v, %v; want one attempt, of the id RecordAttempt gave (%d)", log, err, failed.ID)
	}
	if got := claimIDs(t, s, "n1", now.Add(4*time.Second), 1); len(got) != 0 {
		t.Fatalf("claimed %v before its retry time", got)
	}
	if got := claimIDs(t, s, "n1", now.Add(5*time.Second), 1); len(got) != 1 {
		t.Fatal("not claimed at its retry time")
	}
	// n1 crashes; its 30 s lease runs out and n2 takes the event.
	if got := claimIDs(t, s, "n2", now.Add(34*time.Second), 1); len(got) != 0 {
		t.Fatalf("n2 claimed %v inside n1's lease", got)
	}
	if got := claimIDs(t, s, "n2", now.Add(36*time.Second), 1); len(got) != 1 {
		t.Fatal("n2 did not take the event after n1's lease ran out")
	}
	late := attempt(id, app, doorway.Delivered, now.Add(40*time.Second), now.Add(40*time.Second))
	wantErr(t, s.RecordAttempt(ctx, "n1", late), store.ErrConflict)
	must(t, s.RecordAttempt(ctx, "n2", attempt(id, app, doorway.Delivered, now.Add(41*time.Second), now.Add(41*time.Second))))
	e, err := s.Event(ctx, id)
	must(t, err)
	if e.Delivery != doorway.Delivered || e.Attempts != 2 {
		t.Fatalf("event = %s after %d attempts; want delivered after 2 (n1's late one is logged, not counted)", e.Delivery, e.Attempts)
	}
	log, err := s.Attempts(ctx, app.ID, 0, 10)
	must(t, err)
	if len(log) != 3 || log[0].Outcome != doorway.Delivered || log[2].StatusCode != 500 || log[2].Error == "" ||
		log[2].Latency != 3*time.Millisecond || !log[2].NextAt.Equal(now.Add(5*time.Second)) {
		t.Fatalf("delivery log = %+v, want 3 attempts newest first", log)
	}
	older, err := s.Attempts(ctx, app.ID, log[0].ID, 1)
	must(t, err)
	if len(older) != 1 || older[0].ID != log[1].ID {
		t.Fatalf("page before %d = %+v, want attempt %d", log[0].ID, older, log[1].ID)
	}

	// Release (a dispatcher shutting down) hands it over at once.
	rp, err := s.ReplayEvent(ctx, id, now.Add(time.Minute))
	must(t, err)
	if rp.Delivery != doorway.Pending || !rp.NextAttemptAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("replayed event = %+v", rp)
	}
	claimIDs(t, s, "n1", now.Add(time.Minute), 1)
	must(t, s.ReleaseEvents(ctx, "n1", now.Add(time.Minute), []string{id}))
	if got := claimIDs(t, s, "n2", now.Add(time.Minute), 1); len(got) != 1 {
		t.Fatal("a released event was not claimable")
	}
	// Released for later (its endpoint was busy): due then, not before.
	must(t, s.ReleaseEvents(ctx, "n2", now.Add(2*time.Minute), []string{id}))
	if got := claimIDs(t, s, "n1", now.Add(2*time.Minute-time.Second), 1); len(got) != 0 {
		t.Fatal("an event released for later was claimed early")
	}
	if got := claimIDs(t, s, "n1", now.Add(2*time.Minute), 1); len(got) != 1 {
		t.Fatal("an event released for later was not claimable then")
	}
	_, err = s.ReplayEvent(ctx, "evt_missing", now)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.Event(ctx, "evt_missing")
	wantErr(t, err, store.ErrNotFound)
}

// testOutboxConcurrentClaims: dispatchers claiming at once never share an
// event.
func testOutboxConcurrentClaims(t *testing.T, s store.Store) {
	u := newUser(t, s, "owner@example.com")
	app, _ := newApp(t, s, "customer_read")
	const n = 24
	for i := range n {
		installIn(t, s, app, u, fmt.Sprintf("T%02d", i), 0)
	}
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("n%d", w)
			for range 4 {
				evs, err := s.ClaimEvents(context.Background(), owner, t0.Add(time.Hour), time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, e := range evs {
					if prev, dup := seen[e.ID]; dup {
						t.Errorf("event %s claimed by %s and %s", e.ID, prev, owner)
					}
					seen[e.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("%d events claimed, want all %d", len(seen), n)
	}
}

// testOutboxDisable: a Disabled outcome disables the endpoint; enabling
// makes the disabled events pending again.
func testOutboxDisable(t *testing.T, s store.Store) {
	ctx := context.Background()
	app, id := oneEvent(t, s)
	now := t0.Add(time.Hour)
	claimIDs(t, s, "n1", now, 1)
	gone := attempt(id, app, doorway.Disabled, now, now)
	gone.StatusCode = 410
	must(t, s.RecordAttempt(ctx, "n1", gone))
	at, err := s.WebhookDisabled(ctx, app.ID, gone.URL)
	must(t, err)
	if !at.Equal(now) {
		t.Fatalf("disabled at %v, want %v", at, now)
	}
	if at, _ := s.WebhookDisabled(ctx, app.ID, "https://other.example/hooks"); !at.IsZero() {
		t.Fatal("another URL of the app is disabled too")
	}
	if got := claimIDs(t, s, "n1", now.Add(time.Hour), 1); len(got) != 0 {
		t.Fatalf("claimed %v: a disabled event is not pending", got)
	}
	n, err := s.EnableWebhooks(ctx, app.ID, now.Add(time.Hour))
	must(t, err)
	if at, _ := s.WebhookDisabled(ctx, app.ID, gone.URL); n != 1 || !at.IsZero() {
		t.Fatalf("enable: %d events back, disabled at %v; want 1 and not disabled", n, at)
	}
	if got := claimIDs(t, s, "n1", now.Add(time.Hour), 1); len(got) != 1 {
		t.Fatal("the re-enabled event is not due")
	}
}

// testPermissionsChanged: re-approving a live installation with other
// permissions writes app.permissions_changed; the same permissions, or an
// install after an uninstall, write app.installed.
func testPermissionsChanged(t *testing.T, s store.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	first, err := approve(s, f.req, t0.Add(time.Minute))
	must(t, err)
	v2 := &doorway.AppVersion{ID: secret.Token("ver_"), AppID: f.app.ID, CreatedAt: t0, Manifest: manifest("2.0.0", "customer_read")}
	must(t, s.AddAppVersion(ctx, v2, doorway.Live))
	reapprove := func(at time.Time) {
		app, err := s.App(ctx, f.app.ID)
		must(t, err)
		_, err = approve(s, newRequest(app, "", f.user.ID, f.tenant.ID), at)
		must(t, err)
	}
	reapprove(t0.Add(2 * time.Minute)) // fewer permissions
	reapprove(t0.Add(3 * time.Minute)) // the same again
	_, err = s.Uninstall(ctx, first.ID, "", secret.Token("evt_"), t0.Add(4*time.Minute))
	must(t, err)
	reapprove(t0.Add(5 * time.Minute))
	events, err := s.Events(ctx, first.ID)
	must(t, err)
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	want := []string{doorway.EventInstalled, doorway.EventPermissionsChanged, doorway.EventInstalled, doorway.EventUninstalled, doorway.EventInstalled}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", types, want)
	}
	if p := events[1].Permissions; len(p) != 1 || p[0] != "customer_read" {
		t.Fatalf("permissions_changed carries %v, want the new grant [customer_read]", p)
	}
}

// testSweep: expired sessions, install requests, codes and install tokens
// go; live ones stay.
func testSweep(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s) // a request and a code expiring by t0+11m
	old := &doorway.Session{Hash: secret.Hash("old"), UserID: i.user.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	live := &doorway.Session{Hash: secret.Hash("live"), UserID: i.user.ID, CreatedAt: t0, ExpiresAt: t0.Add(48 * time.Hour)}
	must(t, s.CreateSession(ctx, old))
	must(t, s.CreateSession(ctx, live))
	tok := &doorway.InstallToken{Hash: secret.Hash("it"), AppID: i.app.ID, Mode: doorway.Live, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateInstallToken(ctx, tok))

	n, err := s.Sweep(ctx, t0.Add(2*time.Hour))
	must(t, err)
	if n != 4 { // old session, the decided request, the code, the install token
		t.Fatalf("swept %d rows, want 4", n)
	}
	if _, _, _, err := s.Session(ctx, live.Hash, t0); err != nil {
		t.Fatalf("the live session went: %v", err)
	}
	_, err = s.InstallRequest(ctx, i.req.ID)
	wantErr(t, err, store.ErrNotFound)
	_, _, err = s.AuthCode(ctx, secret.Hash(i.code))
	wantErr(t, err, store.ErrNotFound)
	if _, err := s.Installation(ctx, i.inst.ID); err != nil {
		t.Fatalf("the installation went: %v", err)
	}
}
