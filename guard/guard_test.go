package guard_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/guard"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
	"github.com/doorwayhq/doorway/registry"
)

const callback = "https://app.example/wix/installed"

// platformAPI is a platform's own API behind the guard: it answers with the
// caller, and /invoices needs invoice_write.
func platformAPI(t *testing.T, s *testkit.Server) (*httptest.Server, *guard.Guard) {
	g := &guard.Guard{Issuer: s.Issuer, RevocationDelay: 2 * time.Second, Now: s.Clock.Now}
	mux := http.NewServeMux()
	who := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := guard.FromContext(r.Context())
		json.NewEncoder(w).Encode(c)
	})
	mux.Handle("/whoami", who)
	mux.Handle("/invoices", guard.RequirePermission("invoice_write", who))
	mux.Handle("/payments", guard.RequirePermission("payment_read", who))
	api := httptest.NewServer(g.Middleware(mux))
	t.Cleanup(api.Close)
	return api, g
}

func call(t *testing.T, url, auth, account string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if account != "" {
		req.Header.Set(guard.AccountHeader, account)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func installed(t *testing.T, s *testkit.Server) (app *registry.Created, instanceID, tenantID, token string) {
	ada := s.User(t, "ada@example.com")
	tn := s.Tenant(t, "Acme Bakery", ada.Email)
	app = s.App(t, callback)
	p := s.Install(t, "/app-installer?appId="+app.App.ID, ada.Email)
	u, _ := url.Parse(p.Location)
	instanceID = u.Query().Get("instanceId")
	var tok map[string]any
	s.Call(t, "POST", "/oauth2/token", "", map[string]string{"grant_type": "client_credentials",
		"client_id": app.App.ID, "client_secret": app.ClientSecret, "instance_id": instanceID}, &tok)
	return app, instanceID, tn.ID, tok["access_token"].(string)
}

func TestGuardAcceptsTokensAndSecretKeys(t *testing.T) {
	s := testkit.Start(t)
	api, _ := platformAPI(t, s)
	app, instanceID, tenantID, token := installed(t, s)

	for name, c := range map[string][2]string{
		"bare token":   {token, ""},
		"bearer token": {"Bearer " + token, ""},
		"secret key":   {"Bearer " + app.ClientSecret, tenantID},
	} {
		st, who := call(t, api.URL+"/whoami", c[0], c[1])
		if st != 200 || who["InstallationID"] != instanceID || who["TenantID"] != tenantID || who["AppID"] != app.App.ID {
			t.Errorf("%s: %d %v, want the installation in the context", name, st, who)
		}
		if st, _ := call(t, api.URL+"/invoices", c[0], c[1]); st != 200 {
			t.Errorf("%s: /invoices (granted invoice_write) = %d, want 200", name, st)
		}
		if st, body := call(t, api.URL+"/payments", c[0], c[1]); st != 403 || !strings.Contains(body["message"].(string), "payment_read") {
			t.Errorf("%s: /payments (payment_read not granted) = %d %v, want 403 naming it", name, st, body)
		}
	}
	for name, c := range map[string][2]string{
		"no credentials":         {"", ""},
		"garbage token":          {"Bearer abc.def.ghi", ""},
		"secret without account": {"Bearer " + app.ClientSecret, ""},
		"wrong secret":           {"Bearer dwcs_nottherightone", tenantID},
		"secret, other tenant":   {"Bearer " + app.ClientSecret, "tnt_someone_else"},
	} {
		if st, _ := call(t, api.URL+"/whoami", c[0], c[1]); st != 401 {
			t.Errorf("%s = %d, want 401", name, st)
		}
	}
}

// TestUninstallFromInstalledAppsPage uninstalls through the page a tenant's
// member uses, then checks every way the app might still get in.
func TestUninstallFromInstalledAppsPage(t *testing.T) {
	s := testkit.Start(t)
	api, g := platformAPI(t, s)
	app, instanceID, tenantID, token := installed(t, s)
	if st, _ := call(t, api.URL+"/whoami", token, ""); st != 200 {
		t.Fatalf("before uninstall the guard says %d", st)
	}

	b := s.Browser(t)
	signin := b.Get("/settings/apps")
	if signin.Status != http.StatusSeeOther || signin.Location != "/signin" {
		t.Fatalf("signed-out /settings/apps = %d %q, want a redirect to /signin", signin.Status, signin.Location)
	}
	form := b.Get("/signin")
	p := b.Follow(b.Post("/signin", url.Values{"csrf": {form.CSRF()}, "email": {"ada@example.com"}, "password": {testkit.Password}}))
	for _, want := range []string{"Installed apps", "Invoicing", "Acme Bakery", "See your customers", "Create and send invoices", "Uninstall Invoicing"} {
		if !strings.Contains(p.Body, want) {
			t.Fatalf("Installed apps page lacks %q:\n%s", want, p.Body)
		}
	}
	// A forged form is refused.
	if bad := b.Post("/settings/apps/"+instanceID+"/uninstall", url.Values{"csrf": {"forged"}}); bad.Status != 403 {
		t.Fatalf("uninstall with a forged token = %d, want 403", bad.Status)
	}
	done := b.Follow(b.Post("/settings/apps/"+instanceID+"/uninstall", url.Values{"csrf": {p.CSRF()}}))
	if !strings.Contains(done.Body, "No apps are installed") {
		t.Fatalf("after uninstall the page still lists the app:\n%s", done.Body)
	}

	var info map[string]any
	s.Call(t, "POST", "/oauth2/token-info", "", map[string]string{"token": token}, &info)
	if info["active"] != false {
		t.Errorf("token-info after uninstall = %v, want inactive", info)
	}
	in := map[string]any{}
	s.Form(t, "/oauth2/introspect", basicAuth(app), url.Values{"token": {token}}, &in)
	if len(in) != 1 || in["active"] != false {
		t.Errorf("introspection after uninstall = %v, want {\"active\":false}", in)
	}
	if r := s.Call(t, "GET", "/apps/v1/instance", token, nil, nil); r.Status != 401 {
		t.Errorf("instance API after uninstall = %d, want 401", r.Status)
	}
	r := s.Call(t, "POST", "/oauth2/token", "", map[string]string{"grant_type": "client_credentials",
		"client_id": app.App.ID, "client_secret": app.ClientSecret, "instance_id": instanceID}, nil)
	if r.Status != 400 || !strings.Contains(r.Body, "invalid_grant") {
		t.Errorf("instance token after uninstall = %d %s, want invalid_grant", r.Status, r.Body)
	}
	// The guard trusted its last answer for RevocationDelay; after it, it refuses.
	s.Clock.Advance(g.RevocationDelay)
	if st, _ := call(t, api.URL+"/whoami", token, ""); st != 401 {
		t.Errorf("guard %s after uninstall = %d, want 401", g.RevocationDelay, st)
	}
	if st, _ := call(t, api.URL+"/whoami", "Bearer "+app.ClientSecret, tenantID); st != 401 {
		t.Errorf("guard with the secret key after uninstall = %d, want 401", st)
	}

	// Reinstall keeps the instance id with a fresh grant; the old token stays dead.
	p2 := s.Install(t, "/app-installer?appId="+app.App.ID, "ada@example.com")
	u, _ := url.Parse(p2.Location)
	if u.Query().Get("instanceId") != instanceID {
		t.Fatalf("reinstall instanceId = %q, want %q", u.Query().Get("instanceId"), instanceID)
	}
	s.Call(t, "POST", "/oauth2/token-info", "", map[string]string{"token": token}, &info)
	if info["active"] != false {
		t.Fatal("a token from before the uninstall is active again after the reinstall")
	}
	var fresh map[string]any
	if r := s.Call(t, "POST", "/oauth2/token", "", map[string]string{"grant_type": "client_credentials",
		"client_id": app.App.ID, "client_secret": app.ClientSecret, "instance_id": instanceID}, &fresh); r.Status != 200 {
		t.Fatalf("instance token after reinstall = %d %s", r.Status, r.Body)
	}
}

func basicAuth(app *registry.Created) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(app.App.ID, app.ClientSecret)
	return r.Header.Get("Authorization")
}

// TestAppUninstallsItselfAndLists uses the app-level API.
func TestAppUninstallsItselfAndLists(t *testing.T) {
	s := testkit.Start(t)
	app, instanceID, _, token := installed(t, s)

	var list struct {
		Installations []map[string]any `json:"installations"`
		Next          string           `json:"next"`
	}
	r := s.Call(t, "GET", "/apps/v1/installations?limit=10", basicAuth(app), nil, &list)
	if r.Status != 200 || len(list.Installations) != 1 || list.Installations[0]["instanceId"] != instanceID || list.Next != "" {
		t.Fatalf("installations = %d %s", r.Status, r.Body)
	}
	if r := s.Call(t, "GET", "/apps/v1/installations", "", nil, nil); r.Status != 401 {
		t.Fatalf("installations without credentials = %d, want 401", r.Status)
	}
	if r := s.Call(t, "GET", "/apps/v1/installations?limit=1000", basicAuth(app), nil, nil); r.Status != 400 {
		t.Fatalf("limit=1000 = %d, want 400", r.Status)
	}

	if r := s.Call(t, "DELETE", "/apps/v1/instance", token, nil, nil); r.Status != 200 {
		t.Fatalf("self-uninstall = %d %s", r.Status, r.Body)
	}
	if r := s.Call(t, "GET", "/apps/v1/instance", token, nil, nil); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("instance API after self-uninstall = %d, want 401 with WWW-Authenticate", r.Status)
	}
	s.Call(t, "GET", "/apps/v1/installations", basicAuth(app), nil, &list)
	if list.Installations[0]["status"] != "uninstalled" {
		t.Fatalf("listed status = %v, want uninstalled", list.Installations[0]["status"])
	}
}

