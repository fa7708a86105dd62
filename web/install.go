package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/install"
	"github.com/doorwayhq/doorway/profile/stripelink"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

const (
	browserCookie = "dw_browser"
	sessionCookie = "dw_session"
	maxFormBytes  = 16 << 10
)

// startLink is the install-link entry: it validates the link and starts an
// install request bound to this browser.
func (s *Server) startLink(w http.ResponseWriter, r *http.Request) {
	start, err := stripelink.Parse(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.start(w, r, start)
}

func (s *Server) start(w http.ResponseWriter, r *http.Request, start install.Start) {
	start.BrowserHash = s.bindBrowser(w, r)
	req, err := s.Engine.Start(r.Context(), start)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if start.InstallToken != "" {
		// The entry URL carried a single-use token, now used: the address
		// bar gets the install's own address, which a reload can open.
		http.Redirect(w, r, "/install/"+s.Engine.Ref(req), http.StatusSeeOther)
		return
	}
	s.enter(w, r, req)
}

// enter answers an install entry point with the install's first page (sign
// in, account, or consent) in place, as GitHub's authorize URL does, rather
// than with a redirect to /install/{ref}: the person clicking Install sees
// the page one round trip sooner, and the server answers one request fewer
// per install. Every form and link of the pages names /install/{ref}, so
// the steps after it are the same; reloading the entry makes a new,
// equivalent request (nothing is stored until the decision).
func (s *Server) enter(w http.ResponseWriter, r *http.Request, req *doorway.InstallRequest) {
	f := &flow{ref: s.Engine.Ref(req), req: req}
	if !s.signedIn(w, r, f) {
		return
	}
	s.show(w, r, f)
}

// bindBrowser returns the hash of the browser-binding cookie, setting a new
// cookie when there is none. Install requests are bound to it, so a link to
// someone else's install page leads nowhere.
func (s *Server) bindBrowser(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) >= 26 && len(c.Value) <= 64 {
		return secret.Hash(c.Value)
	}
	v := secret.Token("")
	http.SetCookie(w, &http.Cookie{Name: browserCookie, Value: v, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: s.Secure, SameSite: http.SameSiteLaxMode})
	return secret.Hash(v)
}

func browserHash(r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil {
		return secret.Hash(c.Value)
	}
	return ""
}

func (s *Server) csrfToken(req *doorway.InstallRequest) string {
	return s.Keys.MAC("install-form", req.ID+"\x00"+req.BrowserHash)
}

// flow is what every install step loads first.
type flow struct {
	ref    string // the request as the URL carries it
	req    *doorway.InstallRequest
	user   *doorway.User      // nil when signed out
	member []store.Membership // the user's, read with the session
}

// load loads the install request of the URL for this browser, and for a POST
// checks the form's size and CSRF token; then the browser's session.
func (s *Server) load(w http.ResponseWriter, r *http.Request) (*flow, bool) {
	f, ok := s.open(w, r)
	return f, ok && s.signedIn(w, r, f)
}

// open is load without the session.
func (s *Server) open(w http.ResponseWriter, r *http.Request) (*flow, bool) {
	ref := r.PathValue("ref")
	req, err := s.Engine.Load(ref, browserHash(r))
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, doorway.Errorf(doorway.EInvalid, "The form could not be read (it may be larger than %d KiB).", maxFormBytes>>10))
			return nil, false
		}
		token := r.PostForm.Get("csrf")
		if token == "" || !secret.Equal(token, s.csrfToken(req)) {
			s.fail(w, r, doorway.Errorf(doorway.EForbidden, "The form's security token is missing or wrong. Reload the install page and try again."))
			return nil, false
		}
	}
	return &flow{ref: ref, req: req}, true
}

// signedIn reads the browser's session, if any, into f; false when it has
// failed the request.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, f *flow) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return true
	}
	f.user, f.member, err = s.Identity.SessionUser(r.Context(), c.Value)
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

// loadSignedIn is load for steps that need a signed-in user; a signed-out
// browser (say, a session that expired) is sent back to the install page,
// which asks it to sign in.
func (s *Server) loadSignedIn(w http.ResponseWriter, r *http.Request) (*flow, bool) {
	f, ok := s.load(w, r)
	if ok && f.user == nil {
		s.again(w, r, f)
		return nil, false
	}
	return f, ok
}

func (s *Server) again(w http.ResponseWriter, r *http.Request, f *flow) {
	http.Redirect(w, r, "/install/"+f.ref, http.StatusSeeOther)
}

// installPage shows the step the request needs: sign-in, tenant, consent.
func (s *Server) installPage(w http.ResponseWriter, r *http.Request) {
	if f, ok := s.load(w, r); ok {
		s.show(w, r, f)
	}
}

