package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// TestBytesNoDatabaseStores sends NUL bytes and invalid UTF-8, which
// SQLite would keep but PostgreSQL's text refuses, in every input that
// reaches the store. Each must get a client error, never a 5xx (run with
// DOORWAY_TEST_STORE=postgres to see the difference matter).
func TestBytesNoDatabaseStores(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	s.Tenant(t, "Acme", ada.Email)
	app := s.App(t, "https://app.example/cb")
	live := s.Link(t, app.App.ID, doorway.Live)

	for _, bad := range []string{"a\x00b", "a\xffb"} {
		get := []string{
			live + "?state=" + url.QueryEscape(bad),
			s.URL() + "/apps/install/link/" + url.PathEscape(bad),
			s.URL() + "/install/" + url.PathEscape(bad),
			s.URL() + "/app-installer?appId=" + url.QueryEscape(bad) + "&postInstallationUrl=" + url.QueryEscape("https://app.example/cb"),
			s.URL() + "/app-installer?appId=" + app.App.ID + "&postInstallationUrl=" + url.QueryEscape("https://app.example/cb") + "&state=" + url.QueryEscape(bad),
		}
		for _, u := range get {
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Errorf("GET %q = %d, want a client error", u, resp.StatusCode)
			}
		}
		posts := []struct {
			path string
			form url.Values
		}{
			{"/signin", url.Values{"email": {bad}, "password": {"x"}}},
			{"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {bad}, "client_secret": {"x"}}},
			{"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {app.App.ID}, "client_secret": {app.ClientSecret}, "instance_id": {bad}}},
			{"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {app.App.ID}, "client_secret": {app.ClientSecret}, "code": {bad}, "redirect_uri": {"https://app.example/cb"}}},
			{"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {app.App.ID}, "client_secret": {app.ClientSecret}, "refresh_token": {bad}}},
			{"/oauth2/introspect", url.Values{"client_id": {app.App.ID}, "client_secret": {app.ClientSecret}, "token": {bad}}},
			{"/oauth2/revoke", url.Values{"client_id": {app.App.ID}, "client_secret": {app.ClientSecret}, "token": {bad}}},
		}
		for _, p := range posts {
			resp, err := http.Post(s.URL()+p.path, "application/x-www-form-urlencoded", strings.NewReader(p.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Errorf("POST %s %v = %d %s, want a client error", p.path, p.form, resp.StatusCode, body)
			}
		}
	}
}
