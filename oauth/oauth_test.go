package oauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/testkit"
	"github.com/doorwayhq/doorway/oauth"
	"github.com/doorwayhq/doorway/registry"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

const callback = "https://app.example/oauth/cb"

// setup is a server with one user in one tenant and an app.
type setup struct {
	s    *testkit.Server
	app  *registry.Created
	conf *oauth2.Config
}

func newSetup(t testing.TB) setup {
	s := testkit.Start(t)
	s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", "ada@example.com")
	app := s.App(t, callback)
	return setup{s, app, &oauth2.Config{
		ClientID: app.App.ID, ClientSecret: app.ClientSecret, RedirectURL: callback,
		Scopes: []string{"customer_read"},
		Endpoint: oauth2.Endpoint{AuthURL: s.URL() + "/oauth2/authorize", TokenURL: s.URL() + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInHeader},
	}}
}

// authorize runs the pages for an authorization URL and returns the
// redirect's query.
func (x setup) authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	p := x.s.Install(t, authURL, "ada@example.com")
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, callback+"?") {
		t.Fatalf("approval = %d to %q, want a redirect to %s", p.Status, p.Location, callback)
	}
	u, _ := url.Parse(p.Location)
	return u.Query()
}

// code runs a PKCE authorization and returns the code and its verifier.
func (x setup) code(t *testing.T) (code, verifier string, q url.Values) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	q = x.authorize(t, x.conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier)))
	return q.Get("code"), verifier, q
}

func (x setup) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	var out map[string]any
	p := x.s.Form(t, "/oauth2/introspect", basic(x.app), url.Values{"token": {token}}, &out)
	if p.Status != http.StatusOK {
		t.Fatalf("introspect = %d %s", p.Status, p.Body)
	}
	return out
}

func basic(app *registry.Created) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(url.QueryEscape(app.App.ID), url.QueryEscape(app.ClientSecret))
	return r.Header.Get("Authorization")
}

func retrieveCode(t *testing.T, err error) string {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want an OAuth error response", err)
	}
	if cc := re.Response.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("error response Cache-Control = %q, want no-store", cc)
	}
	return re.ErrorCode
}

// TestStandardClient is golang.org/x/oauth2, unmodified, against Doorway:
// authorization code with S256 PKCE, exchange, a refreshing TokenSource, and
// client credentials for an instance token.
func TestStandardClient(t *testing.T) {
	x := newSetup(t)
	ctx := context.Background()
	code, verifier, q := x.code(t)
	if q.Get("state") != "st-1" || q.Get("iss") != x.s.Issuer || !strings.HasPrefix(q.Get("instance_id"), "ins_") || code == "" {
		t.Fatalf("redirect query = %v; want code, state st-1, iss %s and instance_id", q, x.s.Issuer)
	}

	var meta map[string]any
	x.s.Call(t, "GET", "/.well-known/oauth-authorization-server", "", nil, &meta)
	if meta["issuer"] != q.Get("iss") || meta["token_endpoint"] != x.conf.Endpoint.TokenURL ||
		meta["authorization_response_iss_parameter_supported"] != true {
		t.Fatalf("metadata = %v; want issuer %s (= iss) and the token endpoint", meta, q.Get("iss"))
	}

	tok, err := x.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Extra("scope") != "customer_read" ||
		time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("token = %+v scope %v; want Bearer, a refresh token, scope customer_read, ~1h", tok, tok.Extra("scope"))
	}
	in := x.introspect(t, tok.AccessToken)
	if in["active"] != true || in["sub"] != q.Get("instance_id") || in["client_id"] != x.app.App.ID || in["iss"] != x.s.Issuer {
		t.Fatalf("introspection = %v", in)
	}

	// A TokenSource with only the refresh token must refresh, and rotation
	// hands it a new refresh token.
	ts := x.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
	fresh, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || fresh.RefreshToken == "" {
		t.Fatal("refresh returned the same tokens; want a new access token and a rotated refresh token")
	}
	if x.introspect(t, fresh.AccessToken)["active"] != true {
		t.Fatal("refreshed access token is not active")
	}

	cc := clientcredentials.Config{ClientID: x.app.App.ID, ClientSecret: x.app.ClientSecret, TokenURL: x.conf.Endpoint.TokenURL,
		EndpointParams: url.Values{"instance_id": {q.Get("instance_id")}}, AuthStyle: oauth2.AuthStyleInParams}
	inst, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inst.RefreshToken != "" || time.Until(inst.Expiry) < 3*time.Hour+59*time.Minute || time.Until(inst.Expiry) > 4*time.Hour+time.Minute {
		t.Fatalf("instance token expires %v, refresh %q; want 4 h and no refresh token", time.Until(inst.Expiry), inst.RefreshToken)
	}
	if in := x.introspect(t, inst.AccessToken); in["active"] != true || in["scope"] != "customer_read invoice_write" {
		t.Fatalf("instance token introspection = %v; want active with the installation's permissions", in)
	}
}

