// Package install is the install state machine, the same for every wire
// profile: Start validates the app, the redirect target and the state and
// creates an install request bound to the browser; ChooseTenant records who
// installs where, when the user has several tenants to choose from; Decide
// approves (into the tenant the consent page showed) or denies, once.
//
// What the engine refuses before a redirect target is trusted (an unknown
// link or app, a redirect URI that is not registered) is reported as an
// *doorway.Error for an error page, never as a redirect: an install server
// that redirects to unregistered URLs is an open redirector (RFC 9700 §4.11).
//
// A profile (package profile/…) parses its entry URL into a Start and renders
// the decision as its own redirect; the engine knows nothing of wire formats.
package install

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// Profile renders the end of an install as a redirect in its wire dialect.
type Profile interface {
	Approved(a Approval) (string, error)
	Denied(r *doorway.InstallRequest) string
}

// CodeIssuer is a Profile whose approvals carry an authorization code.
type CodeIssuer interface {
	IssuesCode() bool
}

// Approval is what a profile needs to render a successful install.
type Approval struct {
	Request        *doorway.InstallRequest
	Installation   *doorway.Installation
	SigningSecrets []string // valid now, newest first
	Code           string   // for a CodeIssuer: the authorization code
	Now            time.Time
}

// SigningSecrets gives the engine an app's signing secrets (package
// registry implements it).
type SigningSecrets interface {
	SigningSecrets(ctx context.Context, appID string) ([]string, error)
}

// Engine runs install requests.
type Engine struct {
	Store      store.Store
	Secrets    SigningSecrets
	Profiles   map[doorway.Profile]Profile
	Now        func() time.Time
	RequestTTL time.Duration
}

// Start is a parsed entry URL.
type Start struct {
	Profile doorway.Profile
	LinkID  string // stripe-link: the app and mode come from the link
	AppID   string // the other profiles name the app
	// Mode, for AppID: "" picks the live version, or the test version when
	// the app has no live one.
	Mode        doorway.Mode
	RedirectURI string
	HasRedirect bool
	// KeepQuery (wix-external): the redirect's query is the app's own state;
	// only scheme, host, port and path must match a registered URI.
	KeepQuery   bool
	State       string
	HasState    bool
	BrowserHash string // hash of the browser-binding cookie
	// InstallToken (wix-oauth), when given, must be an unused install token
	// of this app; it is used up here and decides the mode.
	InstallToken  string
	CodeChallenge string   // oauth2: PKCE S256
	Scope         []string // oauth2: nil asks for all the version's permissions
}

// Target is what an entry URL installs and where the browser returns.
type Target struct {
	App         *doorway.App
	Version     *doorway.AppVersion
	Mode        doorway.Mode
	RedirectURI string
}

// MaxStateLen is the longest state accepted. State is echoed in a URL and
// signed as JSON, so it is limited to printable ASCII, which every JSON
// encoder writes the same way.
const MaxStateLen = 1024

// CodeTTL is how long an authorization code lives (RFC 6749 §4.1.2
// recommends at most ten minutes).
const CodeTTL = 10 * time.Minute

// Start validates an entry URL and creates an install request.
func (e *Engine) Start(ctx context.Context, s Start) (*doorway.InstallRequest, error) {
	t, err := e.Resolve(ctx, s)
	if err != nil {
		return nil, err
	}
	return e.Begin(ctx, t, s)
}

