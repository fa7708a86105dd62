// Package storetest is the conformance suite every store.Store backend must
// pass, unchanged. A backend wires it up in a few lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
//	}
//
// Extend it with every change to the Store interface: a behaviour that is not
// here is a behaviour one backend will get wrong.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// Run runs the suite. open must return a new, empty store for each call.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Users", testUsers},
		{"TenantsAndMemberships", testTenants},
		{"Sessions", testSessions},
		{"AppsAndVersions", testApps},
		{"SecretRotation", testSecretRotation},
		{"Links", testLinks},
		{"ApproveCreatesInstallationAndEvent", testApprove},
		{"DecideNamesTheTenant", testDecideNamesTheTenant},
		{"DecideOnce", testDecideOnce},
		{"DecideExpired", testDecideExpired},
		{"DecideChecksTheSession", testDecideChecksTheSession},
		{"DenyCreatesNothing", testDeny},
		{"ReinstallKeepsInstanceID", testReinstall},
		{"ConcurrentApprove", testConcurrentApprove},
		{"InstallRequestOAuthFields", testRequestOAuthFields},
		{"ApproveWithCode", testApproveWithCode},
		{"CodeReplayRevokesGrant", testCodeReplay},
		{"CodeMismatchWritesNothing", testCodeMismatch},
		{"CodeExpiredOrUninstalled", testCodeExpired},
		{"ConcurrentRedeem", testConcurrentRedeem},
		{"RefreshRotation", testRefreshRotation},
		{"RefreshWithoutRotation", testRefreshNoRotation},
		{"RefreshOfAnotherApp", testRefreshOfAnotherApp},
		{"ConcurrentRefreshInGrace", testConcurrentRefresh},
		{"UninstallRevokesEverything", testUninstall},
		{"CompleteSetup", testCompleteSetup},
		{"ListInstallations", testListInstallations},
		{"RenewInstallGrant", testRenewInstallGrant},
		{"InstallationWithGrant", testInstallationWithGrant},
		{"InstallationKnowsItsGrantRevoked", testInstallationKnowsItsGrantRevoked},
		{"NoGrantForAnUninstalledInstallation", testNoGrantForAnUninstalledInstallation},
		{"AppSecretByHash", testAppSecretByHash},
		{"InstallTokens", testInstallTokens},
		{"SigningKeys", testSigningKeys},
		{"OutboxOrder", testOutboxOrder},
		{"OutboxRetryAndLease", testOutboxRetryAndLease},
		{"OutboxConcurrentClaims", testOutboxConcurrentClaims},
		{"OutboxDisable", testOutboxDisable},
		{"OutboxRecordTogether", testOutboxRecordTogether},
		{"PermissionsChanged", testPermissionsChanged},
		{"Sweep", testSweep},
		{"RateLimits", testRateLimits},
		{"Import", testImport},
		{"ImportOfUnknownReferences", testImportOfUnknownReferences},
		{"ImportBesideWrites", testImportBesideWrites},
		{"IDsOfOneMillisecond", testIDsOfOneMillisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func newUser(t *testing.T, s store.Store, email string) *doorway.User {
	u := &doorway.User{ID: secret.Token("usr_"), Email: email, PasswordHash: "$argon2id$x", CreatedAt: t0}
	must(t, s.CreateUser(context.Background(), u))
	return u
}

func newTenant(t *testing.T, s store.Store, name, owner string) *doorway.Tenant {
	tn := &doorway.Tenant{ID: secret.Token("tnt_"), Name: name, CreatedAt: t0}
	must(t, s.CreateTenant(context.Background(), tn, owner))
	return tn
}

func manifest(version string, perms ...string) doorway.Manifest {
	m := doorway.Manifest{ID: "com.example.app", Name: "Example", Version: version,
		AllowedRedirectURIs: []string{"https://app.example/cb"}}
	for _, p := range perms {
		m.Permissions = append(m.Permissions, doorway.PermissionRequest{Permission: p, Purpose: "because"})
	}
	return m
}

func newApp(t *testing.T, s store.Store, perms ...string) (*doorway.App, *doorway.AppVersion) {
	a := &doorway.App{ID: secret.Token("app_"), CreatedAt: t0}
	v := &doorway.AppVersion{ID: secret.Token("ver_"), AppID: a.ID, CreatedAt: t0, Manifest: manifest("1.0.0", perms...)}
	a.LiveVersionID, a.TestVersionID = v.ID, v.ID
	secrets := []doorway.AppSecret{
		{ID: secret.Token("sec_"), AppID: a.ID, Kind: doorway.ClientSecret, Hash: secret.Hash("c1"), CreatedAt: t0},
		{ID: secret.Token("sec_"), AppID: a.ID, Kind: doorway.SigningSecret, Sealed: "sealed-1", CreatedAt: t0},
	}
	must(t, s.CreateApp(context.Background(), a, v, secrets))
	return a, v
}

// fixture is a user with a tenant and an app with an install request (as
// package install would have sealed it) for that user and tenant.
type fixture struct {
	user   *doorway.User
	tenant *doorway.Tenant
	app    *doorway.App
	req    *doorway.InstallRequest
}

// newRequest is an install request of app by userID into tenantID (the
// store sees a request only when it is decided).
func newRequest(app *doorway.App, state, userID, tenantID string) *doorway.InstallRequest {
	return &doorway.InstallRequest{ID: secret.ID("req_"), Profile: doorway.ProfileStripeLink, AppID: app.ID,
		VersionID: app.LiveVersionID, Mode: doorway.Live, RedirectURI: "https://app.example/cb", State: state,
		HasState: state != "", BrowserHash: secret.Hash("browser"), UserID: userID, TenantID: tenantID,
		CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
}

func newFixture(t *testing.T, s store.Store) fixture {
	u := newUser(t, s, "owner@example.com")
	tn := newTenant(t, s, "Acme", u.ID)
	a, _ := newApp(t, s, "customer_read", "invoice_write")
	return fixture{u, tn, a, newRequest(a, "st-1", u.ID, tn.ID)}
}

func approve(s store.Store, r *doorway.InstallRequest, at time.Time) (*doorway.Installation, error) {
	return s.Decide(context.Background(), store.Decision{Request: r, Decision: doorway.Approved, Now: at,
		InstallationID: secret.Token("ins_"), EventID: secret.Token("evt_"), GrantID: secret.Token("gr_")})
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "Ada@Example.com")
	got, err := s.UserByEmail(ctx, "ada@example.COM")
	must(t, err)
	if got.ID != u.ID || got.PasswordHash != u.PasswordHash || !got.CreatedAt.Equal(t0) {
		t.Fatalf("UserByEmail = %+v, want %+v", got, u)
	}
	got, err = s.User(ctx, u.ID)
	must(t, err)
	if got.Email != "ada@example.com" {
		t.Fatalf("email = %q, want it stored lower-cased", got.Email)
	}
	err = s.CreateUser(ctx, &doorway.User{ID: secret.Token("usr_"), Email: "ADA@example.com", PasswordHash: "x", CreatedAt: t0})
	wantErr(t, err, store.ErrConflict)
	_, err = s.UserByEmail(ctx, "nobody@example.com")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.User(ctx, "usr_missing")
	wantErr(t, err, store.ErrNotFound)
}

func testTenants(t *testing.T, s store.Store) {
	ctx := context.Background()
	owner := newUser(t, s, "owner@example.com")
	other := newUser(t, s, "other@example.com")
	b := newTenant(t, s, "Beta", owner.ID)
	a := newTenant(t, s, "Alpha", owner.ID)
	must(t, s.AddMember(ctx, b.ID, other.ID, doorway.Member, t0))

	ms, err := s.Memberships(ctx, owner.ID)
	must(t, err)
	if len(ms) != 2 || ms[0].Tenant.ID != a.ID || ms[1].Tenant.ID != b.ID || ms[0].Role != doorway.Owner {
		t.Fatalf("owner memberships = %+v, want Alpha then Beta as owner", ms)
	}
	ms, err = s.Memberships(ctx, other.ID)
	must(t, err)
	if len(ms) != 1 || ms[0].Tenant.ID != b.ID || ms[0].Role != doorway.Member {
		t.Fatalf("other memberships = %+v, want Beta as member", ms)
	}
	got, err := s.Tenant(ctx, a.ID)
	must(t, err)
	if got.Name != "Alpha" {
		t.Fatalf("tenant name = %q", got.Name)
	}
	_, err = s.Tenant(ctx, "tnt_missing")
	wantErr(t, err, store.ErrNotFound)
	err = s.CreateTenant(ctx, &doorway.Tenant{ID: secret.Token("tnt_"), Name: "X", CreatedAt: t0}, "usr_missing")
	wantErr(t, err, store.ErrNotFound)
	if ms, _ := s.Memberships(ctx, "usr_missing"); len(ms) != 0 {
		t.Fatalf("a failed CreateTenant left memberships behind: %+v", ms)
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "a@example.com")
	sess := &doorway.Session{Hash: secret.Hash("tok"), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateSession(ctx, sess))
	got, user, ms, err := s.Session(ctx, sess.Hash, t0.Add(59*time.Minute))
	must(t, err)
	if ms == nil || len(ms) != 0 {
		t.Fatalf("memberships of a user with none = %#v, want an empty list", ms)
	}
	if got.UserID != u.ID || !got.ExpiresAt.Equal(sess.ExpiresAt) || !got.CreatedAt.Equal(t0) {
		t.Fatalf("session = %+v, want %+v", got, sess)
	}
	if user.ID != u.ID || user.Email != u.Email || user.PasswordHash != u.PasswordHash || !user.CreatedAt.Equal(u.CreatedAt) {
		t.Fatalf("session's user = %+v, want %+v", user, u)
	}
	_, _, _, err = s.Session(ctx, sess.Hash, t0.Add(time.Hour))
	wantErr(t, err, store.ErrNotFound)

	// With memberships: each once, ordered as Memberships orders them.
	zed, acme := newTenant(t, s, "Zed", u.ID), newTenant(t, s, "Acme", u.ID)
	_, _, ms, err = s.Session(ctx, sess.Hash, t0)
	must(t, err)
	want, err := s.Memberships(ctx, u.ID)
	must(t, err)
	if !reflect.DeepEqual(ms, want) || len(ms) != 2 || ms[0].Tenant.ID != acme.ID || ms[1].Tenant.ID != zed.ID {
		t.Fatalf("session memberships = %+v, want %+v (Acme, then Zed)", ms, want)
	}
	must(t, s.DeleteSession(ctx, sess.Hash))
	_, _, _, err = s.Session(ctx, sess.Hash, t0)
	wantErr(t, err, store.ErrNotFound)
}

func testApps(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, v1 := newApp(t, s, "customer_read")
	got, err := s.App(ctx, a.ID)
	must(t, err)
	if got.LiveVersionID != v1.ID || got.TestVersionID != v1.ID {
		t.Fatalf("app = %+v, want version %s live and test", got, v1.ID)
	}
	gv, err := s.AppVersion(ctx, v1.ID)
	must(t, err)
	if gv.Name != "Example" || len(gv.Permissions) != 1 || gv.Permissions[0].Permission != "customer_read" ||
		gv.AllowedRedirectURIs[0] != "https://app.example/cb" {
		t.Fatalf("version manifest did not round-trip: %+v", gv.Manifest)
	}

	v2 := &doorway.AppVersion{ID: secret.Token("ver_"), AppID: a.ID, CreatedAt: t0.Add(time.Second), Manifest: manifest("1.1.0")}
	must(t, s.AddAppVersion(ctx, v2, doorway.Test))
	got, _ = s.App(ctx, a.ID)
	if got.LiveVersionID != v1.ID || got.TestVersionID != v2.ID {
		t.Fatalf("after adding a test version: live=%s test=%s, want %s and %s", got.LiveVersionID, got.TestVersionID, v1.ID, v2.ID)
	}
	dup := &doorway.AppVersion{ID: secret.Token("ver_"), AppID: a.ID, CreatedAt: t0, Manifest: manifest("1.1.0")}
	wantErr(t, s.AddAppVersion(ctx, dup, doorway.Live), store.ErrConflict)
	got, _ = s.App(ctx, a.ID)
	if got.LiveVersionID != v1.ID {
		t.Fatalf("a refused version became live")
	}
	orphan := &doorway.AppVersion{ID: secret.Token("ver_"), AppID: "app_missing", CreatedAt: t0, Manifest: manifest("1")}
	wantErr(t, s.AddAppVersion(ctx, orphan), store.ErrNotFound)

	vs, err := s.AppVersions(ctx, a.ID)
	must(t, err)
	if len(vs) != 2 || vs[0].ID != v1.ID || vs[1].ID != v2.ID {
		t.Fatalf("versions = %d, want v1 then v2", len(vs))
	}
	_, err = s.App(ctx, "app_missing")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.AppVersion(ctx, "ver_missing")
	wantErr(t, err, store.ErrNotFound)
}

func testSecretRotation(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, _ := newApp(t, s)
	later := t0.Add(time.Hour)
	fresh := []doorway.AppSecret{
		{ID: secret.Token("sec_"), AppID: a.ID, Kind: doorway.ClientSecret, Hash: secret.Hash("c2"), CreatedAt: later},
		{ID: secret.Token("sec_"), AppID: a.ID, Kind: doorway.SigningSecret, Sealed: "sealed-2", CreatedAt: later},
	}
	expire := later.Add(24 * time.Hour)
	must(t, s.RotateAppSecrets(ctx, a.ID, fresh, expire))
	secrets, err := s.AppSecrets(ctx, a.ID)
	must(t, err)
	if len(secrets) != 4 {
		t.Fatalf("secrets = %d, want 4", len(secrets))
	}
	for _, sec := range secrets {
		old := sec.CreatedAt.Equal(t0)
		if old && !sec.ExpiresAt.Equal(expire) {
			t.Errorf("old %s secret expires at %v, want %v", sec.Kind, sec.ExpiresAt, expire)
		}
		if !old && !sec.ExpiresAt.IsZero() {
			t.Errorf("new %s secret expires at %v, want never", sec.Kind, sec.ExpiresAt)
		}
	}
	if !secrets[0].CreatedAt.Equal(later) {
		t.Errorf("AppSecrets is not newest first")
	}
	// Rotating again must not extend the first secrets' expiry.
	again := []doorway.AppSecret{{ID: secret.Token("sec_"), AppID: a.ID, Kind: doorway.ClientSecret, Hash: secret.Hash("c3"), CreatedAt: later}}
	must(t, s.RotateAppSecrets(ctx, a.ID, again, expire.Add(time.Hour)))
	secrets, _ = s.AppSecrets(ctx, a.ID)
	for _, sec := range secrets {
		if sec.Hash == secret.Hash("c1") && !sec.ExpiresAt.Equal(expire) {
			t.Errorf("second rotation moved the first secret's expiry to %v", sec.ExpiresAt)
		}
	}
}

func testLinks(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, _ := newApp(t, s)
	l := &doorway.InstallLink{ID: secret.Token("lnk_"), AppID: a.ID, Mode: doorway.Test, CreatedAt: t0}
	must(t, s.CreateLink(ctx, l))
	got, err := s.Link(ctx, l.ID)
	must(t, err)
	if got.AppID != a.ID || got.Mode != doorway.Test {
		t.Fatalf("link = %+v", got)
	}
	_, err = s.Link(ctx, "lnk_missing")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.CreateLink(ctx, &doorway.InstallLink{ID: secret.Token("lnk_"), AppID: "app_missing", Mode: doorway.Live, CreatedAt: t0}), store.ErrNotFound)
}