func TestCodeExpiresAfterTenMinutes(t *testing.T) {
	x := newSetup(t)
	code, verifier, _ := x.code(t)
	x.s.Clock.Advance(10*time.Minute + time.Second)
	_, err := x.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if c := retrieveCode(t, err); c != "invalid_grant" {
		t.Fatalf("exchange 10 min 1 s later = %s, want invalid_grant", c)
	}
}

func TestCodeReplayRevokesTokens(t *testing.T) {
	x := newSetup(t)
	ctx := context.Background()
	code, verifier, _ := x.code(t)
	first, err := x.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	_, err = x.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if c := retrieveCode(t, err); c != "invalid_grant" {
		t.Fatalf("second exchange = %s, want invalid_grant", c)
	}
	if in := x.introspect(t, first.AccessToken); len(in) != 1 || in["active"] != false {
		t.Fatalf("first access token after the replay = %v, want exactly {\"active\":false}", in)
	}
	_, err = x.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: first.RefreshToken}).Token()
	if c := retrieveCode(t, err); c != "invalid_grant" {
		t.Fatalf("refresh after the replay = %s, want invalid_grant", c)
	}
}

func TestParallelRedemptionsOneWins(t *testing.T) {
	x := newSetup(t)
	code, verifier, _ := x.code(t)
	const n = 100
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			p := x.s.Form(t, "/oauth2/token", basic(x.app), url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"code_verifier": {verifier}, "redirect_uri": {callback}}, nil)
			statuses <- p.Status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[200] != 1 || count[400] != n-1 {
		t.Fatalf("%d parallel redemptions: %v, want one 200 and %d 400", n, count, n-1)
	}
}

func TestPKCE(t *testing.T) {
	x := newSetup(t)
	ctx := context.Background()
	code, _, _ := x.code(t)
	_, err := x.conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	if c := retrieveCode(t, err); c != "invalid_grant" {
		t.Errorf("wrong verifier = %s, want invalid_grant", c)
	}
	code, _, _ = x.code(t)
	_, err = x.conf.Exchange(ctx, code)
	if c := retrieveCode(t, err); c != "invalid_grant" {
		t.Errorf("missing verifier = %s, want invalid_grant", c)
	}

	// The authorization endpoint refuses requests without S256, back to the
	// client (the redirect target is valid), with state and iss.
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"no challenge": nil,
		"plain":        {oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)), oauth2.SetAuthURLParam("code_challenge_method", "plain")},
		"no method":    {oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43))},
	} {
		p := x.s.Browser(t).Get(x.conf.AuthCodeURL("st-9", opts...))
		u, _ := url.Parse(p.Location)
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, callback+"?") ||
			u.Query().Get("error") != "invalid_request" || u.Query().Get("state") != "st-9" || u.Query().Get("iss") != x.s.Issuer {
			t.Errorf("%s: %d %q, want a redirect with error=invalid_request, state and iss", name, p.Status, p.Location)
		}
	}
}

// TestPKCEDowngrade sends a code_verifier for a code issued without a
// challenge (Wix's advanced OAuth issues such codes): refused, RFC 9700
// §4.8.2.
func TestPKCEDowngrade(t *testing.T) {
	x := newSetup(t)
	p := x.s.Install(t, "/installer/install?appId="+x.app.App.ID+"&redirectUrl="+url.QueryEscape(callback), "ada@example.com")
	u, _ := url.Parse(p.Location)
	code := u.Query().Get("code")
	var out map[string]any
	resp := x.s.Call(t, "POST", "/oauth/access", "", map[string]string{"grant_type": "authorization_code",
		"client_id": x.app.App.ID, "client_secret": x.app.ClientSecret, "code": code,
		"code_verifier": oauth2.GenerateVerifier()}, &out)
	if resp.Status != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("verifier for a code without challenge = %d %v, want 400 invalid_grant", resp.Status, out)
	}
}

