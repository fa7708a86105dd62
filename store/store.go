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
	"errors"
	"time"

	"github.com/doorwayhq/doorway"
)

var (
	// ErrNotFound: the thing looked up does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique thing exists already, or a single-use thing was
	// used already (or has expired).
	ErrConflict = errors.New("conflict")
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
	Session(ctx context.Context, hash string, now time.Time) (*doorway.Session, error) // expired: ErrNotFound
	DeleteSession(ctx context.Context, hash string) error

	// Apps, their immutable versions and their secrets.
	CreateApp(ctx context.Context, app *doorway.App, v *doorway.AppVersion, secrets []doorway.AppSecret) error
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

	// Install requests: created at the entry URL, given a user and tenant,
	// then decided exactly once.
	CreateInstallRequest(ctx context.Context, r *doorway.InstallRequest) error
	InstallRequest(ctx context.Context, id string) (*doorway.InstallRequest, error)
	// ChooseTenant records who installs into which tenant. ErrConflict: the
	// request was decided or has expired at now.
	ChooseTenant(ctx context.Context, requestID, userID, tenantID string, now time.Time) error
	// Decide ends an install request. For an approval it also, in the same
	// transaction, creates or updates the installation for (app, tenant,
	// mode) with the version's permissions and writes its app.installed
	// event. ErrConflict: the request was decided already or has expired.
	Decide(ctx context.Context, d Decision) (*doorway.Installation, error)

	Installation(ctx context.Context, id string) (*doorway.Installation, error)
	// InstallationFor finds the installation of an app in a tenant and mode.
	InstallationFor(ctx context.Context, appID, tenantID string, mode doorway.Mode) (*doorway.Installation, error)
	// Events returns an installation's events in sequence order.
	Events(ctx context.Context, installationID string) ([]doorway.Event, error)

	Close() error
}

// Membership is a tenant a user belongs to, with the user's role.
type Membership struct {
	Tenant doorway.Tenant
	Role   doorway.Role
}

// Decision ends an install request.
type Decision struct {
	RequestID string
	Decision  doorway.Decision
	Now       time.Time
	// For approvals: the id a new installation gets (an existing one keeps
	// its id), and the id of the app.installed event.
	InstallationID string
	EventID        string
}
