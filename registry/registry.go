// Package registry registers apps: it validates manifests against the
// platform's permission catalog, stores immutable versions, issues and
// rotates the app's secrets, and creates install links.
//
// Secrets are shown once, when they are made. Client secrets are stored as
// SHA-256 (they are 130-bit random values, so a fast hash is as safe as a
// slow one); signing secrets are sealed with the master key, because Doorway
// must read them back to sign install redirects.
package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// Registry registers apps.
type Registry struct {
	Store   store.Store
	Keys    *secret.Keyring
	Catalog doorway.Catalog
	Now     func() time.Time

	mu     sync.Mutex
	sealed map[string]sealedSecrets // app id → its secret rows; see SecretCacheFor
	gen    int64                    // rotations through this registry
}

// SecretCacheFor is how long a node reuses the secret rows it read for an
// app to sign an install redirect or a webhook, as oauth.ClientCacheFor does
// for client secrets: every install and every delivery needs them, and the
// read was a tenth of an install's work. A rotation on this node is seen at
// once, on other nodes within SecretCacheFor; an expiry already set is
// honoured to the moment.
const SecretCacheFor = time.Second

type sealedSecrets struct {
	rows []doorway.AppSecret
	at   time.Time
}

// Created is a new app with the secrets that are shown only now.
type Created struct {
	App     *doorway.App
	Version *doorway.AppVersion
	Secrets
	// WebhookPublicKey is the PEM public key that verifies wix-format
	// webhooks ("" for other formats). It is not a secret and can be shown
	// again with WebhookPublicKey.
	WebhookPublicKey string
}

// Secrets are an app's secrets as issued: shown once, then kept only hashed
// (client) or sealed (signing, webhook).
type Secrets struct {
	ClientSecret  string // dwcs_…: the app's OAuth client secret
	SigningSecret string // dwss_…: verifies install redirects
	WebhookSecret string // whsec_…: verifies standard and stripe webhooks
}

// manifestFields are the manifest keys Doorway reads; stripeFields are keys
// of a Stripe app manifest that Doorway accepts and ignores, so a Stripe
// manifest can be used as it is.
var (
	manifestFields = []string{"id", "name", "version", "icon", "permissions", "allowed_redirect_uris", "webhook_url", "webhook_format", "app_url"}
	stripeFields   = []string{"app_backend", "ui_extension", "stripe_api_access_type", "distribution_type",
		"sandbox_install_compatible", "post_install_action", "connect_permissions", "constants", "$schema"}
)

