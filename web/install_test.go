package web_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
	"github.com/doorwayhq/doorway/registry"
)

const appCallback = "https://app.example/cb"

// stripePayload builds the signed payload the way Stripe documents it (keys
// state, user_id, account_id; state null when absent), independently of
// Doorway's code.
func stripePayload(t *testing.T, q url.Values) []byte {
	t.Helper()
	var state any // nil marshals as null
	if q.Has("state") {
		state = q.Get("state")
	}
	b, err := json.Marshal(struct {
		State     any    `json:"state"`
		UserID    string `json:"user_id"`
		AccountID string `json:"account_id"`
	}{state, q.Get("user_id"), q.Get("account_id")})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func redirectQuery(t *testing.T, p *testkit.Page, wantPrefix string) url.Values {
	t.Helper()
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, wantPrefix+"?") {
		t.Fatalf("decision = %d to %q, want 303 to %s?…; body:\n%s", p.Status, p.Location, wantPrefix, p.Body)
	}
	u, err := url.Parse(p.Location)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestInstallLinkApproveWithTenantChoice(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", ada.Email)
	studio := s.Tenant(t, "Blue Harbor Studio", ada.Email)
	app := s.App(t, appCallback)
	link := s.Link(t, app.App.ID, doorway.Live)

	b := s.Browser(t)
	f := b.Start(link + "?redirect_uri=" + url.QueryEscape(appCallback) + "&state=xyz-123")
	if !strings.Contains(f.Current.Body, "Sign in") || !strings.Contains(f.Current.Body, "Invoicing") {
		t.Fatalf("first page is not the sign-in page for Invoicing:\n%s", f.Current.Body)
	}
	page := f.SignIn(ada.Email, testkit.Password)
	if !strings.Contains(page.Body, "Choose an account") || !strings.Contains(page.Body, "Acme Bakery") || !strings.Contains(page.Body, "Blue Harbor Studio") {
		t.Fatalf("after sign-in with two tenants, want the account choice:\n%s", page.Body)
	}
	page = f.Choose(studio.ID)
	for _, want := range []string{"Install Invoicing", "Blue Harbor Studio", "See your customers", "To address invoices.",
		"Create and send invoices", "To send invoices for you.", "app.example"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.example") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("consent CSP = %q, want form-action to allow the app's origin and frame-ancestors 'none'", csp)
	}
	if strings.Contains(page.Body, "Test mode") {
		t.Errorf("a live install shows the test-mode badge")
	}

	q := redirectQuery(t, f.Decide("approve"), appCallback)
	if q.Get("user_id") != ada.ID || q.Get("account_id") != studio.ID || q.Get("state") != "xyz-123" || q.Has("livemode") {
		t.Fatalf("redirect query = %v, want user_id %s, account_id %s, state xyz-123 and no livemode", q, ada.ID, studio.ID)
	}
	if err := webhook.ValidatePayload(stripePayload(t, q), q.Get("install_signature"), app.SigningSecret); err != nil {
		t.Fatalf("stripe-go rejects install_signature: %v", err)
	}
	forged := url.Values{"user_id": {ada.ID}, "account_id": {"tnt_someone_else"}, "state": {"xyz-123"}}
	if err := webhook.ValidatePayload(stripePayload(t, forged), q.Get("install_signature"), app.SigningSecret); err == nil {
		t.Fatalf("the signature also validates for another account_id")
	}

	inst, err := s.Store.InstallationFor(context.Background(), app.App.ID, studio.ID, doorway.Live)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Status != doorway.SetupIncomplete || inst.InstalledBy != ada.ID || len(inst.Permissions) != 2 {
		t.Fatalf("installation = %+v", inst)
	}
	events, _ := s.Store.Events(context.Background(), inst.ID)
	if len(events) != 1 || events[0].Type != doorway.EventInstalled || events[0].State != "xyz-123" {
		t.Fatalf("events = %+v, want one app.installed echoing the state", events)
	}

	// The request is single-use: the same page cannot approve again.
	again := f.Decide("approve")
	if again.Status != http.StatusConflict || again.Location != "" {
		t.Fatalf("second approval = %d (Location %q), want 409 and no redirect", again.Status, again.Location)
	}
}

func TestInstallLinkSingleTenantTestModeNoState(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	acme := s.Tenant(t, "Acme Bakery", ada.Email)
	local := "http://127.0.0.1:9999/callback"
	app := s.App(t, local, appCallback)
	link := s.Link(t, app.App.ID, doorway.Test)

	b := s.Browser(t)
	f := b.Start(link) // no redirect_uri: the first registered one
	page := f.SignIn(ada.Email, testkit.Password)
	if !strings.Contains(page.Body, "Install Invoicing") || !strings.Contains(page.Body, "Test mode") {
		t.Fatalf("with one tenant, sign-in should lead straight to the test-mode consent page:\n%s", page.Body)
	}
	q := redirectQuery(t, f.Decide("approve"), local)
	if q.Get("livemode") != "false" || q.Has("state") || q.Get("account_id") != acme.ID {
		t.Fatalf("redirect query = %v, want livemode=false, no state, account_id %s", q, acme.ID)
	}
	payload := stripePayload(t, q)
	if !strings.HasPrefix(string(payload), `{"state":null,`) {
		t.Fatalf("test built payload %s", payload)
	}
	if err := webhook.ValidatePayload(payload, q.Get("install_signature"), app.SigningSecret); err != nil {
		t.Fatalf("stripe-go rejects install_signature without state: %v", err)
	}
}

func TestInstallLinkCancel(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	acme := s.Tenant(t, "Acme Bakery", ada.Email)
	app := s.App(t, appCallback)
	link := s.Link(t, app.App.ID, doorway.Live)

	for _, tc := range []struct{ query, want string }{
		{"?state=abc%20def", appCallback + "?error=access_denied&error_description=The%20user%20denied%20your%20request&state=abc%20def"},
		{"", appCallback + "?error=access_denied&error_description=The%20user%20denied%20your%20request"},
	} {
		b := s.Browser(t)
		f := b.Start(link + tc.query)
		f.SignIn(ada.Email, testkit.Password)
		p := f.Decide("cancel")
		if p.Status != http.StatusSeeOther || p.Location != tc.want {
			t.Errorf("cancel = %d to %q, want 303 to %q", p.Status, p.Location, tc.want)
		}
	}
	if _, err := s.Store.InstallationFor(context.Background(), app.App.ID, acme.ID, doorway.Live); err == nil {
		t.Fatalf("cancel created an installation")
	}
}

// installer sets up one user with one tenant and a live link of an app,
// and returns what installs the app there, as the user, again and again.
func installer(t *testing.T) (*testkit.Server, *registry.Created, func() url.Values) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", ada.Email)
	app := s.App(t, appCallback)
	link := s.Link(t, app.App.ID, doorway.Live)
	return s, app, func() url.Values {
		f := s.Browser(t).Start(link + "?state=s1")
		f.SignIn(ada.Email, testkit.Password)
		return redirectQuery(t, f.Decide("approve"), appCallback)
	}
}

