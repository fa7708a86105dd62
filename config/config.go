// Package config reads Doorway's optional configuration file: the platform's
// branding, its permission catalog, and lifetimes. Flags and DOORWAY_*
// environment variables (package cli) cover where things run; this file
// covers what the platform is. Every mistake is reported at once, each naming
// its field.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/doorwayhq/doorway"
)

// Config is the configuration file.
type Config struct {
	Platform    Platform        `yaml:"platform"`
	Permissions doorway.Catalog `yaml:"permissions"`
	Lifetimes   Lifetimes       `yaml:"lifetimes"`
	Webhooks    Webhooks        `yaml:"webhooks"`
}

// Webhooks tunes delivery. Whether private addresses may receive webhooks
// is a flag (--webhook-allow-private), since it depends on where Doorway runs.
type Webhooks struct {
	Timeout     Duration `yaml:"timeout"`      // one request; default 15s
	Lease       Duration `yaml:"lease"`        // a claimed event is a node's for this long; default 45s
	PerEndpoint int      `yaml:"per_endpoint"` // concurrent requests to one URL; default 4
}

// Platform is the branding shown on every page.
type Platform struct {
	Name        string `yaml:"name"`
	AccentColor string `yaml:"accent_color"` // #rrggbb
	LogoURL     string `yaml:"logo_url"`     // https, shown at 32px
	SupportURL  string `yaml:"support_url"`
}

// Lifetimes of what Doorway issues.
type Lifetimes struct {
	InstallRequest Duration `yaml:"install_request"` // default 10m
	Session        Duration `yaml:"session"`         // default 12h
	SecretOverlap  Duration `yaml:"secret_overlap"`  // default 24h
	AccessToken    Duration `yaml:"access_token"`    // oauth2 access tokens; default 1h
	RefreshGrace   Duration `yaml:"refresh_grace"`   // default 10s
	KeyOverlap     Duration `yaml:"key_overlap"`     // default 24h
	// KeyReload is how long a node trusts its copy of the signing keys:
	// a key rotated on one node is signed with by all within it; 30s.
	KeyReload Duration `yaml:"key_reload"`
	// RevocationDelay is the longest the guard package trusts a cached
	// answer that a token's installation is still installed; default 30s.
	RevocationDelay Duration `yaml:"revocation_delay"`
}

// Duration is a time.Duration written as "10m".
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 10m or 24h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

//go:embed default.yaml
var defaultYAML []byte

// Default is the configuration used when no file is given: a generic
// platform with an example permission catalog.
func Default() *Config {
	c, err := parse(defaultYAML)
	if err != nil {
		panic("config: embedded default.yaml: " + err.Error())
	}
	return c
}

// DefaultYAML returns the annotated default file, a starting point for
// `doorway config example`.
func DefaultYAML() []byte { return defaultYAML }

// Load reads path; "" means Default().
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	c, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

func parse(b []byte) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, err
	}
	c.applyDefaults()
	return c, c.Validate()
}

func (c *Config) applyDefaults() {
	if c.Platform.Name == "" {
		c.Platform.Name = "Doorway"
	}
	if c.Platform.AccentColor == "" {
		c.Platform.AccentColor = "#4338ca"
	}
	if c.Lifetimes.InstallRequest == 0 {
		c.Lifetimes.InstallRequest = Duration(10 * time.Minute)
	}
	if c.Lifetimes.Session == 0 {
		c.Lifetimes.Session = Duration(12 * time.Hour)
	}
	if c.Lifetimes.SecretOverlap == 0 {
		c.Lifetimes.SecretOverlap = Duration(24 * time.Hour)
	}
	if c.Lifetimes.AccessToken == 0 {
		c.Lifetimes.AccessToken = Duration(time.Hour)
	}
	if c.Lifetimes.RefreshGrace == 0 {
		c.Lifetimes.RefreshGrace = Duration(10 * time.Second)
	}
	if c.Lifetimes.KeyOverlap == 0 {
		c.Lifetimes.KeyOverlap = Duration(24 * time.Hour)
	}
	if c.Lifetimes.RevocationDelay == 0 {
		c.Lifetimes.RevocationDelay = Duration(30 * time.Second)
	}
	if c.Lifetimes.KeyReload == 0 {
		c.Lifetimes.KeyReload = Duration(30 * time.Second)
	}
	if c.Webhooks.Timeout == 0 {
		c.Webhooks.Timeout = Duration(15 * time.Second)
	}
	if c.Webhooks.Lease == 0 {
		c.Webhooks.Lease = Duration(max(45*time.Second, 2*time.Duration(c.Webhooks.Timeout)+15*time.Second))
	}
	if c.Webhooks.PerEndpoint == 0 {
		c.Webhooks.PerEndpoint = 4
	}
}

