// Package oauth is Doorway's token side: the token endpoint (RFC 6749) in
// its standard form-encoded dialect and in Wix's JSON one, Wix's advanced
// OAuth exchange (/oauth/access), revocation (RFC 7009), introspection (RFC
// 7662), Wix's token-info, server metadata (RFC 8414) and the JWKS.
//
// One dispatcher owns the steps every grant shares — reading the request,
// authenticating the client, rate-limiting failures, writing the response
// or the RFC 6749 error with Cache-Control: no-store — and each grant type
// is a small method that returns a token or an *Error. So no grant can
// forget client authentication or the no-store header.
//
// Codes and refresh tokens are opaque random values (130 bits) stored only
// as SHA-256 hashes. Access tokens are JWTs (package keys) that name their
// grant; a token is active while its signature and expiry hold and its
// grant is not revoked, so revoking a grant (uninstall, a replayed code, a
// reused refresh token) ends every token of it at once.
package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/clientip"
	"github.com/doorwayhq/doorway/keys"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// Token lifetimes fixed by the wire formats Doorway speaks.
const (
	InstanceTokenTTL  = 4 * time.Hour   // Wix: instance tokens last 4 hours (expires_in 14400)
	WixAccessTokenTTL = 5 * time.Minute // Wix advanced OAuth: access tokens last 5 minutes
)

// Server serves the token endpoints.
type Server struct {
	Store    store.Store
	Keys     *keys.Keys
	Issuer   string // also the access tokens' audience
	Now      func() time.Time
	Logger   *slog.Logger
	Catalog  doorway.Catalog
	TokenTTL time.Duration     // oauth2 access tokens
	Grace    time.Duration     // refresh-token reuse grace window
	ClientIP clientip.Resolver // the address failed authentications are counted by

	clients clients
}

// Mount adds the endpoints to mux.
func (s *Server) Mount(mux *http.ServeMux) {
	// POST /oauth2/token: RFC 6749's grants.
	token := map[string]grantFunc{
		"authorization_code": s.authorizationCode(doorway.ProfileOAuth2, s.TokenTTL),
		"refresh_token":      s.refreshToken(s.TokenTTL),
		"client_credentials": s.clientCredentials,
	}
	// POST /oauth/access, Wix's advanced OAuth exchange: the same grants,
	// with 5-minute access tokens and a refresh token that does not rotate.
	wix := map[string]grantFunc{
		"authorization_code": s.authorizationCode(doorway.ProfileWixOAuth, WixAccessTokenTTL),
		"refresh_token":      s.refreshToken(WixAccessTokenTTL),
	}
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) { s.dispatch(w, r, token) })
	mux.HandleFunc("POST /oauth/access", func(w http.ResponseWriter, r *http.Request) { s.dispatch(w, r, wix) })
	mux.HandleFunc("POST /oauth2/revoke", s.revoke)
	mux.HandleFunc("POST /oauth2/introspect", s.introspect)
	mux.HandleFunc("POST /oauth2/token-info", s.tokenInfo)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.metadata)
	mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
}

const maxBody = 64 << 10

// params reads a token request: application/x-www-form-urlencoded (RFC
// 6749) or a JSON object of strings (Wix). A parameter given twice is
// refused (RFC 6749 §3.2).
func params(w http.ResponseWriter, r *http.Request) (url.Values, *Error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var m map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, invalidRequest("the JSON body could not be read: " + err.Error())
		}
		v := url.Values{}
		for k, val := range m {
			switch val := val.(type) {
			case string:
				v.Set(k, val)
			case json.Number:
				v.Set(k, val.String())
			case nil:
			default:
				return nil, invalidRequest(fmt.Sprintf("%s must be a string", k))
			}
		}
		return v, nil
	case "application/x-www-form-urlencoded", "":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, invalidRequest(fmt.Sprintf("the body could not be read (the limit is %d KiB)", maxBody>>10))
		}
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, invalidRequest("the form body is malformed: " + err.Error())
		}
		for k, vals := range v {
			if len(vals) > 1 {
				return nil, invalidRequest(k + " is given more than once")
			}
		}
		return v, nil
	default:
		return nil, invalidRequest("send the parameters as application/x-www-form-urlencoded or application/json, not " + ct)
	}
}

// BasicClient authenticates an app by HTTP Basic (app id, client secret),
// for the app-level APIs outside the token endpoint.
func (s *Server) BasicClient(r *http.Request) (*doorway.App, *Error) {
	if _, _, ok := r.BasicAuth(); !ok {
		return nil, invalidClient("authenticate with HTTP Basic: the app id as user name and a client secret (dwcs_…) as password")
	}
	c, e := s.authenticate(r.Context(), r, url.Values{})
	if e != nil {
		return nil, e
	}
	return c.app, nil
}