func TestInstallSignatureDuringSecretRotation(t *testing.T) {
	s, app, install := installer(t)
	rotated, err := s.Registry.RotateSecrets(context.Background(), app.App.ID, time.Hour)
	newSigning := rotated.SigningSecret
	if err != nil {
		t.Fatal(err)
	}
	q := install()
	if n := strings.Count(q.Get("install_signature"), "v1="); n != 2 {
		t.Fatalf("install_signature %q has %d v1 entries during the overlap, want 2", q.Get("install_signature"), n)
	}
	for _, sec := range []string{app.SigningSecret, newSigning} {
		if err := webhook.ValidatePayload(stripePayload(t, q), q.Get("install_signature"), sec); err != nil {
			t.Errorf("stripe-go rejects the signature for one of the valid secrets: %v", err)
		}
	}
	s.Clock.Advance(time.Hour + time.Second)
	q = install()
	if err := webhook.ValidatePayload(stripePayload(t, q), q.Get("install_signature"), app.SigningSecret); err == nil {
		t.Errorf("the old signing secret still verifies after the overlap")
	}
	if err := webhook.ValidatePayload(stripePayload(t, q), q.Get("install_signature"), newSigning); err != nil {
		t.Errorf("the new signing secret does not verify: %v", err)
	}
}

