// Package cli is the doorway program: a Main that opens everything a command
// needs and, for serve and demo, runs the HTTP server; and the cobra commands
// around it. Main lives here rather than in cmd/doorway so that tests can
// boot a whole server on :0 with a temporary database.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/admin"
	"github.com/doorwayhq/doorway/appapi"
	"github.com/doorwayhq/doorway/clientip"
	"github.com/doorwayhq/doorway/config"
	"github.com/doorwayhq/doorway/identity"
	"github.com/doorwayhq/doorway/install"
	"github.com/doorwayhq/doorway/internal/logbuf"
	"github.com/doorwayhq/doorway/keys"
	"github.com/doorwayhq/doorway/oauth"
	"github.com/doorwayhq/doorway/profile/oauth2"
	"github.com/doorwayhq/doorway/profile/stripelink"
	"github.com/doorwayhq/doorway/profile/wixexternal"
	"github.com/doorwayhq/doorway/profile/wixoauth"
	"github.com/doorwayhq/doorway/registry"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
	"github.com/doorwayhq/doorway/store/postgres"
	"github.com/doorwayhq/doorway/store/sqlite"
	"github.com/doorwayhq/doorway/web"
	"github.com/doorwayhq/doorway/webhook"
)

// Main is one doorway process.
type Main struct {
	// Settings (flags, then DOORWAY_* variables, then defaults).
	DB            string // SQLite file or PostgreSQL URL
	DBMaxConns    int    // PostgreSQL pool size
	ConfigPath    string // optional YAML file
	MasterKey     string // base64; when empty, read or created at MasterKeyFile
	MasterKeyFile string // default: the database path + ".key"
	Addr          string // listen address for Run
	Issuer        string // public base URL; default http://Addr
	SQLiteSync    string
	Now           func() time.Time // default time.Now; tests set a fake clock
	Logger        *slog.Logger     // default: text to LogOutput, batched while serving (logbuf)
	LogOutput     io.Writer        // where the default Logger writes; default os.Stderr
	Mounts        []web.Mounter    // extra routes (the demo's sample app)
	AdminToken    string           // enables the admin JSON API at /admin/v1/
	PprofAddr     string           // serve: net/http/pprof on this address
	// TrustedProxies lists the proxies (CIDR prefixes or addresses,
	// comma-separated) whose X-Forwarded-For names the client, for the
	// limits counted per address (see clientip).
	TrustedProxies string
	// WebhookAllowPrivate lets webhooks go to loopback and private
	// addresses (a platform whose apps run on its own network; the demo).
	WebhookAllowPrivate bool
	// DispatchManually: Run does not start the webhook dispatcher; the
	// caller (a test with a fake clock) calls Dispatcher.DeliverDue.
	DispatchManually bool

	// Set by Open.
	Config   *config.Config
	Store    store.Store
	Keys     *secret.Keyring
	Identity *identity.Service
	Registry *registry.Registry
	Engine   *install.Engine
	Tokens   *keys.Keys // access-token signing keys
	Admin    *admin.API
	// Dispatcher delivers webhooks; Store wakes it after each new event.
	Dispatcher *webhook.Dispatcher

	// Set by Run.
	OAuth     *oauth.Server
	API       *appapi.API
	ln        net.Listener
	srv       *http.Server
	logs      *logbuf.Writer // the default Logger's output, when Open made it
	closeOnce sync.Once
	closeErr  error
	stopSweep context.CancelFunc
}

