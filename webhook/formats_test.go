package webhook_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/appkit"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
	"github.com/doorwayhq/doorway/registry"
)

// delivery is one request a receiver got.
type delivery struct {
	Header http.Header
	Body   []byte
}

// receiver is an app's webhook endpoint: a real HTTP server that records
// each request and answers with reply (200 when nil).
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []delivery
	reply func(w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{r.Header.Clone(), body})
		reply := rc.reply
		rc.mu.Unlock()
		if reply != nil {
			reply(w, r)
			return
		}
		w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) set(reply func(w http.ResponseWriter, r *http.Request)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reply = reply
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// manual starts a Doorway whose dispatcher runs only when the test calls
// DeliverDue, on the test's clock; loopback receivers are allowed.
func manual(t *testing.T) *testkit.Server {
	return testkit.Start(t, func(m *cli.Main) { m.DispatchManually, m.WebhookAllowPrivate = true, true })
}

// appWith registers an app whose webhooks go to url in format f.
func appWith(t testing.TB, s *testkit.Server, url string, f doorway.WebhookFormat) *registry.Created {
	m := testkit.Manifest("https://app.example/callback")
	m.WebhookURL, m.WebhookFormat = url, f
	return s.AppManifest(t, m)
}

// install installs app for a new user with one tenant, with state, and
// returns the instance id.
func install(t *testing.T, s *testkit.Server, appID, email, state string) string {
	t.Helper()
	s.User(t, email)
	s.Tenant(t, "Tenant of "+email, email)
	p := s.Install(t, s.Link(t, appID, doorway.Test)+"?state="+state, email)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("install: %d %s", p.Status, p.Body)
	}
	u, _ := http.NewRequest("GET", p.Location, nil)
	inst, err := s.Store.InstallationFor(context.Background(), appID, u.URL.Query().Get("account_id"), doorway.Test)
	if err != nil {
		t.Fatal(err)
	}
	return inst.ID
}

