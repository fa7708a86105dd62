// Package wixoauth is Wix's advanced OAuth install:
//
//	GET /installer/install?token=…&appId=…&redirectUrl=…&state=…
//
// token is optional: it is present when the install started on the
// platform, which first sent the user to the app URL with a single-use
// token (see install.Engine.Begin); when given it must be valid, unused
// and for this app. On approval the browser goes to redirectUrl with code,
// instanceId, state (when given) and doorway_signature; the code is
// exchanged at POST /oauth/access within ten minutes. On cancel:
// error=access_denied&state=….
package wixoauth

import (
	"net/http"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/install"
	"github.com/doorwayhq/doorway/profile"
)

// Profile renders advanced-OAuth redirects.
type Profile struct{}

// IssuesCode implements install.CodeIssuer.
func (Profile) IssuesCode() bool { return true }

// Parse reads an /installer/install request.
func Parse(r *http.Request) (install.Start, error) {
	v, has, err := profile.Single(r.URL.Query(), "token", "appId", "redirectUrl", "state")
	if err != nil {
		return install.Start{}, err
	}
	if v["appId"] == "" {
		return install.Start{}, doorway.Errorf(doorway.EInvalid, "appId is missing. Send the user to /installer/install?token=<token>&appId=<your app id>&redirectUrl=<encoded URL>&state=<state>.")
	}
	if has["token"] && v["token"] == "" {
		return install.Start{}, doorway.Errorf(doorway.EInvalid, "token is empty. Pass on the token your app URL received, or leave token out.")
	}
	return install.Start{
		Profile:      doorway.ProfileWixOAuth,
		AppID:        v["appId"],
		RedirectURI:  v["redirectUrl"],
		HasRedirect:  has["redirectUrl"],
		State:        v["state"],
		HasState:     has["state"],
		InstallToken: v["token"],
	}, nil
}

// Approved implements install.Profile.
func (Profile) Approved(a install.Approval) (string, error) {
	r := a.Request
	params := []profile.Param{{"code", a.Code}, {"instanceId", a.Installation.ID}}
	if r.HasState {
		params = append(params, profile.Param{"state", r.State})
	}
	return profile.Signed(r.RedirectURI, params, a.SigningSecrets, a.Now), nil
}

// Denied implements install.Profile.
func (Profile) Denied(r *doorway.InstallRequest) string {
	params := []profile.Param{{"error", "access_denied"}}
	if r.HasState {
		params = append(params, profile.Param{"state", r.State})
	}
	return profile.AppendQuery(r.RedirectURI, params)
}
