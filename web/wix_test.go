package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// These tests speak only the wire formats of the Wix documents: JSON
// bodies, Wix's field names, and the access token as a bare Authorization
// header.

const wixCallback = "https://app.example/wix/installed"

// wixPayload rebuilds the signed JSON of a doorway_signature by hand.
func wixPayload(t *testing.T, keys []string, q url.Values) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(q.Get(k))
		b.Write(kb)
		b.WriteString(":")
		b.Write(vb)
	}
	b.WriteString("}")
	return []byte(b.String())
}

func TestWixExternalInstallAndInstanceTokens(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	tenant := s.Tenant(t, "Acme Bakery", ada.Email)
	app := s.App(t, wixCallback)

	// The app's own query parameters are its custom state.
	post := wixCallback + "?user=42&ref=mail%20campaign"
	p := s.Install(t, "/app-installer?appId="+app.App.ID+"&postInstallationUrl="+url.QueryEscape(post), ada.Email)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, post+"&appId=") {
		t.Fatalf("approval = %d to %q; want %s with appId, tenantId, instanceId appended", p.Status, p.Location, post)
	}
	u, _ := url.Parse(p.Location)
	q := u.Query()
	if q.Get("user") != "42" || q.Get("ref") != "mail campaign" || q.Get("appId") != app.App.ID || q.Get("tenantId") != tenant.ID ||
		!strings.HasPrefix(q.Get("instanceId"), "ins_") {
		t.Fatalf("redirect query = %v", q)
	}
	// doorway_signature verifies with Stripe's own signature checker.
	payload := wixPayload(t, []string{"appId", "tenantId", "instanceId"}, q)
	if err := webhook.ValidatePayload(payload, q.Get("doorway_signature"), app.SigningSecret); err != nil {
		t.Fatalf("doorway_signature does not verify: %v", err)
	}
	forged := q
	forged.Set("tenantId", "tnt_other")
	if webhook.ValidatePayload(wixPayload(t, []string{"appId", "tenantId", "instanceId"}, forged), q.Get("doorway_signature"), app.SigningSecret) == nil {
		t.Fatal("doorway_signature verifies a forged tenantId")
	}
	instanceID := q.Get("instanceId")

	// Instance token: Wix's JSON client_credentials.
	var tok struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
	}
	r := s.Call(t, "POST", "/oauth2/token", "", map[string]string{"grant_type": "client_credentials",
		"client_id": app.App.ID, "client_secret": app.ClientSecret, "instance_id": instanceID}, &tok)
	if r.Status != 200 || tok.TokenType != "Bearer" || tok.ExpiresIn != 14400 || tok.RefreshToken != "" || tok.AccessToken == "" {
		t.Fatalf("instance token = %d %s; want Bearer, expires_in 14400, no refresh token", r.Status, r.Body)
	}

	var info map[string]any
	s.Call(t, "POST", "/oauth2/token-info", "", map[string]string{"token": tok.AccessToken}, &info)
	if info["active"] != true || info["subjectType"] != "APP" || info["clientId"] != app.App.ID || info["siteId"] != tenant.ID ||
		info["instanceId"] != instanceID || info["exp"] == nil || info["iat"] == nil {
		t.Fatalf("token-info = %v", info)
	}

	var inst struct {
		Instance struct {
			InstanceID  string   `json:"instanceId"`
			AppName     string   `json:"appName"`
			AppVersion  string   `json:"appVersion"`
			Permissions []string `json:"permissions"`
			Status      string   `json:"status"`
		} `json:"instance"`
		Site struct {
			SiteID          string `json:"siteId"`
			SiteDisplayName string `json:"siteDisplayName"`
		} `json:"site"`
	}
	s.Call(t, "GET", "/apps/v1/instance", tok.AccessToken, nil, &inst)
	if inst.Instance.InstanceID != instanceID || inst.Instance.AppName != "Invoicing" || inst.Instance.AppVersion != "1.0.0" ||
		len(inst.Instance.Permissions) != 2 || inst.Instance.Status != "setup_incomplete" || inst.Site.SiteID != tenant.ID ||
		inst.Site.SiteDisplayName != "Acme Bakery" {
		t.Fatalf("instance = %+v", inst)
	}

	// The BI event finishes setup, on either path, bare or Bearer.
	var empty map[string]any
	r = s.Call(t, "POST", "/apps/v1/bi-event", tok.AccessToken, map[string]string{"eventName": "APP_FINISHED_CONFIGURATION"}, &empty)
	if r.Status != 200 || len(empty) != 0 {
		t.Fatalf("bi-event = %d %s, want 200 {}", r.Status, r.Body)
	}
	r = s.Call(t, "POST", "/v1/bi-event", "Bearer "+tok.AccessToken, map[string]string{"eventName": "APP_FINISHED_CONFIGURATION"}, nil)
	if r.Status != 200 {
		t.Fatalf("bi-event on /v1 with Bearer = %d %s", r.Status, r.Body)
	}
	s.Call(t, "GET", "/apps/v1/instance", tok.AccessToken, nil, &inst)
	if inst.Instance.Status != "active" {
		t.Fatalf("status after APP_FINISHED_CONFIGURATION = %s, want active", inst.Instance.Status)
	}
	events, err := s.Store.Events(t.Context(), instanceID)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[1].Type != doorway.EventSetupCompleted {
		t.Fatalf("events = %+v, want app.installed then one app.setup_completed", events)
	}
	r = s.Call(t, "POST", "/apps/v1/bi-event", tok.AccessToken, map[string]string{"eventName": "SOMETHING_ELSE"}, nil)
	if r.Status != 400 || !strings.Contains(r.Body, "APP_FINISHED_CONFIGURATION") {
		t.Fatalf("unknown event = %d %s, want 400 naming APP_FINISHED_CONFIGURATION", r.Status, r.Body)
	}
}

