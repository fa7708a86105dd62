// Package web assembles Doorway's HTTP surface: routes, middleware, and the
// server-rendered install pages.
//
// Every response carries a Content-Security-Policy with frame-ancestors
// 'none' and X-Frame-Options: DENY (no clickjacking of consent), and
// Referrer-Policy: no-referrer (install URLs carry state). Every form is
// protected twice: net/http's CrossOriginProtection rejects cross-site
// POSTs by Sec-Fetch-Site/Origin, and each form carries a token that is an
// HMAC of the install request and the browser-binding cookie, which a
// cross-site page can neither read nor compute. Pages work without
// JavaScript; the only script (static/close.js) closes the Wix installer
// window on /installer/close-window.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/appapi"
	"github.com/doorwayhq/doorway/clientip"
	"github.com/doorwayhq/doorway/config"
	"github.com/doorwayhq/doorway/identity"
	"github.com/doorwayhq/doorway/install"
	"github.com/doorwayhq/doorway/oauth"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Mounter adds routes to the server (the demo's sample app uses it).
type Mounter interface{ Mount(mux *http.ServeMux) }

// Server is Doorway's HTTP server.
type Server struct {
	Store    store.Store
	Engine   *install.Engine
	Identity *identity.Service
	Keys     *secret.Keyring
	Config   *config.Config
	Logger   *slog.Logger
	Secure   bool // the issuer is https: cookies get Secure
	Mounts   []Mounter
	Issuer   string            // the OAuth issuer, sent as iss (RFC 9207)
	OAuth    *oauth.Server     // token endpoints; also checks access tokens
	API      *appapi.API       // the app API
	ClientIP clientip.Resolver // the address failed sign-ins are counted by

	pages     map[string]*template.Template
	fragments *fragments
	chrome    chrome // the pages' bar and footer, rendered once
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler {
	s.pages, s.fragments = parsePages(), newFragments()
	var err error
	if s.chrome, err = s.fragments.chrome(s.Config.Platform); err != nil {
		panic("web: the pages' bar and footer: " + err.Error()) // fragments.html is embedded; its tests run it
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /static/theme.css", s.theme)
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))

	mux.HandleFunc("GET /apps/install/link/{linkID}", s.startLink)
	mux.HandleFunc("GET /install/{ref}", s.installPage)
	mux.HandleFunc("POST /install/{ref}/signin", s.signIn)
	mux.HandleFunc("POST /install/{ref}/signout", s.signOut)
	mux.HandleFunc("POST /install/{ref}/tenant", s.chooseTenant)
	mux.HandleFunc("POST /install/{ref}/decision", s.decide)
	mux.HandleFunc("GET /app-installer", s.startWixExternal)
	mux.HandleFunc("GET /installer/install", s.startWixOAuth)
	mux.HandleFunc("GET /installer/close-window", s.closeWindow)
	mux.HandleFunc("GET /oauth2/authorize", s.authorize)
	mux.HandleFunc("GET /market/{appID}/install", s.marketInstall)
	mux.HandleFunc("GET /signin", s.signInPage)
	mux.HandleFunc("POST /signin", s.signInPost)
	mux.HandleFunc("GET /settings/apps", s.installedApps)
	mux.HandleFunc("POST /settings/apps/{id}/uninstall", s.uninstall)
	if s.OAuth != nil {
		s.OAuth.Mount(mux)
	}
	if s.API != nil {
		s.API.Mount(mux)
	}
	for _, m := range s.Mounts {
		m.Mount(mux)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, doorway.Errorf(doorway.ENotFound, "There is no page at %s.", r.URL.Path))
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, doorway.Errorf(doorway.EForbidden, "This form was sent from another site, so it was refused. Go back to the install page and try again."))
	}))
	return s.recoverer(s.logRequests(securityHeaders(cop.Handler(mux))))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
}

// readyz is for a load balancer: 200 while this node can reach the
// database, 503 while it cannot (healthz only says the process is up).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.Store.Ping(ctx); err != nil {
		s.Logger.Warn("readyz: database unavailable", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"status": "database unavailable"})
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "home", page{Title: s.Config.Platform.Name})
}

func (s *Server) theme(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	fmt.Fprintf(w, ":root { --accent: %s; }\n", s.Config.Platform.AccentColor)
}

