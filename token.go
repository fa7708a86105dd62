package doorway

import "time"

// Grant is one line of credentials for an installation. Each approval
// starts an install grant (the instance tokens of client_credentials come
// from it), and each redemption of an authorization code starts a code
// grant (its refresh tokens and their access tokens). Access tokens carry
// their grant's id, so revoking a grant ends every token it issued at once:
// uninstall revokes all of an installation's grants, a replayed code or a
// reused refresh token revokes its own.
type Grant struct {
	ID             string
	Kind           GrantKind
	AppID          string
	InstallationID string
	Scope          []string // what tokens of this grant may do
	// Rotate: each refresh returns a new refresh token and retires the old
	// one (oauth2). Wix's advanced OAuth keeps one refresh token.
	Rotate    bool
	CreatedAt time.Time
	RevokedAt time.Time // zero while valid
}

// GrantKind says where a grant came from.
type GrantKind string

const (
	GrantInstall GrantKind = "install"
	GrantCode    GrantKind = "code"
)

// AuthCode is an authorization code, stored by the hash of its value. It is
// created in the same transaction as the approval that issues it, lives ten
// minutes and is redeemed once.
type AuthCode struct {
	Hash           string // secret.TokenKey of the code: its time, then its hash
	Profile        Profile
	AppID          string
	InstallationID string
	RedirectURI    string // "" when the authorization request named none
	Challenge      string // PKCE S256 code_challenge; "" when none was given
	Scope          []string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	UsedAt         time.Time // zero until redeemed
	GrantID        string    // the code grant its redemption started
}

// RefreshToken is stored by the hash of its value.
type RefreshToken struct {
	Hash      string // secret.TokenKey of the token: its time (if it has one), then its hash
	GrantID   string
	CreatedAt time.Time
	RotatedAt time.Time // zero until it was exchanged for a newer one
}

// SigningKey signs access tokens. The newest unexpired key signs; older
// ones stay published in the JWKS until they expire, so tokens they signed
// still verify during a rotation.
type SigningKey struct {
	ID        string // the JWT kid
	Algorithm string // "EdDSA"
	Public    []byte // raw Ed25519 public key
	Sealed    string // the private key, sealed with the master key
	CreatedAt time.Time
	ExpiresAt time.Time // zero: current
}

// ValidAt reports whether k is still published at t.
func (k *SigningKey) ValidAt(t time.Time) bool { return k.ExpiresAt.IsZero() || t.Before(k.ExpiresAt) }

// InstallToken is the single-use token a platform-initiated install of a
// wix-oauth app carries to the app URL and back to /installer/install.
type InstallToken struct {
	Hash      string
	AppID     string
	Mode      Mode
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}