func testApprove(t *testing.T, s store.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	_, err := s.InstallRequest(ctx, f.req.ID)
	wantErr(t, err, store.ErrNotFound) // undecided requests live in the browser's URL
	f.req.Scope, f.req.CodeChallenge = []string{"customer_read"}, "challenge"
	at := t0.Add(2 * time.Minute)
	inst, err := approve(s, f.req, at)
	must(t, err)
	if inst.AppID != f.app.ID || inst.TenantID != f.tenant.ID || inst.Mode != doorway.Live ||
		inst.Status != doorway.SetupIncomplete || inst.InstalledBy != f.user.ID ||
		fmt.Sprint(inst.Permissions) != "[customer_read invoice_write]" || !inst.CreatedAt.Equal(at) {
		t.Fatalf("installation = %+v", inst)
	}
	got, err := s.Installation(ctx, inst.ID)
	must(t, err)
	if got.ID != inst.ID || fmt.Sprint(got.Permissions) != fmt.Sprint(inst.Permissions) {
		t.Fatalf("Installation = %+v, want %+v", got, inst)
	}
	got, err = s.InstallationFor(ctx, f.app.ID, f.tenant.ID, doorway.Live)
	must(t, err)
	if got.ID != inst.ID {
		t.Fatalf("InstallationFor = %s, want %s", got.ID, inst.ID)
	}
	_, err = s.InstallationFor(ctx, f.app.ID, f.tenant.ID, doorway.Test)
	wantErr(t, err, store.ErrNotFound)
	r, err := s.InstallRequest(ctx, f.req.ID)
	must(t, err)
	want := *f.req
	want.Decision, want.DecidedAt = doorway.Approved, at
	if fmt.Sprintf("%+v", *r) != fmt.Sprintf("%+v", want) {
		t.Fatalf("request after approval =\n%+v\nwant\n%+v", *r, want)
	}
	events, err := s.Events(ctx, inst.ID)
	must(t, err)
	if len(events) != 1 {
		t.Fatalf("events = %d, want 1 app.installed", len(events))
	}
	e := events[0]
	if e.Type != doorway.EventInstalled || e.Sequence != 1 || e.State != "st-1" || e.UserID != f.user.ID ||
		e.TenantID != f.tenant.ID || e.AppID != f.app.ID || e.Mode != doorway.Live || len(e.Permissions) != 2 {
		t.Fatalf("event = %+v", e)
	}
}

