package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// installed is a fixture approved with an authorization code.
type installed struct {
	fixture
	inst *doorway.Installation
	code string // the code's value; its hash is stored
}

func newInstalled(t *testing.T, s store.Store) installed {
	f := newFixture(t, s)
	code := secret.Token("dwac_")
	inst, err := s.Decide(context.Background(), store.Decision{Request: f.req, Decision: doorway.Approved,
		Now: t0.Add(time.Minute), InstallationID: secret.Token("ins_"), EventID: secret.Token("evt_"), GrantID: secret.Token("gr_"),
		Code: &doorway.AuthCode{Hash: secret.Hash(code), Profile: doorway.ProfileOAuth2, AppID: f.app.ID,
			RedirectURI: "https://app.example/cb", Challenge: "ch", Scope: []string{"customer_read"},
			CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(11 * time.Minute)}})
	must(t, err)
	return installed{f, inst, code}
}

func codeGrant(i installed, rotate bool) *doorway.Grant {
	return &doorway.Grant{ID: secret.Token("gr_"), Kind: doorway.GrantCode, AppID: i.app.ID, InstallationID: i.inst.ID,
		Scope: []string{"customer_read"}, Rotate: rotate, CreatedAt: t0.Add(2 * time.Minute)}
}

func refresh(at time.Time) (string, *doorway.RefreshToken) {
	v := secret.Token("dwrt_")
	return v, &doorway.RefreshToken{Hash: secret.Hash(v), CreatedAt: at}
}

func grantRevoked(t *testing.T, s store.Store, id string) bool {
	t.Helper()
	g, err := s.Grant(context.Background(), id)
	must(t, err)
	return !g.RevokedAt.IsZero()
}