func TestRefreshReuse(t *testing.T) {
	x := newSetup(t)
	ctx := context.Background()
	code, verifier, _ := x.code(t)
	tok, err := x.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}

	// 20 parallel refreshes of one token, inside the grace window: all succeed.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := x.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("parallel refresh inside the grace window: %v", err)
		}
	}
	next, err := x.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}

	// Outside it, reusing the rotated token revokes the grant: the newest
	// tokens die too.
	x.s.Clock.Advance(11 * time.Second)
	_, err = x.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if c := retrieveCode(t, err); c != "invalid_grant" {
		t.Fatalf("reuse after the grace window = %s, want invalid_grant", c)
	}
	_, err = x.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token()
	if c := retrieveCode(t, err); c != "invalid_grant" {
		t.Fatalf("newest refresh token after reuse = %s, want invalid_grant", c)
	}
	if x.introspect(t, next.AccessToken)["active"] != false {
		t.Fatal("access token of a revoked grant is still active")
	}
}

// TestRefreshTokenFromBeforeTimedTokens: refresh tokens are now made by
// secret.TimedToken and stored under their time and hash; one made before
// (secret.Token, stored under its hash alone) still refreshes, is rotated
// to a timed one, and its reuse is still caught.
func TestRefreshTokenFromBeforeTimedTokens(t *testing.T) {
	x := newSetup(t)
	ctx := context.Background()
	code, verifier, _ := x.code(t)
	old := secret.Token("dwrt_")
	now := x.s.Clock.Now()
	sum := sha256.Sum256([]byte(verifier))
	g := &doorway.Grant{ID: secret.ID("gr_"), Kind: doorway.GrantCode, Rotate: true, CreatedAt: now}
	if _, _, err := x.s.Store.RedeemCode(ctx, store.Redemption{Hash: secret.TokenKey(code), Now: now, AppID: x.app.App.ID,
		Profile: doorway.ProfileOAuth2, RedirectURI: callback, Challenge: base64.RawURLEncoding.EncodeToString(sum[:]), Grant: g,
		Refresh: &doorway.RefreshToken{Hash: secret.Hash(old), CreatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	next, err := x.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: old}).Token()
	if err != nil {
		t.Fatalf("a refresh token made before timed tokens: %v", err)
	}
	if body, _ := strings.CutPrefix(next.RefreshToken, "dwrt_"); len(body) != 36 {
		t.Fatalf("rotated to %q, want a timed refresh token (dwrt_ and 36 characters)", next.RefreshToken)
	}
	if _, err := x.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); err != nil {
		t.Fatalf("the timed refresh token: %v", err)
	}
	x.s.Clock.Advance(11 * time.Second)
	_, err = x.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: old}).Token()
	if c := retrieveCode(t, err); c != "invalid_grant" {
		t.Fatalf("reusing the old refresh token = %s, want invalid_grant", c)
	}
}

func TestRevoke(t *testing.T) {
	x := newSetup(t)
	p := x.s.Form(t, "/oauth2/revoke", basic(x.app), url.Values{"token": {"no-such-token"}}, nil)
	if p.Status != http.StatusOK {
		t.Fatalf("revoking an unknown token = %d, want 200", p.Status)
	}
	code, verifier, _ := x.code(t)
	tok, err := x.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if p := x.s.Form(t, "/oauth2/revoke", basic(x.app), url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}, nil); p.Status != 200 {
		t.Fatalf("revoke = %d", p.Status)
	}
	if x.introspect(t, tok.AccessToken)["active"] != false || x.introspect(t, tok.RefreshToken)["active"] != false {
		t.Fatal("after revoking the refresh token, its grant's tokens are still active")
	}
}