// Open loads the configuration and the master key and opens the store.
func (m *Main) Open(ctx context.Context) error {
	if m.Now == nil {
		m.Now = time.Now
	}
	if m.Logger == nil {
		out := m.LogOutput
		if out == nil {
			out = os.Stderr
		}
		m.logs = logbuf.New(out)
		m.Logger = slog.New(logbuf.Handler(slog.NewTextHandler(m.logs, nil), m.logs))
	}
	if m.DB == "" {
		m.DB = "doorway.db"
	}
	cfg, err := config.Load(m.ConfigPath)
	if err != nil {
		return err
	}
	m.Config = cfg
	key, err := m.masterKey()
	if err != nil {
		return err
	}
	if m.Keys, err = secret.NewKeyring(key); err != nil {
		return err
	}
	db, err := m.openStore(ctx)
	if err != nil {
		return err
	}
	m.Registry = &registry.Registry{Store: db, Keys: m.Keys, Catalog: cfg.Permissions, Now: m.Now}
	wh := cfg.Webhooks
	m.Dispatcher = &webhook.Dispatcher{Store: db, Secrets: m.Registry, Now: m.Now, Logger: m.Logger,
		Timeout: time.Duration(wh.Timeout), Lease: time.Duration(wh.Lease), PerEndpoint: wh.PerEndpoint,
		AllowPrivate: m.WebhookAllowPrivate}
	m.Store = webhook.Watch(db, m.Dispatcher)
	m.Admin = &admin.API{Store: m.Store, Token: m.AdminToken, Now: m.Now, Logger: m.Logger}
	m.Identity = &identity.Service{Store: m.Store, Now: m.Now, SessionTTL: time.Duration(cfg.Lifetimes.Session)}
	m.Engine = &install.Engine{
		Store: m.Store, Seal: m.Keys, Secrets: m.Registry, Now: m.Now, RequestTTL: time.Duration(cfg.Lifetimes.InstallRequest),
		Profiles: map[doorway.Profile]install.Profile{
			doorway.ProfileStripeLink:  stripelink.Profile{},
			doorway.ProfileWixExternal: wixexternal.Profile{},
			doorway.ProfileWixOAuth:    wixoauth.Profile{},
		},
	}
	m.Tokens = &keys.Keys{Store: m.Store, Keyring: m.Keys, Now: m.Now, CacheFor: time.Duration(cfg.Lifetimes.KeyReload)}
	return nil
}

func (m *Main) openStore(ctx context.Context) (store.Store, error) {
	// A migration that rebuilds a large table takes a while at start:
	// say which one runs, so a node that is slow to come up explains why.
	// A new database gets its whole schema, which is one line.
	fresh := false
	migrating := func(name string) {
		if strings.HasPrefix(name, "0001_") {
			fresh = true
			m.Logger.Info("creating the database schema")
		} else if !fresh {
			m.Logger.Info("applying database migration", "migration", name)
		}
	}
	if postgres.IsURL(m.DB) {
		return postgres.Open(ctx, m.DB, postgres.Options{MaxConns: m.DBMaxConns, Migrating: migrating})
	}
	return sqlite.Open(ctx, m.DB, sqlite.Options{Synchronous: strings.ToUpper(m.SQLiteSync), Migrating: migrating})
}

// Migrate brings the schema of m.DB up to date and names what it applied;
// starting, if not nil, is told each migration's name before it runs.
func (m *Main) Migrate(ctx context.Context, starting func(name string)) ([]string, error) {
	if postgres.IsURL(m.DB) {
		return postgres.Migrate(ctx, m.DB, starting)
	}
	return sqlite.Migrate(ctx, m.DB, starting)
}

func (m *Main) masterKey() ([]byte, error) {
	if m.MasterKey != "" {
		k, err := secret.ParseMasterKey(m.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("DOORWAY_MASTER_KEY: %w", err)
		}
		return k, nil
	}
	path := m.MasterKeyFile
	if path == "" && postgres.IsURL(m.DB) {
		return nil, errors.New("with a PostgreSQL database, set DOORWAY_MASTER_KEY (or --master-key-file) to the same key on every node; " +
			"generate one with: openssl rand -base64 32")
	}
	if path == "" {
		path = m.DB + ".key"
	}
	k, created, err := secret.LoadOrCreateMasterKey(path)
	if created {
		abs, _ := filepath.Abs(path)
		m.Logger.Info("created a master key; back it up with the database, or set DOORWAY_MASTER_KEY", "file", abs)
	}
	return k, err
}