// Resolve finds the app version an entry URL installs and checks the
// redirect target. Its errors are for an error page: the target is not
// trusted yet.
func (e *Engine) Resolve(ctx context.Context, s Start) (*Target, error) {
	if _, ok := e.Profiles[s.Profile]; !ok {
		return nil, fmt.Errorf("install profile %q is not configured", s.Profile)
	}
	mode := s.Mode
	appID := s.AppID
	if s.LinkID != "" || appID == "" {
		link, err := e.Store.Link(ctx, s.LinkID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, doorway.Errorf(doorway.ENotFound, "There is no install link %q. Check that the link was copied whole, or ask the app's developer for a new one.", clip(s.LinkID))
		} else if err != nil {
			return nil, err
		}
		appID, mode = link.AppID, link.Mode
	}
	app, err := e.Store.App(ctx, appID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, doorway.Errorf(doorway.ENotFound, "There is no app %q. Check the appId (or client_id) in the link; app ids look like app_….", clip(appID))
	} else if err != nil {
		return nil, err
	}
	if mode == "" {
		mode = doorway.Live
		if app.LiveVersionID == "" {
			mode = doorway.Test
		}
	}
	versionID := app.VersionID(mode)
	if versionID == "" {
		return nil, doorway.Errorf(doorway.EInvalid, "App %s has no %s version, so it cannot be installed in %s mode yet.", app.ID, mode, mode)
	}
	v, err := e.Store.AppVersion(ctx, versionID)
	if err != nil {
		return nil, err
	}
	check := CheckRedirect
	if s.KeepQuery {
		check = CheckRedirectKeepQuery
	}
	redirect, err := check(s.RedirectURI, s.HasRedirect, v, mode)
	if err != nil {
		return nil, err
	}
	return &Target{App: app, Version: v, Mode: mode, RedirectURI: redirect}, nil
}