// TestRevokedInstanceTokenRenewsTheGrant: revoking an instance token
// revokes the installation's grant, so every token of it dies (RFC 7009
// §2.1), and gives the installation a new one: client_credentials still
// answers, with a token of the new grant.
func TestRevokedInstanceTokenRenewsTheGrant(t *testing.T) {
	x := newSetup(t)
	_, _, q := x.code(t)
	form := url.Values{"grant_type": {"client_credentials"}, "instance_id": {q.Get("instance_id")}}
	var before, after map[string]any
	if p := x.s.Form(t, "/oauth2/token", basic(x.app), form, &before); p.Status != http.StatusOK {
		t.Fatalf("instance token = %d %s", p.Status, p.Body)
	}
	old := before["access_token"].(string)
	if p := x.s.Form(t, "/oauth2/revoke", basic(x.app), url.Values{"token": {old}}, nil); p.Status != http.StatusOK {
		t.Fatalf("revoke = %d", p.Status)
	}
	if x.introspect(t, old)["active"] != false {
		t.Fatal("a revoked instance token is still active")
	}
	if p := x.s.Form(t, "/oauth2/token", basic(x.app), form, &after); p.Status != http.StatusOK {
		t.Fatalf("instance token after a revocation = %d %s, want 200: the installation has a new grant", p.Status, p.Body)
	}
	grantOf := func(token string) any {
		_, payload, _ := strings.Cut(token, ".")
		payload, _, _ = strings.Cut(payload, ".")
		b, _ := base64URL(payload)
		var c map[string]any
		json.Unmarshal(b, &c)
		return c["gid"]
	}
	fresh := after["access_token"].(string)
	if x.introspect(t, fresh)["active"] != true || grantOf(fresh) == nil || grantOf(fresh) == grantOf(old) {
		t.Fatalf("the new instance token is of grant %v, the revoked one of %v: want an active token of another grant", grantOf(fresh), grantOf(old))
	}
}

// TestTokenRequestContentTypes: the token endpoint reads a form however
// its media type is written, and JSON; another media type is refused with
// what to send instead.
func TestTokenRequestContentTypes(t *testing.T) {
	x := newSetup(t)
	_, _, q := x.code(t)
	instance := q.Get("instance_id")
	form := "grant_type=client_credentials&instance_id=" + url.QueryEscape(instance)
	for _, c := range []struct {
		contentType, body string
		status            int
		want              string
	}{
		{"application/x-www-form-urlencoded", form, 200, "access_token"},
		{"application/x-www-form-urlencoded; charset=UTF-8", form, 200, "access_token"},
		{"Application/X-WWW-Form-Urlencoded", form, 200, "access_token"},
		{"", form, 200, "access_token"},
		{"application/json", `{"grant_type":"client_credentials","instance_id":"` + instance + `"}`, 200, "access_token"},
		{"text/plain", form, 400, "application/x-www-form-urlencoded or application/json, not text/plain"},
	} {
		req, err := http.NewRequest(http.MethodPost, x.s.URL()+"/oauth2/token", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", basic(x.app))
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("Content-Type %q: %d %s; want %d with %q", c.contentType, resp.StatusCode, body, c.status, c.want)
		}
	}
}

func TestClientAuthentication(t *testing.T) {
	x := newSetup(t)
	bad := url.Values{"grant_type": {"client_credentials"}, "instance_id": {"ins_x"}}
	wrong := *x.app
	wrong.ClientSecret = "dwcs_wrong"
	for i := range 10 {
		var out map[string]any
		p := x.s.Form(t, "/oauth2/token", basic(&wrong), bad, &out)
		if p.Status != 401 || out["error"] != "invalid_client" || !strings.HasPrefix(p.Header.Get("WWW-Authenticate"), "Basic") ||
			p.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("attempt %d with a wrong secret = %d %v (WWW-Authenticate %q), want 401 invalid_client with WWW-Authenticate and no-store",
				i+1, p.Status, out, p.Header.Get("WWW-Authenticate"))
		}
	}
	p := x.s.Form(t, "/oauth2/token", basic(&wrong), bad, nil)
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
		t.Fatalf("11th failure = %d (Retry-After %q), want 429 with Retry-After", p.Status, p.Header.Get("Retry-After"))
	}
	// The limit is per client: the right secret is refused too while it lasts,
	// and works again after the wait.
	x.s.Clock.Advance(7 * time.Second)
	p = x.s.Form(t, "/oauth2/token", basic(x.app), bad, nil)
	if p.Status != 400 || !strings.Contains(p.Body, "invalid_grant") {
		t.Fatalf("after the wait, right secret = %d %s, want 400 invalid_grant (unknown instance)", p.Status, p.Body)
	}
}