// Run opens everything (unless Open was called) and starts serving on Addr
// in the background. URL says where.
func (m *Main) Run(ctx context.Context) error {
	clients, err := clientip.Parse(m.TrustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if m.Store == nil {
		if err := m.Open(ctx); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another doorway running? choose another with --addr)", m.Addr, err)
	}
	m.ln = ln
	if m.Issuer == "" {
		m.Issuer = "http://" + ln.Addr().String()
	}
	m.Issuer = strings.TrimSuffix(m.Issuer, "/")
	m.Engine.Profiles[doorway.ProfileOAuth2] = oauth2.Profile{Issuer: m.Issuer}
	lt := m.Config.Lifetimes
	m.OAuth = &oauth.Server{Store: m.Store, Keys: m.Tokens, Issuer: m.Issuer, Now: m.Now, Logger: m.Logger,
		Catalog: m.Config.Permissions, TokenTTL: time.Duration(lt.AccessToken), Grace: time.Duration(lt.RefreshGrace),
		ClientIP: clients}
	m.API = &appapi.API{Store: m.Store, OAuth: m.OAuth, Now: m.Now, Logger: m.Logger}
	s := &web.Server{
		Store: m.Store, Engine: m.Engine, Identity: m.Identity, Keys: m.Keys, Config: m.Config,
		Logger: m.Logger, Secure: strings.HasPrefix(m.Issuer, "https://"), Mounts: append([]web.Mounter{m.Admin}, m.Mounts...),
		Issuer: m.Issuer, OAuth: m.OAuth, API: m.API, ClientIP: clients,
	}
	m.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	if m.logs != nil {
		m.logs.Start() // a line per request: batched, see logbuf
	}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("serve", "err", err)
		}
	}()
	if !m.DispatchManually {
		m.Dispatcher.Start()
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	m.stopSweep = stopSweep
	go m.sweep(sweepCtx)
	return nil
}

// SweepEvery is how often Run deletes expired sessions, install requests,
// codes and install tokens; SweepAfter is how long after expiry they go.
const (
	SweepEvery = time.Hour
	SweepAfter = 24 * time.Hour
)

func (m *Main) sweep(ctx context.Context) {
	t := time.NewTicker(SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := m.Store.Sweep(ctx, m.Now().Add(-SweepAfter))
		if err != nil && ctx.Err() == nil {
			m.Logger.Error("sweeping expired rows", "err", err)
		} else if n > 0 {
			m.Logger.Info("swept expired rows", "rows", n)
		}
	}
}

// URL is the base URL the server listens on (after Run).
func (m *Main) URL() string { return "http://" + m.ln.Addr().String() }

// Close stops the server gracefully (in-flight requests get 10 s, webhook
// deliveries their timeout; unfinished ones give their lease back) and
// closes the store. Calling it again returns what the first call did.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	var err error
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = m.srv.Shutdown(ctx)
	}
	if m.stopSweep != nil {
		m.stopSweep()
	}
	if m.Dispatcher != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(m.Config.Webhooks.Timeout)+time.Second)
		defer cancel()
		if derr := m.Dispatcher.Shutdown(ctx); derr != nil {
			m.Logger.Warn("webhooks: in-flight deliveries cut short; their events will be sent again", "err", derr)
		}
	}
	if m.Store != nil {
		if cerr := m.Store.Close(); err == nil {
			err = cerr
		}
	}
	if m.logs != nil {
		m.logs.Stop()
	}
	return err
}

// discardLogger is for commands whose output is for scripts.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Handler is what Run serves: every route with its middleware, for an
// in-process benchmark. Nil before Run.
func (m *Main) Handler() http.Handler {
	if m.srv == nil {
		return nil
	}
	return m.srv.Handler
}