// Begin creates the install request for a resolved target.
func (e *Engine) Begin(ctx context.Context, t *Target, s Start) (*doorway.InstallRequest, error) {
	if err := CheckState(s.State); err != nil {
		return nil, err
	}
	now := e.Now()
	mode := t.Mode
	if s.InstallToken != "" {
		tok, err := e.Store.UseInstallToken(ctx, secret.Hash(s.InstallToken), t.App.ID, now)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, doorway.Errorf(doorway.EInvalid, "The install token is not valid for app %s. Start the install again from %s.", t.App.ID, "the platform")
		case errors.Is(err, store.ErrConflict):
			return nil, doorway.Errorf(doorway.EExpired, "The install token was used already or has expired. Start the install again from the platform.")
		case err != nil:
			return nil, err
		}
		if tok.Mode != mode {
			return nil, doorway.Errorf(doorway.EInvalid, "The install token is for a %s install, but this request resolves to %s mode.", tok.Mode, mode)
		}
	}
	r := &doorway.InstallRequest{
		ID: secret.ID("req_"), Profile: s.Profile, AppID: t.App.ID, VersionID: t.Version.ID, Mode: mode,
		RedirectURI: t.RedirectURI, State: s.State, HasState: s.HasState, BrowserHash: s.BrowserHash,
		CodeChallenge: s.CodeChallenge, Scope: s.Scope,
		CreatedAt: now, ExpiresAt: now.Add(e.RequestTTL),
	}
	if err := e.Store.CreateInstallRequest(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// CheckRedirect returns the redirect target for an install of version v in
// mode: raw if it exactly matches one of the version's allowed redirect URIs
// (byte for byte: no normalisation, no prefix or case folding), or the first
// allowed URI when none was given. Live mode requires https.
func CheckRedirect(raw string, given bool, v *doorway.AppVersion, mode doorway.Mode) (string, error) {
	allowed := v.AllowedRedirectURIs
	if !given {
		if len(allowed) == 0 {
			return "", doorway.Errorf(doorway.EInvalid, "App %s has no allowed_redirect_uris.", v.AppID)
		}
		raw = allowed[0]
	}
	if raw == "" {
		return "", doorway.Errorf(doorway.EInvalid, "redirect_uri is empty. Leave it out to use the app's first registered redirect URI, or give one of: %s.", strings.Join(allowed, ", "))
	}
	match := false
	for _, a := range allowed {
		if secret.Equal(a, raw) {
			match = true
		}
	}
	if !match {
		return "", doorway.Errorf(doorway.EInvalid, "redirect_uri %q is not registered for app %s (registered: %s). It must match one of them exactly.", clip(raw), v.AppID, strings.Join(allowed, ", "))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", doorway.Errorf(doorway.EInvalid, "redirect_uri %q is not a URL.", clip(raw))
	}
	switch {
	case u.Scheme == "https":
	case mode == doorway.Test && u.Scheme == "http" && doorway.IsLoopbackHost(u.Hostname()):
	case mode == doorway.Test:
		return "", doorway.Errorf(doorway.EInvalid, "redirect_uri %q must use https (test mode also allows http://localhost and http://127.0.0.1).", clip(raw))
	default:
		return "", doorway.Errorf(doorway.EInvalid, "redirect_uri %q must use https in live mode. Use a test-mode link for http://localhost.", clip(raw))
	}
	return raw, nil
}

// CheckRedirectKeepQuery is CheckRedirect for profiles whose redirect
// query carries the app's own state (wix-external): the part before "?"
// must match a registered URI exactly, and the query is kept as given.
func CheckRedirectKeepQuery(raw string, given bool, v *doorway.AppVersion, mode doorway.Mode) (string, error) {
	if !given {
		return CheckRedirect(raw, given, v, mode)
	}
	base, query, hasQuery := strings.Cut(raw, "?")
	if strings.Contains(raw, "#") {
		return "", doorway.Errorf(doorway.EInvalid, "redirect URL %q must not contain a #fragment.", clip(raw))
	}
	if _, err := CheckRedirect(base, true, v, mode); err != nil {
		return "", err
	}
	if hasQuery {
		if _, err := url.ParseQuery(query); err != nil {
			return "", doorway.Errorf(doorway.EInvalid, "redirect URL %q has a malformed query: %v.", clip(raw), err)
		}
	}
	return raw, nil
}

// CheckState reports a state that cannot be carried safely.
func CheckState(state string) error {
	if len(state) > MaxStateLen {
		return doorway.Errorf(doorway.EInvalid, "state is %d bytes long; the limit is %d.", len(state), MaxStateLen)
	}
	for i := 0; i < len(state); i++ {
		if c := state[i]; c < 0x20 || c > 0x7e {
			return doorway.Errorf(doorway.EInvalid, "state may contain only printable ASCII characters; byte %d is 0x%02x. Encode binary or non-ASCII values (for example base64url).", i, c)
		}
	}
	return nil
}

// clip shortens what a user typed before it is shown back.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// Step says which page an install request needs next.
type Step int

const (
	StepSignIn Step = iota
	StepTenant
	StepConsent
)

// Load returns an install request that the browser may continue: it exists,
// belongs to the browser, is undecided and unexpired.
func (e *Engine) Load(ctx context.Context, id, browserHash string) (*doorway.InstallRequest, error) {
	r, err := e.Store.InstallRequest(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, doorway.Errorf(doorway.ENotFound, "This install request does not exist. Start the install again from the app.")
	} else if err != nil {
		return nil, err
	}
	if browserHash == "" || !secret.Equal(r.BrowserHash, browserHash) {
		return nil, doorway.Errorf(doorway.EForbidden, "This install was started in another browser. Start the install again from the app, in this browser.")
	}
	if r.Decision != "" {
		return nil, doorway.Errorf(doorway.EConflict, "This install request was already %s. Start a new install from the app if you need to.", r.Decision)
	}
	if !e.Now().Before(r.ExpiresAt) {
		return nil, doorway.Errorf(doorway.EExpired, "This install request expired after %s. Go back to the app and start the install again.", e.RequestTTL)
	}
	return r, nil
}

// ChooseTenant records that user installs into tenantID; the user must be
// a member of it (ms: the user's memberships, read with the session).
func (e *Engine) ChooseTenant(ctx context.Context, r *doorway.InstallRequest, user *doorway.User, ms []store.Membership, tenantID string) error {
	if err := CheckMember(ms, user, tenantID); err != nil {
		return err
	}
	err := e.Store.ChooseTenant(ctx, r.ID, user.ID, tenantID, e.Now())
	if errors.Is(err, store.ErrConflict) {
		return doorway.Errorf(doorway.EConflict, "This install request was completed or expired meanwhile. Start the install again from the app.")
	}
	return err
}

// CheckMember reports whether user, whose memberships are ms (read with
// this request's session: identity.SessionUser), is a member of tenantID.
func CheckMember(ms []store.Membership, user *doorway.User, tenantID string) error {
	for _, m := range ms {
		if m.Tenant.ID == tenantID {
			return nil
		}
	}
	return doorway.Errorf(doorway.EForbidden, "You (%s) are not a member of account %q, so you cannot install apps into it.", user.Email, clip(tenantID))
}

// Decide approves or denies r on behalf of user and returns the redirect
// that tells the app. ms are the user's memberships, read with this
// request's session (identity.SessionUser). tenantID is the tenant the
// consent page showed; empty means the one ChooseTenant recorded.
func (e *Engine) Decide(ctx context.Context, r *doorway.InstallRequest, user *doorway.User, ms []store.Membership, tenantID string, approve bool) (string, error) {
	profile := e.Profiles[r.Profile]
	if !approve {
		if _, err := e.Store.Decide(ctx, store.Decision{RequestID: r.ID, Decision: doorway.Denied, Now: e.Now()}); err != nil {
			return "", e.decideErr(err)
		}
		return profile.Denied(r), nil
	}
	if tenantID == "" && r.UserID == user.ID {
		tenantID = r.TenantID
	}
	// Membership is checked here, at the decision (ms were read with
	// this request's session): it may have been removed since the page
	// was shown.
	if tenantID == "" && len(ms) == 1 { // nothing to choose (a form sent without the page's tenant field)
		tenantID = ms[0].Tenant.ID
	}
	if tenantID == "" {
		return "", doorway.Errorf(doorway.EInvalid, "Choose an account before approving.")
	}
	if err := CheckMember(ms, user, tenantID); err != nil {
		return "", err
	}
	secrets, err := e.Secrets.SigningSecrets(ctx, r.AppID)
	if err != nil {
		return "", err
	}
	now := e.Now()
	d := store.Decision{RequestID: r.ID, Decision: doorway.Approved, Now: now, UserID: user.ID, TenantID: tenantID, VersionID: r.VersionID,
		InstallationID: secret.ID("ins_"), EventID: secret.ID("evt_"), GrantID: secret.ID("gr_")}
	var code string
	if ci, ok := profile.(CodeIssuer); ok && ci.IssuesCode() {
		code = secret.Token("dwac_")
		scope := r.Scope
		if scope == nil {
			v, err := e.Store.AppVersion(ctx, r.VersionID)
			if err != nil {
				return "", err
			}
			scope = v.PermissionNames()
		}
		d.Code = &doorway.AuthCode{Hash: secret.Hash(code), Profile: r.Profile, AppID: r.AppID,
			RedirectURI: r.RedirectURI, Challenge: r.CodeChallenge, Scope: scope, CreatedAt: now, ExpiresAt: now.Add(CodeTTL)}
		if r.Profile == doorway.ProfileWixOAuth {
			d.Code.RedirectURI = ""
		}
	}
	inst, err := e.Store.Decide(ctx, d)
	if err != nil {
		return "", e.decideErr(err)
	}
	decided := *r
	decided.UserID, decided.TenantID = user.ID, tenantID
	return profile.Approved(Approval{Request: &decided, Installation: inst, SigningSecrets: secrets, Code: code, Now: now})
}

func (e *Engine) decideErr(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return doorway.Errorf(doorway.EConflict, "This install request was already completed or has expired. Start a new install from the app if you need to.")
	}
	return err
}