func testRequestOAuthFields(t *testing.T, s store.Store) {
	u := newUser(t, s, "a@example.com")
	tn := newTenant(t, s, "A", u.ID)
	a, _ := newApp(t, s, "customer_read")
	r := &doorway.InstallRequest{ID: secret.ID("req_"), Profile: doorway.ProfileOAuth2, AppID: a.ID,
		VersionID: a.LiveVersionID, Mode: doorway.Live, RedirectURI: "https://app.example/cb", BrowserHash: "b",
		CodeChallenge: "challenge", Scope: []string{}, UserID: u.ID, TenantID: tn.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	_, err := s.Decide(context.Background(), store.Decision{Request: r, Decision: doorway.Denied, Now: t0})
	must(t, err)
	got, err := s.InstallRequest(context.Background(), r.ID)
	must(t, err)
	if got.CodeChallenge != "challenge" || got.Scope == nil || len(got.Scope) != 0 {
		t.Fatalf("challenge %q scope %#v; want challenge and an empty, non-nil scope", got.CodeChallenge, got.Scope)
	}
	r2 := newRequest(a, "", u.ID, tn.ID)
	_, err = s.Decide(context.Background(), store.Decision{Request: r2, Decision: doorway.Denied, Now: t0})
	must(t, err)
	got, err = s.InstallRequest(context.Background(), r2.ID)
	must(t, err)
	if got.Scope != nil {
		t.Fatalf("scope of a request without one = %#v, want nil", got.Scope)
	}
}

func testApproveWithCode(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	c, inst, err := s.AuthCode(ctx, secret.Hash(i.code))
	must(t, err)
	if c.InstallationID != i.inst.ID || c.Challenge != "ch" || !slices.Equal(c.Scope, []string{"customer_read"}) ||
		!c.ExpiresAt.Equal(t0.Add(11*time.Minute)) || !c.UsedAt.IsZero() {
		t.Fatalf("stored code = %+v", c)
	}
	if !reflect.DeepEqual(inst, i.inst) {
		t.Fatalf("the code's installation = %+v, want %+v", inst, i.inst)
	}
	if _, _, err := s.AuthCode(ctx, i.code); err == nil {
		t.Fatal("a code is found by its plain value; only its hash may be stored")
	}
	g, err := s.Grant(ctx, i.inst.GrantID)
	must(t, err)
	if g.Kind != doorway.GrantInstall || g.InstallationID != i.inst.ID || !g.RevokedAt.IsZero() ||
		!slices.Equal(g.Scope, []string{"customer_read", "invoice_write"}) {
		t.Fatalf("install grant = %+v", g)
	}
}

func testCodeReplay(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	g := codeGrant(i, true)
	_, rt := refresh(t0)
	must(t, redeem(ctx, s, secret.Hash(i.code), t0.Add(2*time.Minute), g, rt))
	if rt.GrantID != g.ID {
		t.Fatalf("refresh token grant = %q, want %q", rt.GrantID, g.ID)
	}
	err := redeem(ctx, s, secret.Hash(i.code), t0.Add(3*time.Minute), codeGrant(i, true), nil)
	wantErr(t, err, store.ErrConflict)
	if !grantRevoked(t, s, g.ID) {
		t.Fatal("a replayed code left the grant of its first redemption valid")
	}
	wantErr(t, redeem(ctx, s, secret.Hash("nope"), t0, codeGrant(i, true), nil), store.ErrNotFound)
}

// testCodeMismatch: a code presented for another client, endpoint or
// request is refused with ErrMismatch and returned with its installation,
// so the caller can say why, and it is left as it was: the right request
// then redeems it, and the grant gets the code's app, installation and
// scope. A mismatched replay afterwards revokes nothing.
func testCodeMismatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	hash := secret.Hash(i.code)
	right := store.Redemption{Hash: hash, Now: t0.Add(2 * time.Minute), AppID: i.app.ID, Profile: doorway.ProfileOAuth2,
		RedirectURI: "https://app.example/cb", Challenge: "ch"}
	wrong := []struct {
		name   string
		change func(*store.Redemption)
	}{
		{"another app", func(x *store.Redemption) { x.AppID = "app_other" }},
		{"another endpoint", func(x *store.Redemption) { x.Profile = doorway.ProfileWixOAuth }},
		{"another redirect_uri", func(x *store.Redemption) { x.RedirectURI = "https://app.example/cb/" }},
		{"no redirect_uri", func(x *store.Redemption) { x.RedirectURI = "" }},
		{"another challenge", func(x *store.Redemption) { x.Challenge = "cH" }},
		{"no challenge", func(x *store.Redemption) { x.Challenge = "" }},
	}
	mismatch := func(name string, change func(*store.Redemption)) {
		t.Helper()
		x := right
		change(&x)
		x.Grant = codeGrant(i, true)
		c, inst, err := s.RedeemCode(ctx, x)
		if !errors.Is(err, store.ErrMismatch) || c == nil || c.Hash != hash || inst == nil || inst.ID != i.inst.ID {
			t.Fatalf("%s: RedeemCode = %+v, %+v, %v; want ErrMismatch with the code and its installation", name, c, inst, err)
		}
		if _, err := s.Grant(ctx, x.Grant.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: a refused redemption started its grant (err %v)", name, err)
		}
	}
	for _, w := range wrong {
		mismatch(w.name, w.change)
	}
	if c, _, err := s.AuthCode(ctx, hash); err != nil || !c.UsedAt.IsZero() {
		t.Fatalf("after refused redemptions the code is %+v (err %v), want it unused", c, err)
	}

	x := right
	x.Grant = &doorway.Grant{ID: secret.Token("gr_"), Kind: doorway.GrantCode, Rotate: true, CreatedAt: x.Now}
	_, rt := refresh(x.Now)
	x.Refresh = rt
	c, inst, err := s.RedeemCode(ctx, x)
	must(t, err)
	if inst.ID != i.inst.ID || c.InstallationID != i.inst.ID || rt.GrantID != x.Grant.ID {
		t.Fatalf("redemption returned code %+v, installation %s, refresh token's grant %q", c, inst.ID, rt.GrantID)
	}
	g, err := s.Grant(ctx, x.Grant.ID)
	must(t, err)
	if g.AppID != i.app.ID || g.InstallationID != i.inst.ID || !slices.Equal(g.Scope, []string{"customer_read"}) || !g.Rotate {
		t.Fatalf("the redemption's grant = %+v, want the code's app, installation and scope", g)
	}
	mismatch("a replay by another app", func(x *store.Redemption) { x.AppID = "app_other" })
	if grantRevoked(t, s, g.ID) {
		t.Fatal("a mismatched replay revoked the grant")
	}
}

