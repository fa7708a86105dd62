package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/keys"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// revoke is POST /oauth2/revoke (RFC 7009). An unknown token, or one of
// another client, is answered 200 like a revoked one (§2.2), so the
// endpoint tells nobody which tokens exist.
//
// A refresh token, or an access token of a code grant, revokes its whole
// grant. An instance token (client_credentials) revokes the installation's
// install grant and starts a fresh one: every instance token issued so far
// stops working, and the next client_credentials request gets a new one.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	c, token, ok := s.tokenRequest(w, r)
	if !ok {
		return
	}
	if err := s.revokeToken(r.Context(), c, token); err != nil {
		s.internal(w, r, "revoke", err)
		return
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}

// tokenRequest reads a revocation or introspection request: an
// authenticated client and the token it asks about.
func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request) (*client, string, bool) {
	p, e := params(w, r)
	var c *client
	if e == nil {
		c, e = s.authenticate(r.Context(), r, p)
	}
	if e == nil && p.Get("token") == "" {
		e = invalidRequest("token is missing")
	}
	if e != nil {
		writeError(w, e)
		return nil, "", false
	}
	return c, p.Get("token"), true
}

func (s *Server) revokeToken(ctx context.Context, c *client, token string) error {
	now := s.Now()
	if rt, err := s.refreshTokenOf(ctx, token); err == nil {
		g, err := s.Store.Grant(ctx, rt.GrantID)
		if err != nil || g.AppID != c.app.ID {
			return err
		}
		return s.Store.RevokeGrant(ctx, g.ID, now)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	a, err := s.Authenticate(ctx, token)
	if errors.Is(err, ErrInactive) || (err == nil && a.Claims.ClientID != c.app.ID) {
		return nil
	} else if err != nil {
		return err
	}
	if a.Grant.Kind == doorway.GrantInstall {
		g := &doorway.Grant{ID: secret.ID("gr_"), Kind: doorway.GrantInstall, AppID: a.Grant.AppID,
			InstallationID: a.Grant.InstallationID, Scope: a.Grant.Scope, CreatedAt: now}
		if err := s.Store.RenewInstallGrant(ctx, a.Grant.ID, g, now); !errors.Is(err, store.ErrConflict) {
			return err
		}
		return nil
	}
	return s.Store.RevokeGrant(ctx, a.Grant.ID, now)
}

// refreshTokenOf looks token up as a refresh token. An access token (a
// JWT: it has dots, which refresh tokens never have) is not looked up,
// which spares introspection and revocation of access tokens a query.
func (s *Server) refreshTokenOf(ctx context.Context, token string) (*doorway.RefreshToken, error) {
	if strings.Contains(token, ".") {
		return nil, store.ErrNotFound
	}
	return s.Store.RefreshToken(ctx, secret.TokenKey(token))
}

// introspection is the RFC 7662 response.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	TenantID  string `json:"tenant_id,omitempty"`
}

// introspect is POST /oauth2/introspect (RFC 7662). The caller
// authenticates as an app and learns only about its own tokens.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	c, token, ok := s.tokenRequest(w, r)
	if !ok {
		return
	}
	out, err := s.inspect(r.Context(), c, token)
	if err != nil {
		s.internal(w, r, "introspect", err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) inspect(ctx context.Context, c *client, token string) (introspection, error) {
	inactive := introspection{}
	if rt, err := s.refreshTokenOf(ctx, token); err == nil {
		g, err := s.Store.Grant(ctx, rt.GrantID)
		if err != nil {
			return inactive, err
		}
		if g.AppID != c.app.ID || !g.RevokedAt.IsZero() || (g.Rotate && !rt.RotatedAt.IsZero() && s.Now().Sub(rt.RotatedAt) > s.Grace) {
			return inactive, nil
		}
		inst, err := s.Store.Installation(ctx, g.InstallationID)
		if err != nil {
			return inactive, err
		}
		return introspection{Active: true, Scope: strings.Join(g.Scope, " "), ClientID: g.AppID, TokenType: "refresh_token",
			Iat: rt.CreatedAt.Unix(), Sub: g.InstallationID, Aud: s.Issuer, Iss: s.Issuer, TenantID: inst.TenantID}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return inactive, err
	}
	cl, err := s.Keys.Verify(ctx, token, s.Issuer)
	if errors.Is(err, keys.ErrInvalid) || (err == nil && cl.ClientID != c.app.ID) {
		return inactive, nil
	} else if err != nil {
		return inactive, err
	}
	// Unlike Authenticate, the grant alone: an uninstall revokes every
	// grant of the installation in its transaction (store.Uninstall), so a
	// grant that stands is one of an installed app, and the installation's
	// row, a second B-tree walk, would add nothing the answer needs.
	g, err := s.Store.Grant(ctx, cl.GrantID)
	if errors.Is(err, store.ErrNotFound) {
		return inactive, nil
	} else if err != nil {
		return inactive, err
	}
	if !g.RevokedAt.IsZero() || g.InstallationID != cl.Subject {
		return inactive, nil
	}
	return introspection{Active: true, Scope: cl.Scope, ClientID: cl.ClientID, TokenType: "Bearer", Exp: cl.Expiry,
		Iat: cl.IssuedAt, Sub: cl.Subject, Aud: cl.Audience, Iss: cl.Issuer, Jti: cl.ID, TenantID: cl.TenantID}, nil
}

// tokenInfo is POST /oauth2/token-info in Wix's shape. As at Wix, the
// token itself is the credential: it answers for access tokens only, and
// tells the holder nothing the token does not already carry.
func (s *Server) tokenInfo(w http.ResponseWriter, r *http.Request) {
	p, e := params(w, r)
	if e == nil && p.Get("token") == "" {
		e = invalidRequest(`token is missing: send {"token": "<access token>"}`)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	noStore(w)
	a, err := s.Authenticate(r.Context(), p.Get("token"))
	if errors.Is(err, ErrInactive) {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	} else if err != nil {
		s.internal(w, r, "token-info", err)
		return
	}
	c := a.Claims
	writeJSON(w, http.StatusOK, map[string]any{"active": true, "subjectType": "APP", "subjectId": c.ClientID,
		"exp": c.Expiry, "iat": c.IssuedAt, "clientId": c.ClientID, "siteId": c.TenantID, "instanceId": c.Subject})
}

// metadata is RFC 8414 server metadata.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         s.Issuer,
		"authorization_endpoint":                         s.Issuer + "/oauth2/authorize",
		"token_endpoint":                                 s.Issuer + "/oauth2/token",
		"revocation_endpoint":                            s.Issuer + "/oauth2/revoke",
		"introspection_endpoint":                         s.Issuer + "/oauth2/introspect",
		"jwks_uri":                                       s.Issuer + "/.well-known/jwks.json",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials"},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":               []string{"S256"},
		"scopes_supported":                               s.Catalog.Names(),
		"authorization_response_iss_parameter_supported": true,
	})
}

// jwks is the public half of the token-signing keys.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	set, err := s.Keys.JWKS(r.Context())
	if err != nil {
		s.internal(w, r, "jwks", err)
		return
	}
	// Short caching: a rotated key must reach verifiers well within the
	// overlap.
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, set)
}
