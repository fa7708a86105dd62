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
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
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
}

// Created is a new app with the secrets that are shown only now.
type Created struct {
	App           *doorway.App
	Version       *doorway.AppVersion
	ClientSecret  string
	SigningSecret string
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
	c.ClientSecret, c.SigningSecret, secrets = r.newSecrets(app.ID, now)
	if err := r.Store.CreateApp(ctx, app, v, secrets); err != nil {
		return nil, err
	}
	return c, nil
}

func (r *Registry) newSecrets(appID string, now time.Time) (client, signing string, rows []doorway.AppSecret) {
	client, signing = secret.Token("dwcs_"), secret.Token("dwss_")
	signingID := secret.Token("sec_")
	rows = []doorway.AppSecret{
		{ID: secret.Token("sec_"), AppID: appID, Kind: doorway.ClientSecret, Hash: secret.Hash(client), CreatedAt: now},
		{ID: signingID, AppID: appID, Kind: doorway.SigningSecret, Sealed: r.Keys.Seal(signing, signingID), CreatedAt: now},
	}
	return client, signing, rows
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
	v := &doorway.AppVersion{ID: secret.Token("ver_"), AppID: appID, CreatedAt: r.Now(), Manifest: m}
	err := r.Store.AddAppVersion(ctx, v, modes...)
	if errors.Is(err, store.ErrConflict) {
		return nil, doorway.Errorf(doorway.EConflict, "app %s already has version %q; versions are immutable, so give the manifest a new \"version\"", appID, m.Version)
	}
	return v, err
}

// RotateSecrets issues a new client secret and signing secret. The old ones
// stay valid for overlap, so running deployments can switch over.
func (r *Registry) RotateSecrets(ctx context.Context, appID string, overlap time.Duration) (client, signing string, err error) {
	if _, err := r.App(ctx, appID); err != nil {
		return "", "", err
	}
	now := r.Now()
	client, signing, rows := r.newSecrets(appID, now)
	if err := r.Store.RotateAppSecrets(ctx, appID, rows, now.Add(overlap)); err != nil {
		return "", "", err
	}
	return client, signing, nil
}

// SigningSecrets returns the app's signing secrets valid now, newest first.
func (r *Registry) SigningSecrets(ctx context.Context, appID string) ([]string, error) {
	rows, err := r.Store.AppSecrets(ctx, appID)
	if err != nil {
		return nil, err
	}
	now := r.Now()
	var out []string
	for _, s := range rows {
		if s.Kind != doorway.SigningSecret || !s.ValidAt(now) {
			continue
		}
		plain, err := r.Keys.Open(s.Sealed, s.ID)
		if err != nil {
			return nil, fmt.Errorf("app %s signing secret %s: %w", appID, s.ID, err)
		}
		out = append(out, plain)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("app %s has no valid signing secret", appID)
	}
	return out, nil
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