func testCodeExpired(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	wantErr(t, redeem(ctx, s, secret.Hash(i.code), t0.Add(11*time.Minute), codeGrant(i, true), nil), store.ErrConflict)

	j := newInstalledAgain(t, s, i)
	_, err := s.Uninstall(ctx, j.inst.ID, "", secret.Token("evt_"), t0.Add(2*time.Minute))
	must(t, err)
	wantErr(t, redeem(ctx, s, secret.Hash(j.code), t0.Add(3*time.Minute), codeGrant(j, true), nil), store.ErrConflict)
}

// newInstalledAgain approves a second install request of the same app and
// tenant, issuing a new code.
func newInstalledAgain(t *testing.T, s store.Store, i installed) installed {
	r := newRequest(i.app, "", i.user.ID, i.tenant.ID)
	code := secret.Token("dwac_")
	inst, err := s.Decide(context.Background(), store.Decision{Request: r, Decision: doorway.Approved,
		Now: t0.Add(time.Minute), InstallationID: secret.Token("ins_"), EventID: secret.Token("evt_"), GrantID: secret.Token("gr_"),
		Code: &doorway.AuthCode{Hash: secret.Hash(code), Profile: doorway.ProfileWixOAuth, AppID: i.app.ID,
			Scope: []string{}, CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(11 * time.Minute)}})
	must(t, err)
	return installed{fixture{i.user, i.tenant, i.app, r}, inst, code}
}

