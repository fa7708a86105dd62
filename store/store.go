// Package store defines how Doorway keeps its state: one Store interface that
// every backend implements, and the two errors callers branch on.
//
// The interface speaks in domain types and whole operations, never in SQL, so
// each backend owns its own SQL (no dialect translation) and the conformance
// suite in store/storetest runs unchanged against each. An operation that
// changes state and causes an event (Decide) is one method, so that the
// backend can make both one transaction: nothing is installed without its
// event, and no event is written for an install that did not commit.
//
// Every time that decides something (expiry, single use) is passed in by the
// caller, so tests control it exactly with a fake clock.
package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/doorwayhq/doorway"
)

var (
	// ErrNotFound: the thing looked up does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique thing exists already, or a single-use thing was
	// used already (or has expired).
	ErrConflict = errors.New("conflict")
	// ErrMismatch: a single-use thing was presented with what it was not
	// issued for (a code with another client's credentials, or a wrong
	// PKCE verifier). Nothing is written; it stays usable.
	ErrMismatch = errors.New("mismatch")
)

// Store is Doorway's state.
type Store interface {
	// Users, tenants and memberships.
	CreateUser(ctx context.Context, u *doorway.User) error // ErrConflict: email taken
	User(ctx context.Context, id string) (*doorway.User, error)
	UserByEmail(ctx context.Context, email string) (*doorway.User, error) // email compared case-insensitively
	CreateTenant(ctx context.Context, t *doorway.Tenant, ownerID string) error
	Tenant(ctx context.Context, id string) (*doorway.Tenant, error)
	AddMember(ctx context.Context, tenantID, userID string, role doorway.Role, now time.Time) error
	Memberships(ctx context.Context, userID string) ([]Membership, error) // by tenant name

	// Browser sessions, looked up by the hash of the cookie's token.
	CreateSession(ctx context.Context, s *doorway.Session) error
	// Session returns a live session with its user and the user's
	// memberships (as Memberships orders them), in one read: every install
	// page asks for all three. Expired or unknown: ErrNotFound.
	Session(ctx context.Context, hash string, now time.Time) (*doorway.Session, *doorway.User, []Membership, error)
	DeleteSession(ctx context.Context, hash string) error

	// Apps, their immutable versions and their secrets.
	CreateApp(ctx context.Context, app *doorway.App, v *doorway.AppVersion, secrets []doorway.AppSecret) error
	// App may answer from a copy up to a second old when the app's versions
	// were changed by another node (sqlstore.AppCacheFor).
	App(ctx context.Context, id string) (*doorway.App, error)
	// AddAppVersion stores a new version and makes it the version of each of
	// modes. ErrConflict: the app has a version with that version string.
	AddAppVersion(ctx context.Context, v *doorway.AppVersion, modes ...doorway.Mode) error
	AppVersion(ctx context.Context, id string) (*doorway.AppVersion, error)
	AppVersions(ctx context.Context, appID string) ([]doorway.AppVersion, error) // oldest first
	// RotateAppSecrets adds fresh secrets and makes every secret of the same
	// kinds that has no earlier expiry expire at oldExpireAt.
	RotateAppSecrets(ctx context.Context, appID string, fresh []doorway.AppSecret, oldExpireAt time.Time) error
	AppSecrets(ctx context.Context, appID string) ([]doorway.AppSecret, error) // newest first

	CreateLink(ctx context.Context, l *doorway.InstallLink) error
	Link(ctx context.Context, id string) (*doorway.InstallLink, error)

	// Install requests live in the browser's URL until decided (package
	// install seals them); the store keeps each decision, so a request is
	// decided exactly once. InstallRequest returns a decided request.
	InstallRequest(ctx context.Context, id string) (*doorway.InstallRequest, error)
	// Decide records the decision on d.Request. For an approval it also, in
	// the same transaction, creates or updates the installation for (app,
	// tenant, mode) with the version's permissions and writes its
	// app.installed event. ErrConflict: the request was decided already or
	// has expired at d.Now. ErrNotFound: d.Session is not live, or its user
	// is not a member of the tenant (Decision.Session).
	Decide(ctx context.Context, d Decision) (*doorway.Installation, error)

	Installation(ctx context.Context, id string) (*doorway.Installation, error)
	// InstallationFor finds the installation of an app in a tenant and mode.
	InstallationFor(ctx context.Context, appID, tenantID string, mode doorway.Mode) (*doorway.Installation, error)
	// Events returns an installation's events in sequence order.
	Events(ctx context.Context, installationID string) ([]doorway.Event, error)
	// Installations lists an app's installations by id, those after the id
	// after ("" for the first page), at most limit.
	Installations(ctx context.Context, appID, after string, limit int) ([]doorway.Installation, error)
	// TenantInstallations lists the installations in a tenant that are not
	// uninstalled.
	TenantInstallations(ctx context.Context, tenantID string) ([]doorway.Installation, error)
	// CompleteSetup moves a setup_incomplete installation to active and
	// writes its app.setup_completed event in the same transaction; an
	// active one is returned unchanged. ErrConflict: it is uninstalled.
	CompleteSetup(ctx context.Context, installationID, eventID string, now time.Time) (*doorway.Installation, error)
	// Uninstall marks an installation uninstalled, revokes all its grants
	// and writes its app.uninstalled event, in one transaction. userID is
	// who uninstalled it ("" for the app itself). ErrConflict: it is
	// uninstalled already. No grant is made for an uninstalled
	// installation afterwards (RenewInstallGrant and RedeemCode refuse), so
	// a grant that stands is one of an installed app: introspection reads
	// the grant alone.
	Uninstall(ctx context.Context, installationID, userID, eventID string, now time.Time) (*doorway.Installation, error)

	// AppSecretByHash finds a client secret by its hash.
	AppSecretByHash(ctx context.Context, hash string) (*doorway.AppSecret, error)

	// Authorization codes, grants and refresh tokens.
	// AuthCode returns a code with its installation, in one read.
	AuthCode(ctx context.Context, hash string) (*doorway.AuthCode, *doorway.Installation, error)
	// RedeemCode uses a code that matches x and starts x.Grant (with its
	// first refresh token, if any) in one transaction, and returns the
	// code with its installation. ErrNotFound: no such code. ErrMismatch:
	// the code does not match x; it is returned with its installation, so
	// the caller can say why, and nothing is written. ErrConflict: the code
	// has expired, its installation is uninstalled, or it was redeemed
	// before — then the grant of that first redemption is revoked at
	// x.Now, so that every token issued from a replayed code dies (RFC
	// 9700 §4.5).
	RedeemCode(ctx context.Context, x Redemption) (*doorway.AuthCode, *doorway.Installation, error)
	CreateGrant(ctx context.Context, g *doorway.Grant) error
	Grant(ctx context.Context, id string) (*doorway.Grant, error)
	// GrantInstallation returns a grant with its installation in one read:
	// an introspection needs both, and it is among the requests apps make
	// most. ErrNotFound: no such grant, or its installation is missing. (An
	// instance token reads the installation alone: Installation says
	// whether its install grant was revoked, GrantRevokedAt.)
	GrantInstallation(ctx context.Context, grantID string) (*doorway.Grant, *doorway.Installation, error)
	RevokeGrant(ctx context.Context, id string, now time.Time) error
	// RenewInstallGrant revokes install grant oldID and makes g the
	// installation's install grant, unless the installation is uninstalled
	// (ErrConflict).
	RenewInstallGrant(ctx context.Context, oldID string, g *doorway.Grant, now time.Time) error
	RefreshToken(ctx context.Context, hash string) (*doorway.RefreshToken, error)
	// Refresh exchanges a refresh token; see RefreshExchange. It returns
	// the token's grant and the grant's installation.
	Refresh(ctx context.Context, x RefreshExchange) (*doorway.Grant, *doorway.Installation, error)

	// Install tokens of platform-initiated wix-oauth installs.
	// CreateInstallToken stores t; a t with UsedAt set is recorded as used
	// (a sealed token's use, see install.Engine.InstallToken). ErrConflict:
	// a token with t's hash exists.
	CreateInstallToken(ctx context.Context, t *doorway.InstallToken) error
	// UseInstallToken marks a token used. ErrNotFound: unknown or for
	// another app; ErrConflict: used or expired.
	UseInstallToken(ctx context.Context, hash, appID string, now time.Time) (*doorway.InstallToken, error)

	// The outbox. Events are written by the operations above, in their
	// transactions; webhook dispatchers lease them, log every attempt and
	// retry until the endpoint answers 2xx or the schedule runs out.

	// ClaimEvents leases up to limit due pending events to owner until
	// now+lease, oldest due first. Only the lowest pending sequence of each
	// installation is due, so an installation's events go out in order. A
	// lease that has run out (its dispatcher crashed) can be claimed again.
	ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]doorway.Event, error)
	// RecordAttempts logs each attempt (and sets its ID) and, for each
	// event whose lease owner still holds: counts the attempt, moves the
	// event to a.Outcome (Pending: due again at a.NextAt) and releases the
	// lease. A Disabled outcome also disables the endpoint a.URL of the
	// app. All in one transaction: a dispatcher records the deliveries
	// that finish together at once. It returns the ids of the events whose
	// lease was lost (their attempts are logged, not counted); an error
	// records nothing. Of two attempts at one event, the second finds
	// the lease released by the first.
	RecordAttempts(ctx context.Context, owner string, attempts []*doorway.Attempt) (lost []string, err error)
	// ReleaseEvents gives back owner's leases of ids without an attempt;
	// the events are due again at due, or later if they were already.
	ReleaseEvents(ctx context.Context, owner string, due time.Time, ids []string) error
	Event(ctx context.Context, id string) (*doorway.Event, error)
	// ReplayEvent makes an event pending again, due at now, whatever its
	// state (a replay of a pending one just makes it due now).
	ReplayEvent(ctx context.Context, id string, now time.Time) (*doorway.Event, error)
	// Attempts is an app's delivery log, newest first: the attempts with
	// an id below before (0: from the newest), at most limit.
	Attempts(ctx context.Context, appID string, before int64, limit int) ([]doorway.Attempt, error)
	// WebhookDisabled reports when the app's endpoint url was disabled
	// (zero time: it is not).
	WebhookDisabled(ctx context.Context, appID, url string) (time.Time, error)
	// EnableWebhooks re-enables every disabled endpoint of the app and
	// makes its disabled events pending, due at now; it returns how many.
	EnableWebhooks(ctx context.Context, appID string, now time.Time) (int, error)

	// Sweep deletes the sessions, install requests, authorization codes
	// and install tokens that expired before before, and returns how many
	// rows went. Callers keep a margin (a replayed code is recognised only
	// while its row exists).
	Sweep(ctx context.Context, before time.Time) (int64, error)

	// Rate limits that every node shares (GCRA). Throttle counts a hit on
	// key: its theoretical arrival time becomes max(that time, now) +
	// every, in one statement, and is returned. Throttled returns it
	// (zero: no hits). Sweep deletes keys whose time has passed.
	Throttle(ctx context.Context, key string, now time.Time, every time.Duration) (time.Time, error)
	Throttled(ctx context.Context, key string) (time.Time, error)

	// Access-token signing keys, newest first, expired ones included.
	SigningKeys(ctx context.Context) ([]doorway.SigningKey, error)
	// RotateSigningKeys adds fresh and makes every current key expire at
	// oldExpireAt.
	RotateSigningKeys(ctx context.Context, fresh *doorway.SigningKey, oldExpireAt time.Time) error

	// ImportInstallations writes installations made elsewhere (moving a
	// platform's existing installs into Doorway, or a benchmark's fleet)
	// in one transaction, each with its install grant (Installation.GrantID,
	// no expiry, the installation's permissions) and, when EventID is set,
	// its app.installed event, pending and due at once. ErrConflict: an id,
	// or an (app, tenant, mode), exists already; ErrNotFound: an app,
	// version or tenant it names does not exist. Nothing is written then.
	ImportInstallations(ctx context.Context, items []Import) error

	// Ping checks that the database answers, and where writes queue in
	// the process (SQLite), that a write can commit: a node's readiness.
	Ping(ctx context.Context) error

	Close() error
}