// WriteError writes e as an OAuth error response.
func WriteError(w http.ResponseWriter, e *Error) { writeError(w, e) }

// client is an authenticated app.
type client struct {
	app *doorway.App
}

// authenticate checks the client credentials: HTTP Basic or client_id and
// client_secret in the body (not both). Failures are rate-limited per
// client id and address.
func (s *Server) authenticate(ctx context.Context, r *http.Request, p url.Values) (*client, *Error) {
	id, sec, basic := r.BasicAuth()
	if basic {
		if p.Has("client_secret") {
			return nil, invalidRequest("send the client credentials once: in the Authorization header or in the body, not both")
		}
		var err1, err2 error
		id, err1 = url.QueryUnescape(id) // RFC 6749 §2.3.1
		sec, err2 = url.QueryUnescape(sec)
		if err1 != nil || err2 != nil {
			return nil, invalidClient("the Basic credentials are not form-encoded")
		}
		if p.Has("client_id") && p.Get("client_id") != id {
			return nil, invalidRequest("client_id in the body differs from the Authorization header")
		}
	} else {
		id, sec = p.Get("client_id"), p.Get("client_secret")
	}
	if id == "" {
		return nil, invalidClient("client authentication is required: send the app id and client secret with HTTP Basic, or as client_id and client_secret")
	}
	now := s.Now()
	app, err := s.clients.check(ctx, s.Store, id, sec, now)
	if err != nil {
		return nil, serverError(err)
	}
	ok := app != nil
	if !ok {
		wait, err := failures{s.Store}.fail(ctx, id, s.ClientIP.Of(r), now)
		if err != nil {
			return nil, serverError(err)
		}
		if wait > 0 {
			e := &Error{Code: "invalid_client", Description: "too many failed authentications for this client; wait before retrying", status: http.StatusTooManyRequests}
			e.retryAfter = fmt.Sprint(int(wait.Seconds()) + 1)
			return nil, e
		}
		return nil, invalidClient("the client id or secret is wrong (client_id is the app id app_…, the secret starts with dwcs_)")
	}
	return &client{app: app}, nil
}

// tokenResponse is the RFC 6749 §5.1 response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	InstanceID   string `json:"instance_id,omitempty"`
}

type grantFunc func(ctx context.Context, c *client, p url.Values) (*tokenResponse, *Error)

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, grants map[string]grantFunc) {
	p, e := params(w, r)
	if e == nil && p.Get("grant_type") == "" {
		e = invalidRequest("grant_type is missing")
	}
	var grant grantFunc
	if e == nil {
		var ok bool
		if grant, ok = grants[p.Get("grant_type")]; !ok {
			names := make([]string, 0, len(grants))
			for n := range grants {
				names = append(names, n)
			}
			slices.Sort(names)
			e = &Error{Code: "unsupported_grant_type", Description: fmt.Sprintf("grant_type %q is not supported here (supported: %s)", p.Get("grant_type"), strings.Join(names, ", ")), status: 400}
		}
	}
	var c *client
	if e == nil {
		c, e = s.authenticate(r.Context(), r, p)
	}
	var resp *tokenResponse
	if e == nil {
		resp, e = grant(r.Context(), c, p)
	}
	if e != nil {
		if e.status >= 500 {
			if !store.Abandoned(r.Context(), e.cause) {
				s.Logger.Error("token endpoint", "grant_type", p.Get("grant_type"), "error", e.Description)
			}
			e.Description = publicDescription(e)
		}
		writeError(w, e)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}

// serverError is a failure of Doorway, not of the request. The endpoint
// logs its description and hides it. When the database is away (a restart,
// a failover) it is a 503 with Retry-After instead: the client's retry will
// work, so it should not be told the server is broken.
func serverError(err error) *Error {
	if store.Unavailable(err) {
		return &Error{Code: "temporarily_unavailable", Description: err.Error(), status: http.StatusServiceUnavailable, retryAfter: "1", cause: err}
	}
	return &Error{Code: "server_error", Description: err.Error(), status: 500, cause: err}
}

// issue signs an access token for installation inst under grant grantID.
func (s *Server) issue(ctx context.Context, grantID string, inst *doorway.Installation, scope []string, ttl time.Duration) (string, *Error) {
	now := s.Now()
	tok, err := s.Keys.Sign(ctx, keys.Claims{
		Issuer: s.Issuer, Audience: s.Issuer, Subject: inst.ID, ClientID: inst.AppID, TenantID: inst.TenantID,
		Scope: strings.Join(scope, " "), IssuedAt: now.Unix(), Expiry: now.Add(ttl).Unix(),
		ID: secret.Token("at_"), GrantID: grantID, LiveMode: inst.Mode == doorway.Live,
	})
	if err != nil {
		return "", serverError(err)
	}
	return tok, nil
}

// authorizationCode redeems a code issued by profile.
func (s *Server) authorizationCode(profile doorway.Profile, ttl time.Duration) grantFunc {
	return func(ctx context.Context, c *client, p url.Values) (*tokenResponse, *Error) {
		raw := p.Get("code")
		if raw == "" {
			return nil, invalidRequest("code is missing")
		}
		// The store checks the code against the request as it redeems it
		// (one statement on PostgreSQL, nothing read first); only a refusal
		// is looked at here, to say why.
		now := s.Now()
		verifier := p.Get("code_verifier")
		g := &doorway.Grant{ID: secret.ID("gr_"), Kind: doorway.GrantCode, Rotate: profile == doorway.ProfileOAuth2, CreatedAt: now}
		refresh := secret.TimedToken("dwrt_")
		code, inst, err := s.Store.RedeemCode(ctx, store.Redemption{Hash: secret.TokenKey(raw), Now: now, AppID: c.app.ID,
			Profile: profile, RedirectURI: p.Get("redirect_uri"), Challenge: challengeOf(verifier), Grant: g,
			Refresh: &doorway.RefreshToken{Hash: secret.TokenKey(refresh), CreatedAt: now}})
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, unknownCode()
		case errors.Is(err, store.ErrMismatch):
			return nil, codeMismatch(code, c, profile, p.Get("redirect_uri"), verifier, now)
		case errors.Is(err, store.ErrConflict) && code != nil && !now.Before(code.ExpiresAt):
			return nil, codeExpired(code)
		case errors.Is(err, store.ErrConflict):
			return nil, invalidGrant("the code was used already, or its installation was uninstalled; tokens issued from a reused code are revoked")
		case err != nil:
			return nil, serverError(err)
		}
		access, e := s.issue(ctx, g.ID, inst, g.Scope, ttl)
		if e != nil {
			return nil, e
		}
		return &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(ttl.Seconds()),
			RefreshToken: refresh, Scope: strings.Join(g.Scope, " "), InstanceID: inst.ID}, nil
	}
}

