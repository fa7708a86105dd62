package doorway

import "time"

// Profile names a wire dialect of the install flow.
type Profile string

const (
	ProfileStripeLink  Profile = "stripe-link"
	ProfileWixExternal Profile = "wix-external"
	ProfileWixOAuth    Profile = "wix-oauth"
	ProfileOAuth2      Profile = "oauth2"
)

// InstallRequest is one pass of a browser through the install pages. It lives
// in the database (so any node can serve any step), is bound to the browser
// that started it, expires, and is used once.
type InstallRequest struct {
	ID          string
	Profile     Profile
	AppID       string
	VersionID   string
	Mode        Mode
	RedirectURI string // validated against the version's allowed_redirect_uris
	State       string
	HasState    bool   // state="" and no state differ on the wire
	BrowserHash string // hash of the browser-binding cookie
	// oauth2: the PKCE S256 challenge and the scope asked for (nil: all of
	// the version's permissions).
	CodeChallenge string
	Scope         []string
	UserID        string // set at tenant choice
	TenantID      string // set at tenant choice
	CreatedAt     time.Time
	ExpiresAt     time.Time
	Decision      Decision // "" until approved or denied
	DecidedAt     time.Time
}

// Decision is how an install request ended.
type Decision string

const (
	Approved Decision = "approved"
	Denied   Decision = "denied"
)

// Status is where an installation is in its life.
type Status string

const (
	SetupIncomplete Status = "setup_incomplete"
	Active          Status = "active"
	Uninstalled     Status = "uninstalled"
)

// Installation is an app installed in a tenant, in one mode. Its ID is the
// instanceId apps store: it stays the same across uninstall and reinstall.
type Installation struct {
	ID          string
	AppID       string
	TenantID    string
	Mode        Mode
	Status      Status
	VersionID   string
	Permissions []string // the current grant
	InstalledBy string   // user id of the latest approval
	GrantID     string   // the install grant of the latest approval
	// GrantRevokedAt is when GrantID's grant was revoked (zero: it stands).
	// Instance tokens check it; the store keeps it with the grant.
	GrantRevokedAt time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Event types.
const (
	EventInstalled          = "app.installed"
	EventSetupCompleted     = "app.setup_completed"
	EventPermissionsChanged = "app.permissions_changed" // re-approved with other permissions
	EventUninstalled        = "app.uninstalled"
)

// Event is a lifecycle event, written in the same transaction as the change
// that caused it, and delivered to the app's webhook from that outbox.
type Event struct {
	ID             string
	Type           string
	AppID          string
	InstallationID string
	TenantID       string
	UserID         string
	Mode           Mode
	Permissions    []string
	Sequence       int64 // grows per installation
	State          string
	CreatedAt      time.Time

	// Its way through the outbox.
	Delivery      Delivery
	Attempts      int
	NextAttemptAt time.Time
}