// Membership is a tenant a user belongs to, with the user's role.
type Membership struct {
	Tenant doorway.Tenant
	Role   doorway.Role
}

// Import is one installation for ImportInstallations.
type Import struct {
	Installation doorway.Installation
	EventID      string // "": no event
}

// Decision ends an install request.
type Decision struct {
	// Request is the request decided, as the engine opened it; for an
	// approval its UserID and TenantID say who installs where.
	Request  *doorway.InstallRequest
	Decision doorway.Decision
	Now      time.Time
	// For approvals: the id a new installation gets (an existing one keeps
	// its id), and the id of the app.installed event.
	InstallationID string
	EventID        string
	GrantID        string // the install grant the approval starts
	// Code, when the profile issues an authorization code: stored in the
	// same transaction, with its InstallationID filled in.
	Code *doorway.AuthCode
	// Session, when set, is the hash of the deciding browser's session:
	// the decision is made only if that session is live at Now and, for an
	// approval, its user is a member of Request.TenantID, both read in the
	// decision's own transaction; Request.UserID is set to that user.
	// ErrNotFound otherwise, having written nothing. So a decision needs
	// no read before it, and a sign-out or a removed membership that
	// commits first is never overtaken. "" takes Request.UserID as given.
	Session string
}

// Redemption is one use of an authorization code: what the code must have
// been issued for, and what its use starts.
type Redemption struct {
	Hash    string
	Now     time.Time
	AppID   string          // the client
	Profile doorway.Profile // the token endpoint's
	// RedirectURI is the request's redirect_uri, which must equal the
	// code's when the code has one.
	RedirectURI string
	// Challenge is the S256 challenge of the request's code_verifier (""
	// when it sent none): it must equal the code's code_challenge, ""
	// included, so a code issued with PKCE needs its verifier and one
	// issued without refuses a verifier (a downgrade).
	Challenge string
	// Grant is the grant to start: its ID, Kind, Rotate and CreatedAt;
	// its app, installation and scope are the code's.
	Grant   *doorway.Grant
	Refresh *doorway.RefreshToken // the grant's first refresh token, or nil
}