func testConcurrentRedeem(t *testing.T, s store.Store) {
	i := newInstalled(t, s)
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, conflicts := 0, 0
	for range n {
		wg.Go(func() {
			_, rt := refresh(t0)
			err := redeem(context.Background(), s, secret.Hash(i.code), t0.Add(2*time.Minute), codeGrant(i, true), rt)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case isConflict(err):
				conflicts++
			default:
				t.Errorf("redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d parallel redemptions: %d succeeded, %d conflicts; want 1 and %d", n, ok, conflicts, n-1)
	}
}

// redeem redeems the code of hash as the client it was issued to would,
// with what the store says it was issued for.
func redeem(ctx context.Context, s store.Store, hash string, now time.Time, g *doorway.Grant, rt *doorway.RefreshToken) error {
	x := store.Redemption{Hash: hash, Now: now, Grant: g, Refresh: rt}
	if c, _, err := s.AuthCode(ctx, hash); err == nil {
		x.AppID, x.Profile, x.RedirectURI, x.Challenge = c.AppID, c.Profile, c.RedirectURI, c.Challenge
	}
	_, _, err := s.RedeemCode(ctx, x)
	return err
}

func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }

func testRefreshRotation(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	g := codeGrant(i, true)
	first, rt := refresh(t0)
	must(t, redeem(ctx, s, secret.Hash(i.code), t0.Add(2*time.Minute), g, rt))
	at := t0.Add(time.Hour)
	second, rt2 := refresh(at)
	got, inst, err := s.Refresh(ctx, store.RefreshExchange{Hash: secret.Hash(first), AppID: i.app.ID, Now: at, Grace: 10 * time.Second, New: rt2})
	must(t, err)
	if got.ID != g.ID || rt2.GrantID != g.ID {
		t.Fatalf("refresh returned grant %q (new token's grant %q), want %q", got.ID, rt2.GrantID, g.ID)
	}
	if inst == nil || inst.ID != i.inst.ID || inst.TenantID != i.tenant.ID {
		t.Fatalf("refresh returned installation %+v, want %s in tenant %s", inst, i.inst.ID, i.tenant.ID)
	}
	old, err := s.RefreshToken(ctx, secret.Hash(first))
	must(t, err)
	if !old.RotatedAt.Equal(at) {
		t.Fatalf("rotated_at = %v, want %v", old.RotatedAt, at)
	}
	// Within the grace window the old token still works.
	_, rt3 := refresh(at)
	_, _, err = s.Refresh(ctx, store.RefreshExchange{Hash: secret.Hash(first), Now: at.Add(10 * time.Second), Grace: 10 * time.Second, New: rt3})
	must(t, err)
	// After it, reuse revokes the grant, and the newer token dies with it.
	_, rt4 := refresh(at)
	_, _, err = s.Refresh(ctx, store.RefreshExchange{Hash: secret.Hash(first), Now: at.Add(11 * time.Second), Grace: 10 * time.Second, New: rt4})
	wantErr(t, err, store.ErrConflict)
	if !grantRevoked(t, s, g.ID) {
		t.Fatal("refresh-token reuse left the grant valid")
	}
	_, rt5 := refresh(at)
	_, _, err = s.Refresh(ctx, store.RefreshExchange{Hash: secret.Hash(second), Now: at.Add(12 * time.Second), Grace: 10 * time.Second, New: rt5})
	wantErr(t, err, store.ErrConflict)
	_, _, err = s.Refresh(ctx, store.RefreshExchange{Hash: secret.Hash("unknown"), Now: at, New: rt5})
	wantErr(t, err, store.ErrNotFound)
}

// testRefreshOfAnotherApp: a refresh token presented by another app is
// unknown to it, and the attempt uses nothing up.
func testRefreshOfAnotherApp(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	first, rt := refresh(t0)
	must(t, redeem(ctx, s, secret.Hash(i.code), t0.Add(2*time.Minute), codeGrant(i, true), rt))
	other, _ := newApp(t, s, "customer_read")
	_, next := refresh(t0)
	_, _, err := s.Refresh(ctx, store.RefreshExchange{Hash: secret.Hash(first), AppID: other.ID, Now: t0.Add(time.Hour), Grace: time.Second, New: next})
	wantErr(t, err, store.ErrNotFound)
	tok, err := s.RefreshToken(ctx, secret.Hash(first))
	must(t, err)
	if !tok.RotatedAt.IsZero() {
		t.Fatal("another app's refresh attempt rotated the token")
	}
	if _, err := s.RefreshToken(ctx, next.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another app's refresh attempt stored its new token (err %v)", err)
	}
	_, inst, err := s.Refresh(ctx, store.RefreshExchange{Hash: secret.Hash(first), AppID: i.app.ID, Now: t0.Add(time.Hour), Grace: time.Second, New: next})
	must(t, err)
	if inst.ID != i.inst.ID {
		t.Fatalf("refresh by its own app returned installation %s, want %s", inst.ID, i.inst.ID)
	}
}

func testRefreshNoRotation(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	g := codeGrant(i, false)
	first, rt := refresh(t0)
	must(t, redeem(ctx, s, secret.Hash(i.code), t0.Add(2*time.Minute), g, rt))
	for k := range 3 {
		_, _, err := s.Refresh(ctx, store.RefreshExchange{Hash: secret.Hash(first), Now: t0.Add(time.Duration(k+1) * time.Hour), Grace: time.Second})
		must(t, err)
	}
	tok, err := s.RefreshToken(ctx, secret.Hash(first))
	must(t, err)
	if !tok.RotatedAt.IsZero() {
		t.Fatal("a non-rotating refresh token was marked rotated")
	}
}

func testConcurrentRefresh(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	first, rt := refresh(t0)
	must(t, redeem(ctx, s, secret.Hash(i.code), t0.Add(2*time.Minute), codeGrant(i, true), rt))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, next := refresh(t0)
			_, _, err := s.Refresh(ctx, store.RefreshExchange{Hash: secret.Hash(first), Now: t0.Add(time.Hour), Grace: 10 * time.Second, New: next})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
}

// testNoGrantForAnUninstalledInstallation: after an uninstall, neither a
// code issued before it nor a renewal makes a grant that stands, so a
// standing grant always belongs to an installed app (introspection reads
// the grant alone).
func testNoGrantForAnUninstalledInstallation(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	_, err := s.Uninstall(ctx, i.inst.ID, "", secret.ID("evt_"), t0.Add(time.Hour))
	must(t, err)
	g := codeGrant(i, true)
	_, rt := refresh(t0)
	err = redeem(ctx, s, secret.Hash(i.code), t0.Add(2*time.Minute), g, rt)
	wantErr(t, err, store.ErrConflict)
	if got, err := s.Grant(ctx, g.ID); err == nil && got.RevokedAt.IsZero() {
		t.Fatalf("a code redeemed after the uninstall made grant %s, not revoked", g.ID)
	}
	renewed := &doorway.Grant{ID: secret.ID("gr_"), Kind: doorway.GrantInstall, AppID: i.app.ID, InstallationID: i.inst.ID,
		Scope: []string{"customer_read"}, CreatedAt: t0.Add(2 * time.Hour)}
	err = s.RenewInstallGrant(ctx, i.inst.GrantID, renewed, t0.Add(2*time.Hour))
	wantErr(t, err, store.ErrConflict)
	if _, err := s.Grant(ctx, renewed.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a renewal after the uninstall left grant %s (%v)", renewed.ID, err)
	}
}

func testUninstall(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	g := codeGrant(i, true)
	_, rt := refresh(t0)
	must(t, redeem(ctx, s, secret.Hash(i.code), t0.Add(2*time.Minute), g, rt))
	at := t0.Add(time.Hour)
	inst, err := s.Uninstall(ctx, i.inst.ID, i.user.ID, secret.Token("evt_"), at)
	must(t, err)
	if inst.Status != doorway.Uninstalled || !inst.UpdatedAt.Equal(at) {
		t.Fatalf("after uninstall: %+v", inst)
	}
	if !grantRevoked(t, s, g.ID) || !grantRevoked(t, s, i.inst.GrantID) {
		t.Fatal("uninstall left a grant valid")
	}
	events, err := s.Events(ctx, i.inst.ID)
	must(t, err)
	last := events[len(events)-1]
	if len(events) != 2 || last.Type != doorway.EventUninstalled || last.Sequence != 2 || last.UserID != i.user.ID {
		t.Fatalf("events = %+v; want app.installed then app.uninstalled (sequence 2, by the user)", events)
	}
	_, err = s.Uninstall(ctx, i.inst.ID, "", secret.Token("evt_"), at)
	wantErr(t, err, store.ErrConflict)
	_, err = s.Uninstall(ctx, "ins_nope", "", secret.Token("evt_"), at)
	wantErr(t, err, store.ErrNotFound)

	// Reinstall: same instance id, a fresh valid grant, the old ones stay revoked.
	again := newInstalledAgain(t, s, i)
	if again.inst.ID != i.inst.ID || again.inst.GrantID == i.inst.GrantID || again.inst.Status != doorway.SetupIncomplete {
		t.Fatalf("reinstall: %+v (first grant %s)", again.inst, i.inst.GrantID)
	}
	if grantRevoked(t, s, again.inst.GrantID) || !grantRevoked(t, s, g.ID) {
		t.Fatal("reinstall: want the new grant valid and the old code grant revoked")
	}
	list, err := s.TenantInstallations(ctx, i.tenant.ID)
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("tenant installations after reinstall = %d, want 1", len(list))
	}
}

