// Package demo seeds a platform to click through and serves a sample app,
// "Invoicely", that does what a real app does with an install link: it sends
// the user to the link with a state it remembers, and on the way back checks
// install_signature (with package appkit) and the state.
//
// The sample app is mounted under /demo-app/ on the Doorway server itself so
// the demo is one process; it talks to Doorway only through the browser and
// its webhook endpoint, as an external app would. It verifies each webhook
// with appkit.VerifyWebhook and lists the latest on its pages.
package demo

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/appkit"
	"github.com/doorwayhq/doorway/identity"
	"github.com/doorwayhq/doorway/registry"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// Demo credentials, printed by `doorway demo`.
const (
	Email    = "demo@doorway.test"
	Password = "doorway-demo"
)

// App is the seeded sample app.
type App struct {
	AppID         string
	LinkURL       string // the install link, test mode
	SigningSecret string
	WebhookSecret string
	Issuer        string
	Now           func() time.Time

	mu       sync.Mutex
	received []Received // newest first
}

// Received is a webhook the sample app got and verified.
type Received struct {
	ID, Type, Instance, State string
	Sequence                  int64
	At                        string
}

// Received returns the webhooks received so far, newest first.
func (a *App) Received() []Received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Received(nil), a.received...)
}

// Seed creates the demo user and two tenants (unless they exist) and a new
// sample app whose redirect lands on issuer/demo-app/callback.
func Seed(ctx context.Context, st store.Store, ids *identity.Service, reg *registry.Registry, issuer string) (*App, error) {
	u, err := st.UserByEmail(ctx, Email)
	if errors.Is(err, store.ErrNotFound) {
		u, err = ids.CreateUser(ctx, Email, Password)
	}
	if err != nil {
		return nil, fmt.Errorf("seed demo user: %w", err)
	}
	ms, err := st.Memberships(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		for _, name := range []string{"Acme Bakery", "Blue Harbor Studio"} {
			if _, err := ids.CreateTenant(ctx, name, Email); err != nil {
				return nil, fmt.Errorf("seed demo tenant: %w", err)
			}
		}
	}
	m := doorway.Manifest{
		ID: "com.example.invoicely", Name: "Invoicely", Version: "1.0.0",
		Permissions: []doorway.PermissionRequest{
			{Permission: "customer_read", Purpose: "To address invoices to your customers."},
			{Permission: "invoice_write", Purpose: "To create and send invoices for you."},
		},
		AllowedRedirectURIs: []string{issuer + "/demo-app/callback"},
		WebhookURL:          issuer + "/demo-app/webhooks",
	}
	c, err := reg.CreateApp(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("seed demo app: %w", err)
	}
	link, err := reg.CreateLink(ctx, c.App.ID, doorway.Test)
	if err != nil {
		return nil, err
	}
	return &App{AppID: c.App.ID, LinkURL: issuer + "/apps/install/link/" + link.ID, SigningSecret: c.SigningSecret,
		WebhookSecret: c.WebhookSecret, Issuer: issuer, Now: reg.Now}, nil
}

const stateCookie = "invoicely_state"

// Mount implements web.Mounter.
func (a *App) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /demo-app/{$}", a.home)
	mux.HandleFunc("GET /demo-app/install", a.install)
	mux.HandleFunc("GET /demo-app/callback", a.callback)
	mux.HandleFunc("POST /demo-app/webhooks", a.webhook)
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	render(w, http.StatusOK, view{Title: "Invoicely", Start: true, Received: a.Received()})
}

// webhook is the app's webhook endpoint: verify, remember, answer at once.
func (a *App) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	e, err := appkit.VerifyWebhook(body, r.Header, []string{a.WebhookSecret}, a.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, seen := range a.received {
		if seen.ID == e.ID {
			w.WriteHeader(http.StatusNoContent) // a retry of one we have: acknowledge, do nothing
			return
		}
	}
	got := Received{ID: e.ID, Type: e.Type, Instance: e.Data.InstanceID, State: e.Data.State, Sequence: e.Data.Sequence,
		At: time.Unix(e.Created, 0).UTC().Format(time.RFC3339)}
	a.received = append([]Received{got}, a.received[:min(len(a.received), 19)]...)
	w.WriteHeader(http.StatusNoContent)
}

// install is the app's "Install on …" button: it remembers a fresh state
// and sends the browser to the install link.
func (a *App) install(w http.ResponseWriter, r *http.Request) {
	state := secret.Token("st_")
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: "/demo-app/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 900})
	q := url.Values{"redirect_uri": {a.Issuer + "/demo-app/callback"}, "state": {state}}
	http.Redirect(w, r, a.LinkURL+"?"+q.Encode(), http.StatusSeeOther)
}

func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	in, err := appkit.VerifyInstallLink(r.URL.Query(), []string{a.SigningSecret}, a.Now())
	switch {
	case errors.Is(err, appkit.ErrDenied):
		render(w, http.StatusOK, view{Title: "Install cancelled", Message: "You cancelled the install. Nothing was installed.", Start: true})
		return
	case err != nil:
		render(w, http.StatusBadRequest, view{Title: "Install not verified", Message: err.Error()})
		return
	}
	c, cerr := r.Cookie(stateCookie)
	stateOK := cerr == nil && in.HasState && secret.Equal(c.Value, in.State)
	if !stateOK {
		render(w, http.StatusBadRequest, view{Title: "Install not verified", Message: "The state does not match the one this browser started with."})
		return
	}
	render(w, http.StatusOK, view{Title: "Invoicely is installed", Verified: true, Install: in, Received: a.Received()})
}

type view struct {
	Title    string
	Message  string
	Start    bool
	Verified bool
	Install  *appkit.Install
	Received []Received
}

var page = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Invoicely (sample app)</title><link rel="stylesheet" href="/static/style.css"><link rel="stylesheet" href="/static/theme.css"></head>
<body><header class="bar"><span class="platform">Invoicely</span><span class="muted">a sample app for the Doorway demo</span></header>
<main class="card">
<h1>{{.Title}}</h1>
{{if .Message}}<p role="status">{{.Message}}</p>{{end}}
{{if .Verified}}
<p id="verified" class="verified">✓ Signature verified with the app's signing secret, and the state matches.</p>
<dl class="facts">
<dt>user_id</dt><dd id="user-id">{{.Install.UserID}}</dd>
<dt>account_id</dt><dd id="account-id">{{.Install.AccountID}}</dd>
<dt>state</dt><dd id="state">{{.Install.State}}</dd>
<dt>livemode</dt><dd id="livemode">{{.Install.Livemode}}</dd>
</dl>
{{end}}
{{if .Start}}<p>Invoicely sends invoices for your business. Install it to connect your account.</p>
<p><a class="primary button" id="install" href="/demo-app/install">Install Invoicely</a></p>{{end}}
<h2>Webhooks received</h2>
{{if .Received}}<p class="muted">Verified with the app's webhook secret; newest first. Reload to see new ones.</p>
<table id="webhooks" class="log"><thead><tr><th scope="col">Event</th><th scope="col">Instance</th><th scope="col">Sequence</th><th scope="col">State</th></tr></thead><tbody>
{{range .Received}}<tr><td>{{.Type}}</td><td>{{.Instance}}</td><td>{{.Sequence}}</td><td>{{.State}}</td></tr>
{{end}}</tbody></table>
{{else}}<p class="muted" id="no-webhooks">None yet. Install the app, then uninstall it at <a href="/settings/apps">Installed apps</a>: each sends one.</p>{{end}}
</main></body></html>`))

func render(w http.ResponseWriter, status int, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	page.Execute(w, v)
}