// TestSecretRotationReachesTheTokenEndpoint: a rotated-in secret works at
// once, and one revoked with no overlap is refused within ClientCacheFor,
// although the endpoint had just accepted it.
func TestSecretRotationReachesTheTokenEndpoint(t *testing.T) {
	x := newSetup(t)
	// client_credentials for an unknown instance: 400 invalid_grant once the
	// client is authenticated, 401 when it is not.
	probe := func(sec string) int {
		app := *x.app
		app.ClientSecret = sec
		return x.s.Form(t, "/oauth2/token", basic(&app), url.Values{"grant_type": {"client_credentials"}, "instance_id": {"ins_x"}}, nil).Status
	}
	old := x.app.ClientSecret
	if got := probe(old); got != 400 {
		t.Fatalf("the current secret = %d, want 400 (authenticated)", got)
	}
	fresh, err := x.s.Registry.RotateSecrets(context.Background(), x.app.App.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := probe(fresh.ClientSecret); got != 400 {
		t.Fatalf("the new secret right after rotation = %d, want 400 (authenticated)", got)
	}
	x.s.Clock.Advance(oauth.ClientCacheFor)
	if got := probe(old); got != 401 {
		t.Fatalf("the revoked secret %s after rotation = %d, want 401", oauth.ClientCacheFor, got)
	}
}

// TestNoStoreEverywhere checks Cache-Control on token responses of every
// kind, success and failure.
func TestNoStoreEverywhere(t *testing.T) {
	x := newSetup(t)
	_, _, q := x.code(t)
	cases := []struct {
		path string
		auth string
		form url.Values
	}{
		{"/oauth2/token", basic(x.app), url.Values{"grant_type": {"client_credentials"}, "instance_id": {q.Get("instance_id")}}},
		{"/oauth2/token", basic(x.app), url.Values{"grant_type": {"password"}}},
		{"/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}}},
		{"/oauth2/token", basic(x.app), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}},
		{"/oauth2/introspect", basic(x.app), url.Values{"token": {"nope"}}},
		{"/oauth2/revoke", basic(x.app), url.Values{"token": {"nope"}}},
		{"/oauth/access", "", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}}},
	}
	for _, c := range cases {
		p := x.s.Form(t, c.path, c.auth, c.form, nil)
		if p.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %v = %d with Cache-Control %q, want no-store", c.path, c.form, p.Status, p.Header.Get("Cache-Control"))
		}
	}
}

func TestJWKSVerifiesTokens(t *testing.T) {
	x := newSetup(t)
	_, _, q := x.code(t)
	var out map[string]any
	x.s.Form(t, "/oauth2/token", basic(x.app), url.Values{"grant_type": {"client_credentials"}, "instance_id": {q.Get("instance_id")}}, &out)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	x.s.Call(t, "GET", "/.well-known/jwks.json", "", nil, &set)
	if len(set.Keys) != 1 || set.Keys[0]["kty"] != "OKP" || set.Keys[0]["crv"] != "Ed25519" || set.Keys[0]["alg"] != "EdDSA" {
		t.Fatalf("JWKS = %v, want one Ed25519 key", set)
	}
	header, _, _ := strings.Cut(out["access_token"].(string), ".")
	var h map[string]any
	b, _ := base64URL(header)
	json.Unmarshal(b, &h)
	if h["kid"] != set.Keys[0]["kid"] || h["typ"] != "at+jwt" || h["alg"] != "EdDSA" {
		t.Fatalf("token header = %v, want kid of the JWKS key, typ at+jwt, alg EdDSA", h)
	}
}

// TestScopeNarrowing: a token request may ask for less than was granted,
// never more (RFC 6749 §3.3).
func TestScopeNarrowing(t *testing.T) {
	x := newSetup(t)
	_, _, q := x.code(t)
	form := func(scope string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "instance_id": {q.Get("instance_id")}, "scope": {scope}}
	}
	var out map[string]any
	if p := x.s.Form(t, "/oauth2/token", basic(x.app), form("invoice_write"), &out); p.Status != 200 || out["scope"] != "invoice_write" {
		t.Fatalf("narrower scope = %d %v, want 200 with scope invoice_write", p.Status, out)
	}
	out = nil
	if p := x.s.Form(t, "/oauth2/token", basic(x.app), form("invoice_write payment_read"), &out); p.Status != 400 || out["error"] != "invalid_scope" {
		t.Fatalf("wider scope = %d %v, want 400 invalid_scope", p.Status, out)
	}
}