func testCompleteSetup(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	for range 2 {
		inst, err := s.CompleteSetup(ctx, i.inst.ID, secret.Token("evt_"), t0.Add(time.Hour))
		must(t, err)
		if inst.Status != doorway.Active {
			t.Fatalf("status = %s, want active", inst.Status)
		}
	}
	events, err := s.Events(ctx, i.inst.ID)
	must(t, err)
	if len(events) != 2 || events[1].Type != doorway.EventSetupCompleted || events[1].Sequence != 2 {
		t.Fatalf("events = %+v; want one app.setup_completed after app.installed", events)
	}
	_, err = s.Uninstall(ctx, i.inst.ID, "", secret.Token("evt_"), t0.Add(2*time.Hour))
	must(t, err)
	_, err = s.CompleteSetup(ctx, i.inst.ID, secret.Token("evt_"), t0.Add(3*time.Hour))
	wantErr(t, err, store.ErrConflict)
}

func testListInstallations(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "lister@example.com")
	a, _ := newApp(t, s, "customer_read")
	var ids []string
	for k := range 5 {
		tn := newTenant(t, s, "T"+string(rune('a'+k)), u.ID)
		inst, err := approve(s, newRequest(a, "", u.ID, tn.ID), t0)
		must(t, err)
		ids = append(ids, inst.ID)
	}
	slices.Sort(ids)
	var got []string
	after := ""
	for {
		page, err := s.Installations(ctx, a.ID, after, 2)
		must(t, err)
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			got = append(got, p.ID)
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("paged installations = %v, want %v", got, ids)
	}
}

func testRenewInstallGrant(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	g := &doorway.Grant{ID: secret.Token("gr_"), Kind: doorway.GrantInstall, AppID: i.app.ID, InstallationID: i.inst.ID, CreatedAt: t0}
	must(t, s.RenewInstallGrant(ctx, i.inst.GrantID, g, t0.Add(time.Hour)))
	inst, err := s.Installation(ctx, i.inst.ID)
	must(t, err)
	if inst.GrantID != g.ID || !grantRevoked(t, s, i.inst.GrantID) || grantRevoked(t, s, g.ID) {
		t.Fatalf("after renewal: installation grant %s; want %s valid and %s revoked", inst.GrantID, g.ID, i.inst.GrantID)
	}
	stale := &doorway.Grant{ID: secret.Token("gr_"), Kind: doorway.GrantInstall, AppID: i.app.ID, InstallationID: i.inst.ID, CreatedAt: t0}
	wantErr(t, s.RenewInstallGrant(ctx, i.inst.GrantID, stale, t0.Add(time.Hour)), store.ErrConflict)
}

