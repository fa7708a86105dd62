package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/admin"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// TestWebhooksCLIAndAdminAPI: the delivery log and replay, from the CLI
// (against the database of a running server) and over the admin API.
func TestWebhooksCLIAndAdminAPI(t *testing.T) {
	const adminToken = "admin-token-for-tests"
	s := testkit.Start(t, func(m *cli.Main) { m.WebhookAllowPrivate, m.AdminToken = true, adminToken })
	var fail atomic.Bool
	fail.Store(true)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "not today", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	m := testkit.Manifest("https://app.example/callback")
	m.WebhookURL = rc.URL + "/hooks"
	app := s.AppManifest(t, m)
	s.User(t, "ada@example.com")
	s.Tenant(t, "Acme", "ada@example.com")
	s.Install(t, s.Link(t, app.App.ID, doorway.Test), "ada@example.com")

	var page admin.Deliveries
	waitFor(t, "the first attempt in the log", func() bool {
		out, err := run(t, "", "webhooks", "deliveries", app.App.ID, "--db", s.DB, "--json")
		if err != nil {
			t.Fatal(err)
		}
		page = admin.Deliveries{}
		json.Unmarshal([]byte(out), &page)
		return len(page.Deliveries) == 1
	})
	d := page.Deliveries[0]
	if d.Status != 500 || d.Outcome != "pending" || d.EventType != "app.installed" || d.NextAttemptAt == "" ||
		!strings.Contains(d.Response, "not today") || !strings.Contains(d.Error, "answered 500") {
		t.Fatalf("delivery = %+v", d)
	}
	text, err := run(t, "", "webhooks", "deliveries", app.App.ID, "--db", s.DB)
	if err != nil || !strings.Contains(text, d.EventID) || !strings.Contains(text, "next try") {
		t.Fatalf("deliveries table: %q, %v", text, err)
	}

	// Replay from the CLI; the running server sends it (its clock is moved
	// past the CLI's "now").
	fail.Store(false)
	out, err := run(t, "", "webhooks", "replay", d.EventID, "--db", s.DB)
	if err != nil || !strings.Contains(out, "Queued "+d.EventID) {
		t.Fatalf("replay: %q, %v", out, err)
	}
	s.Clock.Advance(time.Minute)
	waitFor(t, "the replay to be delivered", func() bool {
		e, err := s.Store.Event(context.Background(), d.EventID)
		return err == nil && e.Delivery == doorway.Delivered
	})
	if _, err := run(t, "", "webhooks", "replay", "evt_nope", "--db", s.DB); err == nil || !strings.Contains(err.Error(), `event "evt_nope" does not exist`) {
		t.Fatalf("replay of an unknown event: %v", err)
	}

	// The admin API answers the same.
	var api admin.Deliveries
	bearer := "Bearer " + adminToken
	if p := s.Call(t, "GET", "/admin/v1/apps/"+app.App.ID+"/deliveries?limit=1", bearer, nil, &api); p.Status != 200 ||
		len(api.Deliveries) != 1 || api.Deliveries[0].Outcome != "delivered" || api.Deliveries[0].Status != 204 || api.Next == 0 {
		t.Fatalf("admin deliveries = %d %s", p.Status, p.Body)
	}
	if p := s.Call(t, "GET", "/admin/v1/apps/"+app.App.ID+"/deliveries?before="+strconv.FormatInt(api.Next, 10), bearer, nil, &api); p.Status != 200 ||
		len(api.Deliveries) != 1 || api.Deliveries[0].Status != 500 {
		t.Fatalf("admin deliveries, older page = %d %s", p.Status, p.Body)
	}
	var replayed admin.Event
	if p := s.Call(t, "POST", "/admin/v1/events/"+d.EventID+"/replay", bearer, nil, &replayed); p.Status != 200 ||
		replayed.Delivery != "pending" || replayed.ID != d.EventID {
		t.Fatalf("admin replay = %d %s", p.Status, p.Body)
	}
	bad := []struct {
		method, path, auth string
		status             int
		says               string
	}{
		{"GET", "/admin/v1/apps/" + app.App.ID + "/deliveries", "", 401, "Authorization: Bearer"},
		{"GET", "/admin/v1/apps/" + app.App.ID + "/deliveries", "Bearer wrong", 401, "Authorization: Bearer"},
		{"GET", "/admin/v1/apps/" + app.App.ID + "/deliveries?limit=500", bearer, 400, "from 1 to 200"},
		{"GET", "/admin/v1/apps/" + app.App.ID + "/deliveries?before=x", bearer, 400, "before"},
		{"GET", "/admin/v1/apps/app_nope/deliveries", bearer, 404, `app "app_nope" does not exist`},
		{"POST", "/admin/v1/events/evt_nope/replay", bearer, 404, `event "evt_nope" does not exist`},
		{"POST", "/admin/v1/apps/app_nope/webhooks/enable", bearer, 404, "does not exist"},
	}
	for _, b := range bad {
		var e struct{ Message string }
		if p := s.Call(t, b.method, b.path, b.auth, nil, &e); p.Status != b.status || !strings.Contains(e.Message, b.says) {
			t.Errorf("%s %s (auth %q) = %d %s; want %d saying %q", b.method, b.path, b.auth, p.Status, p.Body, b.status, b.says)
		}
	}

	off := testkit.Start(t)
	var e struct{ Message string }
	if p := off.Call(t, "GET", "/admin/v1/apps/"+app.App.ID+"/deliveries", bearer, nil, &e); p.Status != 404 || !strings.Contains(e.Message, "--admin-token") {
		t.Fatalf("admin API without a token configured = %d %s", p.Status, p.Body)
	}
}

