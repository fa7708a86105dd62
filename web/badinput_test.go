package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// TestBadInputs sends what a careless or hostile client might, and checks
// each gets a clear error page (or sign-in error) with the right status:
// never a 5xx, and never a redirect away from Doorway.
func TestBadInputs(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", ada.Email)
	s.Tenant(t, "Blue Harbor Studio", ada.Email)
	eve := s.User(t, "eve@example.com")
	evesShop := s.Tenant(t, "Eve's Shop", eve.Email)
	s.User(t, "lonely@example.com") // no tenant

	app := s.App(t, appCallback, "https://app.example/cb?src=install", "http://localhost:3000/cb")
	live := s.Link(t, app.App.ID, doorway.Live)
	test := s.Link(t, app.App.ID, doorway.Test)
	withRedirect := func(link, redirect string) string { return link + "?redirect_uri=" + url.QueryEscape(redirect) }

	// signedIn starts an install and signs ada in: the consent-or-tenant step.
	signedIn := func(t *testing.T) *testkit.Flow {
		f := s.Browser(t).Start(live + "?state=s")
		f.SignIn(ada.Email, testkit.Password)
		return f
	}

	cases := []struct {
		name   string
		do     func(t *testing.T) *testkit.Page
		status int
		text   string
	}{
		// Entry URL: the link and the redirect target.
		{"unknown link", get(s, s.URL()+"/apps/install/link/lnk_doesnotexist"), 404, "There is no install link"},
		{"overlong link id", get(s, s.URL()+"/apps/install/link/"+strings.Repeat("x", 500)), 404, "There is no install link"},
		{"redirect trailing slash", get(s, withRedirect(live, appCallback+"/")), 400, "is not registered"},
		{"redirect host other case", get(s, withRedirect(live, "https://APP.example/cb")), 400, "is not registered"},
		{"redirect path other case", get(s, withRedirect(live, "https://app.example/CB")), 400, "is not registered"},
		{"redirect scheme other case", get(s, withRedirect(live, "HTTPS://app.example/cb")), 400, "is not registered"},
		{"redirect extra query", get(s, withRedirect(live, appCallback+"?x=1")), 400, "is not registered"},
		{"redirect registered query changed", get(s, withRedirect(live, "https://app.example/cb?src=evil")), 400, "is not registered"},
		{"redirect longer path", get(s, withRedirect(live, appCallback+"/more")), 400, "is not registered"},
		{"redirect shorter path", get(s, withRedirect(live, "https://app.example/c")), 400, "is not registered"},
		{"redirect other host", get(s, withRedirect(live, "https://evil.example/cb")), 400, "is not registered"},
		{"redirect subdomain", get(s, withRedirect(live, "https://evil.app.example/cb")), 400, "is not registered"},
		{"redirect explicit port", get(s, withRedirect(live, "https://app.example:443/cb")), 400, "is not registered"},
		{"redirect userinfo", get(s, withRedirect(live, "https://app.example@evil.example/cb")), 400, "is not registered"},
		{"redirect fragment", get(s, withRedirect(live, appCallback+"#x")), 400, "is not registered"},
		{"redirect percent-encoded path", get(s, withRedirect(live, "https://app.example/%63b")), 400, "is not registered"},
		{"redirect javascript scheme", get(s, withRedirect(live, "javascript:alert(1)")), 400, "is not registered"},
		{"redirect http of a registered https", get(s, withRedirect(live, "http://app.example/cb")), 400, "is not registered"},
		{"redirect http localhost in live mode", get(s, withRedirect(live, "http://localhost:3000/cb")), 400, "must use https in live mode"},
		{"redirect empty", get(s, live+"?redirect_uri="), 400, "redirect_uri is empty"},
		{"redirect given twice", get(s, live+"?redirect_uri="+url.QueryEscape(appCallback)+"&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"), 400, "redirect_uri is given 2 times"},
		{"state given twice", get(s, live+"?state=a&state=b"), 400, "state is given 2 times"},
		{"state oversized", get(s, live+"?state="+strings.Repeat("a", 1025)), 400, "the limit is 1024"},
		{"state non-ASCII", get(s, live+"?state="+url.QueryEscape("café")), 400, "printable ASCII"},
		{"state control character", get(s, live+"?state=a%0Ab"), 400, "printable ASCII"},
		{"test link, unregistered localhost port", get(s, withRedirect(test, "http://localhost:3001/cb")), 400, "is not registered"},

		// The pages.
		{"unknown install request", get(s, s.URL()+"/install/req_doesnotexist"), 404, "does not exist"},
		{"install page in another browser", func(t *testing.T) *testkit.Page {
			f := s.Browser(t).Start(live)
			return s.Browser(t).Get(f.Path)
		}, 403, "started in another browser"},
		{"sign-in without CSRF token", func(t *testing.T) *testkit.Page {
			f := s.Browser(t).Start(live)
			return f.Submit("signin", url.Values{"csrf": {""}, "email": {ada.Email}, "password": {testkit.Password}})
		}, 403, "security token is missing or wrong"},
		{"approve with forged CSRF token", func(t *testing.T) *testkit.Page {
			f := signedIn(t)
			return f.Submit("decision", url.Values{"csrf": {strings.Repeat("0", 64)}, "decision": {"approve"}})
		}, 403, "security token is missing or wrong"},
		{"approve with another request's CSRF token", func(t *testing.T) *testkit.Page {
			f, other := signedIn(t), signedIn(t)
			return f.Submit("decision", url.Values{"csrf": {other.Current.CSRF()}, "decision": {"approve"}})
		}, 403, "security token is missing or wrong"},
		{"cross-site form post", func(t *testing.T) *testkit.Page {
			f := signedIn(t)
			form := url.Values{"csrf": {f.Current.CSRF()}, "decision": {"approve"}}
			req, _ := http.NewRequest(http.MethodPost, s.URL()+f.Path+"/decision", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			return f.B.Do(req)
		}, 403, "sent from another site"},
		{"wrong password", func(t *testing.T) *testkit.Page {
			return s.Browser(t).Start(live).SignIn(ada.Email, "not the password")
		}, 401, "The email or password is incorrect."},
		{"unknown email", func(t *testing.T) *testkit.Page {
			return s.Browser(t).Start(live).SignIn("nobody@example.com", testkit.Password)
		}, 401, "The email or password is incorrect."},
		{"user with no tenant", func(t *testing.T) *testkit.Page {
			return s.Browser(t).Start(live).SignIn("lonely@example.com", testkit.Password)
		}, 403, "is not a member of any"},
		{"tenant the user is not a member of", func(t *testing.T) *testkit.Page {
			return signedIn(t).Submit("tenant", url.Values{"tenant": {evesShop.ID}})
		}, 403, "not a member of account"},
		{"unknown tenant", func(t *testing.T) *testkit.Page {
			return signedIn(t).Submit("tenant", url.Values{"tenant": {"tnt_nope"}})
		}, 403, "not a member of account"},
		{"approve into a tenant the user is not a member of", func(t *testing.T) *testkit.Page {
			f := signedIn(t)
			f.Choose(tenantOf(t, f))
			return f.Submit("decision", url.Values{"decision": {"approve"}, "tenant": {evesShop.ID}})
		}, 403, "not a member of account"},
		{"approve into an unknown tenant", func(t *testing.T) *testkit.Page {
			return signedIn(t).Submit("decision", url.Values{"decision": {"approve"}, "tenant": {"tnt_nope"}})
		}, 403, "not a member of account"},
		{"approve before choosing a tenant", func(t *testing.T) *testkit.Page {
			return signedIn(t).Decide("approve")
		}, 400, "Choose an account before approving"},
		{"unknown decision", func(t *testing.T) *testkit.Page {
			return signedIn(t).Submit("decision", url.Values{"decision": {"maybe"}})
		}, 400, "Press Install or Cancel"},
		{"oversized form", func(t *testing.T) *testkit.Page {
			f := signedIn(t)
			return f.Submit("signin", url.Values{"email": {strings.Repeat("a", 20<<10)}})
		}, 400, "could not be read"},
		{"replayed approval", func(t *testing.T) *testkit.Page {
			f := signedIn(t)
			f.Choose(tenantOf(t, f))
			if p := f.Decide("approve"); p.Status != http.StatusSeeOther {
				t.Fatalf("first approval = %d", p.Status)
			}
			return f.Decide("approve")
		}, 409, "already approved"},
		{"approval after cancel", func(t *testing.T) *testkit.Page {
			f := signedIn(t)
			f.Decide("cancel")
			return f.Decide("approve")
		}, 409, "already denied"},
		{"expired install request", func(t *testing.T) *testkit.Page {
			f := s.Browser(t).Start(live)
			s.Clock.Advance(10*time.Minute + time.Second)
			return f.B.Get(f.Path)
		}, 410, "expired after 10m0s"},
		{"approval after expiry", func(t *testing.T) *testkit.Page {
			f := signedIn(t)
			f.Choose(tenantOf(t, f))
			s.Clock.Advance(10*time.Minute + time.Second)
			return f.Decide("approve")
		}, 410, "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.do(t)
			if p.Status >= 500 {
				t.Fatalf("status %d: a bad input must never cause a server error; body:\n%s", p.Status, p.Body)
			}
			if p.Location != "" {
				t.Fatalf("status %d redirects to %q; a bad input must get an error page", p.Status, p.Location)
			}
			if p.Status != tc.status || !strings.Contains(htmlUnescape(p.Body), tc.text) {
				t.Fatalf("status %d, want %d with %q; body:\n%s", p.Status, tc.status, tc.text, p.Body)
			}
		})
	}
	if len(cases) < 30 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
}

func get(s *testkit.Server, u string) func(t *testing.T) *testkit.Page {
	return func(t *testing.T) *testkit.Page { return s.Browser(t).Get(u) }
}

// tenantOf returns the first tenant offered on the flow's account page.
func tenantOf(t *testing.T, f *testkit.Flow) string {
	t.Helper()
	_, rest, ok := strings.Cut(f.Current.Body, `name="tenant" value="`)
	if !ok {
		t.Fatalf("no tenant choice on the page:\n%s", f.Current.Body)
	}
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&#39;", "'", "&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(s)
}