var (
	colorPattern      = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	permissionPattern = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,63}$`)
)

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []string
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	check(!colorPattern.MatchString(c.Platform.AccentColor), "platform.accent_color %q must be a color like #4338ca", c.Platform.AccentColor)
	check(c.Platform.LogoURL != "" && !strings.HasPrefix(c.Platform.LogoURL, "https://"), "platform.logo_url %q must be an https URL", c.Platform.LogoURL)
	check(c.Platform.SupportURL != "" && !strings.HasPrefix(c.Platform.SupportURL, "https://") && !strings.HasPrefix(c.Platform.SupportURL, "mailto:"),
		"platform.support_url %q must be an https or mailto: URL", c.Platform.SupportURL)
	check(len(c.Permissions) == 0, "permissions: the catalog is empty; list the permissions apps may request, each with a name and a description")
	seen := map[string]bool{}
	for i, p := range c.Permissions {
		check(!permissionPattern.MatchString(p.Name), "permissions[%d].name %q must be lower-case letters, digits and _ . : - (such as customer_read)", i, p.Name)
		check(seen[p.Name], "permissions[%d].name %q is listed twice", i, p.Name)
		check(strings.TrimSpace(p.Description) == "", "permissions[%d].description is empty: users read it on the consent page", i)
		seen[p.Name] = true
	}
	check(time.Duration(c.Lifetimes.InstallRequest) < time.Minute || time.Duration(c.Lifetimes.InstallRequest) > time.Hour,
		"lifetimes.install_request %s must be between 1m and 1h", time.Duration(c.Lifetimes.InstallRequest))
	check(time.Duration(c.Lifetimes.Session) < 5*time.Minute, "lifetimes.session %s must be at least 5m", time.Duration(c.Lifetimes.Session))
	check(time.Duration(c.Lifetimes.SecretOverlap) < 0, "lifetimes.secret_overlap must not be negative")
	check(time.Duration(c.Lifetimes.AccessToken) < time.Minute || time.Duration(c.Lifetimes.AccessToken) > 24*time.Hour,
		"lifetimes.access_token %s must be between 1m and 24h", time.Duration(c.Lifetimes.AccessToken))
	check(time.Duration(c.Lifetimes.RefreshGrace) < 0 || time.Duration(c.Lifetimes.RefreshGrace) > time.Minute,
		"lifetimes.refresh_grace %s must be between 0s and 1m (longer lets a stolen refresh token be reused unnoticed)", time.Duration(c.Lifetimes.RefreshGrace))
	check(time.Duration(c.Lifetimes.KeyOverlap) < 4*time.Hour,
		"lifetimes.key_overlap %s must be at least 4h, the life of an instance token, or tokens stop verifying early", time.Duration(c.Lifetimes.KeyOverlap))
	check(time.Duration(c.Lifetimes.RevocationDelay) < time.Second || time.Duration(c.Lifetimes.RevocationDelay) > 5*time.Minute,
		"lifetimes.revocation_delay %s must be between 1s and 5m", time.Duration(c.Lifetimes.RevocationDelay))
	kr := time.Duration(c.Lifetimes.KeyReload)
	check(kr < time.Second || kr > time.Hour, "lifetimes.key_reload %s must be between 1s and 1h", kr)
	wt, wl := time.Duration(c.Webhooks.Timeout), time.Duration(c.Webhooks.Lease)
	check(wt < time.Second || wt > time.Minute, "webhooks.timeout %s must be between 1s and 1m", wt)
	check(wl < wt+5*time.Second, "webhooks.lease %s must be at least webhooks.timeout + 5s (%s), or a slow delivery could be sent twice at once", wl, wt+5*time.Second)
	check(c.Webhooks.PerEndpoint < 1 || c.Webhooks.PerEndpoint > 64, "webhooks.per_endpoint %d must be between 1 and 64", c.Webhooks.PerEndpoint)
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}