func TestConcurrentApproveMakesOneInstallation(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	acme := s.Tenant(t, "Acme Bakery", ada.Email)
	app := s.App(t, appCallback)
	f := s.Browser(t).Start(s.Link(t, app.App.ID, doorway.Live) + "?state=once")
	f.SignIn(ada.Email, testkit.Password)

	const n = 20
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = f.Decide("approve").Status
		}()
	}
	wg.Wait()
	counts := map[int]int{}
	for _, st := range statuses {
		counts[st]++
	}
	if counts[http.StatusSeeOther] != 1 || counts[http.StatusConflict] != n-1 {
		t.Fatalf("statuses of %d concurrent approvals = %v, want one 303 and %d 409", n, counts, n-1)
	}
	inst, err := s.Store.InstallationFor(context.Background(), app.App.ID, acme.ID, doorway.Live)
	if err != nil {
		t.Fatal(err)
	}
	if events, _ := s.Store.Events(context.Background(), inst.ID); len(events) != 1 {
		t.Fatalf("events = %d, want 1", len(events))
	}
}

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	s := testkit.Start(t)
	b := s.Browser(t)
	for _, path := range []string{"/", "/healthz", "/apps/install/link/lnk_nope", "/install/req_nope", "/no/such/page", "/static/style.css"} {
		p := b.Get(path)
		if !strings.Contains(p.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			p.Header.Get("X-Frame-Options") != "DENY" || p.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: security headers missing: %v", path, p.Header)
		}
	}
	// Every response starts from the same header values (web's
	// securityHeaderValues); a page that sets its own changes only its own.
	home := b.Get("/").Header.Get("Content-Security-Policy")
	closing := b.Get("/installer/close-window")
	if csp := closing.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || closing.Header.Get("Cross-Origin-Opener-Policy") != "unsafe-none" {
		t.Errorf("close-window: CSP %q, COOP %q; want its own, with scripts and without the opener policy", csp, closing.Header.Get("Cross-Origin-Opener-Policy"))
	}
	after := b.Get("/")
	if csp := after.Header.Get("Content-Security-Policy"); csp != home || strings.Contains(csp, "script-src") ||
		after.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" {
		t.Errorf("home after close-window: CSP %q, COOP %q; want CSP %q and same-origin, as before it", csp, after.Header.Get("Cross-Origin-Opener-Policy"), home)
	}
}

// TestApprovalGoesWhereTheConsentPageSaid: a consent page left open while
// the same install is switched to another account in a second tab installs
// into the account that page showed, not the last one chosen.
func TestApprovalGoesWhereTheConsentPageSaid(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	acme := s.Tenant(t, "Acme Bakery", ada.Email)
	studio := s.Tenant(t, "Blue Harbor Studio", ada.Email)
	app := s.App(t, appCallback)
	f := s.Browser(t).Start(s.Link(t, app.App.ID, doorway.Live))
	f.SignIn(ada.Email, testkit.Password)
	shown := f.Choose(acme.ID)
	if !strings.Contains(shown.Body, "into <strong>Acme Bakery</strong>") {
		t.Fatalf("consent page does not show Acme Bakery:\n%s", shown.Body)
	}
	f.Choose(studio.ID) // the second tab
	f.Current = shown   // Install is pressed in the first
	q := redirectQuery(t, f.Decide("approve"), appCallback)
	if q.Get("account_id") != acme.ID {
		t.Fatalf("installed into %s, want %s (the account the consent page showed)", q.Get("account_id"), acme.ID)
	}
	if _, err := s.Store.InstallationFor(context.Background(), app.App.ID, studio.ID, doorway.Live); err == nil {
		t.Fatalf("an installation was made in the account the page did not show")
	}
}

