// Package install is the install state machine, the same for every wire
// profile: Start validates the app, the redirect target and the state and
// makes an install request bound to the browser; ChooseTenant records who
// installs where, when the user has several tenants to choose from; Decide
// approves (into the tenant the consent page showed) or denies, once.
//
// An undecided install request is not stored: it travels in the install
// pages' URL, sealed (encrypted and authenticated with the master key, see
// Ref and Load), so following an install link writes nothing. A visitor
// who never signs in costs no row, and an install costs one write, its
// decision. The store records each decision under the request's id, so a
// request is decided once however often its URL is replayed; the request's
// expiry, inside the seal, bounds how long that URL is any use.
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
	"encoding/json"
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

// Sealer encrypts and authenticates what the engine puts in URLs
// (secret.Keyring implements it).
type Sealer interface {
	Seal(plaintext, context string) string
	Open(sealed, context string) (string, error)
}

// Engine runs install requests.
type Engine struct {
	Store      store.Store
	Seal       Sealer
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

// Start validates an entry URL and makes an install request.
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

// Begin makes the install request for a resolved target; Ref is its URL
// form.
func (e *Engine) Begin(ctx context.Context, t *Target, s Start) (*doorway.InstallRequest, error) {
	if err := CheckState(s.State); err != nil {
		return nil, err
	}
	now := e.Now()
	mode := t.Mode
	if s.InstallToken != "" {
		tok, err := e.useInstallToken(ctx, s.InstallToken, t.App.ID, now)
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
	return r, nil
}

// sealContext binds sealed requests to their purpose: a value sealed for
// anything else does not open as an install request.
const sealContext = "doorway install request v1"

// tokenContext binds sealed install tokens to theirs.
const tokenContext = "doorway install token v1"

// sealedToken is an install token's content. ID is random: the row that
// records the token's use is keyed by it, not by the token's text, which
// could be written differently and open the same.
type sealedToken struct {
	ID        string       `json:"i"`
	AppID     string       `json:"a"`
	Mode      doorway.Mode `json:"m"`
	CreatedAt int64        `json:"c"` // Unix ms
	ExpiresAt int64        `json:"e"`
}

// InstallToken returns the single-use token of a platform-initiated install
// of appID in mode, good for ttl (the Wix marketplace's ?token= to the app
// URL). It is sealed, so issuing one writes nothing: anybody who opens an
// app's marketplace address gets one, and that must not cost a write. Its
// use writes the row that makes it single-use.
func (e *Engine) InstallToken(appID string, mode doorway.Mode, ttl time.Duration) string {
	now := e.Now()
	b, _ := json.Marshal(sealedToken{ID: secret.Token(""), AppID: appID, Mode: mode,
		CreatedAt: now.UnixMilli(), ExpiresAt: now.Add(ttl).UnixMilli()}) // plain values always marshal
	return "dwit_" + e.Seal.Seal(string(b), tokenContext)
}

// useInstallToken uses raw for an install of appID, once: store.ErrNotFound
// when it is not a token for appID, store.ErrConflict when it was used or
// has expired. A token that does not open as sealed is one issued before
// tokens were, whose row the store holds.
func (e *Engine) useInstallToken(ctx context.Context, raw, appID string, now time.Time) (*doorway.InstallToken, error) {
	sealed, ok := strings.CutPrefix(raw, "dwit_")
	plain, err := e.Seal.Open(sealed, tokenContext)
	if !ok || err != nil {
		return e.Store.UseInstallToken(ctx, secret.Hash(raw), appID, now)
	}
	var st sealedToken
	if err := json.Unmarshal([]byte(plain), &st); err != nil || st.ID == "" || st.AppID != appID {
		return nil, fmt.Errorf("install token for app %s: %w", appID, store.ErrNotFound)
	}
	tok := &doorway.InstallToken{Hash: secret.Hash(st.ID), AppID: st.AppID, Mode: st.Mode,
		CreatedAt: time.UnixMilli(st.CreatedAt), ExpiresAt: time.UnixMilli(st.ExpiresAt), UsedAt: now}
	if !now.Before(tok.ExpiresAt) {
		return nil, fmt.Errorf("install token expired at %s: %w", tok.ExpiresAt.UTC().Format(time.RFC3339), store.ErrConflict)
	}
	// The row is written once: of two uses, even at once, one is refused.
	if err := e.Store.CreateInstallToken(ctx, tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// sealed is an install request in its URL form: short keys keep the URL
// short. Scope keeps nil (all permissions) apart from empty.
type sealed struct {
	ID            string          `json:"i"`
	Profile       doorway.Profile `json:"p"`
	AppID         string          `json:"a"`
	VersionID     string          `json:"v"`
	Mode          doorway.Mode    `json:"m"`
	RedirectURI   string          `json:"r"`
	State         string          `json:"s,omitempty"`
	HasState      bool            `json:"hs,omitempty"`
	BrowserHash   string          `json:"b"`
	CodeChallenge string          `json:"c,omitempty"`
	Scope         []string        `json:"sc"`
	UserID        string          `json:"u,omitempty"`
	TenantID      string          `json:"t,omitempty"`
	CreatedAt     int64           `json:"ct"` // Unix ms
	ExpiresAt     int64           `json:"et"`
}

// Ref is r sealed for the install pages' URL (/install/{ref}). The URL
// grows with the state and the redirect URI; a state of MaxStateLen bytes
// makes it about 2 KB (HTML characters are not escaped: "<" would be six
// bytes).
func (e *Engine) Ref(r *doorway.InstallRequest) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(sealed{ID: r.ID, Profile: r.Profile, AppID: r.AppID, VersionID: r.VersionID, Mode: r.Mode,
		RedirectURI: r.RedirectURI, State: r.State, HasState: r.HasState, BrowserHash: r.BrowserHash,
		CodeChallenge: r.CodeChallenge, Scope: r.Scope, UserID: r.UserID, TenantID: r.TenantID,
		CreatedAt: r.CreatedAt.UnixMilli(), ExpiresAt: r.ExpiresAt.UnixMilli()})
	return e.Seal.Seal(b.String(), sealContext)
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

// Load opens the install request of ref for the browser whose binding
// cookie hashes to browserHash: it must open with the master key, belong
// to that browser and be unexpired. Whether it was decided already is
// the store's to say, at the decision.
func (e *Engine) Load(ref, browserHash string) (*doorway.InstallRequest, error) {
	plain, err := e.Seal.Open(ref, sealContext)
	var v sealed
	if err == nil {
		err = json.Unmarshal([]byte(plain), &v)
	}
	if err != nil {
		return nil, doorway.Errorf(doorway.ENotFound, "This install request does not exist (the address may be cut short or changed). Start the install again from the app.")
	}
	r := &doorway.InstallRequest{ID: v.ID, Profile: v.Profile, AppID: v.AppID, VersionID: v.VersionID, Mode: v.Mode,
		RedirectURI: v.RedirectURI, State: v.State, HasState: v.HasState, BrowserHash: v.BrowserHash,
		CodeChallenge: v.CodeChallenge, Scope: v.Scope, UserID: v.UserID, TenantID: v.TenantID,
		CreatedAt: time.UnixMilli(v.CreatedAt), ExpiresAt: time.UnixMilli(v.ExpiresAt)}
	if browserHash == "" || !secret.Equal(r.BrowserHash, browserHash) {
		return nil, doorway.Errorf(doorway.EForbidden, "This install was started in another browser. Start the install again from the app, in this browser.")
	}
	if !e.Now().Before(r.ExpiresAt) {
		return nil, doorway.Errorf(doorway.EExpired, "This install request expired after %s. Go back to the app and start the install again.", e.RequestTTL)
	}
	return r, nil
}

// ChooseTenant returns the Ref of r with user installing into tenantID;
// the user must be a member of it (ms: the user's memberships, read with
// the session). Nothing is written: the choice travels in the URL, and
// Decide checks the membership again.
func (e *Engine) ChooseTenant(r *doorway.InstallRequest, user *doorway.User, ms []store.Membership, tenantID string) (string, error) {
	if err := CheckMember(ms, user, tenantID); err != nil {
		return "", err
	}
	chosen := *r
	chosen.UserID, chosen.TenantID = user.ID, tenantID
	return e.Ref(&chosen), nil
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

// ErrSignedOut is Decide's answer when the browser's session has ended
// (or it has none): the install page asks it to sign in again.
var ErrSignedOut = errors.New("install: the deciding browser is signed out")

// Decide approves or denies r for the browser signed in with session (its
// session cookie) and returns the redirect that tells the app. tenantID is
// the tenant the consent page showed; empty means the one r carries, or
// the user's only one.
//
// The session and the user's membership of the tenant are checked by the
// store in the decision's own transaction (store.Decision.Session), not
// read first: a decision costs one write, and a sign-out or a removed
// membership that commits first is never overtaken. Only a refusal reads
// the session, to say why.
func (e *Engine) Decide(ctx context.Context, r *doorway.InstallRequest, session, tenantID string, approve bool) (string, error) {
	if session == "" || len(session) > 100 {
		return "", ErrSignedOut
	}
	hash := secret.Hash(session)
	profile := e.Profiles[r.Profile]
	if !approve {
		denied := *r
		if _, err := e.Store.Decide(ctx, store.Decision{Request: &denied, Decision: doorway.Denied, Now: e.Now(), Session: hash}); err != nil {
			return "", e.decideErr(ctx, r, hash, "", err)
		}
		return profile.Denied(r), nil
	}
	if tenantID == "" {
		// A form without the page's tenant field: the tenant the user
		// chose (ChooseTenant), or their only one.
		_, user, ms, err := e.Store.Session(ctx, hash, e.Now())
		if errors.Is(err, store.ErrNotFound) {
			return "", ErrSignedOut
		} else if err != nil {
			return "", err
		}
		switch {
		case r.UserID == user.ID && r.TenantID != "":
			tenantID = r.TenantID
		case len(ms) == 1:
			tenantID = ms[0].Tenant.ID
		default:
			return "", e.decided(ctx, r, doorway.Errorf(doorway.EInvalid, "Choose an account before approving."))
		}
	}
	secrets, err := e.Secrets.SigningSecrets(ctx, r.AppID)
	if err != nil {
		return "", err
	}
	now := e.Now()
	decided := *r
	decided.UserID, decided.TenantID = "", tenantID // the store sets the user: the session's
	d := store.Decision{Request: &decided, Decision: doorway.Approved, Now: now, Session: hash,
		InstallationID: secret.ID("ins_"), EventID: secret.ID("evt_"), GrantID: secret.ID("gr_")}
	var code string
	if ci, ok := profile.(CodeIssuer); ok && ci.IssuesCode() {
		code = secret.TimedToken("dwac_")
		scope := r.Scope
		if scope == nil {
			v, err := e.Store.AppVersion(ctx, r.VersionID)
			if err != nil {
				return "", err
			}
			scope = v.PermissionNames()
		}
		d.Code = &doorway.AuthCode{Hash: secret.TokenKey(code), Profile: r.Profile, AppID: r.AppID,
			RedirectURI: r.RedirectURI, Challenge: r.CodeChallenge, Scope: scope, CreatedAt: now, ExpiresAt: now.Add(CodeTTL)}
		if r.Profile == doorway.ProfileWixOAuth {
			d.Code.RedirectURI = ""
		}
	}
	inst, err := e.Store.Decide(ctx, d)
	if err != nil {
		return "", e.decideErr(ctx, r, hash, tenantID, err)
	}
	return profile.Approved(Approval{Request: &decided, Installation: inst, SigningSecrets: secrets, Code: code, Now: now})
}

// decideErr explains a decision the store refused: the request was
// decided already (it says how) or expired meanwhile, or the session hash
// has ended or its user is not a member of tenantID ("" for a denial).
func (e *Engine) decideErr(ctx context.Context, r *doorway.InstallRequest, hash, tenantID string, err error) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return e.decided(ctx, r, doorway.Errorf(doorway.EConflict, "This install request has expired. Start a new install from the app."))
	case errors.Is(err, store.ErrNotFound):
		_, user, ms, serr := e.Store.Session(ctx, hash, e.Now())
		switch {
		case errors.Is(serr, store.ErrNotFound):
			return e.decided(ctx, r, ErrSignedOut)
		case serr != nil:
			return serr
		case tenantID != "":
			if merr := CheckMember(ms, user, tenantID); merr != nil {
				return e.decided(ctx, r, merr)
			}
		}
	}
	return err
}

// decided returns why r cannot be decided: that it was decided already,
// which matters more than refusal, or else refusal. The store is asked
// only here, on the way to an error page: the pages do not read it.
func (e *Engine) decided(ctx context.Context, r *doorway.InstallRequest, refusal error) error {
	if done, err := e.Store.InstallRequest(ctx, r.ID); err == nil && done.Decision != "" {
		return doorway.Errorf(doorway.EConflict, "This install request was already %s. Start a new install from the app if you need to.", done.Decision)
	}
	return refusal
}
