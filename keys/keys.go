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
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

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

	vmu      sync.Mutex
	verified map[[sha256.Size]byte]verified // see Verify
}

// verified is a token whose signature checked out: its claims and the key
// that signed it.
type verified struct {
	claims Claims
	kid    string
}

// maxVerified bounds the tokens Verify remembers; past it, it starts again
// empty.
const maxVerified = 10_000

type key struct {
	doorway.SigningKey
	private ed25519.PrivateKey
	public  ed25519.PublicKey
	header  string // the encoded JWS protected header, the same for every token
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
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{string(jose.EdDSA), r.ID, "at+jwt"})
	if err != nil {
		return key{}, err
	}
	return key{SigningKey: r, private: ed25519.NewKeyFromSeed(seed), public: ed25519.PublicKey(r.Public),
		header: base64.RawURLEncoding.EncodeToString(header)}, nil
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
	return ks[0].sign(c)
}

// sign writes the compact JWS (RFC 7515 §7.1) itself: the header is fixed
// per key, so a token costs one JSON encoding and one Ed25519 signature.
// (A general JOSE library encodes the claims three times to normalise
// them, which was a sixth of the token endpoint's time.)
func (l key) sign(c Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(l.header)+2+enc.EncodedLen(len(payload))+enc.EncodedLen(ed25519.SignatureSize))
	buf = append(buf, l.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig := signEd25519(l.private, buf)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// Verify checks a token's signature, issuer and expiry and returns its
// claims. It does not know about revocation: see the oauth package.
//
// Only tokens this package signs verify: the protected header must be
// exactly the one the key signs with (EdDSA, its kid, typ at+jwt), so no
// other algorithm, key or header parameter ("crit", "jku") is considered.
//
// A token is the same string every time it is checked (a resource server
// introspects the one it was handed on every call), and an Ed25519 check
// costs more than the rest of an introspection. So Verify remembers the
// tokens it verified, by SHA-256 of the whole token, and a token it has
// seen costs a hash and a lookup: whether the signing key is still valid,
// the issuer and the expiry are checked again every time.
func (k *Keys) Verify(ctx context.Context, token, issuer string) (*Claims, error) {
	sum := sha256.Sum256([]byte(token))
	k.vmu.Lock()
	v, seen := k.verified[sum]
	k.vmu.Unlock()
	if seen {
		if _, err := k.key(ctx, v.kid); err != nil {
			return nil, err
		}
		if v.claims.Issuer != issuer || k.Now().Unix() >= v.claims.Expiry {
			return nil, ErrInvalid
		}
		c := v.claims
		return &c, nil
	}
	c, kid, err := k.verify(ctx, token, issuer)
	if err != nil {
		return nil, err
	}
	k.vmu.Lock()
	if k.verified == nil || len(k.verified) >= maxVerified {
		k.verified = map[[sha256.Size]byte]verified{}
	}
	k.verified[sum] = verified{*c, kid}
	k.vmu.Unlock()
	return c, nil
}

func (k *Keys) verify(ctx context.Context, token, issuer string) (*Claims, string, error) {
	head, rest, ok1 := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") || len(token) > 8<<10 {
		return nil, "", ErrInvalid
	}
	// Strict: Sign writes the one canonical encoding. A lax decoder would
	// take a token whose last character was edited (its low bits are unused)
	// as the same token, so one token would have many spellings.
	enc := base64.RawURLEncoding.Strict()
	var h struct {
		Kid string `json:"kid"`
	}
	raw, err := enc.DecodeString(head)
	if err != nil || json.Unmarshal(raw, &h) != nil {
		return nil, "", ErrInvalid
	}
	l, err := k.key(ctx, h.Kid)
	if err != nil {
		return nil, "", err
	}
	s, err := enc.DecodeString(sig)
	if err != nil || head != l.header || !ed25519.Verify(l.public, []byte(token[:len(head)+1+len(payload)]), s) {
		return nil, "", ErrInvalid
	}
	var c Claims
	if raw, err = enc.DecodeString(payload); err != nil || json.Unmarshal(raw, &c) != nil {
		return nil, "", ErrInvalid
	}
	if c.Issuer != issuer || k.Now().Unix() >= c.Expiry {
		return nil, "", ErrInvalid
	}
	return &c, h.Kid, nil
}

// key finds the valid key kid, reloading the keys once if it is unknown
// (another node may have just rotated).
func (k *Keys) key(ctx context.Context, kid string) (*key, error) {
	for _, force := range []bool{false, true} {
		ks, err := k.keys(ctx, force)
		if err != nil {
			return nil, err
		}
		for i := range ks {
			if ks[i].ID == kid {
				return &ks[i], nil
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