// ParseManifest decodes a JSON manifest, naming any key it does not know.
func ParseManifest(data []byte) (doorway.Manifest, error) {
	var m doorway.Manifest
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return m, doorway.Errorf(doorway.EInvalid, "the manifest is not a JSON object: %v", err)
	}
	var unknown []string
	for k := range keys {
		if !contains(manifestFields, k) && !contains(stripeFields, k) {
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return m, doorway.Errorf(doorway.EInvalid, "the manifest has unknown field(s) %s; known fields: %s",
			strings.Join(unknown, ", "), strings.Join(manifestFields, ", "))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return m, doorway.Errorf(doorway.EInvalid, "the manifest does not fit its schema: %v", err)
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// CreateApp registers an app whose first version is both live and test.
func (r *Registry) CreateApp(ctx context.Context, m doorway.Manifest) (*Created, error) {
	if err := m.Validate(r.Catalog); err != nil {
		return nil, err
	}
	now := r.Now()
	app := &doorway.App{ID: secret.Token("app_"), CreatedAt: now}
	v := &doorway.AppVersion{ID: secret.Token("ver_"), AppID: app.ID, CreatedAt: now, Manifest: m}
	app.LiveVersionID, app.TestVersionID = v.ID, v.ID
	c := &Created{App: app, Version: v}
	var secrets []doorway.AppSecret
	c.Secrets, secrets = r.newSecrets(app.ID, now)
	if m.Webhook() == doorway.WebhookWix {
		key, pub, err := r.newWebhookKey(app.ID, now)
		if err != nil {
			return nil, err
		}
		secrets, c.WebhookPublicKey = append(secrets, key), pub
	}
	if err := r.Store.CreateApp(ctx, app, v, secrets); err != nil {
		return nil, err
	}
	return c, nil
}

func (r *Registry) newSecrets(appID string, now time.Time) (Secrets, []doorway.AppSecret) {
	raw := make([]byte, 32)
	rand.Read(raw)
	out := Secrets{ClientSecret: secret.Token("dwcs_"), SigningSecret: secret.Token("dwss_"),
		WebhookSecret: "whsec_" + base64.StdEncoding.EncodeToString(raw)}
	signingID, webhookID := secret.Token("sec_"), secret.Token("sec_")
	rows := []doorway.AppSecret{
		{ID: secret.Token("sec_"), AppID: appID, Kind: doorway.ClientSecret, Hash: secret.Hash(out.ClientSecret), CreatedAt: now},
		{ID: signingID, AppID: appID, Kind: doorway.SigningSecret, Sealed: r.Keys.Seal(out.SigningSecret, signingID), CreatedAt: now},
		{ID: webhookID, AppID: appID, Kind: doorway.WebhookSecret, Sealed: r.Keys.Seal(out.WebhookSecret, webhookID), CreatedAt: now},
	}
	return out, rows
}

// newWebhookKey makes the RSA key that signs an app's wix-format webhooks.
func (r *Registry) newWebhookKey(appID string, now time.Time) (doorway.AppSecret, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return doorway.AppSecret{}, "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return doorway.AppSecret{}, "", err
	}
	pub, err := publicPEM(&key.PublicKey)
	if err != nil {
		return doorway.AppSecret{}, "", err
	}
	id := secret.Token("sec_")
	plain := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	return doorway.AppSecret{ID: id, AppID: appID, Kind: doorway.WebhookKey, Sealed: r.Keys.Seal(plain, id), CreatedAt: now}, pub, nil
}

func publicPEM(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// App returns an app, with an error that says how to list apps when the id
// is unknown.
func (r *Registry) App(ctx context.Context, id string) (*doorway.App, error) {
	app, err := r.Store.App(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, doorway.Errorf(doorway.ENotFound, "app %q does not exist (app ids look like app_…, as printed by doorway apps create)", id)
	}
	return app, err
}

// AddVersion stores a new immutable version and makes it the version of
// each of modes.
func (r *Registry) AddVersion(ctx context.Context, appID string, m doorway.Manifest, modes ...doorway.Mode) (*doorway.AppVersion, error) {
	if _, err := r.App(ctx, appID); err != nil {
		return nil, err
	}
	if err := m.Validate(r.Catalog); err != nil {
		return nil, err
	}
	if m.Webhook() == doorway.WebhookWix {
		if _, err := r.WebhookKey(ctx, appID); errors.Is(err, errNoSecret) {
			key, _, err := r.newWebhookKey(appID, r.Now())
			if err != nil {
				return nil, err
			}
			// The app has no key of this kind, so "rotating" only adds it.
			err = r.Store.RotateAppSecrets(ctx, appID, []doorway.AppSecret{key}, r.Now())
			r.forget(appID)
			if err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
	}
	v := &doorway.AppVersion{ID: secret.Token("ver_"), AppID: appID, CreatedAt: r.Now(), Manifest: m}
	err := r.Store.AddAppVersion(ctx, v, modes...)
	if errors.Is(err, store.ErrConflict) {
		return nil, doorway.Errorf(doorway.EConflict, "app %s already has version %q; versions are immutable, so give the manifest a new \"version\"", appID, m.Version)
	}
	return v, err
}

// RotateSecrets issues a new client secret, signing secret and webhook
// secret. The old ones stay valid for overlap, so running deployments can
// switch over; meanwhile redirects and webhooks carry a signature for each.
func (r *Registry) RotateSecrets(ctx context.Context, appID string, overlap time.Duration) (Secrets, error) {
	if _, err := r.App(ctx, appID); err != nil {
		return Secrets{}, err
	}
	now := r.Now()
	out, rows := r.newSecrets(appID, now)
	err := r.Store.RotateAppSecrets(ctx, appID, rows, now.Add(overlap))
	r.forget(appID)
	if err != nil {
		return Secrets{}, err
	}
	return out, nil
}

// forget drops the app's cached secret rows after a change on this node.
func (r *Registry) forget(appID string) {
	r.mu.Lock()
	r.gen++
	delete(r.sealed, appID)
	r.mu.Unlock()
}

var errNoSecret = errors.New("no valid secret")

// open returns the app's secrets of kind valid now, newest first.
func (r *Registry) open(ctx context.Context, appID string, kind doorway.SecretKind) ([]string, error) {
	now := r.Now()
	r.mu.Lock()
	c, ok := r.sealed[appID]
	gen := r.gen
	r.mu.Unlock()
	rows := c.rows
	if !ok || now.Sub(c.at) >= SecretCacheFor || now.Before(c.at) {
		var err error
		if rows, err = r.Store.AppSecrets(ctx, appID); err != nil {
			return nil, err
		}
		r.mu.Lock()
		if r.sealed == nil || len(r.sealed) >= 10_000 {
			r.sealed = map[string]sealedSecrets{} // a rare reset beats tracking age
		}
		if r.gen == gen { // not kept if a rotation here overlapped the read
			r.sealed[appID] = sealedSecrets{rows, now}
		}
		r.mu.Unlock()
	}
	var out []string
	for _, s := range rows {
		if s.Kind != kind || !s.ValidAt(now) {
			continue
		}
		plain, err := r.Keys.Open(s.Sealed, s.ID)
		if err != nil {
			return nil, fmt.Errorf("app %s %s secret %s: %w", appID, kind, s.ID, err)
		}
		out = append(out, plain)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("app %s has no valid %s secret: %w", appID, kind, errNoSecret)
	}
	return out, nil
}

// SigningSecrets returns the app's signing secrets valid now, newest first.
func (r *Registry) SigningSecrets(ctx context.Context, appID string) ([]string, error) {
	return r.open(ctx, appID, doorway.SigningSecret)
}

// WebhookSecrets returns the app's webhook secrets valid now, newest first.
// An app registered before webhook secrets existed has none until its
// secrets are rotated; the error says so.
func (r *Registry) WebhookSecrets(ctx context.Context, appID string) ([]string, error) {
	s, err := r.open(ctx, appID, doorway.WebhookSecret)
	if errors.Is(err, errNoSecret) {
		return nil, doorway.Errorf(doorway.EInvalid, "app %s has no webhook secret; issue one with: doorway apps secrets rotate %s", appID, appID)
	}
	return s, err
}

// WebhookKey returns the private key that signs the app's wix-format
// webhooks.
func (r *Registry) WebhookKey(ctx context.Context, appID string) (*rsa.PrivateKey, error) {
	pems, err := r.open(ctx, appID, doorway.WebhookKey)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode([]byte(pems[0]))
	if block == nil {
		return nil, fmt.Errorf("app %s: the stored webhook key is not PEM", appID)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("app %s: the stored webhook key: %w", appID, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("app %s: the stored webhook key is not RSA", appID)
	}
	return rk, nil
}

// WebhookPublicKey returns the PEM public key that verifies the app's
// wix-format webhooks.
func (r *Registry) WebhookPublicKey(ctx context.Context, appID string) (string, error) {
	if _, err := r.App(ctx, appID); err != nil {
		return "", err
	}
	k, err := r.WebhookKey(ctx, appID)
	if errors.Is(err, errNoSecret) {
		return "", doorway.Errorf(doorway.EInvalid, "app %s has no webhook key: only apps with a version whose webhook_format is wix have one", appID)
	}
	if err != nil {
		return "", err
	}
	return publicPEM(&k.PublicKey)
}

// CreateLink creates an install link for the app in mode.
func (r *Registry) CreateLink(ctx context.Context, appID string, mode doorway.Mode) (*doorway.InstallLink, error) {
	app, err := r.App(ctx, appID)
	if err != nil {
		return nil, err
	}
	if app.VersionID(mode) == "" {
		return nil, doorway.Errorf(doorway.EInvalid, "app %s has no %s version; add one with: doorway apps versions add %s --manifest app.json --mode %s", appID, mode, appID, mode)
	}
	l := &doorway.InstallLink{ID: secret.Token("lnk_"), AppID: appID, Mode: mode, CreatedAt: r.Now()}
	return l, r.Store.CreateLink(ctx, l)
}