// testDecideNamesTheTenant: an approval installs into the tenant its
// request names, for the user it names, and records both.
func testDecideNamesTheTenant(t *testing.T, s store.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	other := newTenant(t, s, "Blue Harbor", f.user.ID)
	r := newRequest(f.app, "st-2", f.user.ID, other.ID)
	inst, err := approve(s, r, t0.Add(time.Minute))
	must(t, err)
	if inst.TenantID != other.ID || inst.InstalledBy != f.user.ID {
		t.Fatalf("approval naming %s installed into %s by %s", other.ID, inst.TenantID, inst.InstalledBy)
	}
	got, err := s.InstallRequest(ctx, r.ID)
	must(t, err)
	if got.TenantID != other.ID || got.UserID != f.user.ID {
		t.Fatalf("request after the approval records tenant %q and user %q, want %s and %s", got.TenantID, got.UserID, other.ID, f.user.ID)
	}
	events, err := s.Events(ctx, inst.ID)
	must(t, err)
	if last := events[len(events)-1]; last.TenantID != other.ID || last.UserID != f.user.ID {
		t.Fatalf("event = %+v, want tenant %s and user %s", last, other.ID, f.user.ID)
	}
	if _, err := s.InstallationFor(ctx, f.app.ID, f.tenant.ID, doorway.Live); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the user's other tenant got an installation too: %v", err)
	}
	noTenant := newRequest(f.app, "", f.user.ID, "")
	_, err = approve(s, noTenant, t0.Add(time.Minute))
	wantErr(t, err, store.ErrConflict)
}

func testDecideOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	_, err := approve(s, f.req, t0.Add(time.Minute))
	must(t, err)
	_, err = approve(s, f.req, t0.Add(time.Minute))
	wantErr(t, err, store.ErrConflict)
	_, err = s.Decide(ctx, store.Decision{Request: f.req, Decision: doorway.Denied, Now: t0.Add(time.Minute)})
	wantErr(t, err, store.ErrConflict)
	// The same request for another tenant is the same request.
	other := *f.req
	other.TenantID = newTenant(t, s, "Blue Harbor", f.user.ID).ID
	_, err = approve(s, &other, t0.Add(time.Minute))
	wantErr(t, err, store.ErrConflict)
	if _, err := s.InstallationFor(ctx, f.app.ID, other.TenantID, doorway.Live); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a second decision of one request installed into another tenant: %v", err)
	}
}

func testDecideExpired(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	_, err := approve(s, f.req, f.req.ExpiresAt)
	wantErr(t, err, store.ErrConflict)
	_, err = s.Decide(context.Background(), store.Decision{Request: f.req, Decision: doorway.Denied, Now: f.req.ExpiresAt})
	wantErr(t, err, store.ErrConflict)
	_, err = approve(s, f.req, f.req.ExpiresAt.Add(-time.Millisecond))
	must(t, err)
}

