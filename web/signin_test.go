package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// TestFailedSignInsAreLimited: after ten failed sign-ins for one email
// from one address, the next attempt is refused with 429 and Retry-After,
// even with the right password, whatever the email's case, while another
// email signs in; six seconds later one attempt is allowed again.
func TestFailedSignInsAreLimited(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", ada.Email)
	bob := s.User(t, "bob@example.com")
	s.Tenant(t, "Bob's Bikes", bob.Email)
	app := s.App(t, appCallback)
	live := s.Link(t, app.App.ID, doorway.Live)
	signIn := func(email, password string) *testkit.Page { return s.Browser(t).Start(live).SignIn(email, password) }
	consent := func(p *testkit.Page) bool {
		return p.Status == http.StatusOK && strings.Contains(p.Body, "will be able to")
	}

	for i := range 10 {
		if p := signIn(ada.Email, "not the password"); p.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password #%d = %d, want 401; body:\n%s", i+1, p.Status, p.Body)
		}
	}
	for _, email := range []string{ada.Email, "ADA@example.com "} {
		p := signIn(email, testkit.Password)
		if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") != "6" ||
			!strings.Contains(p.Body, "Too many failed sign-ins for this email. Try again in 6 seconds.") ||
			!strings.Contains(p.Body, `name="password"`) {
			t.Fatalf("sign-in as %q after ten failures = %d, Retry-After %q; want 429, Retry-After 6 and the form again with why:\n%s",
				email, p.Status, p.Header.Get("Retry-After"), p.Body)
		}
	}
	if p := signIn(bob.Email, testkit.Password); !consent(p) {
		t.Fatalf("another email from the same address = %d, want the consent page:\n%s", p.Status, p.Body)
	}
	s.Clock.Advance(6 * time.Second)
	if p := signIn(ada.Email, testkit.Password); !consent(p) {
		t.Fatalf("the right password after the wait = %d, want the consent page:\n%s", p.Status, p.Body)
	}
}

// TestSignInLimitBehindAProxy: behind a proxy doorway trusts
// (--trusted-proxies), failed sign-ins are counted per client address, as
// X-Forwarded-For names it: one client's failures do not block another
// client signing in to the same email. From a peer it does not trust the
// header is ignored, so a client cannot escape the limit by writing a new
// address into it for every try.
func TestSignInLimitBehindAProxy(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		s := testkit.Start(t, func(m *cli.Main) {
			if trusted {
				m.TrustedProxies = "10.0.0.0/8, 127.0.0.1"
			}
		})
		ada := s.User(t, "ada@example.com")
		s.Tenant(t, "Acme Bakery", ada.Email)
		live := s.Link(t, s.App(t, appCallback).App.ID, doorway.Live)
		signIn := func(from, password string) *testkit.Page {
			b := s.Browser(t)
			b.Client.Transport = forwardedFor(from)
			return b.Start(live).SignIn(ada.Email, password)
		}
		for i := range 10 {
			from := "203.0.113.1"
			if !trusted {
				from = fmt.Sprintf("203.0.113.%d", 10+i) // a new address each try
			}
			if p := signIn(from, "not the password"); p.Status != http.StatusUnauthorized {
				t.Fatalf("trusted %v: wrong password #%d = %d, want 401", trusted, i+1, p.Status)
			}
		}
		if trusted {
			if p := signIn("203.0.113.1", testkit.Password); p.Status != http.StatusTooManyRequests {
				t.Fatalf("the client that failed ten times = %d, want 429", p.Status)
			}
			if p := signIn("203.0.113.2", testkit.Password); p.Status != http.StatusOK || !strings.Contains(p.Body, "will be able to") {
				t.Fatalf("another client behind the same proxy = %d, want the consent page:\n%.300s", p.Status, p.Body)
			}
		} else if p := signIn("203.0.113.99", testkit.Password); p.Status != http.StatusTooManyRequests {
			t.Fatalf("untrusted X-Forwarded-For, a new address after ten failures = %d, want 429 (the header ignored)", p.Status)
		}
	}
}

// forwardedFor is a transport that says, as a proxy would, that each
// request comes from addr.
type forwardedFor string

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", string(f))
	return http.DefaultTransport.RoundTrip(r)
}

// TestAbandonedSignInIsNotAnError: a sign-in whose client has gone (here
// before the server reads anything) fails with the cancellation, which
// is not a fault of the server's to log as one.
func TestAbandonedSignInIsNotAnError(t *testing.T) {
	var log testkit.LogBuffer
	s := testkit.Start(t, func(m *cli.Main) { m.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	b := s.Browser(t)
	page := b.Get("/signin")
	csrf := page.CSRF()
	if csrf == "" {
		t.Fatalf("the sign-in page has no form token:\n%s", page.Body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	form := url.Values{"csrf": {csrf}, "email": {"ada@example.com"}, "password": {"a guess"}}
	req := httptest.NewRequestWithContext(ctx, "POST", "/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	base, _ := url.Parse(s.URL())
	for _, c := range b.Client.Jar.Cookies(base) {
		req.AddCookie(c)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("abandoned sign-in = %d, want the generic 500 page (nobody reads it)", w.Code)
	}
	if strings.Contains(log.String(), "internal error") {
		t.Errorf("an abandoned sign-in was logged as an internal error:\n%s", log.String())
	}
}