// unknownCode and unknownRefresh are the refusals that do not say whether
// the credential exists: a new *Error each time, as the token endpoint may
// rewrite an error it writes.
func unknownCode() *Error {
	return invalidGrant("the code is unknown, or was issued to another client or at another endpoint")
}

func unknownRefresh() *Error { return invalidGrant("the refresh token is unknown") }

func codeExpired(code *doorway.AuthCode) *Error {
	return invalidGrant(fmt.Sprintf("the code expired at %s; codes live 10 minutes — start the install again", code.ExpiresAt.UTC().Format(time.RFC3339)))
}

// codeMismatch says why the store refused code for this request, checking
// in the order a client would fix things.
func codeMismatch(code *doorway.AuthCode, c *client, profile doorway.Profile, redirectURI, verifier string, now time.Time) *Error {
	switch {
	case code.AppID != c.app.ID || code.Profile != profile:
		return unknownCode()
	case !now.Before(code.ExpiresAt):
		return codeExpired(code)
	case code.RedirectURI != "" && redirectURI != code.RedirectURI:
		return invalidGrant("redirect_uri must be given and equal the one of the authorization request")
	case code.Challenge == "" && verifier != "":
		return invalidGrant("code_verifier was sent, but the code was issued without a code_challenge")
	case code.Challenge != "" && verifier == "":
		return invalidGrant("code_verifier is missing; the code was issued with a PKCE code_challenge")
	default:
		return invalidGrant("code_verifier does not match the code_challenge")
	}
}