// TestSigningSecretRotatedOnAnotherNode: a node reuses an app's secrets
// for registry.SecretCacheFor, so a rotation made elsewhere (here a second
// registry on the same store) signs install redirects once that has passed.
func TestSigningSecretRotatedOnAnotherNode(t *testing.T) {
	s, app, install := installer(t)
	install() // this node has read the app's secrets
	other := &registry.Registry{Store: s.Registry.Store, Keys: s.Registry.Keys, Catalog: s.Registry.Catalog, Now: s.Registry.Now}
	rotated, err := other.RotateSecrets(context.Background(), app.App.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(registry.SecretCacheFor)
	q := install()
	if err := webhook.ValidatePayload(stripePayload(t, q), q.Get("install_signature"), rotated.SigningSecret); err != nil {
		t.Errorf("%s after a rotation on another node, the new signing secret does not verify: %v", registry.SecretCacheFor, err)
	}
	if err := webhook.ValidatePayload(stripePayload(t, q), q.Get("install_signature"), app.SigningSecret); err == nil {
		t.Errorf("%s after a rotation with no overlap on another node, the old signing secret still verifies", registry.SecretCacheFor)
	}
}

// TestInstallPagesWriteNothingUntilTheDecision: an install request lives in
// the pages' address until it is decided, so visitors who follow a link,
// look at the pages and choose an account leave no row behind; the
// decision is the one write. (Sweep removes what expires: sessions,
// decided requests, codes; it counts them.)
func TestInstallPagesWriteNothingUntilTheDecision(t *testing.T) {
	ctx := context.Background()
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", ada.Email)
	studio := s.Tenant(t, "Blue Harbor Studio", ada.Email)
	app := s.App(t, appCallback)
	link := s.Link(t, app.App.ID, doorway.Live)
	farFuture := s.Clock.Now().Add(365 * 24 * time.Hour)
	if _, err := s.Store.Sweep(ctx, farFuture); err != nil {
		t.Fatal(err)
	}

	for range 20 {
		s.Browser(t).Start(link + "?state=visitor")
	}
	if n, err := s.Store.Sweep(ctx, farFuture); err != nil || n != 0 {
		t.Fatalf("20 visitors left %d rows (err %v), want none", n, err)
	}

	f := s.Browser(t).Start(link + "?state=ada")
	f.SignIn(ada.Email, testkit.Password)
	f.Choose(studio.ID)
	if n, err := s.Store.Sweep(ctx, farFuture); err != nil || n != 1 {
		t.Fatalf("signing in and choosing an account left %d rows (err %v), want 1 (the session)", n, err)
	}
	f.SignIn(ada.Email, testkit.Password) // the sweep ended the session
	q := redirectQuery(t, f.Decide("approve"), appCallback)
	if q.Get("account_id") != studio.ID || q.Get("state") != "ada" {
		t.Fatalf("redirect query = %v, want account_id %s and state ada", q, studio.ID)
	}
	if n, err := s.Store.Sweep(ctx, farFuture); err != nil || n != 2 {
		t.Fatalf("after the approval %d rows expire (err %v), want 2 (the session and the decided request)", n, err)
	}
}

// TestAlteredInstallAddressIsRefused: the request in the address is
// encrypted and authenticated; an address changed by one character, or a
// value sealed for another purpose, opens nothing.
func TestAlteredInstallAddressIsRefused(t *testing.T) {
	var log testkit.LogBuffer
	s := testkit.Start(t, func(m *cli.Main) { m.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	app := s.App(t, appCallback)
	b := s.Browser(t)
	f := b.Start(s.Link(t, app.App.ID, doorway.Live))
	ref := strings.TrimPrefix(f.Path, "/install/")
	i, c := len(ref)/2, byte('A')
	if ref[i] == c {
		c = 'B'
	}
	flipped := ref[:i] + string(c) + ref[i+1:]
	for name, path := range map[string]string{
		"one character changed":  "/install/" + flipped,
		"cut short":              "/install/" + ref[:len(ref)-4],
		"sealed for another use": "/install/" + s.Keys.Seal(`{"i":"req_x","b":"`+strings.Repeat("0", 64)+`"}`, "doorway secret"),
	} {
		p := b.Get(path)
		if p.Status != http.StatusNotFound || !strings.Contains(p.Body, "does not exist") {
			t.Errorf("%s: GET = %d, want 404 saying the request does not exist; body:\n%s", name, p.Status, p.Body)
		}
	}
	if p := b.Get(f.Path); p.Status != http.StatusOK {
		t.Fatalf("the unaltered address = %d, want 200", p.Status)
	}
	// The request log names the page, not the whole sealed request.
	if logged := log.String(); !strings.Contains(logged, "path=/install/v1.") || strings.Contains(logged, ref) {
		t.Errorf("request log has no install page, or the whole sealed request:\n%s", logged)
	}
}

// TestLargestStateSurvivesTheAddress: the app's state rides in the sealed
// install address; the longest state allowed, made of the characters JSON
// and HTML treat specially, comes back byte for byte, and the address
// stays short enough for any proxy (under 4 KB).
func TestLargestStateSurvivesTheAddress(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", ada.Email)
	app := s.App(t, appCallback)
	state := strings.Repeat(`<&>"\'`, 1024/6) + "<<<<"
	if len(state) != 1024 {
		t.Fatalf("state is %d bytes", len(state))
	}
	f := s.Browser(t).Start(s.Link(t, app.App.ID, doorway.Live) + "?state=" + url.QueryEscape(state))
	if len(f.Path) > 4096 {
		t.Errorf("install address is %d bytes, want at most 4096", len(f.Path))
	}
	f.SignIn(ada.Email, testkit.Password)
	q := redirectQuery(t, f.Decide("approve"), appCallback)
	if q.Get("state") != state {
		t.Fatalf("state came back as %q, want %q", q.Get("state"), state)
	}
}

// TestEntryAnswersWithTheConsentPage: a signed-in browser that opens an
// install entry point gets the consent page in that response, with the
// consent page's headers (its form may post, and be redirected, to the
// app's origin; nothing is cached or framed), and the install completes
// from it.
func TestEntryAnswersWithTheConsentPage(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", ada.Email)
	app := s.App(t, appCallback)
	b := s.Browser(t)
	b.Start(s.Link(t, app.App.ID, doorway.Live)).SignIn(ada.Email, testkit.Password)

	authorize := "/oauth2/authorize?response_type=code&client_id=" + app.App.ID + "&redirect_uri=" + url.QueryEscape(appCallback) +
		"&state=again&code_challenge=" + strings.Repeat("c", 43) + "&code_challenge_method=S256"
	f := b.Start(authorize)
	p := f.Current
	if !strings.Contains(p.Body, "Install Invoicing") || !strings.Contains(p.Body, `value="approve"`) {
		t.Fatalf("GET %s, signed in with one account: want the consent page at once:\n%s", authorize, p.Body)
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.example") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || p.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("consent page headers: CSP %q, Cache-Control %q", csp, p.Header.Get("Cache-Control"))
	}
	q := redirectQuery(t, f.Decide("approve"), appCallback)
	if q.Get("code") == "" || q.Get("state") != "again" {
		t.Fatalf("redirect query = %v, want a code and state again", q)
	}
}

// TestDecisionAfterSignOut: the decision reads no session before it writes
// (the store checks it in the decision's transaction), so a browser that
// signed out in another tab and then presses Install on the consent page
// it still shows is asked to sign in again, and nothing is installed until
// it does.
func TestDecisionAfterSignOut(t *testing.T) {
	ctx := context.Background()
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	acme := s.Tenant(t, "Acme Bakery", ada.Email)
	app := s.App(t, appCallback)
	f := s.Browser(t).Start(s.Link(t, app.App.ID, doorway.Live) + "?state=tabs")
	consent := f.SignIn(ada.Email, testkit.Password)
	if !strings.Contains(consent.Body, "will be able to") {
		t.Fatalf("after sign-in, want the consent page:\n%s", consent.Body)
	}
	if p := f.Submit("signout", nil); p.Status != http.StatusSeeOther {
		t.Fatalf("sign-out = %d, want 303; body:\n%s", p.Status, p.Body)
	}
	f.Current = consent // the other tab still shows the consent page

	p := f.Decide("approve")
	if p.Status != http.StatusSeeOther || p.Location != f.Path {
		t.Fatalf("Install after sign-out = %d to %q, want 303 to the install page %s; body:\n%s", p.Status, p.Location, f.Path, p.Body)
	}
	if page := f.B.Follow(p); !strings.Contains(page.Body, `name="password"`) {
		t.Fatalf("the install page after sign-out should ask to sign in:\n%s", page.Body)
	}
	if _, err := s.Store.InstallationFor(ctx, app.App.ID, acme.ID, doorway.Live); err == nil {
		t.Fatal("an Install pressed after sign-out installed the app")
	}
	if p := f.Decide("cancel"); p.Status != http.StatusSeeOther || p.Location != f.Path {
		t.Fatalf("Cancel after sign-out = %d to %q, want 303 to the install page %s", p.Status, p.Location, f.Path)
	}

	// Signed in again, the same request is still theirs to decide.
	f.SignIn(ada.Email, testkit.Password)
	q := redirectQuery(t, f.Decide("approve"), appCallback)
	if q.Get("account_id") != acme.ID || q.Get("state") != "tabs" || q.Get("user_id") == "" {
		t.Fatalf("redirect query = %v, want account_id %s, state tabs and the user", q, acme.ID)
	}
	inst, err := s.Store.InstallationFor(ctx, app.App.ID, acme.ID, doorway.Live)
	if err != nil || inst.InstalledBy != q.Get("user_id") {
		t.Fatalf("installation = %+v (err %v), want one installed by %s", inst, err, q.Get("user_id"))
	}
}