// defaultCSP allows only our own styles and https images (app icons), and
// forms that post to us.
const defaultCSP = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, s := range securityHeaderValues {
			h[s.name] = s.value
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaderValues are on every response. Each value is a slice that
// every response shares and nothing changes, put in the header map as it
// is: Header.Set would make a new one per header per request. A handler's
// Set replaces it, and its Add appends to a copy (the slice is full).
var securityHeaderValues = [...]struct {
	name  string
	value []string
}{
	{"Content-Security-Policy", []string{defaultCSP}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Referrer-Policy", []string{"no-referrer"}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// logRequests logs one line per request. It logs the path but never the
// query: install URLs carry state and, later, tokens.
// maxLoggedPath is how much of a path the request log keeps: enough to
// tell pages apart, not the whole sealed install request of an install
// page's address (hundreds of bytes, of no use in a log).
const maxLoggedPath = 64

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		path := r.URL.Path
		if len(path) > maxLoggedPath { // an install page's sealed request
			path = path[:maxLoggedPath] + "…"
		}
		s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "http", slog.String("method", r.Method),
			slog.String("path", path), slog.Int("status", sw.status), slog.Duration("took", time.Since(start)))
	})
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.fail(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusOf maps an error code to an HTTP status.
func statusOf(code string) int {
	switch code {
	case doorway.EInvalid:
		return http.StatusBadRequest
	case doorway.ENotFound:
		return http.StatusNotFound
	case doorway.EConflict:
		return http.StatusConflict
	case doorway.EExpired:
		return http.StatusGone
	case doorway.EUnauthorized:
		return http.StatusUnauthorized
	case doorway.EForbidden:
		return http.StatusForbidden
	case doorway.EUnavailable:
		return http.StatusServiceUnavailable
	case doorway.ELimited:
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

// fail renders an error page. Internal errors are logged and shown as a
// generic message; all others are shown as they are.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := store.Code(err)
	title, msg := "This install cannot continue", doorway.ErrorMessage(err)
	switch code {
	case doorway.EInternal:
		// A request whose client has gone fails with the cancellation
		// (a sign-in waiting for its turn to hash, a query under way):
		// nothing went wrong on this side, and the request's own log
		// line says it ended.
		if !store.Abandoned(r.Context(), err) {
			s.Logger.Error("internal error", "path", r.URL.Path, "err", err)
		}
		title = "Something went wrong on our side"
	case doorway.EUnavailable:
		s.Logger.Warn("database unavailable", "path", r.URL.Path, "err", err)
		title, msg = "Please try again in a moment", "We cannot reach our database right now. Reload this page in a few seconds; nothing you entered was lost."
		w.Header().Set("Retry-After", "1")
	}
	s.render(w, r, statusOf(code), "error", page{Title: title, Error: msg})
}

func parsePages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, name := range []string{"home", "error", "signin", "tenant", "consent", "closewindow", "installed"} {
		pages[name] = template.Must(template.New("layout.html").Funcs(template.FuncMap{
			"hostOf":  hostOf,
			"initial": initial,
		}).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

// page is the data every template gets.
type page struct {
	Title     string
	Platform  config.Platform
	Error     string
	CSRF      string
	Request   *doorway.InstallRequest
	Ref       string // the request in the install pages' URL: /install/{Ref}
	App       *doorway.AppVersion
	User      *doorway.User
	Email     string
	Tenants   []store.Membership
	Tenant    *doorway.Tenant
	Consent   consentParts // the consent page's parts of the app version
	Chrome    chrome
	CanSwitch bool
	Action    string
	Installed []installedView
}

type permissionView struct {
	Name, Description, Purpose string
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Platform, p.Chrome = s.Config.Platform, s.chrome
	buf := getBuffer()
	defer putBuffer(buf)
	if err := s.pages[name].Execute(buf, p); err != nil {
		s.Logger.Error("render", "page", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// signInRefused returns the status of a sign-in error the form is shown
// again for, with its message: a wrong email or password (401), or too
// many of them (429, with Retry-After). 0: any other error, or none.
func signInRefused(w http.ResponseWriter, err error) int {
	var limited *identity.Limited
	switch {
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", strconv.Itoa(int(limited.Wait.Seconds())))
		return http.StatusTooManyRequests
	case doorway.ErrorCode(err) == doorway.EUnauthorized:
		return http.StatusUnauthorized
	}
	return 0
}