// challengeOf is the S256 code_challenge of verifier (RFC 7636 §4.6), ""
// for none, and one no code has for a verifier of the wrong length.
func challengeOf(verifier string) string {
	if verifier == "" {
		return ""
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return "!"
	}
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *Server) refreshToken(ttl time.Duration) grantFunc {
	return func(ctx context.Context, c *client, p url.Values) (*tokenResponse, *Error) {
		raw := p.Get("refresh_token")
		if raw == "" {
			return nil, invalidRequest("refresh_token is missing")
		}
		hash := secret.TokenKey(raw)
		var scope []string
		if p.Has("scope") {
			// A narrower scope is checked before the token is used, so a
			// refused one does not use it up. (Without one, the exchange
			// below reads what it needs itself.)
			rt, err := s.Store.RefreshToken(ctx, hash)
			if errors.Is(err, store.ErrNotFound) {
				return nil, unknownRefresh()
			} else if err != nil {
				return nil, serverError(err)
			}
			g, err := s.Store.Grant(ctx, rt.GrantID)
			if err != nil {
				return nil, serverError(err)
			}
			if g.AppID != c.app.ID {
				return nil, unknownRefresh()
			}
			var e *Error
			if scope, e = narrow(p, g.Scope); e != nil {
				return nil, e
			}
		}
		now := s.Now()
		next := secret.TimedToken("dwrt_")
		g, inst, err := s.Store.Refresh(ctx, store.RefreshExchange{Hash: hash, AppID: c.app.ID, Now: now, Grace: s.Grace,
			New: &doorway.RefreshToken{Hash: secret.TokenKey(next), CreatedAt: now}})
		if errors.Is(err, store.ErrNotFound) {
			return nil, unknownRefresh()
		} else if errors.Is(err, store.ErrConflict) {
			return nil, invalidGrant("the refresh token was revoked or already used; reusing a rotated refresh token revokes its grant — install again")
		} else if err != nil {
			return nil, serverError(err)
		}
		if !g.Rotate {
			next = raw
		}
		if scope == nil {
			scope = g.Scope
		}
		access, e := s.issue(ctx, g.ID, inst, scope, ttl)
		if e != nil {
			return nil, e
		}
		return &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(ttl.Seconds()),
			RefreshToken: next, Scope: strings.Join(scope, " ")}, nil
	}
}

// clientCredentials issues an instance token: Wix's client_credentials
// with instance_id. It comes from the installation's install grant, lasts
// 4 hours and has no refresh token.
func (s *Server) clientCredentials(ctx context.Context, c *client, p url.Values) (*tokenResponse, *Error) {
	id := p.Get("instance_id")
	if id == "" {
		return nil, invalidRequest("instance_id is missing: client_credentials issues a token for one installation (the instanceId of the install redirect)")
	}
	inst, err := s.Store.Installation(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && inst.AppID != c.app.ID) {
		return nil, invalidGrant(fmt.Sprintf("instance_id %q is not an installation of app %s", clip(id), c.app.ID))
	} else if err != nil {
		return nil, serverError(err)
	}
	if inst.Status == doorway.Uninstalled {
		return nil, invalidGrant(fmt.Sprintf("installation %s was uninstalled", inst.ID))
	}
	if !inst.GrantRevokedAt.IsZero() {
		return nil, invalidGrant(fmt.Sprintf("the grant of installation %s was revoked", inst.ID))
	}
	scope, e := narrow(p, inst.Permissions)
	if e != nil {
		return nil, e
	}
	access, e := s.issue(ctx, inst.GrantID, inst, scope, InstanceTokenTTL)
	if e != nil {
		return nil, e
	}
	return &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(InstanceTokenTTL.Seconds()),
		Scope: strings.Join(scope, " ")}, nil
}

// narrow returns the scope a token request asks for (RFC 6749 §3.3): all
// of granted when it names none, else a subset of it.
func narrow(p url.Values, granted []string) ([]string, *Error) {
	if !p.Has("scope") {
		return granted, nil
	}
	scope := strings.Fields(p.Get("scope"))
	for _, sc := range scope {
		if !slices.Contains(granted, sc) {
			return nil, invalidScope(fmt.Sprintf("scope %s was not granted (granted: %s)", sc, strings.Join(granted, " ")))
		}
	}
	return scope, nil
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// Access is an authenticated access token.
type Access struct {
	Claims       *keys.Claims
	Grant        *doorway.Grant
	Installation *doorway.Installation
}

// Scope returns the token's permissions.
func (a *Access) Scope() []string { return strings.Fields(a.Claims.Scope) }

// ErrInactive is returned by Authenticate for a token that is malformed,
// expired, signed by someone else, or whose grant was revoked.
var ErrInactive = errors.New("the access token is invalid, expired or revoked")

// Authenticate checks an access token completely: signature, issuer,
// expiry, and that its grant is not revoked.
func (s *Server) Authenticate(ctx context.Context, token string) (*Access, error) {
	c, err := s.Keys.Verify(ctx, token, s.Issuer)
	if errors.Is(err, keys.ErrInvalid) {
		return nil, ErrInactive
	} else if err != nil {
		return nil, err
	}
	g, inst, err := s.Store.GrantInstallation(ctx, c.GrantID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInactive
	} else if err != nil {
		return nil, err
	}
	if !g.RevokedAt.IsZero() || g.InstallationID != c.Subject || inst.Status == doorway.Uninstalled {
		return nil, ErrInactive
	}
	return &Access{Claims: c, Grant: g, Installation: inst}, nil
}