func TestWixAdvancedOAuth(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", ada.Email)
	m := testkit.Manifest(wixCallback)
	m.AppURL = "https://app.example/wix/start"
	app := s.AppManifest(t, m)

	// The platform sends the user to the app URL with a single-use token.
	b := s.Browser(t)
	p := b.Get("/market/" + app.App.ID + "/install")
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, m.AppURL+"?token=") {
		t.Fatalf("market install = %d to %q, want the app URL with a token", p.Status, p.Location)
	}
	lu, _ := url.Parse(p.Location)
	token := lu.Query().Get("token")

	// The app forwards the user to /installer/install.
	entry := "/installer/install?token=" + url.QueryEscape(token) + "&appId=" + app.App.ID +
		"&redirectUrl=" + url.QueryEscape(wixCallback) + "&state=my-user-7"
	p = s.Install(t, entry, ada.Email)
	u, _ := url.Parse(p.Location)
	q := u.Query()
	if p.Status != http.StatusSeeOther || u.Scheme+"://"+u.Host+u.Path != wixCallback || q.Get("code") == "" ||
		!strings.HasPrefix(q.Get("instanceId"), "ins_") || q.Get("state") != "my-user-7" {
		t.Fatalf("approval = %d to %q, want code, instanceId, state", p.Status, p.Location)
	}
	if err := webhook.ValidatePayload(wixPayload(t, []string{"code", "instanceId", "state"}, q), q.Get("doorway_signature"), app.SigningSecret); err != nil {
		t.Fatalf("doorway_signature: %v", err)
	}
	// The install token is single-use.
	if again := s.Browser(t).Get(entry); again.Status != http.StatusGone {
		t.Fatalf("reusing the install token = %d, want 410", again.Status)
	}

	var tok map[string]any
	r := s.Call(t, "POST", "/oauth/access", "", map[string]string{"grant_type": "authorization_code",
		"client_id": app.App.ID, "client_secret": app.ClientSecret, "code": q.Get("code")}, &tok)
	if r.Status != 200 || tok["access_token"] == nil || tok["refresh_token"] == nil || tok["expires_in"] != float64(300) {
		t.Fatalf("/oauth/access = %d %s; want access_token, refresh_token, 5-minute expiry", r.Status, r.Body)
	}
	refresh := tok["refresh_token"].(string)

	// The window closes on close-window, which names the app.
	cw := s.Browser(t).Get("/installer/close-window?access_token=" + url.QueryEscape(tok["access_token"].(string)))
	if cw.Status != 200 || !strings.Contains(cw.Body, "Installation complete") || !strings.Contains(cw.Body, "Invoicing") ||
		!strings.Contains(cw.Body, `src="/static/close.js"`) {
		t.Fatalf("close-window = %d:\n%s", cw.Status, cw.Body)
	}

	// Refresh: a new access token; the refresh token does not rotate.
	s.Clock.Advance(6 * time.Minute)
	var info map[string]any
	s.Call(t, "POST", "/oauth2/token-info", "", map[string]string{"token": tok["access_token"].(string)}, &info)
	if info["active"] != false {
		t.Fatalf("5-minute token after 6 minutes: %v, want inactive", info)
	}
	for range 2 {
		var next map[string]any
		r = s.Call(t, "POST", "/oauth/access", "", map[string]string{"grant_type": "refresh_token",
			"client_id": app.App.ID, "client_secret": app.ClientSecret, "refresh_token": refresh}, &next)
		if r.Status != 200 || next["refresh_token"] != refresh || next["access_token"] == tok["access_token"] {
			t.Fatalf("refresh = %d %s; want a new access token and the same refresh token", r.Status, r.Body)
		}
	}
}

// TestTokenEntryRedirectsToItsAddress: an entry that uses up a single-use
// install token answers with a redirect to the install's own address, not
// with the page, so reloading the page does not replay the used token.
func TestTokenEntryRedirectsToItsAddress(t *testing.T) {
	s := testkit.Start(t)
	m := testkit.Manifest(wixCallback)
	m.AppURL = "https://app.example/wix/start"
	app := s.AppManifest(t, m)
	b := s.Browser(t)
	lu, _ := url.Parse(b.Get("/market/" + app.App.ID + "/install").Location)
	entry := "/installer/install?token=" + url.QueryEscape(lu.Query().Get("token")) + "&appId=" + app.App.ID +
		"&redirectUrl=" + url.QueryEscape(wixCallback)
	p := b.Get(entry)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/install/") {
		t.Fatalf("entry with an install token = %d to %q, want 303 to /install/…", p.Status, p.Location)
	}
	for range 2 { // the page, then a reload of it
		if page := b.Get(p.Location); page.Status != http.StatusOK || testkit.InstallPath(page.Body) == "" {
			t.Fatalf("GET %s = %d, want the install page:\n%.300s", p.Location, page.Status, page.Body)
		}
	}
}
