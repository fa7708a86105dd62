// Package guard protects a platform's own APIs: HTTP middleware that lets
// an app in with the credentials Doorway gave it, and tells the handler
// which installation is calling and what it may do.
//
// An app authenticates either
//
//   - with an access token, in the Authorization header as "Bearer <token>"
//     or bare (as Wix sends it). The guard verifies the JWT itself against
//     Doorway's JWKS (fetched and cached; an unknown kid refetches it, so a
//     rotated key is followed at once), checking issuer, audience and
//     expiry; or
//   - with its client secret as a Bearer token plus a Doorway-Account:
//     <tenant id> header, like Stripe's secret key and Stripe-Account.
//
// Revocation. A signature cannot say that the app was uninstalled since
// the token was issued, so the guard asks Doorway (GET /apps/v1/instance
// with the caller's own credentials) and trusts a "still installed" answer
// for RevocationDelay (default 30 s). So: after an uninstall, a token or
// secret is refused by the guard within RevocationDelay plus one request
// to Doorway. A refusal is remembered for the grant, which never comes
// back.
//
// The handler reads the caller with FromContext; RequirePermission refuses
// callers without a permission with 403.
package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AccountHeader names the tenant an app acts for with its secret key.
const AccountHeader = "Doorway-Account"

// Guard authenticates app requests.
type Guard struct {
	Issuer          string        // Doorway's base URL, as in its tokens' iss
	Audience        string        // the tokens' aud; default Issuer
	Client          *http.Client  // default: 10 s timeout
	RevocationDelay time.Duration // default 30 s
	Now             func() time.Time

	mu       sync.Mutex
	keys     map[string]jose.JSONWebKey
	missedAt time.Time        // the last fetch that lacked the kid it was for
	checked  map[string]check // by grant id, or by secret hash + tenant
}

type check struct {
	at     time.Time
	ok     bool
	caller *Caller // for secret-key callers
}

// Caller is the app installation making a request.
type Caller struct {
	AppID          string
	TenantID       string
	InstallationID string
	Permissions    []string
	LiveMode       bool
}

