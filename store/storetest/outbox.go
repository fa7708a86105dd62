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

// record records attempts made by owner and returns the events whose
// lease was lost.
func record(t *testing.T, s store.Store, owner string, as ...*doorway.Attempt) []string {
	t.Helper()
	lost, err := s.RecordAttempts(context.Background(), owner, as)
	must(t, err)
	return lost
}

// recorded records attempts made by owner, whose leases it holds.
func recorded(t *testing.T, s store.Store, owner string, as ...*doorway.Attempt) {
	t.Helper()
	if lost := record(t, s, owner, as...); len(lost) != 0 {
		t.Fatalf("RecordAttempts says %s lost the leases of %v, which it holds", owner, lost)
	}
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
	recorded(t, s, "n1", attempt(events[0].ID, app, doorway.Delivered, now, now))
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
	recorded(t, s, "n1", failed)
	if log, err := s.Attempts(ctx, app.ID, 0, 10); err != nil || len(log) != 1 || log[0].ID != failed.ID || failed.ID == 0 {
		t.Fatalf("delivery log = %+v, %v; want one attempt, of the id RecordAttempts gave (%d)", log, err, failed.ID)
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
	if lost := record(t, s, "n1", late); fmt.Sprint(lost) != fmt.Sprint([]string{id}) {
		t.Fatalf("n1 recorded an attempt after its lease ran out: lost = %v, want [%s]", lost, id)
	}
	recorded(t, s, "n2", attempt(id, app, doorway.Delivered, now.Add(41*time.Second), now.Add(41*time.Second)))
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
	recorded(t, s, "n1", gone)
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

// testOutboxRecordTogether: the attempts a dispatcher records at once are
// each logged and each move their own event, all but those whose lease it
// lost, with or without a Disabled outcome among them.
func testOutboxRecordTogether(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "owner@example.com")
	app, _ := newApp(t, s, "customer_read")
	ids := map[string]string{}
	for i, name := range []string{"A", "B", "C", "D"} {
		inst := installIn(t, s, app, u, name, time.Duration(i)*time.Second)
		events, err := s.Events(ctx, inst.ID)
		must(t, err)
		ids[name] = events[0].ID
	}
	now := t0.Add(time.Hour)
	if got := claimIDs(t, s, "n1", now, 10); len(got) != 4 {
		t.Fatalf("n1 claimed %v, want all four events", got)
	}
	// n1's leases run out and n2 takes the oldest event, A's.
	if got := claimIDs(t, s, "n2", now.Add(36*time.Second), 1); len(got) != 1 {
		t.Fatalf("n2 claimed %v, want A's event", got)
	}
	at := now.Add(40 * time.Second)
	a, b := attempt(ids["A"], app, doorway.Delivered, at, at), attempt(ids["B"], app, doorway.Delivered, at, at)
	c := attempt(ids["C"], app, doorway.Pending, at, at.Add(time.Minute))
	c.StatusCode, c.Error = 503, "the endpoint answered 503"
	if lost := record(t, s, "n1", a, b, c); fmt.Sprint(lost) != fmt.Sprint([]string{ids["A"]}) {
		t.Fatalf("lost = %v, want [%s]: n2 holds A's event now", lost, ids["A"])
	}
	if a.ID == 0 || b.ID == 0 || c.ID == 0 || a.ID == b.ID || b.ID == c.ID || a.ID == c.ID {
		t.Fatalf("attempt ids %d, %d, %d: want three distinct ones", a.ID, b.ID, c.ID)
	}
	for _, w := range []struct {
		name     string
		delivery doorway.Delivery
		attempts int
		next     time.Time
	}{
		{"A", doorway.Pending, 0, t0.Add(time.Minute)}, // n2's to deliver: n1's attempt is logged, not counted
		{"B", doorway.Delivered, 1, at},
		{"C", doorway.Pending, 1, at.Add(time.Minute)},
	} {
		e, err := s.Event(ctx, ids[w.name])
		must(t, err)
		if e.Delivery != w.delivery || e.Attempts != w.attempts || !e.NextAttemptAt.Equal(w.next) {
			t.Errorf("%s's event is %s after %d attempts, next at %v; want %s after %d, next at %v",
				w.name, e.Delivery, e.Attempts, e.NextAttemptAt, w.delivery, w.attempts, w.next)
		}
	}

	// With a Disabled outcome among them: C's event is no longer n1's.
	d := attempt(ids["D"], app, doorway.Disabled, at.Add(time.Second), at.Add(time.Second))
	d.StatusCode = 410
	again := attempt(ids["C"], app, doorway.Delivered, at.Add(time.Second), at.Add(time.Second))
	again.Number = 2
	if lost := record(t, s, "n1", again, d); fmt.Sprint(lost) != fmt.Sprint([]string{ids["C"]}) {
		t.Fatalf("lost = %v, want [%s]: its lease was released by the attempt before", lost, ids["C"])
	}
	if e, err := s.Event(ctx, ids["D"]); err != nil || e.Delivery != doorway.Disabled || e.Attempts != 1 {
		t.Fatalf("D's event = %+v, %v; want disabled after one attempt", e, err)
	}
	if at, err := s.WebhookDisabled(ctx, app.ID, d.URL); err != nil || at.IsZero() {
		t.Fatalf("the endpoint disabled at %v, %v; want it disabled", at, err)
	}
	log, err := s.Attempts(ctx, app.ID, 0, 10)
	must(t, err)
	byID := map[int64]doorway.Attempt{}
	for _, l := range log {
		byID[l.ID] = l
	}
	for _, x := range []*doorway.Attempt{a, b, c, again, d} {
		l, ok := byID[x.ID]
		if !ok || l.EventID != x.EventID || l.Outcome != x.Outcome || l.StatusCode != x.StatusCode || l.Dispatcher != "n1" {
			t.Errorf("attempt %d at %s (%s) logged as %+v (found: %v)", x.ID, x.EventID, x.Outcome, l, ok)
		}
	}
	if len(log) != 5 {
		t.Fatalf("%d attempts logged, want 5: every attempt is logged, lost lease or not", len(log))
	}

	// Two attempts at one event: the first releases the lease.
	first := attempt(ids["A"], app, doorway.Delivered, at.Add(2*time.Second), at.Add(2*time.Second))
	second := attempt(ids["A"], app, doorway.Delivered, at.Add(2*time.Second), at.Add(2*time.Second))
	second.Number = 2
	if lost := record(t, s, "n2", first, second); fmt.Sprint(lost) != fmt.Sprint([]string{ids["A"]}) {
		t.Fatalf("lost = %v, want [%s] once: the second attempt's", lost, ids["A"])
	}
	if e, err := s.Event(ctx, ids["A"]); err != nil || e.Delivery != doorway.Delivered || e.Attempts != 1 {
		t.Fatalf("A's event = %+v, %v; want delivered after one counted attempt", e, err)
	}
	if first.ID == 0 || second.ID == 0 || first.ID == second.ID {
		t.Fatalf("attempt ids %d and %d: want two distinct ones", first.ID, second.ID)
	}
}