func deliverDue(t *testing.T, s *testkit.Server) int {
	t.Helper()
	n, err := s.Dispatcher.DeliverDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStandardWebhooksLibrary: the Standard Webhooks reference library
// verifies Doorway's deliveries, also with either secret while a rotation
// overlaps, and the body carries what DESIGN.md promises.
func TestStandardWebhooksLibrary(t *testing.T) {
	s := manual(t)
	rc := newReceiver(t)
	app := appWith(t, s, rc.URL+"/hooks", "")
	if !strings.HasPrefix(app.WebhookSecret, "whsec_") {
		t.Fatalf("webhook secret %q, want whsec_…", app.WebhookSecret)
	}
	instance := install(t, s, app.App.ID, "ada@example.com", "user-7")
	if n := deliverDue(t, s); n != 1 {
		t.Fatalf("delivered %d events, want 1", n)
	}
	got := rc.deliveries()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	wh, err := standardwebhooks.NewWebhook(app.WebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got[0].Body, got[0].Header); err != nil {
		t.Fatalf("standard-webhooks Verify: %v\nheaders: %v", err, got[0].Header)
	}
	// appkit, the app-side SDK, reads the same body.
	var ev appkit.Event
	if err := json.Unmarshal(got[0].Body, &ev); err != nil {
		t.Fatal(err)
	}
	d := ev.Data
	if ev.Type != "app.installed" || ev.ID != got[0].Header.Get("webhook-id") || d.AppID != app.App.ID || d.InstanceID != instance ||
		d.State != "user-7" || d.Sequence != 1 || !strings.Contains(string(got[0].Body), `"livemode":false`) ||
		len(d.Permissions) != 2 || d.TenantID == "" || d.UserID == "" || ev.Created == 0 {
		t.Fatalf("event = %s", got[0].Body)
	}
	// A forged body fails the library's check.
	if err := wh.Verify([]byte(strings.Replace(string(got[0].Body), instance, "ins_forged", 1)), got[0].Header); err == nil {
		t.Fatal("a forged body verified")
	}

	// Rotation: the next delivery verifies with the old and with the new secret.
	rotated, err := s.Registry.RotateSecrets(context.Background(), app.App.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admin.Replay(context.Background(), ev.ID); err != nil {
		t.Fatal(err)
	}
	deliverDue(t, s)
	again := rc.deliveries()[1]
	for _, sec := range []string{app.WebhookSecret, rotated.WebhookSecret} {
		wh, _ := standardwebhooks.NewWebhook(sec)
		if err := wh.Verify(again.Body, again.Header); err != nil {
			t.Fatalf("during the overlap, secret %s…: %v", sec[:10], err)
		}
	}
	if again.Header.Get("webhook-id") != ev.ID {
		t.Fatalf("a replay has webhook-id %q, want the event's id %q", again.Header.Get("webhook-id"), ev.ID)
	}
}

// TestStripeLibrary: stripe-go's ValidatePayload accepts the Stripe-format
// delivery; installs are account.application.authorized and uninstalls
// .deauthorized, as on Stripe.
func TestStripeLibrary(t *testing.T) {
	s := manual(t)
	rc := newReceiver(t)
	app := appWith(t, s, rc.URL+"/stripe", doorway.WebhookStripe)
	instance := install(t, s, app.App.ID, "ada@example.com", "st-1")
	deliverDue(t, s)
	if _, err := s.API.Store.Uninstall(context.Background(), instance, "", "evt_uninstall1", s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	deliverDue(t, s)
	got := rc.deliveries()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(got))
	}
	wantTypes := []string{"account.application.authorized", "account.application.deauthorized"}
	for i, d := range got {
		ev, err := webhook.ConstructEventWithOptions(d.Body, d.Header.Get("Stripe-Signature"), app.WebhookSecret,
			webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
		if err != nil {
			t.Fatalf("stripe-go: %v\nbody: %s", err, d.Body)
		}
		if err := webhook.ValidatePayload(d.Body, d.Header.Get("Stripe-Signature"), app.WebhookSecret); err != nil {
			t.Fatalf("stripe-go ValidatePayload: %v", err)
		}
		if string(ev.Type) != wantTypes[i] || ev.Account == "" || ev.Livemode || ev.Data.Object["id"] != app.App.ID ||
			ev.Data.Object["object"] != "application" || ev.Data.Object["instance_id"] != instance {
			t.Fatalf("event %d = %s", i, d.Body)
		}
	}
	if err := webhook.ValidatePayload(got[0].Body, got[0].Header.Get("Stripe-Signature"), "whsec_wrong"); err == nil {
		t.Fatal("ValidatePayload accepted the wrong secret")
	}
}

// TestWixJWT: a Wix-format delivery is a JWT that a standard JWT library
// verifies with the public key `doorway apps create` printed; its data is
// Wix's nested JSON with eventType AppInstalled.
func TestWixJWT(t *testing.T) {
	s := manual(t)
	rc := newReceiver(t)
	app := appWith(t, s, rc.URL+"/wix", doorway.WebhookWix)
	if app.WebhookPublicKey == "" {
		t.Fatal("no webhook public key for a wix-format app")
	}
	block, _ := pem.Decode([]byte(app.WebhookPublicKey))
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	instance := install(t, s, app.App.ID, "ada@example.com", "st-1")
	deliverDue(t, s)
	got := rc.deliveries()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	tok, err := jwt.ParseSigned(string(got[0].Body), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Data string `json:"data"`
		jwt.Claims
	}
	if err := tok.Claims(pub.(*rsa.PublicKey), &claims); err != nil {
		t.Fatalf("verify with the printed public key: %v", err)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: time.Now()}, time.Minute); err != nil {
		t.Fatal(err)
	}
	var env struct{ EventType, InstanceID, Data string }
	if err := json.Unmarshal([]byte(claims.Data), &env); err != nil {
		t.Fatal(err)
	}
	var data struct{ AppID, State string }
	json.Unmarshal([]byte(env.Data), &data)
	if env.EventType != "AppInstalled" || env.InstanceID != instance || data.AppID != app.App.ID || data.State != "st-1" {
		t.Fatalf("wix envelope = %+v, data %s", env, env.Data)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if other != nil {
		if err := tok.Claims(&other.PublicKey, &claims); err == nil {
			t.Fatal("verified with another key")
		}
	}
	pemOut, err := s.Registry.WebhookPublicKey(context.Background(), app.App.ID)
	if err != nil || pemOut != app.WebhookPublicKey {
		t.Fatalf("webhooks key = %q, %v; want the key printed at create", pemOut, err)
	}
}