// RefreshExchange is one use of a refresh token, in one transaction:
//   - unknown token, or a token of another app than AppID (when set):
//     ErrNotFound, and nothing is written; revoked grant: ErrConflict.
//   - a grant that does not rotate: the grant is returned, New is ignored.
//   - an unrotated token: it is marked rotated at Now and New is stored.
//   - a token rotated at most Grace ago (a concurrent refresh): New is
//     stored too, so parallel refreshes of one token all succeed.
//   - a token rotated longer ago: reuse of a stolen token, or a client
//     replaying an old one: the grant is revoked at Now, ErrConflict.
type RefreshExchange struct {
	Hash  string
	AppID string // the client; "" for any
	Now   time.Time
	Grace time.Duration
	New   *doorway.RefreshToken // GrantID is filled in
}

// Code is doorway.ErrorCode, except that an error for which Unavailable
// holds is doorway.EUnavailable rather than doorway.EInternal.
func Code(err error) string {
	code := doorway.ErrorCode(err)
	if code == doorway.EInternal && Unavailable(err) {
		return doorway.EUnavailable
	}
	return code
}

// Abandoned reports whether err is ctx's own end: the request's client
// went away (or its deadline passed) while the store was at work. That is
// no fault of the server's, and handlers do not log it as one.
func Abandoned(ctx context.Context, err error) bool {
	ctxErr := ctx.Err()
	return ctxErr != nil && errors.Is(err, ctxErr)
}

// Unavailable reports whether err means the database could not be reached
// or is shutting down, rather than that the request was wrong: handlers
// answer 503 with Retry-After, and the client's retry will find it back.
// It recognises network errors, a connection the driver gave up on, and
// PostgreSQL's connection-exception (08…) and operator-intervention (57P…)
// states and too_many_connections, without importing any driver.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	var state interface{ SQLState() string }
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ENOENT) && strings.Contains(err.Error(), "dial"),
		errors.As(err, &ne):
		return true
	case errors.As(err, &state):
		s := state.SQLState()
		return strings.HasPrefix(s, "08") || strings.HasPrefix(s, "57P") || s == "53300"
	}
	// pgx reports a connection it closed under a query this way.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "failed to connect") ||
		strings.Contains(msg, "database is locked")
}
