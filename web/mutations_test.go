package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// redirectMutations are near misses of appCallback that an attacker might
// try, each of which must be refused by every profile.
var redirectMutations = []struct{ name, uri string }{
	{"trailing slash", appCallback + "/"},
	{"host case", "https://APP.example/cb"},
	{"path case", "https://app.example/CB"},
	{"scheme case", "HTTPS://app.example/cb"},
	{"longer path", appCallback + "/more"},
	{"path traversal", appCallback + "/../cb"},
	{"shorter path", "https://app.example/c"},
	{"other host", "https://evil.example/cb"},
	{"subdomain", "https://evil.app.example/cb"},
	{"suffix host", "https://app.example.evil.example/cb"},
	{"explicit port", "https://app.example:443/cb"},
	{"other port", "https://app.example:8443/cb"},
	{"userinfo", "https://app.example@evil.example/cb"},
	{"fragment", appCallback + "#x"},
	{"percent-encoded path", "https://app.example/%63b"},
	{"http downgrade", "http://app.example/cb"},
	{"javascript", "javascript:alert(1)"},
	{"protocol-relative", "//evil.example/cb"},
	{"backslash", "https://app.example\\@evil.example/cb"},
}

// TestRedirectMutationsEveryProfile sends each mutation through every
// profile's entry URL: each gets an error page, never a redirect.
func TestRedirectMutationsEveryProfile(t *testing.T) {
	s := testkit.Start(t)
	s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", "ada@example.com")
	app := s.App(t, appCallback)
	link := s.Link(t, app.App.ID, doorway.Live)
	challenge := strings.Repeat("c", 43)

	profiles := map[string]func(uri string) string{
		"stripe-link": func(uri string) string { return link + "?redirect_uri=" + url.QueryEscape(uri) },
		"wix-external": func(uri string) string {
			return "/app-installer?appId=" + app.App.ID + "&postInstallationUrl=" + url.QueryEscape(uri)
		},
		"wix-oauth": func(uri string) string {
			return "/installer/install?appId=" + app.App.ID + "&redirectUrl=" + url.QueryEscape(uri) + "&state=s"
		},
		"oauth2": func(uri string) string {
			return "/oauth2/authorize?response_type=code&client_id=" + app.App.ID + "&redirect_uri=" + url.QueryEscape(uri) +
				"&state=s&code_challenge=" + challenge + "&code_challenge_method=S256"
		},
	}
	for name, entry := range profiles {
		// The exact URI works, so the mutations fail for the right reason.
		if ok := s.Browser(t).Get(entry(appCallback)); ok.Status != http.StatusOK || testkit.InstallPath(ok.Body) == "" {
			t.Fatalf("%s with the registered URI = %d %q, want the install pages:\n%.300s", name, ok.Status, ok.Location, ok.Body)
		}
		for _, m := range redirectMutations {
			p := s.Browser(t).Get(entry(m.uri))
			if p.Status != http.StatusBadRequest || p.Location != "" || !strings.Contains(p.Body, "not registered") && !strings.Contains(p.Body, "fragment") {
				t.Errorf("%s, %s (%s) = %d Location %q, want a 400 error page:\n%.300s", name, m.name, m.uri, p.Status, p.Location, p.Body)
			}
		}
	}
}

// TestWixExternalKeepsOnlyTheQuery: for wix-external the query is the app's
// state, but everything before it must still match.
func TestWixExternalEntryErrors(t *testing.T) {
	s := testkit.Start(t)
	app := s.App(t, appCallback)
	cases := []struct {
		name, url string
		status    int
		text      string
	}{
		{"no appId", "/app-installer", 400, "appId is missing"},
		{"unknown app", "/app-installer?appId=app_nope", 404, "There is no app"},
		{"appId twice", "/app-installer?appId=" + app.App.ID + "&appId=app_x", 400, "given 2 times"},
		{"custom query allowed", "/app-installer?appId=" + app.App.ID + "&postInstallationUrl=" + url.QueryEscape(appCallback+"?a=1&b=2"), 200, `action="/install/`},
		{"wix-oauth empty token", "/installer/install?appId=" + app.App.ID + "&token=", 400, "token is empty"},
		{"wix-oauth unknown token", "/installer/install?appId=" + app.App.ID + "&token=dwit_nope", 400, "install token is not valid"},
		{"oauth2 no client_id", "/oauth2/authorize?response_type=code", 400, "client_id is missing"},
		{"oauth2 no redirect_uri", "/oauth2/authorize?response_type=code&client_id=" + app.App.ID, 400, "redirect_uri is missing"},
		{"market unknown app", "/market/app_nope/install", 404, "There is no app"},
	}
	for _, c := range cases {
		p := s.Browser(t).Get(c.url)
		if p.Status != c.status || !strings.Contains(p.Body, c.text) {
			t.Errorf("%s: %d, want %d with %q:\n%.300s", c.name, p.Status, c.status, c.text, p.Body)
		}
	}
}

// TestOAuth2ErrorsGoBackToTheClient: once client and redirect are trusted,
// problems are RFC 6749 error redirects with state and iss.
func TestOAuth2ErrorsGoBackToTheClient(t *testing.T) {
	s := testkit.Start(t)
	app := s.App(t, appCallback)
	base := "/oauth2/authorize?client_id=" + app.App.ID + "&redirect_uri=" + url.QueryEscape(appCallback) + "&state=st"
	pkce := "&code_challenge=" + strings.Repeat("c", 43) + "&code_challenge_method=S256"
	cases := []struct{ name, query, err string }{
		{"response_type token", "&response_type=token" + pkce, "unsupported_response_type"},
		{"no response_type", pkce, "unsupported_response_type"},
		{"unknown scope", "&response_type=code&scope=payment_read" + pkce, "invalid_scope"},
		{"short challenge", "&response_type=code&code_challenge=abc&code_challenge_method=S256", "invalid_request"},
	}
	for _, c := range cases {
		p := s.Browser(t).Get(base + c.query)
		u, _ := url.Parse(p.Location)
		q := u.Query()
		if p.Status != 303 || !strings.HasPrefix(p.Location, appCallback+"?") || q.Get("error") != c.err || q.Get("state") != "st" ||
			q.Get("iss") != s.Issuer || q.Get("error_description") == "" {
			t.Errorf("%s: %d %q, want a redirect with error=%s, state, iss", c.name, p.Status, p.Location, c.err)
		}
	}
}
