// Package keys signs and verifies Doorway's access tokens: JWTs (RFC 9068,
// typ at+jwt) signed with Ed25519 (EdDSA), whose public keys are published
// as a JWKS for resource servers that verify tokens themselves (package
// guard).
//
// Keys live in the database, the private half sealed with the master key,
// so every Doorway node signs with the same keys and verifies what any other
// node signed. Each node caches the keys for CacheFor and reloads early
// when a token names a kid it does not know, so a key rotated on one node
// is used by the others within CacheFor, and tokens it signs verify
// everywhere at once. A rotated-out key stays published for the overlap
// (longer than any access token lives), then disappears.
package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/secret"
)

// Store is what Keys needs of the store.
type Store interface {
	SigningKeys(ctx context.Context) ([]doorway.SigningKey, error)
	RotateSigningKeys(ctx context.Context, fresh *doorway.SigningKey, oldExpireAt time.Time) error
}

// Keys signs and verifies access tokens.
type Keys struct {
	Store    Store
	Keyring  *secret.Keyring
	Now      func() time.Time
	CacheFor time.Duration // how long a node trusts its copy of the keys; default 30 s

	mu       sync.Mutex
	loaded   []key // valid keys, newest first
	loadedAt time.Time
}

type key struct {
	doorway.SigningKey
	signer jose.Signer
	public ed25519.PublicKey
}

// Claims are an access token's claims.
type Claims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"` // the installation (instance) id
	Audience string `json:"aud"`
	ClientID string `json:"client_id"` // the app id
	TenantID string `json:"tenant_id"`
	Scope    string `json:"scope"` // space-separated permissions
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	ID       string `json:"jti"`
	GrantID  string `json:"gid"` // revoking the grant ends the token
	LiveMode bool   `json:"livemode"`
}

// ErrInvalid is returned for a token that is not one of ours, is malformed,
// or has expired.
var ErrInvalid = errors.New("access token is invalid or expired")

// Rotate creates a new signing key; the current ones keep verifying (and
// stay in the JWKS) for overlap.
func (k *Keys) Rotate(ctx context.Context, overlap time.Duration) (*doorway.SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	now := k.Now()
	sk := &doorway.SigningKey{ID: secret.Token("key_"), Algorithm: string(jose.EdDSA), Public: pub, CreatedAt: now}
	sk.Sealed = k.Keyring.Seal(base64.RawStdEncoding.EncodeToString(priv.Seed()), sk.ID)
	if err := k.Store.RotateSigningKeys(ctx, sk, now.Add(overlap)); err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.loadedAt = time.Time{}
	k.mu.Unlock()
	return sk, nil
}

// keys returns the valid keys, reloading them when the cache is stale or
// force is set.
func (k *Keys) keys(ctx context.Context, force bool) ([]key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.Now()
	ttl := k.CacheFor
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	// A forced reload (an unknown kid) is at most once a second, so tokens
	// with made-up kids cannot turn into a database query each.
	age := now.Sub(k.loadedAt)
	if !k.loadedAt.IsZero() && age >= 0 && age < ttl && (!force || age < time.Second) {
		return k.valid(now), nil
	}
	rows, err := k.Store.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		// Nodes starting together may each create one; the overlap keeps
		// both valid.
		k.mu.Unlock()
		_, err := k.Rotate(ctx, 24*time.Hour)
		k.mu.Lock()
		if err != nil {
			return nil, fmt.Errorf("create the first signing key: %w", err)
		}
		if rows, err = k.Store.SigningKeys(ctx); err != nil {
			return nil, err
		}
	}
	cached := map[string]key{}
	for _, c := range k.loaded {
		cached[c.ID] = c
	}
	var loaded []key
	for _, r := range rows {
		if !r.ValidAt(now) {
			continue
		}
		if c, ok := cached[r.ID]; ok {
			c.ExpiresAt = r.ExpiresAt
			loaded = append(loaded, c)
			continue
		}
		l, err := k.open(r)
		if err != nil {
			return nil, err
		}
		loaded = append(loaded, l)
	}
	k.loaded, k.loadedAt = loaded, now
	return k.valid(now), nil
}

func (k *Keys) valid(now time.Time) []key {
	var out []key
	for _, l := range k.loaded {
		if l.ValidAt(now) {
			out = append(out, l)
		}
	}
	return out
}

func (k *Keys) open(r doorway.SigningKey) (key, error) {
	seedText, err := k.Keyring.Open(r.Sealed, r.ID)
	if err != nil {
		return key{}, fmt.Errorf("signing key %s: %w", r.ID, err)
	}
	seed, err := base64.RawStdEncoding.DecodeString(seedText)
	if err != nil || len(seed) != ed25519.SeedSize {
		return key{}, fmt.Errorf("signing key %s: stored seed is malformed", r.ID)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: r.ID}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return key{}, err
	}
	return key{SigningKey: r, signer: signer, public: ed25519.PublicKey(r.Public)}, nil
}

// Sign returns c as a signed JWT, with the newest key.
func (k *Keys) Sign(ctx context.Context, c Claims) (string, error) {
	ks, err := k.keys(ctx, false)
	if err != nil {
		return "", err
	}
	if len(ks) == 0 {
		if ks, err = k.keys(ctx, true); err != nil || len(ks) == 0 {
			return "", fmt.Errorf("no valid signing key (run doorway keys rotate): %v", err)
		}
	}
	return jwt.Signed(ks[0].signer).Claims(c).Serialize()
}

// Verify checks a token's signature, issuer and expiry and returns its
// claims. It does not know about revocation: see the oauth package.
func (k *Keys) Verify(ctx context.Context, token, issuer string) (*Claims, error) {
	t, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil || len(t.Headers) != 1 {
		return nil, ErrInvalid
	}
	kid := t.Headers[0].KeyID
	pub, err := k.public(ctx, kid)
	if err != nil {
		return nil, err
	}
	var c Claims
	if err := t.Claims(pub, &c); err != nil {
		return nil, ErrInvalid
	}
	if c.Issuer != issuer || k.Now().Unix() >= c.Expiry {
		return nil, ErrInvalid
	}
	return &c, nil
}

func (k *Keys) public(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	for _, force := range []bool{false, true} {
		ks, err := k.keys(ctx, force)
		if err != nil {
			return nil, err
		}
		for _, l := range ks {
			if l.ID == kid {
				return l.public, nil
			}
		}
	}
	return nil, ErrInvalid
}

// JWKS returns the published public keys.
func (k *Keys) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	// Fresh (at most a second old): a verifier fetches the set when it
	// meets a kid it does not know, which another node may have started
	// signing with a moment ago.
	ks, err := k.keys(ctx, true)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, l := range ks {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: l.public, KeyID: l.ID, Algorithm: string(jose.EdDSA), Use: "sig"})
	}
	return set, nil
}
