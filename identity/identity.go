// Package identity is Doorway's embedded identity: users with argon2id
// password hashes, tenants with their members, and browser sessions.
//
// Sessions are random tokens in a cookie; the store keeps only their SHA-256,
// so neither a database dump nor a log line can sign anybody in. Sign-in
// answers "email or password is incorrect" for both mistakes, and hashes a
// password even for an unknown email, so neither the words nor the timing
// tell an attacker which emails exist.
//
// Failed sign-ins are limited per email and address (see SignIn), so a
// password cannot be guessed faster than one try every few seconds, and a
// blocked try is answered before its password is hashed. No more passwords
// are hashed at once than there are cores (argonSlots), so a burst of
// sign-ins queues instead of holding 19 MiB each.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// Service creates users and tenants and signs users in.
type Service struct {
	Store      store.Store
	Now        func() time.Time
	SessionTTL time.Duration
}

// MinPasswordLen is the shortest password accepted (NIST SP 800-63B).
const MinPasswordLen = 8

// CreateUser adds a user with a password.
func (s *Service) CreateUser(ctx context.Context, email, password string) (*doorway.User, error) {
	email = strings.TrimSpace(email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || a.Name != "" {
		return nil, doorway.Errorf(doorway.EInvalid, "email %q is not an email address such as ada@example.com", email)
	}
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return nil, doorway.Errorf(doorway.EInvalid, "the password is %d characters long; use at least %d", utf8.RuneCountInString(password), MinPasswordLen)
	}
	if len(password) > 1024 {
		return nil, doorway.Errorf(doorway.EInvalid, "the password is longer than 1024 bytes")
	}
	u := &doorway.User{ID: secret.Token("usr_"), Email: strings.ToLower(email), PasswordHash: HashPassword(password), CreatedAt: s.Now()}
	if err := s.Store.CreateUser(ctx, u); errors.Is(err, store.ErrConflict) {
		return nil, doorway.Errorf(doorway.EConflict, "a user with email %s exists already", email)
	} else if err != nil {
		return nil, err
	}
	return u, nil
}

// CreateTenant adds a tenant owned by the user with ownerEmail.
func (s *Service) CreateTenant(ctx context.Context, name, ownerEmail string) (*doorway.Tenant, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return nil, doorway.Errorf(doorway.EInvalid, "tenant name %q must be 1 to 100 characters", name)
	}
	owner, err := s.Store.UserByEmail(ctx, ownerEmail)
	if errors.Is(err, store.ErrNotFound) {
		return nil, doorway.Errorf(doorway.ENotFound, "no user has email %q; create one first with: doorway users create --email %s", ownerEmail, ownerEmail)
	} else if err != nil {
		return nil, err
	}
	t := &doorway.Tenant{ID: secret.Token("tnt_"), Name: name, CreatedAt: s.Now()}
	if err := s.Store.CreateTenant(ctx, t, owner.ID); err != nil {
		return nil, err
	}
	return t, nil
}

var errBadCredentials = doorway.Errorf(doorway.EUnauthorized, "The email or password is incorrect.")

// dummyHash is checked against when the email is unknown, so that an
// unknown email costs the same time as a wrong password: an argon2id hash
// with the parameters below (TestDummyHashCostsWhatAPasswordCosts keeps
// them in step) of a password nobody kept. It is a constant because
// hashing one at start-up cost every doorway process, each CLI command
// included, one argon2id pass (tens of milliseconds) and 19 MiB of heap
// that stayed in the server's idle memory until the first collection.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$yhz9r3L6IHOzQ3WYYOLBww$B9K43EgBp8V+YWQmH6QZqFKZCsbEblffgAcrogvymzw"

// Failed sign-ins per email and address: a burst of signInBurst, then one
// every signInEvery (GCRA, in the store, so every node counts the same
// failures). A success does not reset the count; it decays with time.
const (
	signInBurst = 10
	signInEvery = 6 * time.Second
)

// Limited is the error of a sign-in refused because of earlier failures:
// its code is doorway.ELimited, and Wait says when to try again.
type Limited struct {
	Wait time.Duration
	err  *doorway.Error
}

func (e *Limited) Error() string { return e.err.Error() }
func (e *Limited) Unwrap() error { return e.err }

