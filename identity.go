package doorway

import "time"

// User is a person who signs in. With embedded identity Doorway keeps their
// password hash (argon2id); a host platform may later assert users instead.
type User struct {
	ID           string
	Email        string
	PasswordHash string
	CreatedAt    time.Time
}

// Tenant is what an app is installed into: Wix's site, Stripe's account.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Role is a user's role in a tenant.
type Role string

const (
	Owner  Role = "owner"
	Member Role = "member"
)

// Session is a signed-in browser. The cookie carries a random token; the
// store keeps only its hash, so a leaked database signs nobody in.
type Session struct {
	Hash      string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}