// show renders the step f's request needs.
func (s *Server) show(w http.ResponseWriter, r *http.Request, f *flow) {
	if f.user == nil {
		s.renderSignIn(w, r, f, http.StatusOK, "", "")
		return
	}
	ms := f.member
	if len(ms) == 0 {
		s.fail(w, r, doorway.Errorf(doorway.EForbidden, "Your account %s is not a member of any %s account, so there is nowhere to install this app. Ask an account owner to add you.", f.user.Email, s.Config.Platform.Name))
		return
	}
	chosen := f.req.TenantID != "" && f.req.UserID == f.user.ID
	if !chosen && len(ms) == 1 {
		// Nothing to choose, and nothing to write: the consent form
		// carries the tenant, and Decide checks the membership again.
		f.req.UserID, f.req.TenantID, chosen = f.user.ID, ms[0].Tenant.ID, true
	}
	v, err := s.Store.AppVersion(r.Context(), f.req.VersionID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := page{Request: f.req, Ref: f.ref, App: v, User: f.user, CSRF: s.csrfToken(f.req), Tenants: ms, CanSwitch: len(ms) > 1}
	if !chosen || (r.URL.Query().Get("step") == "tenant" && len(ms) > 1) {
		p.Title = "Choose an account for " + v.Name
		s.render(w, r, http.StatusOK, "tenant", p)
		return
	}
	for _, m := range ms {
		if m.Tenant.ID == f.req.TenantID {
			p.Tenant = &m.Tenant
		}
	}
	if p.Consent, err = s.fragments.consent(v, s.Config.Permissions); err != nil {
		s.fail(w, r, err)
		return
	}
	p.Title = "Install " + v.Name
	// The decision's 303 goes to the app: allow exactly that origin as a
	// form target, or browsers refuse to follow it.
	if u, err := url.Parse(f.req.RedirectURI); err == nil {
		w.Header().Set("Content-Security-Policy", strings.Replace(defaultCSP, "form-action 'self'",
			"form-action 'self' "+u.Scheme+"://"+u.Host, 1))
	}
	s.render(w, r, http.StatusOK, "consent", p)
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, f *flow, status int, email, msg string) {
	v, err := s.Store.AppVersion(r.Context(), f.req.VersionID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "signin", page{Title: "Sign in to install " + v.Name, Request: f.req, Ref: f.ref, App: v,
		CSRF: s.csrfToken(f.req), Email: email, Error: msg, Action: "/install/" + f.ref + "/signin"})
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	f, ok := s.load(w, r)
	if !ok {
		return
	}
	email, password := r.PostForm.Get("email"), r.PostForm.Get("password")
	if strings.TrimSpace(email) == "" || password == "" {
		s.renderSignIn(w, r, f, http.StatusBadRequest, email, "Enter your email and password.")
		return
	}
	token, _, err := s.Identity.SignIn(r.Context(), email, password, s.ClientIP.Of(r))
	if status := signInRefused(w, err); status != 0 {
		s.renderSignIn(w, r, f, status, email, doorway.ErrorMessage(err))
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(time.Duration(s.Config.Lifetimes.Session).Seconds())})
	s.again(w, r, f)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	f, ok := s.load(w, r)
	if !ok {
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.Identity.SignOut(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.Secure, SameSite: http.SameSiteLaxMode})
	s.again(w, r, f)
}

func (s *Server) chooseTenant(w http.ResponseWriter, r *http.Request) {
	f, ok := s.loadSignedIn(w, r)
	if !ok {
		return
	}
	tenant := r.PostForm.Get("tenant")
	if tenant == "" {
		s.fail(w, r, doorway.Errorf(doorway.EInvalid, "Choose an account to install the app into."))
		return
	}
	ref, err := s.Engine.ChooseTenant(f.req, f.user, f.member, tenant)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/install/"+ref, http.StatusSeeOther)
}

// decide records the Install or Cancel of the consent page. It reads no
// session: the store checks it, and the user's membership of the tenant,
// as it writes the decision (install.Engine.Decide).
func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	f, ok := s.open(w, r)
	if !ok {
		return
	}
	var approve bool
	switch r.PostForm.Get("decision") {
	case "approve":
		approve = true
	case "cancel":
	default:
		s.fail(w, r, doorway.Errorf(doorway.EInvalid, "Press Install or Cancel."))
		return
	}
	var session string
	if c, err := r.Cookie(sessionCookie); err == nil {
		session = c.Value
	}
	target, err := s.Engine.Decide(r.Context(), f.req, session, r.PostForm.Get("tenant"), approve)
	if errors.Is(err, install.ErrSignedOut) {
		s.again(w, r, f)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// hostOf is a template helper: the host a URL leads to.
func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

// initial is a template helper: the first letter of an app name, for the
// icon placeholder.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}