// SignIn checks a user's password and starts a session. It returns the
// session token for the cookie. from is the address the attempt comes from
// (the client's IP address): after signInBurst failures for one email from
// one address, attempts are refused with a *Limited, without hashing the
// password, until one every signInEvery is allowed again.
//
// The limit is per email and address, not per email alone, so that
// somebody else failing on purpose cannot lock a user out from everywhere.
// Behind a proxy that hides the client's address it is per email (every
// attempt comes from the proxy).
func (s *Service) SignIn(ctx context.Context, email, password, from string) (token string, u *doorway.User, err error) {
	email = strings.TrimSpace(email)
	now := s.Now()
	// The email is the client's input: quoted (NUL bytes and invalid UTF-8
	// become text any database keeps) and clipped.
	key := fmt.Sprintf("signin %.80q %s", strings.ToLower(email), from)
	tat, err := s.Store.Throttled(ctx, key)
	if err != nil {
		return "", nil, err
	}
	if wait := tat.Sub(now) - (signInBurst-1)*signInEvery; !tat.IsZero() && wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second) // rounded up
		return "", nil, &Limited{Wait: time.Duration(secs) * time.Second, err: doorway.Errorf(doorway.ELimited,
			"Too many failed sign-ins for this email. Try again in %d seconds.", secs)}
	}
	failed := func() (string, *doorway.User, error) {
		if _, err := s.Store.Throttle(ctx, key, now, signInEvery); err != nil {
			return "", nil, err
		}
		return "", nil, errBadCredentials
	}
	u, err = s.Store.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := checkPassword(ctx, dummyHash, password); err != nil {
			return "", nil, err
		}
		return failed()
	} else if err != nil {
		return "", nil, err
	}
	if ok, err := checkPassword(ctx, u.PasswordHash, password); err != nil {
		return "", nil, err
	} else if !ok {
		return failed()
	}
	token = secret.Token("")
	if err := s.Store.CreateSession(ctx, &doorway.Session{Hash: secret.Hash(token), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.SessionTTL)}); err != nil {
		return "", nil, err
	}
	return token, u, nil
}

// SessionUser returns the user signed in with token and the user's
// memberships, or nil when the token is empty, unknown or expired.
func (s *Service) SessionUser(ctx context.Context, token string) (*doorway.User, []store.Membership, error) {
	if token == "" || len(token) > 100 {
		return nil, nil, nil
	}
	_, u, ms, err := s.Store.Session(ctx, secret.Hash(token), s.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	return u, ms, err
}

// SignOut ends the session of token.
func (s *Service) SignOut(ctx context.Context, token string) error {
	return s.Store.DeleteSession(ctx, secret.Hash(token))
}

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const (
	argonMemory = 19 * 1024
	argonTime   = 2
	argonLanes  = 1
	argonKeyLen = 32
)

// argonSlots bounds the argon2id computations running at once to the
// cores there are. Each holds its memory (19 MiB) for as long as it runs,
// and more of them at once finish no sooner on the same cores: unbounded,
// a burst of a hundred sign-ins held 1.9 GB (the sign-in limit counts per
// email, and a burst can name a hundred emails). The others wait their
// turn, or give up when their request is gone. argonRunning and
// argonPeak count what runs, for the tests.
var (
	argonSlots   = make(chan struct{}, runtime.GOMAXPROCS(0))
	argonRunning atomic.Int32
	argonPeak    atomic.Int32
)

func argonKey(ctx context.Context, password, salt []byte, time, memory uint32, lanes uint8, keyLen uint32) ([]byte, error) {
	select {
	case argonSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-argonSlots }()
	n := argonRunning.Add(1)
	defer argonRunning.Add(-1)
	for p := argonPeak.Load(); n > p && !argonPeak.CompareAndSwap(p, n); p = argonPeak.Load() {
	}
	return argon2.IDKey(password, salt, time, memory, lanes, keyLen), nil
}

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key, _ := argonKey(context.Background(), []byte(password), salt, argonTime, argonMemory, argonLanes, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonLanes,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// CheckPassword reports whether password matches an argon2id PHC hash.
func CheckPassword(hash, password string) bool {
	ok, _ := checkPassword(context.Background(), hash, password)
	return ok
}

// checkPassword is CheckPassword for a request: it gives up, with ctx's
// error, if ctx is done while it waits for its turn to hash.
func checkPassword(ctx context.Context, hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, nil
	}
	var version int
	var memory, iterations uint32
	var lanes uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, nil
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &iterations, &lanes); err != nil {
		return false, nil
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, nil
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, nil
	}
	got, err := argonKey(ctx, []byte(password), salt, iterations, memory, lanes, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