// testDecideChecksTheSession: a decision made with the browser's session
// (Decision.Session) is refused, writing nothing, when the session has
// ended or its user is not a member of the tenant; otherwise it is the
// session's user's.
func testDecideChecksTheSession(t *testing.T, s store.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sess := &doorway.Session{Hash: secret.Hash("ada's browser"), UserID: f.user.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateSession(ctx, sess))
	short := &doorway.Session{Hash: secret.Hash("ada's other browser"), UserID: f.user.ID, CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
	must(t, s.CreateSession(ctx, short))
	eve := newUser(t, s, "eve@example.com")
	evesShop := newTenant(t, s, "Eve's Shop", eve.ID)
	decide := func(r *doorway.InstallRequest, d doorway.Decision, session string, at time.Time) (*doorway.Installation, error) {
		return s.Decide(ctx, store.Decision{Request: r, Decision: d, Now: at, Session: session,
			InstallationID: secret.Token("ins_"), EventID: secret.Token("evt_"), GrantID: secret.Token("gr_")})
	}
	// The request names no user: the session says who decides.
	r := newRequest(f.app, "st-1", "", f.tenant.ID)
	refused := []struct {
		name    string
		tenant  string
		session string
		at      time.Time
	}{
		{"a session that never was", f.tenant.ID, secret.Hash("forged"), t0.Add(time.Minute)},
		{"an expired session", f.tenant.ID, short.Hash, short.ExpiresAt},
		{"a tenant the user is not a member of", evesShop.ID, sess.Hash, t0.Add(time.Minute)},
		{"a tenant that does not exist", "tnt_nope", sess.Hash, t0.Add(time.Minute)},
	}
	for _, c := range refused {
		other := *r
		other.TenantID = c.tenant
		if _, err := decide(&other, doorway.Approved, c.session, c.at); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("approval with %s: error = %v, want ErrNotFound", c.name, err)
		}
	}
	if _, err := decide(r, doorway.Denied, secret.Hash("forged"), t0.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("denial with a session that never was: error = %v, want ErrNotFound", err)
	}
	if _, err := s.InstallationFor(ctx, f.app.ID, f.tenant.ID, doorway.Live); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused decision installed: %v", err)
	}
	if _, err := s.InstallRequest(ctx, r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused decision was recorded: %v", err)
	}

	// Refusals wrote nothing, so the request is still the user's to decide.
	inst, err := decide(r, doorway.Approved, sess.Hash, t0.Add(time.Minute))
	must(t, err)
	if r.UserID != f.user.ID || inst.InstalledBy != f.user.ID || inst.TenantID != f.tenant.ID {
		t.Fatalf("approved by %q, installed by %q into %q; want the session's user %q into %q",
			r.UserID, inst.InstalledBy, inst.TenantID, f.user.ID, f.tenant.ID)
	}
	// What the approval returns is what was written.
	stored, err := s.Installation(ctx, inst.ID)
	must(t, err)
	if !reflect.DeepEqual(inst, stored) {
		t.Fatalf("the approval returned %+v, but wrote %+v", inst, stored)
	}
	done, err := s.InstallRequest(ctx, r.ID)
	must(t, err)
	if done.UserID != f.user.ID || done.Decision != doorway.Approved {
		t.Fatalf("decided request = %+v, want approved by %s", done, f.user.ID)
	}
	events, err := s.Events(ctx, inst.ID)
	must(t, err)
	if len(events) != 1 || events[0].UserID != f.user.ID {
		t.Fatalf("events = %+v, want one by %s", events, f.user.ID)
	}

	// A denial needs a live session, not a membership.
	denied := newRequest(f.app, "st-2", "", evesShop.ID)
	if _, err := decide(denied, doorway.Denied, sess.Hash, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if denied.UserID != f.user.ID {
		t.Fatalf("denied by %q, want the session's user %q", denied.UserID, f.user.ID)
	}
}