func rotateKeys(t *testing.T, s *testkit.Server) string {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.Command(strings.NewReader(""), &out)
	cmd.SetArgs([]string{"keys", "rotate", "--db", s.DB, "--json"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || !strings.HasPrefix(v["kid"], "key_") {
		t.Fatalf("keys rotate printed %q", out.String())
	}
	return v["kid"]
}

func kid(t *testing.T, token string) string {
	h, _, _ := strings.Cut(token, ".")
	b, _ := base64.RawURLEncoding.DecodeString(h)
	var m map[string]string
	json.Unmarshal(b, &m)
	return m["kid"]
}

// TestKeyRotationFollowed rotates the signing key with the CLI while the
// server runs: old tokens keep working through the overlap, the server
// switches to the new key within its 30-second cache, and the guard follows
// the new kid without a restart.
func TestKeyRotationFollowed(t *testing.T) {
	s := testkit.Start(t)
	api, _ := platformAPI(t, s)
	app, instanceID, _, old := installed(t, s)
	if st, _ := call(t, api.URL+"/whoami", old, ""); st != 200 {
		t.Fatalf("guard before rotation = %d", st)
	}
	newKid := rotateKeys(t, s)
	s.Clock.Advance(31 * time.Second)

	var tok map[string]any
	s.Call(t, "POST", "/oauth2/token", "", map[string]string{"grant_type": "client_credentials",
		"client_id": app.App.ID, "client_secret": app.ClientSecret, "instance_id": instanceID}, &tok)
	fresh := tok["access_token"].(string)
	if kid(t, fresh) != newKid || kid(t, old) == newKid {
		t.Fatalf("after rotation tokens are signed with %s, want the new key %s", kid(t, fresh), newKid)
	}
	for name, token := range map[string]string{"old-key token": old, "new-key token": fresh} {
		if st, body := call(t, api.URL+"/whoami", token, ""); st != 200 {
			t.Errorf("guard, %s = %d %v, want 200", name, st, body)
		}
		var info map[string]any
		s.Call(t, "POST", "/oauth2/token-info", "", map[string]string{"token": token}, &info)
		if info["active"] != true {
			t.Errorf("token-info, %s = %v", name, info)
		}
	}
	var set struct{ Keys []map[string]any }
	s.Call(t, "GET", "/.well-known/jwks.json", "", nil, &set)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS during the overlap has %d keys, want 2", len(set.Keys))
	}
	s.Clock.Advance(25 * time.Hour)
	s.Call(t, "GET", "/.well-known/jwks.json", "", nil, &set)
	if len(set.Keys) != 1 || set.Keys[0]["kid"] != newKid {
		t.Fatalf("JWKS after the overlap = %v, want only %s", set.Keys, newKid)
	}
}
