// Package wixexternal is Wix's external install flow:
//
//	GET /app-installer?appId=…&postInstallationUrl=…
//
// On approval the browser goes to postInstallationUrl with appId, tenantId
// and instanceId appended, and doorway_signature over those three (see
// package profile). The query the app put in postInstallationUrl is its
// custom state: it is kept byte for byte, and only the URL before it must
// match a registered redirect URI. Without postInstallationUrl the app's
// first registered redirect URI is used. On cancel: error=access_denied.
package wixexternal

import (
	"net/http"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/install"
	"github.com/doorwayhq/doorway/profile"
)

// Profile renders external-install redirects.
type Profile struct{}

// Parse reads an /app-installer request.
func Parse(r *http.Request) (install.Start, error) {
	v, has, err := profile.Single(r.URL.Query(), "appId", "postInstallationUrl")
	if err != nil {
		return install.Start{}, err
	}
	if v["appId"] == "" {
		return install.Start{}, doorway.Errorf(doorway.EInvalid, "appId is missing from the install link. Build it as /app-installer?appId=<your app id>&postInstallationUrl=<encoded callback URL>.")
	}
	return install.Start{
		Profile:     doorway.ProfileWixExternal,
		AppID:       v["appId"],
		RedirectURI: v["postInstallationUrl"],
		HasRedirect: has["postInstallationUrl"],
		KeepQuery:   true,
	}, nil
}

// Approved implements install.Profile.
func (Profile) Approved(a install.Approval) (string, error) {
	r := a.Request
	params := []profile.Param{{"appId", r.AppID}, {"tenantId", r.TenantID}, {"instanceId", a.Installation.ID}}
	return profile.Signed(r.RedirectURI, params, a.SigningSecrets, a.Now), nil
}

// Denied implements install.Profile.
func (Profile) Denied(r *doorway.InstallRequest) string {
	return profile.AppendQuery(r.RedirectURI, []profile.Param{{"error", "access_denied"}})
}
