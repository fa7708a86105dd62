package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/install"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// The "Installed apps" page: a tenant's members see each installed app and
// what it may do, and can uninstall it. Its forms carry an HMAC of the
// session, so only this signed-in browser can post them.

// installedView is one installed app on the page.
type installedView struct {
	ID     string
	App    *doorway.AppVersion
	Tenant string
	Test   bool
	Status doorway.Status
	Perms  []permissionView
	Since  string
}

const signInNext = "/settings/apps"

// sessionUser returns the signed-in user, their memberships and the
// session token, or nil.
func (s *Server) sessionUser(r *http.Request) (*doorway.User, []store.Membership, string, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil, "", nil
	}
	u, ms, err := s.Identity.SessionUser(r.Context(), c.Value)
	if doorway.ErrorCode(err) == doorway.EUnauthorized {
		return nil, nil, "", nil
	}
	return u, ms, c.Value, err
}

func (s *Server) settingsCSRF(sessionToken string) string {
	return s.Keys.MAC("settings-form", secret.Hash(sessionToken))
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	bh := s.bindBrowser(w, r)
	s.render(w, r, http.StatusOK, "signin", page{Title: "Sign in", Action: "/signin", CSRF: s.Keys.MAC("signin-form", bh)})
}

func (s *Server) signInPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, doorway.Errorf(doorway.EInvalid, "The form could not be read."))
		return
	}
	bh := browserHash(r)
	want := s.Keys.MAC("signin-form", bh)
	if bh == "" || !secret.Equal(r.PostForm.Get("csrf"), want) {
		s.fail(w, r, doorway.Errorf(doorway.EForbidden, "The form's security token is missing or wrong. Reload the sign-in page and try again."))
		return
	}
	email, password := r.PostForm.Get("email"), r.PostForm.Get("password")
	retry := func(status int, msg string) {
		s.render(w, r, status, "signin", page{Title: "Sign in", Action: "/signin", CSRF: want, Email: email, Error: msg})
	}
	if strings.TrimSpace(email) == "" || password == "" {
		retry(http.StatusBadRequest, "Enter your email and password.")
		return
	}
	token, _, err := s.Identity.SignIn(r.Context(), email, password, s.ClientIP.Of(r))
	if status := signInRefused(w, err); status != 0 {
		retry(status, doorway.ErrorMessage(err))
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setSession(w, token)
	http.Redirect(w, r, signInNext, http.StatusSeeOther)
}

func (s *Server) setSession(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(time.Duration(s.Config.Lifetimes.Session).Seconds())})
}

func (s *Server) installedApps(w http.ResponseWriter, r *http.Request) {
	u, ms, token, err := s.sessionUser(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if u == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	p := page{Title: "Installed apps", User: u, CSRF: s.settingsCSRF(token), Installed: []installedView{}}
	for _, m := range ms {
		insts, err := s.Store.TenantInstallations(r.Context(), m.Tenant.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, i := range insts {
			v, err := s.Store.AppVersion(r.Context(), i.VersionID)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			iv := installedView{ID: i.ID, App: v, Tenant: m.Tenant.Name, Test: i.Mode == doorway.Test, Status: i.Status,
				Since: i.CreatedAt.Format("2 January 2006")}
			for _, name := range i.Permissions {
				perm, _ := s.Config.Permissions.Lookup(name)
				iv.Perms = append(iv.Perms, permissionView{Name: name, Description: perm.Description})
			}
			p.Installed = append(p.Installed, iv)
		}
	}
	s.render(w, r, http.StatusOK, "installed", p)
}

func (s *Server) uninstall(w http.ResponseWriter, r *http.Request) {
	u, ms, token, err := s.sessionUser(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if u == nil {
		s.fail(w, r, doorway.Errorf(doorway.EUnauthorized, "Your sign-in has expired. Sign in again to manage your apps."))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || !secret.Equal(r.PostForm.Get("csrf"), s.settingsCSRF(token)) {
		s.fail(w, r, doorway.Errorf(doorway.EForbidden, "The form's security token is missing or wrong. Reload the Installed apps page and try again."))
		return
	}
	id := r.PathValue("id")
	inst, err := s.Store.Installation(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, doorway.Errorf(doorway.ENotFound, "There is no installation %q.", id))
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := install.CheckMember(ms, u, inst.TenantID); err != nil {
		s.fail(w, r, err)
		return
	}
	_, err = s.Store.Uninstall(r.Context(), inst.ID, u.ID, secret.ID("evt_"), s.Engine.Now())
	if err != nil && !errors.Is(err, store.ErrConflict) { // already uninstalled: the page is just stale
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, signInNext, http.StatusSeeOther)
}