// testInstallationWithGrant: the joined read returns what the two single
// reads return, follows a renewed install grant, still finds an
// uninstalled installation (its grant revoked), and knows nothing of
// unknown ids.
func testInstallationWithGrant(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	check := func(when string) {
		t.Helper()
		inst, err := s.Installation(ctx, i.inst.ID)
		must(t, err)
		g, err := s.Grant(ctx, inst.GrantID)
		must(t, err)
		gotGrant, gotInst, err := s.GrantInstallation(ctx, g.ID)
		must(t, err)
		if !reflect.DeepEqual(gotInst, inst) || !reflect.DeepEqual(gotGrant, g) {
			t.Fatalf("%s: GrantInstallation = %+v, %+v; want %+v, %+v", when, gotGrant, gotInst, g, inst)
		}
	}
	check("after the install")
	renewed := &doorway.Grant{ID: secret.ID("gr_"), Kind: doorway.GrantInstall, AppID: i.app.ID, InstallationID: i.inst.ID,
		Scope: []string{"customer_read", "invoice_write"}, CreatedAt: t0.Add(time.Hour)}
	must(t, s.RenewInstallGrant(ctx, i.inst.GrantID, renewed, t0.Add(time.Hour)))
	check("after the grant was renewed")
	_, err := s.Uninstall(ctx, i.inst.ID, "", secret.ID("evt_"), t0.Add(2*time.Hour))
	must(t, err)
	check("after the uninstall")
	_, _, err = s.GrantInstallation(ctx, "gr_missing")
	wantErr(t, err, store.ErrNotFound)
}

// testInstallationKnowsItsGrantRevoked: an installation read says when its
// install grant (GrantID) was revoked, however that happened, so an
// instance token needs no second read; another grant's revocation, a
// renewal and a reinstall leave it as it should be.
func testInstallationKnowsItsGrantRevoked(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := newInstalled(t, s)
	revokedAt := func(when string) time.Time {
		t.Helper()
		inst, err := s.Installation(ctx, i.inst.ID)
		must(t, err)
		g, err := s.Grant(ctx, inst.GrantID)
		must(t, err)
		if !inst.GrantRevokedAt.Equal(g.RevokedAt) {
			t.Fatalf("%s: the installation says its grant %s was revoked at %v, the grant says %v", when, g.ID, inst.GrantRevokedAt, g.RevokedAt)
		}
		for _, other := range []func() (*doorway.Installation, error){
			func() (*doorway.Installation, error) {
				return s.InstallationFor(ctx, i.app.ID, i.tenant.ID, i.inst.Mode)
			},
			func() (*doorway.Installation, error) { _, in, err := s.GrantInstallation(ctx, g.ID); return in, err },
		} {
			in, err := other()
			must(t, err)
			if !in.GrantRevokedAt.Equal(inst.GrantRevokedAt) {
				t.Fatalf("%s: another read of the installation says %v, Installation says %v", when, in.GrantRevokedAt, inst.GrantRevokedAt)
			}
		}
		return inst.GrantRevokedAt
	}
	if at := revokedAt("after the install"); !at.IsZero() {
		t.Fatalf("a new installation's grant is revoked at %v", at)
	}
	codeGrant := codeGrant(i, true)
	must(t, s.CreateGrant(ctx, codeGrant))
	must(t, s.RevokeGrant(ctx, codeGrant.ID, t0.Add(time.Hour)))
	if at := revokedAt("after another grant of the installation was revoked"); !at.IsZero() {
		t.Fatalf("revoking grant %s marked the install grant revoked at %v", codeGrant.ID, at)
	}
	t1 := t0.Add(2 * time.Hour)
	must(t, s.RevokeGrant(ctx, i.inst.GrantID, t1))
	if at := revokedAt("after the install grant was revoked"); !at.Equal(t1) {
		t.Fatalf("after RevokeGrant the installation's grant is revoked at %v, want %v", at, t1)
	}
	renewed := &doorway.Grant{ID: secret.ID("gr_"), Kind: doorway.GrantInstall, AppID: i.app.ID, InstallationID: i.inst.ID,
		Scope: []string{"customer_read"}, CreatedAt: t0.Add(3 * time.Hour)}
	must(t, s.RenewInstallGrant(ctx, i.inst.GrantID, renewed, t0.Add(3*time.Hour)))
	if at := revokedAt("after the grant was renewed"); !at.IsZero() {
		t.Fatalf("the renewed grant %s is revoked at %v", renewed.ID, at)
	}
	t4 := t0.Add(4 * time.Hour)
	_, err := s.Uninstall(ctx, i.inst.ID, "", secret.ID("evt_"), t4)
	must(t, err)
	if at := revokedAt("after the uninstall"); !at.Equal(t4) {
		t.Fatalf("after the uninstall the installation's grant is revoked at %v, want %v", at, t4)
	}
	newInstalledAgain(t, s, i)
	if at := revokedAt("after the reinstall"); !at.IsZero() {
		t.Fatalf("after the reinstall the installation's grant is revoked at %v", at)
	}
}

