package cli_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// The request log is batched while serving (internal/logbuf): a line
// still shows within a fraction of a second, and shutting down writes
// every line that waited.
func TestRequestLogReachesTheOutput(t *testing.T) {
	out := &testkit.LogBuffer{}
	s := testkit.Start(t, func(m *cli.Main) { m.Logger, m.LogOutput = nil, out })
	get := func(path string) {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// A new database: its schema is created in one logged step.
	if got := strings.Count(out.String(), `msg="creating the database schema"`); got != 1 || strings.Contains(out.String(), "applying database migration") {
		t.Errorf("start on a new database logged the schema %d times (want once, and no migration one by one):\n%s", got, out.String())
	}
	get("/healthz")
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), "path=/healthz status=200") {
		if time.Now().After(deadline) {
			t.Fatalf("2 s after a request its log line has not been written; the log is %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	const n = 50
	for i := range n {
		get(fmt.Sprintf("/healthz?i=%d", i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "path=/healthz status=200"); got != n+1 {
		t.Fatalf("after shutdown the log has %d request lines, want %d", got, n+1)
	}
}

// TestAbandonedRequestsAreNotErrors: a request whose client has gone fails
// with its own cancellation wherever the store heeds it (a list, a write).
// That is no fault of the server's, so the APIs log no error for it, as
// the pages do not (web's TestAbandonedSignInIsNotAnError): an operator
// alerted on error lines would otherwise be woken by clients' timeouts.
func TestAbandonedRequestsAreNotErrors(t *testing.T) {
	const adminToken, callback = "admin-token-for-tests", "https://app.example/cb"
	var log testkit.LogBuffer
	s := testkit.Start(t, func(m *cli.Main) {
		m.Logger, m.AdminToken = slog.New(slog.NewTextHandler(&log, nil)), adminToken
	})
	s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", "ada@example.com")
	app := s.App(t, callback)
	basic := func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(app.App.ID), url.QueryEscape(app.ClientSecret)) }

	// A refresh token, from an authorization code.
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	p := s.Install(t, s.URL()+"/oauth2/authorize?"+url.Values{"response_type": {"code"}, "client_id": {app.App.ID},
		"redirect_uri": {callback}, "state": {"st"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}.Encode(), "ada@example.com")
	loc, err := url.Parse(p.Location)
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("approval = %d to %q, want a redirect with a code", p.Status, p.Location)
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if p := s.Form(t, "/oauth2/token", "", url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {callback}, "code_verifier": {verifier}, "client_id": {app.App.ID}, "client_secret": {app.ClientSecret}}, &tok); p.Status != 200 {
		t.Fatalf("code exchange = %d %s", p.Status, p.Body)
	}

	form := func(path string, v url.Values) *http.Request {
		r := httptest.NewRequest("POST", path, strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		basic(r)
		return r
	}
	list := httptest.NewRequest("GET", "/apps/v1/installations", nil)
	basic(list)
	deliveries := httptest.NewRequest("GET", "/admin/v1/apps/"+app.App.ID+"/deliveries", nil)
	deliveries.Header.Set("Authorization", "Bearer "+adminToken)
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"token endpoint: refresh (a write)", form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})},
		{"app API: installations (a list)", list},
		{"admin API: deliveries (a list)", deliveries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := log.String()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, tc.req.WithContext(ctx))
			if w.Code < 500 {
				t.Fatalf("abandoned request = %d %s, want it to fail with its cancellation (nobody reads the answer)", w.Code, w.Body)
			}
			if logged := strings.TrimPrefix(log.String(), before); strings.Contains(logged, "level=ERROR") || strings.Contains(logged, "level=WARN") {
				t.Errorf("an abandoned request was logged as an error or a warning:\n%s", logged)
			}
		})
	}
}
