package web

import (
	"net/http"
	"net/url"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/install"
	"github.com/doorwayhq/doorway/profile/oauth2"
	"github.com/doorwayhq/doorway/profile/wixexternal"
	"github.com/doorwayhq/doorway/profile/wixoauth"
)

// The entry points of the profiles other than stripe-link.

func (s *Server) startWixExternal(w http.ResponseWriter, r *http.Request) {
	start, err := wixexternal.Parse(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.start(w, r, start)
}

func (s *Server) startWixOAuth(w http.ResponseWriter, r *http.Request) {
	start, err := wixoauth.Parse(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.start(w, r, start)
}

// authorize is the OAuth 2.0 authorization endpoint: an error page until
// client_id and redirect_uri are trusted, RFC 6749 error redirects after.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	req, err := oauth2.Parse(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.Engine.Resolve(r.Context(), req.Start)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.CheckScope(t.Version)
	p := oauth2.Profile{Issuer: s.Issuer}
	if req.Problem != nil {
		http.Redirect(w, r, p.ErrorRedirect(t.RedirectURI, req.Start, req.Problem), http.StatusSeeOther)
		return
	}
	req.Start.BrowserHash = s.bindBrowser(w, r)
	ir, err := s.Engine.Begin(r.Context(), t, req.Start)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.enter(w, r, ir)
}

// InstallTokenTTL is how long the token a platform-initiated install sends
// to the app URL stays usable.
const InstallTokenTTL = 10 * time.Minute

// marketInstall starts an install from the platform itself (its app
// market). An app whose version has an app URL (Wix's advanced OAuth) gets
// the user first, with a single-use token it passes on to
// /installer/install; any other app is installed through the usual pages
// and the user lands on its first redirect URI.
func (s *Server) marketInstall(w http.ResponseWriter, r *http.Request) {
	start := install.Start{Profile: doorway.ProfileWixExternal, AppID: r.PathValue("appID")}
	t, err := s.Engine.Resolve(r.Context(), start)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if t.Version.AppURL == "" {
		start.BrowserHash = s.bindBrowser(w, r)
		ir, err := s.Engine.Begin(r.Context(), t, start)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.enter(w, r, ir)
		return
	}
	token := s.Engine.InstallToken(t.App.ID, t.Mode, InstallTokenTTL) // sealed: nothing is written
	u, err := url.Parse(t.Version.AppURL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := u.Query()
	q.Set("token", token)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// closeWindow ends a Wix advanced-OAuth install: it says so and closes the
// window (with a script file: inline scripts are not allowed by the CSP).
func (s *Server) closeWindow(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Installation complete"}
	if tok := r.URL.Query().Get("access_token"); tok != "" && s.OAuth != nil {
		if a, err := s.OAuth.Authenticate(r.Context(), tok); err == nil {
			if v, err := s.Store.AppVersion(r.Context(), a.Installation.VersionID); err == nil {
				p.App = v
			}
		}
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Cross-Origin-Opener-Policy", "unsafe-none")
	s.render(w, r, http.StatusOK, "closewindow", p)
}