func testAppSecretByHash(t *testing.T, s store.Store) {
	a, _ := newApp(t, s)
	got, err := s.AppSecretByHash(context.Background(), secret.Hash("c1"))
	must(t, err)
	if got.AppID != a.ID || got.Kind != doorway.ClientSecret {
		t.Fatalf("AppSecretByHash = %+v", got)
	}
	_, err = s.AppSecretByHash(context.Background(), "")
	wantErr(t, err, store.ErrNotFound)
}

func testInstallTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, _ := newApp(t, s)
	b, _ := newApp(t, s)
	tok := &doorway.InstallToken{Hash: secret.Hash("tok"), AppID: a.ID, Mode: doorway.Test, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	must(t, s.CreateInstallToken(ctx, tok))
	_, err := s.UseInstallToken(ctx, tok.Hash, b.ID, t0)
	wantErr(t, err, store.ErrNotFound)
	got, err := s.UseInstallToken(ctx, tok.Hash, a.ID, t0.Add(time.Minute))
	must(t, err)
	if got.Mode != doorway.Test {
		t.Fatalf("mode = %s, want test", got.Mode)
	}
	_, err = s.UseInstallToken(ctx, tok.Hash, a.ID, t0.Add(time.Minute))
	wantErr(t, err, store.ErrConflict)
	late := &doorway.InstallToken{Hash: secret.Hash("late"), AppID: a.ID, Mode: doorway.Live, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
	must(t, s.CreateInstallToken(ctx, late))
	_, err = s.UseInstallToken(ctx, late.Hash, a.ID, t0.Add(10*time.Minute))
	wantErr(t, err, store.ErrConflict)
	// A hash is stored once; a token stored used is used.
	wantErr(t, s.CreateInstallToken(ctx, late), store.ErrConflict)
	used := &doorway.InstallToken{Hash: secret.Hash("used"), AppID: a.ID, Mode: doorway.Live, CreatedAt: t0,
		ExpiresAt: t0.Add(10 * time.Minute), UsedAt: t0}
	must(t, s.CreateInstallToken(ctx, used))
	_, err = s.UseInstallToken(ctx, used.Hash, a.ID, t0.Add(time.Minute))
	wantErr(t, err, store.ErrConflict)
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	k1 := &doorway.SigningKey{ID: "key_1", Algorithm: "EdDSA", Public: []byte{1, 2}, Sealed: "s1", CreatedAt: t0}
	must(t, s.RotateSigningKeys(ctx, k1, t0))
	k2 := &doorway.SigningKey{ID: "key_2", Algorithm: "EdDSA", Public: []byte{3}, Sealed: "s2", CreatedAt: t0.Add(time.Hour)}
	must(t, s.RotateSigningKeys(ctx, k2, t0.Add(25*time.Hour)))
	ks, err := s.SigningKeys(ctx)
	must(t, err)
	if len(ks) != 2 || ks[0].ID != "key_2" || !ks[0].ExpiresAt.IsZero() || !ks[1].ExpiresAt.Equal(t0.Add(25*time.Hour)) ||
		!slices.Equal(ks[1].Public, []byte{1, 2}) || ks[1].Sealed != "s1" {
		t.Fatalf("signing keys = %+v", ks)
	}
}