// TestRefreshRefusalsUseNothingUp: a refresh refused for its scope, or
// because another app presents the token, leaves the token as it was: it
// still rotates once for its own app afterwards.
func TestRefreshRefusalsUseNothingUp(t *testing.T) {
	x := newSetup(t)
	code, verifier, _ := x.code(t)
	tok, err := x.conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	other := x.s.App(t, callback)
	refresh := func(app *registry.Created, scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
		if scope != "" {
			form.Set("scope", scope)
		}
		var out map[string]any
		p := x.s.Form(t, "/oauth2/token", basic(app), form, &out)
		return p.Status, out
	}
	if st, out := refresh(x.app, "customer_read invoice_write"); st != 400 || out["error"] != "invalid_scope" {
		t.Fatalf("refresh asking for more than granted = %d %v, want 400 invalid_scope", st, out)
	}
	if st, out := refresh(other, ""); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("refresh by another app = %d %v, want 400 invalid_grant", st, out)
	}
	if rt, err := x.s.Store.RefreshToken(context.Background(), secret.TokenKey(tok.RefreshToken)); err != nil || !rt.RotatedAt.IsZero() {
		t.Fatalf("after two refused refreshes the token is %+v (err %v), want it unrotated", rt, err)
	}
	st, out := refresh(x.app, "customer_read")
	if st != 200 || out["scope"] != "customer_read" || out["refresh_token"] == tok.RefreshToken {
		t.Fatalf("refresh by its app after the refusals = %d %v, want 200 with a new refresh token", st, out)
	}
}

// TestCodeRefusalsSayWhy: each way a code exchange can be wrong is refused
// with invalid_grant and a description that names what to fix; none of
// them uses the code up, so the right request still redeems it.
func TestCodeRefusalsSayWhy(t *testing.T) {
	x := newSetup(t)
	code, verifier, _ := x.code(t)
	other := x.s.App(t, callback)
	exchange := func(app *registry.Created, change func(url.Values)) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "code_verifier": {verifier}}
		change(form)
		var out map[string]any
		p := x.s.Form(t, "/oauth2/token", basic(app), form, &out)
		return p.Status, out
	}
	cases := []struct {
		name   string
		app    *registry.Created
		change func(url.Values)
		says   string
	}{
		{"another client", other, func(url.Values) {}, "issued to another client"},
		{"another redirect_uri", x.app, func(f url.Values) { f.Set("redirect_uri", callback+"/") }, "redirect_uri must be given and equal"},
		{"no redirect_uri", x.app, func(f url.Values) { f.Del("redirect_uri") }, "redirect_uri must be given and equal"},
		{"no verifier", x.app, func(f url.Values) { f.Del("code_verifier") }, "code_verifier is missing"},
		{"wrong verifier", x.app, func(f url.Values) { f.Set("code_verifier", oauth2.GenerateVerifier()) }, "does not match the code_challenge"},
		{"short verifier", x.app, func(f url.Values) { f.Set("code_verifier", "abc") }, "does not match the code_challenge"},
	}
	for _, c := range cases {
		st, out := exchange(c.app, c.change)
		desc, _ := out["error_description"].(string)
		if st != 400 || out["error"] != "invalid_grant" || !strings.Contains(desc, c.says) {
			t.Errorf("%s: %d %v, want 400 invalid_grant saying %q", c.name, st, out, c.says)
		}
	}
	if st, out := exchange(x.app, func(url.Values) {}); st != 200 || out["access_token"] == nil {
		t.Fatalf("the right exchange after the refusals = %d %v, want tokens", st, out)
	}
	if st, out := exchange(x.app, func(url.Values) {}); st != 400 || !strings.Contains(out["error_description"].(string), "used already") {
		t.Fatalf("the same exchange again = %d %v, want invalid_grant saying it was used already", st, out)
	}

	late, lateVerifier, _ := x.code(t)
	x.s.Clock.Advance(10*time.Minute + time.Second)
	var out map[string]any
	p := x.s.Form(t, "/oauth2/token", basic(x.app), url.Values{"grant_type": {"authorization_code"}, "code": {late},
		"redirect_uri": {callback}, "code_verifier": {lateVerifier}}, &out)
	if desc, _ := out["error_description"].(string); p.Status != 400 || !strings.Contains(desc, "the code expired at") {
		t.Fatalf("an expired code = %d %v, want invalid_grant saying when it expired", p.Status, out)
	}
}
