// Package testkit boots a whole Doorway (the same Main as the binary) on
// 127.0.0.1:0 with a fresh database and a clock the test moves, and drives
// it like a browser over real HTTP.
//
// The database is a temporary SQLite file, or, with
// DOORWAY_TEST_STORE=postgres, a fresh PostgreSQL schema (package pgtest),
// so the same end-to-end suites run on both backends. A package whose tests
// call Start has a TestMain that runs them through pgtest.Main.
package testkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/pgtest"
	"github.com/doorwayhq/doorway/registry"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
	"github.com/doorwayhq/doorway/store/postgres"
)

// Clock is a settable clock. It starts at the real time, so signatures it
// makes are also valid for verifiers that read the real clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Server is a running Doorway.
type Server struct {
	*cli.Main
	Clock *Clock
	Dir   string
}

// Start runs a Doorway for the test and stops it at cleanup. Each option
// may change the Main before it runs (for example DispatchManually).
func Start(t testing.TB, options ...func(*cli.Main)) *Server {
	t.Helper()
	dir := t.TempDir()
	clock := &Clock{t: time.Now().UTC().Truncate(time.Second)}
	m := &cli.Main{
		DB:     Database(t),
		Addr:   "127.0.0.1:0",
		Now:    clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if postgres.IsURL(m.DB) {
		// PostgreSQL has no key file beside the database; the CLI
		// commands a test runs against this server read the variable.
		m.MasterKey = MasterKey()
		t.Setenv("DOORWAY_MASTER_KEY", m.MasterKey)
	}
	for _, o := range options {
		o(m)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &Server{Main: m, Clock: clock, Dir: dir}
}

// EnvStore chooses the backend of Start and Database: "sqlite" (the
// default) or "postgres".
const EnvStore = "DOORWAY_TEST_STORE"

// Database returns a fresh database for the test: a SQLite file in a
// temporary directory, or a PostgreSQL URL when EnvStore says so.
func Database(t testing.TB) string {
	t.Helper()
	switch v := os.Getenv(EnvStore); v {
	case "", "sqlite":
		return filepath.Join(t.TempDir(), "doorway.db")
	case "postgres":
		return pgtest.URL(t)
	default:
		t.Fatalf("%s=%q: use sqlite or postgres", EnvStore, v)
		return ""
	}
}

// MasterKey returns a new base64 master key.
func MasterKey() string {
	k := make([]byte, secret.MasterKeySize)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// Password is the password of users made by User.
const Password = "correct horse battery"

// User creates a user with Password.
func (s *Server) User(t testing.TB, email string) *doorway.User {
	t.Helper()
	u, err := s.Identity.CreateUser(context.Background(), email, Password)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Tenant creates a tenant owned by the user with ownerEmail.
func (s *Server) Tenant(t testing.TB, name, ownerEmail string) *doorway.Tenant {
	t.Helper()
	tn, err := s.Identity.CreateTenant(context.Background(), name, ownerEmail)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// App registers an app with the given redirect URIs and two permissions.
func (s *Server) App(t testing.TB, redirects ...string) *registry.Created {
	t.Helper()
	return s.AppManifest(t, Manifest(redirects...))
}

// Manifest is the manifest App registers.
func Manifest(redirects ...string) doorway.Manifest {
	return doorway.Manifest{
		ID: "com.example.invoicing", Name: "Invoicing", Version: "1.0.0",
		Permissions: []doorway.PermissionRequest{
			{Permission: "customer_read", Purpose: "To address invoices."},
			{Permission: "invoice_write", Purpose: "To send invoices for you."},
		},
		AllowedRedirectURIs: redirects,
	}
}

// AppManifest registers an app with manifest m.
func (s *Server) AppManifest(t testing.TB, m doorway.Manifest) *registry.Created {
	t.Helper()
	c, err := s.Registry.CreateApp(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Installed is an installation Installs made, and when its approval
// committed.
type Installed struct {
	*doorway.Installation
	CommittedAt time.Time
}

// Installs installs app appID (test mode) into n new tenants of a new user,
// approving through the store rather than the pages, for benchmarks that
// need many installations quickly. With every > 0 the approvals are paced
// one every every.
func (s *Server) Installs(t testing.TB, appID string, n int, every time.Duration) []Installed {
	t.Helper()
	ctx := context.Background()
	u, err := s.Identity.CreateUser(ctx, fmt.Sprintf("installs%d@example.com", time.Now().UnixNano()), Password)
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.Store.App(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	var todo []*doorway.InstallRequest
	for i := range n {
		tn, err := s.Identity.CreateTenant(ctx, fmt.Sprintf("T%d", i), u.Email)
		if err != nil {
			t.Fatal(err)
		}
		now := s.Clock.Now()
		todo = append(todo, &doorway.InstallRequest{ID: secret.ID("req_"), Profile: doorway.ProfileStripeLink, AppID: appID,
			VersionID: app.TestVersionID, Mode: doorway.Test, RedirectURI: "https://app.example/callback",
			BrowserHash: secret.Hash("b"), UserID: u.ID, TenantID: tn.ID, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
	}
	out := make([]Installed, 0, n)
	tick := time.Now()
	for _, r := range todo {
		inst, err := s.Store.Decide(ctx, store.Decision{Request: r, Decision: doorway.Approved, Now: s.Clock.Now(),
			InstallationID: secret.Token("ins_"), EventID: secret.Token("evt_"), GrantID: secret.Token("gr_")})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Installed{inst, time.Now()})
		if every > 0 {
			tick = tick.Add(every)
			time.Sleep(time.Until(tick))
		}
	}
	return out
}

// Install runs an install of a user with one tenant from entryURL to the
// approval, and returns the approval's response (a redirect to the app).
func (s *Server) Install(t testing.TB, entryURL, email string) *Page {
	t.Helper()
	f := s.Browser(t).Start(entryURL)
	if p := f.SignIn(email, Password); !strings.Contains(p.Body, "will be able to") {
		t.Fatalf("after sign-in, want the consent page; got %d:\n%s", p.Status, p.Body)
	}
	return f.Decide("approve")
}

// Call sends a JSON request (body nil: none) with an optional
// Authorization header value and decodes a JSON answer into out (if not
// nil). It returns the response with its body read.
func (s *Server) Call(t testing.TB, method, path, auth string, body any, out any) *Page {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	p := s.Browser(t).Do(req)
	if out != nil && strings.HasPrefix(p.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal([]byte(p.Body), out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, p.Body, err)
		}
	}
	return p
}

// Form posts a form with an optional Authorization header value.
func (s *Server) Form(t testing.TB, path, auth string, form url.Values, out any) *Page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	p := s.Browser(t).Do(req)
	if out != nil && strings.HasPrefix(p.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal([]byte(p.Body), out); err != nil {
			t.Fatalf("POST %s: decode %q: %v", path, p.Body, err)
		}
	}
	return p
}

// Link creates an install link and returns its URL.
func (s *Server) Link(t testing.TB, appID string, mode doorway.Mode) string {
	t.Helper()
	l, err := s.Registry.CreateLink(context.Background(), appID, mode)
	if err != nil {
		t.Fatal(err)
	}
	return s.URL() + "/apps/install/link/" + l.ID
}

// Browser is an HTTP client with cookies that does not follow redirects, so
// a test sees where each step sends it.
type Browser struct {
	t      testing.TB
	Client *http.Client
	Base   string
}

// Browser returns a new browser with an empty cookie jar.
func (s *Server) Browser(t testing.TB) *Browser { return NewBrowser(t, s.URL()) }

// NewBrowser returns a browser with an empty cookie jar for the Doorway at
// base (which may be another process).
func NewBrowser(t testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{t: t, Base: base, Client: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Page is a response with its body read.
type Page struct {
	Status   int
	Location string
	Header   http.Header
	Body     string
}

// CSRF returns the form token on the page.
func (p *Page) CSRF() string { return p.Hidden("csrf") }

// Hidden returns the value of the page's first hidden form field called
// name, or "".
func (p *Page) Hidden(name string) string {
	m := regexp.MustCompile(`type="hidden" name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(p.Body)
	if m == nil {
		return ""
	}
	return m[1]
}

// Do sends a request. A relative URL is taken against the server.
func (b *Browser) Do(req *http.Request) *Page {
	b.t.Helper()
	resp, err := b.Client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &Page{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Header: resp.Header, Body: string(body)}
}

func (b *Browser) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return b.Base + u
	}
	return u
}

// Get fetches a URL.
func (b *Browser) Get(u string) *Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(u), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.Do(req)
}

// Post submits a form.
func (b *Browser) Post(u string, form url.Values) *Page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.abs(u), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.Do(req)
}

// Follow fetches p's Location while it points at the server, and returns
// the first page that is not such a redirect.
func (b *Browser) Follow(p *Page) *Page {
	b.t.Helper()
	for i := 0; p.Location != "" && (strings.HasPrefix(p.Location, "/") || strings.HasPrefix(p.Location, b.Base)); i++ {
		if i > 10 {
			b.t.Fatalf("more than 10 redirects, at %s", p.Location)
		}
		p = b.Get(p.Location)
	}
	return p
}

// Flow is an install in progress.
type Flow struct {
	B       *Browser
	Path    string // /install/{ref}: the request, sealed (install.Engine.Ref)
	Current *Page
}

var installForm = regexp.MustCompile(`<form method="post" action="(/install/[^/"?]+)/`)

// InstallPath returns the /install/{ref} an install page's form posts
// under, or "" when body is no install page.
func InstallPath(body string) string {
	if m := installForm.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// Start opens an install URL, which answers with the first install page in
// place (or, when it used up a single-use token, redirects to the install's
// address), and finds the request's /install/{ref} in that page's form.
func (b *Browser) Start(installURL string) *Flow {
	b.t.Helper()
	first := b.Get(installURL)
	if first.Status == http.StatusSeeOther && strings.HasPrefix(first.Location, "/install/") {
		first = b.Follow(first)
	}
	path := InstallPath(first.Body)
	if first.Status != http.StatusOK || path == "" {
		b.t.Fatalf("GET %s = %d (Location %q), want an install page's form; body:\n%s", installURL, first.Status, first.Location, first.Body)
	}
	return &Flow{B: b, Path: path, Current: first}
}

// Submit posts a form of the flow's current page to /install/…/<step>,
// adding its CSRF token.
func (f *Flow) Submit(step string, form url.Values) *Page {
	f.B.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("csrf") {
		form.Set("csrf", f.Current.CSRF())
	}
	return f.B.Post(f.Path+"/"+step, form)
}

// SignIn signs in and follows to the next page.
func (f *Flow) SignIn(email, password string) *Page {
	f.B.t.Helper()
	f.Current = f.B.Follow(f.Submit("signin", url.Values{"email": {email}, "password": {password}}))
	return f.Current
}

// Choose picks a tenant and follows to the consent page, whose address
// carries the choice.
func (f *Flow) Choose(tenantID string) *Page {
	f.B.t.Helper()
	p := f.Submit("tenant", url.Values{"tenant": {tenantID}})
	if p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/install/") {
		f.Path = p.Location
	}
	f.Current = f.B.Follow(p)
	return f.Current
}

// Decide presses Install ("approve") or Cancel ("cancel") and returns the
// response, which for a decision is a redirect to the app.
func (f *Flow) Decide(decision string) *Page {
	f.B.t.Helper()
	form := url.Values{"decision": {decision}}
	if t := f.Current.Hidden("tenant"); t != "" { // as a browser submits the consent form
		form.Set("tenant", t)
	}
	return f.Submit("decision", form)
}

// LogBuffer is a log destination a server's goroutines share: give it to
// slog.NewTextHandler, or as cli.Main.LogOutput, and read what was logged.
type LogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