func testDeny(t *testing.T, s store.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	inst, err := s.Decide(ctx, store.Decision{Request: f.req, Decision: doorway.Denied, Now: t0.Add(time.Minute)})
	must(t, err)
	if inst != nil {
		t.Fatalf("denial returned installation %+v", inst)
	}
	r, _ := s.InstallRequest(ctx, f.req.ID)
	if r.Decision != doorway.Denied {
		t.Fatalf("decision = %q", r.Decision)
	}
	_, err = approve(s, f.req, t0.Add(time.Minute))
	wantErr(t, err, store.ErrConflict)
}

func testReinstall(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	first, err := approve(s, f.req, t0.Add(time.Minute))
	must(t, err)
	second, err := approve(s, newRequest(f.app, "", f.user.ID, f.tenant.ID), t0.Add(3*time.Minute))
	must(t, err)
	if second.ID != first.ID || !second.CreatedAt.Equal(first.CreatedAt) || !second.UpdatedAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("reinstall gave %+v, want the same installation %s updated", second, first.ID)
	}
	events, _ := s.Events(context.Background(), first.ID)
	if len(events) != 2 || events[0].Sequence != 1 || events[1].Sequence != 2 || events[1].State != "" {
		t.Fatalf("events after reinstall = %+v, want sequences 1 and 2", events)
	}
}

func testConcurrentApprove(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, conflicts := 0, 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := approve(s, f.req, t0.Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				t.Errorf("approve: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d approvals succeeded and %d conflicted, want 1 and %d", ok, conflicts, n-1)
	}
}
