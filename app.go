package doorway

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Mode separates real installations from an app developer's tests, like
// Stripe's live mode and test mode. An app has one version per mode.
type Mode string

const (
	Live Mode = "live"
	Test Mode = "test"
)

// App is a third-party app registered on the platform. Its secrets are kept
// apart (see AppSecret) so that an App can be passed around freely.
type App struct {
	ID            string
	LiveVersionID string // "" until a version is made live
	TestVersionID string
	CreatedAt     time.Time
}

// VersionID returns the id of the app's version for mode.
func (a *App) VersionID(m Mode) string {
	if m == Live {
		return a.LiveVersionID
	}
	return a.TestVersionID
}

// AppVersion is one immutable manifest of an app.
type AppVersion struct {
	ID        string
	AppID     string
	CreatedAt time.Time
	Manifest
}

// Manifest is what an app developer writes: Stripe's app manifest plus a
// webhook URL. ID is the developer's own name for the app
// ("com.example.invoicing"); Doorway's app id is App.ID.
type Manifest struct {
	ID                  string              `json:"id"`
	Name                string              `json:"name"`
	Version             string              `json:"version"`
	Icon                string              `json:"icon,omitempty"`
	Permissions         []PermissionRequest `json:"permissions"`
	AllowedRedirectURIs []string            `json:"allowed_redirect_uris"`
	WebhookURL          string              `json:"webhook_url,omitempty"`
	// WebhookFormat is how events are sent to WebhookURL: standard
	// (default), stripe or wix.
	WebhookFormat WebhookFormat `json:"webhook_format,omitempty"`
	// AppURL is where a platform-initiated install of a wix-oauth app
	// sends the user first, with a single-use token.
	AppURL string `json:"app_url,omitempty"`
}

// PermissionNames returns the names of the permissions the manifest asks for.
func (m *Manifest) PermissionNames() []string {
	out := make([]string, len(m.Permissions))
	for i, p := range m.Permissions {
		out[i] = p.Permission
	}
	return out
}

// PermissionRequest is one permission an app asks for and why, shown to the
// user on the consent page.
type PermissionRequest struct {
	Permission string `json:"permission"`
	Purpose    string `json:"purpose"`
}

// Manifest limits. They keep consent pages readable and rows small.
const (
	maxNameLen    = 80
	maxPurposeLen = 300
	maxURILen     = 2048
	maxRedirects  = 20
)

var versionPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)

// Validate reports every problem with the manifest at once, each naming the
// field and what to do about it. Permissions must come from catalog.
func (m *Manifest) Validate(catalog Catalog) error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if strings.TrimSpace(m.Name) == "" {
		add(`"name" is required: the app name users see on the consent page`)
	} else if len(m.Name) > maxNameLen {
		add(`"name" is %d characters long; the limit is %d`, len(m.Name), maxNameLen)
	}
	if !versionPattern.MatchString(m.Version) {
		add(`"version" %q must be 1-64 letters, digits, '.', '+', '_' or '-' (for example "1.0.0")`, m.Version)
	}
	if m.Icon != "" {
		if u, err := url.Parse(m.Icon); err != nil || u.Scheme != "https" || u.Host == "" {
			add(`"icon" %q must be an https URL`, m.Icon)
		}
	}
	seen := map[string]bool{}
	for i, p := range m.Permissions {
		switch {
		case p.Permission == "":
			add(`"permissions[%d].permission" is empty`, i)
		case !catalog.Has(p.Permission):
			add(`"permissions[%d].permission" %q is not in the platform's permission catalog (known: %s)`, i, p.Permission, strings.Join(catalog.Names(), ", "))
		case seen[p.Permission]:
			add(`"permissions[%d].permission" %q is requested twice`, i, p.Permission)
		}
		seen[p.Permission] = true
		if strings.TrimSpace(p.Purpose) == "" {
			add(`"permissions[%d].purpose" is required: tell users why the app needs %q`, i, p.Permission)
		} else if len(p.Purpose) > maxPurposeLen {
			add(`"permissions[%d].purpose" is %d characters long; the limit is %d`, i, len(p.Purpose), maxPurposeLen)
		}
	}
	if len(m.AllowedRedirectURIs) == 0 {
		add(`"allowed_redirect_uris" needs at least one URL: where users land after installing`)
	}
	if len(m.AllowedRedirectURIs) > maxRedirects {
		add(`"allowed_redirect_uris" has %d entries; the limit is %d`, len(m.AllowedRedirectURIs), maxRedirects)
	}
	for i, raw := range m.AllowedRedirectURIs {
		if err := checkRegisteredURL(raw); err != "" {
			add(`"allowed_redirect_uris[%d]" %q %s`, i, raw, err)
		}
	}
	if m.AppURL != "" {
		if err := checkRegisteredURL(m.AppURL); err != "" {
			add(`"app_url" %q %s`, m.AppURL, err)
		}
	}
	if m.WebhookURL != "" {
		if err := checkRegisteredURL(m.WebhookURL); err != "" {
			add(`"webhook_url" %q %s`, m.WebhookURL, err)
		}
	}
	problems = append(problems, m.webhookProblems()...)
	if len(problems) > 0 {
		return Errorf(EInvalid, "the manifest has %d problem(s):\n  - %s", len(problems), strings.Join(problems, "\n  - "))
	}
	return nil
}

// checkRegisteredURL returns what is wrong with a URL an app registers, or "".
func checkRegisteredURL(raw string) string {
	if len(raw) > maxURILen {
		return fmt.Sprintf("is longer than %d characters", maxURILen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return "must be an absolute URL such as https://example.com/callback"
	case u.Scheme != "https" && u.Scheme != "http":
		return "must use https"
	case u.Scheme == "http" && !IsLoopbackHost(u.Hostname()):
		return "must use https (plain http is allowed only for localhost and 127.0.0.1, in test mode)"
	case u.User != nil:
		return "must not contain a user name or password"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not contain a #fragment"
	}
	return ""
}

// IsLoopbackHost reports whether host is one of the loopback names that test
// mode accepts over plain http.
func IsLoopbackHost(host string) bool { return host == "localhost" || host == "127.0.0.1" }

// AppSecret is one client secret or signing secret of an app. Client secrets
// are kept as a hash (the app proves it knows the secret); signing secrets are
// kept encrypted (Doorway needs them to sign). A secret is valid until
// ExpiresAt; rotation gives the old ones an ExpiresAt.
type AppSecret struct {
	ID        string
	AppID     string
	Kind      SecretKind
	Hash      string // client secrets: SHA-256 of the secret
	Sealed    string // signing secrets: encrypted with the master key
	CreatedAt time.Time
	ExpiresAt time.Time // zero: no expiry
}

// SecretKind says what an AppSecret is for.
type SecretKind string

const (
	ClientSecret  SecretKind = "client"
	SigningSecret SecretKind = "signing"
	// WebhookSecret signs standard and stripe webhooks (whsec_…), sealed.
	WebhookSecret SecretKind = "webhook"
	// WebhookKey is the RSA private key (PKCS #8 PEM, sealed) that signs wix
	// webhooks; the developer verifies with its public half.
	WebhookKey SecretKind = "webhook_key"
)

// ValidAt reports whether the secret may be used at t.
func (s *AppSecret) ValidAt(t time.Time) bool { return s.ExpiresAt.IsZero() || t.Before(s.ExpiresAt) }

// InstallLink is the public id of a link that starts an install of an app in
// one mode: /apps/install/link/{ID}.
type InstallLink struct {
	ID        string
	AppID     string
	Mode      Mode
	CreatedAt time.Time
}
