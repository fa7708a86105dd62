package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
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
