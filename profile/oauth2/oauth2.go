// Package oauth2 is the standard OAuth 2.0 authorization endpoint (RFC 6749
// §4.1) as an install profile:
//
//	GET /oauth2/authorize?response_type=code&client_id=…&redirect_uri=…
//	    &scope=…&state=…&code_challenge=…&code_challenge_method=S256
//
// client_id is the app id. redirect_uri is required and must match a
// registered URI exactly. PKCE with S256 is required (RFC 9700 §2.1.1);
// "plain" is refused. scope, when given, is a space-separated subset of the
// permissions the app version requests; tokens from the code carry that
// scope, while the installation is granted the version's permissions.
//
// Until client_id and redirect_uri are known good, problems are shown on an
// error page; after that they go back to the client as RFC 6749 §4.1.2.1
// errors. Every response to the client carries iss (RFC 9207), so a client
// that talks to several servers can tell which one answered.
package oauth2

import (
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/install"
	"github.com/doorwayhq/doorway/profile"
)

// Profile renders authorization responses.
type Profile struct {
	Issuer string
}

// IssuesCode implements install.CodeIssuer.
func (Profile) IssuesCode() bool { return true }

// Request is a parsed authorization request.
type Request struct {
	Start install.Start
	// Problem, when not nil, is the error to send back to the client once
	// the redirect target is validated.
	Problem *Error
}

// Error is an authorization error response (RFC 6749 §4.1.2.1).
type Error struct {
	Code        string // invalid_request, unsupported_response_type, invalid_scope, access_denied
	Description string
}

var challengePattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// Parse reads an authorization request. An error is for an error page.
func Parse(r *http.Request) (*Request, error) {
	v, has, err := profile.Single(r.URL.Query(), "response_type", "client_id", "redirect_uri", "scope", "state",
		"code_challenge", "code_challenge_method")
	if err != nil {
		return nil, err
	}
	if v["client_id"] == "" {
		return nil, doorway.Errorf(doorway.EInvalid, "client_id is missing from the authorization request; it is the app id (app_…).")
	}
	if v["redirect_uri"] == "" {
		return nil, doorway.Errorf(doorway.EInvalid, "redirect_uri is missing from the authorization request; give one of the app's allowed_redirect_uris.")
	}
	req := &Request{Start: install.Start{
		Profile: doorway.ProfileOAuth2, AppID: v["client_id"],
		RedirectURI: v["redirect_uri"], HasRedirect: true,
		State: v["state"], HasState: has["state"],
		CodeChallenge: v["code_challenge"],
	}}
	if has["scope"] {
		req.Start.Scope = strings.Fields(v["scope"])
		if req.Start.Scope == nil {
			req.Start.Scope = []string{}
		}
	}
	switch {
	case v["response_type"] != "code":
		req.Problem = &Error{"unsupported_response_type", "response_type must be \"code\"."}
	case v["code_challenge"] == "":
		req.Problem = &Error{"invalid_request", "code_challenge is required: use PKCE with S256 (RFC 7636)."}
	case v["code_challenge_method"] != "S256":
		req.Problem = &Error{"invalid_request", "code_challenge_method must be S256."}
	case !challengePattern.MatchString(v["code_challenge"]):
		req.Problem = &Error{"invalid_request", "code_challenge must be 43-128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~' (base64url of a SHA-256)."}
	case install.CheckState(v["state"]) != nil:
		req.Problem = &Error{"invalid_request", doorway.ErrorMessage(install.CheckState(v["state"]))}
	}
	return req, nil
}

// CheckScope reports a requested scope the version does not offer.
func (req *Request) CheckScope(v *doorway.AppVersion) {
	if req.Problem != nil {
		return
	}
	offered := v.PermissionNames()
	for _, s := range req.Start.Scope {
		if !slices.Contains(offered, s) {
			req.Problem = &Error{"invalid_scope", "scope " + s + " is not requested by the app (it may ask for: " + strings.Join(offered, " ") + ")."}
			return
		}
	}
}

// ErrorRedirect renders e for the client.
func (p Profile) ErrorRedirect(target string, s install.Start, e *Error) string {
	params := []profile.Param{{"error", e.Code}, {"error_description", e.Description}}
	if s.HasState {
		params = append(params, profile.Param{"state", s.State})
	}
	return profile.AppendQuery(target, append(params, profile.Param{"iss", p.Issuer}))
}

// Approved implements install.Profile.
func (p Profile) Approved(a install.Approval) (string, error) {
	r := a.Request
	params := []profile.Param{{"code", a.Code}}
	if r.HasState {
		params = append(params, profile.Param{"state", r.State})
	}
	params = append(params, profile.Param{"iss", p.Issuer}, profile.Param{"instance_id", a.Installation.ID})
	return profile.Signed(r.RedirectURI, params, a.SigningSecrets, a.Now), nil
}

// Denied implements install.Profile.
func (p Profile) Denied(r *doorway.InstallRequest) string {
	s := install.Start{State: r.State, HasState: r.HasState}
	return p.ErrorRedirect(r.RedirectURI, s, &Error{"access_denied", "The user denied the request."})
}