// TestWebhookSecretsFromCLI: apps create prints the webhook secret, and
// for a wix-format app the public key that `webhooks key` prints again.
func TestWebhookSecretsFromCLI(t *testing.T) {
	db := t.TempDir() + "/doorway.db"
	app := runJSON(t, "apps", "create", "--db", db, "--manifest", writeManifest(t, manifest), "--json")
	if !strings.HasPrefix(app["webhook_secret"], "whsec_") || app["webhook_public_key"] != "" {
		t.Fatalf("apps create JSON = %v, want a whsec_ webhook_secret and no public key", app)
	}
	if _, err := run(t, "", "webhooks", "key", app["id"], "--db", db); err == nil || !strings.Contains(err.Error(), "webhook_format is wix") {
		t.Fatalf("webhooks key of a standard app: %v", err)
	}
	wix := strings.Replace(manifest, `"version":"1.0.0",`, `"version":"1.0.0","webhook_format":"wix","webhook_url":"https://app.example/wix",`, 1)
	wapp := runJSON(t, "apps", "create", "--db", db, "--manifest", writeManifest(t, wix), "--json")
	if !strings.HasPrefix(wapp["webhook_public_key"], "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("wix app JSON = %v, want webhook_public_key", wapp)
	}
	out, err := run(t, "", "webhooks", "key", wapp["id"], "--db", db)
	if err != nil || out != wapp["webhook_public_key"] {
		t.Fatalf("webhooks key = %q, %v; want the key printed at create", out, err)
	}
	// A later version that switches to wix gets the app a key.
	v2 := strings.Replace(wix, `"version":"1.0.0"`, `"version":"2.0.0"`, 1)
	if _, err := run(t, "", "apps", "versions", "add", app["id"], "--db", db, "--manifest", writeManifest(t, v2)); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "", "webhooks", "key", app["id"], "--db", db); err != nil || !strings.HasPrefix(out, "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("webhooks key after a wix version: %q, %v", out, err)
	}
	bad := strings.Replace(manifest, `"version":"1.0.0",`, `"version":"1.0.0","webhook_format":"slack",`, 1)
	if _, err := run(t, "", "apps", "create", "--db", db, "--manifest", writeManifest(t, bad)); err == nil || !strings.Contains(err.Error(), `"webhook_format" "slack" must be one of standard, stripe, wix`) {
		t.Fatalf("unknown webhook_format: %v", err)
	}
	out, err = run(t, "", "webhooks", "enable", app["id"], "--db", db)
	if err != nil || !strings.Contains(out, "0 held-back event(s)") {
		t.Fatalf("webhooks enable: %q, %v", out, err)
	}
	rot := runJSON(t, "apps", "secrets", "rotate", app["id"], "--db", db, "--json")
	if !strings.HasPrefix(rot["webhook_secret"], "whsec_") || rot["webhook_secret"] == app["webhook_secret"] {
		t.Fatalf("rotate JSON = %v, want a new webhook_secret", rot)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