// Has reports whether the caller was granted perm.
func (c *Caller) Has(perm string) bool {
	for _, p := range c.Permissions {
		if p == perm {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// FromContext returns the caller the middleware authenticated.
func FromContext(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Caller)
	return c, ok
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Guard) delay() time.Duration {
	if g.RevocationDelay > 0 {
		return g.RevocationDelay
	}
	return 30 * time.Second
}

func (g *Guard) client() *http.Client {
	if g.Client != nil {
		return g.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Middleware authenticates each request before next sees it.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := g.Authenticate(r)
		if err != nil {
			var ue *unauthorized
			if !errors.As(err, &ue) {
				refuse(w, http.StatusServiceUnavailable, "the platform cannot check credentials right now; retry shortly")
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			refuse(w, http.StatusUnauthorized, ue.msg)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

// RequirePermission wraps next so that callers without perm get 403.
func RequirePermission(perm string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := FromContext(r.Context())
		if !ok || !c.Has(perm) {
			refuse(w, http.StatusForbidden, fmt.Sprintf("this request needs the %s permission; add it to the app's manifest and have the tenant approve the new version", perm))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

type unauthorized struct{ msg string }

func (e *unauthorized) Error() string { return e.msg }

// Authenticate identifies the caller of r. Errors other than an
// *unauthorized mean Doorway could not be asked.
func (g *Guard) Authenticate(r *http.Request) (*Caller, error) {
	token := Credential(r)
	if token == "" {
		return nil, &unauthorized{"send an access token in the Authorization header, or a secret key with " + AccountHeader}
	}
	if strings.HasPrefix(token, "dwcs_") {
		return g.bySecret(r.Context(), token, r.Header.Get(AccountHeader))
	}
	return g.byToken(r.Context(), token)
}

// Credential returns the token or secret key of r's Authorization header,
// which may be "Bearer <value>" (RFC 6750) or the bare value (as Wix sends
// access tokens).
func Credential(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return h
}

// claims are the access-token claims the guard reads.
type claims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	TenantID string `json:"tenant_id"`
	Scope    string `json:"scope"`
	GrantID  string `json:"gid"`
	LiveMode bool   `json:"livemode"`
}

func (g *Guard) byToken(ctx context.Context, token string) (*Caller, error) {
	t, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil || len(t.Headers) != 1 {
		return nil, &unauthorized{"the access token is malformed"}
	}
	key, err := g.key(ctx, t.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}
	var c claims
	if key == nil || t.Claims(key.Key, &c) != nil {
		return nil, &unauthorized{"the access token's signature does not verify"}
	}
	aud := g.Audience
	if aud == "" {
		aud = g.Issuer
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: g.Issuer, AnyAudience: jwt.Audience{aud}, Time: g.now()}, 0); err != nil {
		return nil, &unauthorized{"the access token is expired or not for this platform (" + err.Error() + ")"}
	}
	caller := &Caller{AppID: c.ClientID, TenantID: c.TenantID, InstallationID: c.Subject,
		Permissions: strings.Fields(c.Scope), LiveMode: c.LiveMode}
	if _, err := g.live(ctx, "grant:"+c.GrantID, "Bearer "+token, ""); err != nil {
		return nil, err
	}
	return caller, nil
}

func (g *Guard) bySecret(ctx context.Context, sec, tenant string) (*Caller, error) {
	if tenant == "" {
		return nil, &unauthorized{"a secret key acts for a tenant: add " + AccountHeader + ": <tenant id>"}
	}
	sum := sha256.Sum256([]byte(sec + "\x00" + tenant))
	return g.live(ctx, "secret:"+hex.EncodeToString(sum[:]), "Bearer "+sec, tenant)
}

// live asks Doorway whether the credentials still belong to an installed
// app, at most once per RevocationDelay per key.
func (g *Guard) live(ctx context.Context, key, auth, tenant string) (*Caller, error) {
	now := g.now()
	g.mu.Lock()
	c, ok := g.checked[key]
	g.mu.Unlock()
	if ok && !c.ok && strings.HasPrefix(key, "grant:") {
		return nil, &unauthorized{"the app was uninstalled or its grant revoked"}
	}
	if ok && c.ok && now.Sub(c.at) < g.delay() {
		return c.caller, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.Issuer+"/apps/v1/instance", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", auth)
	if tenant != "" {
		req.Header.Set(AccountHeader, tenant)
	}
	resp, err := g.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("guard: ask Doorway: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Message  string `json:"message"`
		Instance struct {
			InstanceID  string   `json:"instanceId"`
			AppID       string   `json:"appId"`
			Permissions []string `json:"permissions"`
			Livemode    bool     `json:"livemode"`
		} `json:"instance"`
		Site struct {
			SiteID string `json:"siteId"`
		} `json:"site"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	switch {
	case resp.StatusCode == http.StatusOK:
		caller := &Caller{AppID: body.Instance.AppID, TenantID: body.Site.SiteID, InstallationID: body.Instance.InstanceID,
			Permissions: body.Instance.Permissions, LiveMode: body.Instance.Livemode}
		g.remember(key, check{at: now, ok: true, caller: caller})
		return caller, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusBadRequest:
		g.remember(key, check{at: now})
		return nil, &unauthorized{"refused by the platform: " + body.Message}
	default:
		return nil, fmt.Errorf("guard: Doorway answered %s", resp.Status)
	}
}

func (g *Guard) remember(key string, c check) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.checked == nil || len(g.checked) > 100_000 {
		g.checked = map[string]check{}
	}
	g.checked[key] = c
}

// key returns the JWKS key kid, refetching the set when kid is unknown. A
// refetch that did not find its kid holds off the next for 10 s, so made-up
// kids cannot flood Doorway; one that found it does not, so a key rotated
// moments after the last fetch is picked up at its first token.
func (g *Guard) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	g.mu.Lock()
	k, ok := g.keys[kid]
	stale := g.now().Sub(g.missedAt) > 10*time.Second
	g.mu.Unlock()
	if ok {
		return &k, nil
	}
	if !stale {
		return nil, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.Issuer+"/.well-known/jwks.json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("guard: fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("guard: fetch JWKS: %s", resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, fmt.Errorf("guard: JWKS: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keys = map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		g.keys[k.KeyID] = k
	}
	if k, ok := g.keys[kid]; ok {
		return &k, nil
	}
	g.missedAt = g.now()
	return nil, nil
}
