package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/config"
	"github.com/doorwayhq/doorway/demo"
	"github.com/doorwayhq/doorway/registry"
	"github.com/doorwayhq/doorway/store/postgres"
)

// Command returns the doorway command tree. Output goes to out; errors are
// returned, not printed.
func Command(in io.Reader, out io.Writer) *cobra.Command {
	m := &Main{}
	root := &cobra.Command{
		Use:   "doorway",
		Short: "Doorway is an app-installation server: install links, consent pages, signed redirects",
		Long: `Doorway is an app-installation server for platforms with third-party apps.

It serves install links that lead a user through sign-in, account choice and
consent, and redirects back to the app with signed proof of the install.

Every flag can also be set as an environment variable: DOORWAY_ and the flag
name in capitals with - as _ (--db → DOORWAY_DB). Flags win over variables.

Start here:
  doorway demo        a seeded platform and sample app to click through
  doorway serve       the server, on doorway.db
  doorway serve --db postgres://…   one of many nodes on one PostgreSQL`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return applyEnv(cmd.Flags())
		},
	}
	root.SetOut(out)
	root.SetIn(in)
	pf := root.PersistentFlags()
	pf.StringVar(&m.DB, "db", "doorway.db", "SQLite database file (created if missing; the CLI is safe to use while serve runs),\nor a PostgreSQL URL, postgres://user:password@host:5432/doorway, for several nodes on one database")
	pf.IntVar(&m.DBMaxConns, "db-max-conns", 10, "PostgreSQL: the most connections this process opens (max_connections must cover this × nodes)")
	pf.StringVar(&m.ConfigPath, "config", "", "YAML file with branding, the permission catalog and lifetimes (see: doorway config example)")
	pf.StringVar(&m.MasterKey, "master-key", "", "base64 32-byte key that encrypts stored secrets; prefer DOORWAY_MASTER_KEY (default: read or create <db>.key, mode 0600;\nwith PostgreSQL required, and the same on every node)")
	pf.StringVar(&m.MasterKeyFile, "master-key-file", "", "file holding the master key (default <db>.key)")

	root.AddCommand(serveCmd(m), demoCmd(m), migrateCmd(m), usersCmd(m), tenantsCmd(m), appsCmd(m), linksCmd(m), keysCmd(m), installsCmd(m), webhooksCmd(m), configCmd())
	return root
}

// applyEnv sets every flag not given on the command line from DOORWAY_<NAME>.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "DOORWAY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}

// open opens Main for a one-shot command, quietly.
func open(cmd *cobra.Command, m *Main) error {
	m.Logger = discardLogger()
	return m.Open(cmd.Context())
}

// printJSON writes exactly one JSON object.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func serveCmd(m *Main) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Doorway server",
		Long: `Run the Doorway server until SIGINT or SIGTERM, then finish in-flight
requests (up to 10 s) and stop.

The database is migrated at start. Health: GET /healthz (the process is up)
and GET /readyz (200 while the database answers and, on SQLite, takes a
write within 2 s; 503 otherwise).

Webhooks are delivered by every serve process from the database's outbox:
at least once, in order per installation, retried for about three days
(see the webhooks: section of doorway config example). Deliveries to
loopback and private addresses are refused unless --webhook-allow-private.

Go's garbage collector runs at GOGC=400 with a soft memory limit of 128 MiB
(GOMEMLIMIT) unless those are set: less CPU per request for about 10 MB
more under load, and a bound on bursts of password hashing.`,
		Example: `  doorway serve
  doorway serve --addr :8443 --issuer https://install.example.com --config doorway.yaml
  DOORWAY_MASTER_KEY=$(openssl rand -base64 32) doorway serve --db /var/lib/doorway/doorway.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serve(cmd, m)
		},
	}
	addServeFlags(cmd, m)
	return cmd
}

func addServeFlags(cmd *cobra.Command, m *Main) {
	cmd.Flags().StringVar(&m.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&m.Issuer, "issuer", "", "public base URL of this server, used in links and redirects (default http://<addr>)")
	cmd.Flags().StringVar(&m.SQLiteSync, "sqlite-synchronous", "NORMAL", "NORMAL survives a process crash, and a power loss loses the last 50 ms or so of commits; FULL loses none, at some write speed")
	cmd.Flags().BoolVar(&m.WebhookAllowPrivate, "webhook-allow-private", false,
		"deliver webhooks to loopback and private addresses too (off: only public addresses, so an app cannot aim Doorway at your network)")
	cmd.Flags().StringVar(&m.AdminToken, "admin-token", "", "bearer token for the admin JSON API at /admin/v1/ (unset: the API is off); prefer DOORWAY_ADMIN_TOKEN")
	cmd.Flags().StringVar(&m.TrustedProxies, "trusted-proxies", "",
		"load balancers or proxies in front of doorway (CIDR prefixes or addresses, comma-separated, e.g. 10.0.0.0/8) whose X-Forwarded-For names the client; "+
			"failed sign-ins and client authentications are limited per client address, and without this every client behind a proxy shares the proxy's")
	cmd.Flags().StringVar(&m.PprofAddr, "pprof-addr", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 (unset: off); keep it on loopback, it shows the process's memory")
}

// serveProfiler serves net/http/pprof on its own listener, apart from the
// public handler, so it is never reachable through the issuer's address.
func serveProfiler(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

// serve runs m until a signal.
func serve(cmd *cobra.Command, m *Main) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	tuneGC()
	// The profiler listens before the server does, so that it answers once
	// /healthz does (the load harness profiles a server as soon as it is
	// healthy).
	if m.PprofAddr != "" {
		stopProfiler, err := serveProfiler(m.PprofAddr)
		if err != nil {
			return err
		}
		defer stopProfiler()
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	defer m.Close()
	if m.PprofAddr != "" {
		m.Logger.Info("profiler", "url", "http://"+m.PprofAddr+"/debug/pprof/")
	}
	m.Logger.Info("doorway is serving", "url", m.URL(), "issuer", m.Issuer, "db", postgres.Redact(m.DB), "startup", time.Since(start).Round(time.Millisecond))
	<-ctx.Done()
	m.Logger.Info("shutting down")
	return nil
}

func demoCmd(m *Main) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a seeded demo platform with a sample app to click through",
		Long: `Run Doorway with a demo user, two accounts and a sample app ("Invoicely")
whose install redirect lands on a page that verifies the signature, and
whose webhook endpoint verifies and lists the lifecycle webhooks it gets
(the demo allows webhooks to this machine: --webhook-allow-private).

The database defaults to doorway-demo.db so the demo never touches doorway.db.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("db") && os.Getenv("DOORWAY_DB") == "" {
				m.DB = "doorway-demo.db"
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			tuneGC()
			a, err := m.RunDemo(ctx)
			if err != nil {
				return err
			}
			defer m.Close()
			fmt.Fprintf(cmd.OutOrStdout(), `
Doorway demo is running.

  1. Open the sample app:  %s/demo-app/
     (or the install link directly: %s)
  2. Sign in as %s with password %s
  3. Choose an account, approve, and see the verified redirect.
  4. Back on the sample app, its verified app.installed webhook is listed.

Press Ctrl-C to stop.
`, m.Issuer, a.LinkURL, demo.Email, demo.Password)
			<-ctx.Done()
			m.Logger.Info("shutting down")
			return nil
		},
	}
	addServeFlags(cmd, m)
	return cmd
}

func migrateCmd(m *Main) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date (serve also does this at start)",
		Long: `Bring the database schema up to date. serve does this at start too; run it
yourself before a rolling upgrade of several nodes, with the new binary, so
that the new schema is in place before the first new node takes traffic.

Migrations are forward-only and additive (new tables and columns with
defaults), so nodes still on the old binary keep working on the new schema.
A node refuses to start on a schema newer than it knows: finish the upgrade
rather than restarting old nodes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// A line before each migration and one after it, with how long
			// it took: rebuilding a table of a million installations takes
			// tens of seconds.
			out := cmd.OutOrStdout()
			var current string
			var began time.Time
			finished := func() {
				if current != "" {
					fmt.Fprintf(out, "applied %s in %s\n", current, time.Since(began).Round(time.Millisecond))
				}
			}
			applied, err := m.Migrate(cmd.Context(), func(name string) {
				finished()
				current, began = name, time.Now()
				fmt.Fprintf(out, "applying %s …\n", name)
			})
			if err != nil {
				return err
			}
			finished()
			if len(applied) == 0 {
				fmt.Fprintf(out, "%s is up to date.\n", postgres.Redact(m.DB))
			}
			return nil
		},
	}
}

func usersCmd(m *Main) *cobra.Command {
	users := &cobra.Command{Use: "users", Short: "Manage users (people who sign in)"}
	var email, password string
	var stdin, asJSON bool
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create a user with an email and password",
		Example: "  doorway users create --email ada@example.com --password-stdin < password.txt",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if stdin {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && err != io.EOF {
					return fmt.Errorf("read password from stdin: %w", err)
				}
				password = strings.TrimRight(line, "\r\n")
			}
			if email == "" || password == "" {
				return fmt.Errorf("give --email and --password (or --password-stdin)")
			}
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			u, err := m.Identity.CreateUser(cmd.Context(), email, password)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"id": u.ID, "email": u.Email})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created user %s (%s).\nNext: doorway tenants create --name \"My shop\" --owner %s\n", u.ID, u.Email, u.Email)
			return nil
		},
	}
	create.Flags().StringVar(&email, "email", "", "the user's email (their sign-in name)")
	create.Flags().StringVar(&password, "password", "", "the password (at least 8 characters); visible in the process list, so prefer --password-stdin")
	create.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from the first line of standard input")
	create.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	users.AddCommand(create)
	return users
}

func tenantsCmd(m *Main) *cobra.Command {
	tenants := &cobra.Command{Use: "tenants", Short: "Manage tenants (the accounts apps are installed into)"}
	var name, owner string
	var asJSON bool
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create a tenant owned by an existing user",
		Example: `  doorway tenants create --name "Acme Bakery" --owner ada@example.com`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" || owner == "" {
				return fmt.Errorf("give --name and --owner (the owner's email)")
			}
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			t, err := m.Identity.CreateTenant(cmd.Context(), name, owner)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"id": t.ID, "name": t.Name})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created tenant %s (%s), owned by %s.\n", t.ID, t.Name, owner)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "the tenant's name, shown on the account choice page")
	create.Flags().StringVar(&owner, "owner", "", "email of the user who owns it")
	create.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	tenants.AddCommand(create)
	return tenants
}

func readManifest(path string) (doorway.Manifest, error) {
	if path == "" {
		return doorway.Manifest{}, fmt.Errorf("give --manifest app.json (see the README for its fields)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return doorway.Manifest{}, err
	}
	m, err := registry.ParseManifest(b)
	if err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func appsCmd(m *Main) *cobra.Command {
	apps := &cobra.Command{Use: "apps", Short: "Register apps, add versions, rotate secrets"}

	var manifestPath string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Register an app from its manifest; prints its secrets once",
		Long: `Register an app from a JSON manifest (Stripe's app manifest plus webhook_url
and webhook_format):

  {
    "id": "com.example.invoicing",
    "name": "Invoicing",
    "version": "1.0.0",
    "icon": "https://example.com/icon.png",
    "permissions": [{"permission": "invoice_write", "purpose": "To send invoices"}],
    "allowed_redirect_uris": ["https://example.com/callback"],
    "webhook_url": "https://example.com/webhooks",
    "webhook_format": "standard"
  }

webhook_format is standard (Standard Webhooks, signed with the whsec_
secret), stripe (Stripe event objects with a Stripe-Signature header, same
secret) or wix (a JWT signed RS256; its public key is printed).

The first version is both the live and the test version. The client,
signing and webhook secrets are printed now and never again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			man, err := readManifest(manifestPath)
			if err != nil {
				return err
			}
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			c, err := m.Registry.CreateApp(cmd.Context(), man)
			if err != nil {
				return err
			}
			if asJSON {
				out := map[string]string{"id": c.App.ID, "version_id": c.Version.ID, "client_secret": c.ClientSecret,
					"signing_secret": c.SigningSecret, "webhook_secret": c.WebhookSecret}
				if c.WebhookPublicKey != "" {
					out["webhook_public_key"] = c.WebhookPublicKey
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), `Created app %s (%s %s), live and test.

  client secret:  %s
  signing secret: %s
  webhook secret: %s

Store them now: they are not shown again (rotate with: doorway apps secrets rotate %s).
`, c.App.ID, man.Name, man.Version, c.ClientSecret, c.SigningSecret, c.WebhookSecret, c.App.ID)
			if c.WebhookPublicKey != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "\nWix-format webhooks are JWTs signed RS256; verify them with this public key\n(shown again by: doorway webhooks key %s):\n\n%s", c.App.ID, c.WebhookPublicKey)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nNext: doorway links create %s --test\n", c.App.ID)
			return nil
		},
	}
	create.Flags().StringVar(&manifestPath, "manifest", "", "the app manifest (JSON)")
	create.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")

	versions := &cobra.Command{Use: "versions", Short: "Manage an app's immutable versions"}
	var mode string
	var vJSON bool
	var vManifest string
	add := &cobra.Command{
		Use:   "add APP",
		Short: "Add an immutable version from a manifest and make it the test (default) or live version",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var modes []doorway.Mode
			switch mode {
			case "test":
				modes = []doorway.Mode{doorway.Test}
			case "live":
				modes = []doorway.Mode{doorway.Live}
			case "both":
				modes = []doorway.Mode{doorway.Live, doorway.Test}
			case "none":
			default:
				return fmt.Errorf("--mode %q: use test, live, both or none", mode)
			}
			man, err := readManifest(vManifest)
			if err != nil {
				return err
			}
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			v, err := m.Registry.AddVersion(cmd.Context(), args[0], man, modes...)
			if err != nil {
				return err
			}
			if vJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"id": v.ID, "app_id": v.AppID, "version": v.Version, "mode": mode})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added version %s (%s) of app %s; mode: %s.\n", v.Version, v.ID, v.AppID, mode)
			return nil
		},
	}
	add.Flags().StringVar(&vManifest, "manifest", "", "the app manifest (JSON)")
	add.Flags().StringVar(&mode, "mode", "test", "which mode gets this version: test, live, both or none")
	add.Flags().BoolVar(&vJSON, "json", false, "print one JSON object")
	versions.AddCommand(add)

	secrets := &cobra.Command{Use: "secrets", Short: "Manage an app's secrets"}
	var overlap time.Duration
	var sJSON bool
	rotate := &cobra.Command{
		Use:   "rotate APP",
		Short: "Issue new client, signing and webhook secrets; the old ones stay valid for --overlap",
		Long: `Issue a new client secret, signing secret and webhook secret. The old ones
stay valid for --overlap (default: lifetimes.secret_overlap in the config,
24h), and during that time install_signature and webhook signatures carry a
signature for each valid secret, so receivers can switch over at leisure.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			if !cmd.Flags().Changed("overlap") {
				overlap = time.Duration(m.Config.Lifetimes.SecretOverlap)
			}
			if overlap < 0 {
				return fmt.Errorf("--overlap %s must not be negative", overlap)
			}
			sec, err := m.Registry.RotateSecrets(cmd.Context(), args[0], overlap)
			if err != nil {
				return err
			}
			if sJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"id": args[0], "client_secret": sec.ClientSecret,
					"signing_secret": sec.SigningSecret, "webhook_secret": sec.WebhookSecret,
					"old_secrets_expire_at": m.Now().Add(overlap).UTC().Format(time.RFC3339)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "New secrets for %s (the old ones stay valid for %s):\n\n  client secret:  %s\n  signing secret: %s\n  webhook secret: %s\n",
				args[0], overlap, sec.ClientSecret, sec.SigningSecret, sec.WebhookSecret)
			return nil
		},
	}
	rotate.Flags().DurationVar(&overlap, "overlap", 24*time.Hour, "how long the old secrets stay valid")
	rotate.Flags().BoolVar(&sJSON, "json", false, "print one JSON object")
	secrets.AddCommand(rotate)

	apps.AddCommand(create, versions, secrets)
	return apps
}

func linksCmd(m *Main) *cobra.Command {
	links := &cobra.Command{Use: "links", Short: "Create install links"}
	var test, asJSON bool
	var issuer string
	create := &cobra.Command{
		Use:   "create APP",
		Short: "Create an install link for an app (live, or test with --test)",
		Long: `Create an install link. Send users to it, optionally with
?redirect_uri=<one of allowed_redirect_uris>&state=<your CSRF token>.
Test links add livemode=false to the redirect and also allow
http://localhost and http://127.0.0.1 redirect URIs.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			mode := doorway.Live
			if test {
				mode = doorway.Test
			}
			l, err := m.Registry.CreateLink(cmd.Context(), args[0], mode)
			if err != nil {
				return err
			}
			u := strings.TrimSuffix(issuer, "/") + "/apps/install/link/" + l.ID
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"id": l.ID, "app_id": l.AppID, "mode": string(l.Mode), "url": u})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s install link for %s:\n\n  %s\n", mode, l.AppID, u)
			return nil
		},
	}
	create.Flags().BoolVar(&test, "test", false, "a test-mode link")
	create.Flags().StringVar(&issuer, "issuer", "http://127.0.0.1:8080", "public base URL of the server, as given to serve")
	create.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	links.AddCommand(create)
	return links
}

func keysCmd(m *Main) *cobra.Command {
	keysc := &cobra.Command{Use: "keys", Short: "Manage the keys that sign access tokens"}
	var overlap time.Duration
	var asJSON bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Start signing access tokens with a new key; the old keys stay published for --overlap",
		Long: `Create a new Ed25519 key for access tokens. Every node signs with it within
30 seconds (each node reloads keys at least that often, and at once when it
sees an unknown kid). The old keys stay in /.well-known/jwks.json for
--overlap (default: lifetimes.key_overlap in the config, 24h), so tokens
they signed keep verifying; the overlap must exceed the longest token life
(4h, instance tokens).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			if !cmd.Flags().Changed("overlap") {
				overlap = time.Duration(m.Config.Lifetimes.KeyOverlap)
			}
			if overlap < 4*time.Hour {
				return fmt.Errorf("--overlap %s is shorter than an instance token lives (4h): tokens would stop verifying early", overlap)
			}
			k, err := m.Tokens.Rotate(cmd.Context(), overlap)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"kid": k.ID,
					"old_keys_expire_at": k.CreatedAt.Add(overlap).UTC().Format(time.RFC3339)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "New signing key %s. The previous keys stay published for %s.\n", k.ID, overlap)
			return nil
		},
	}
	rotate.Flags().DurationVar(&overlap, "overlap", 24*time.Hour, "how long the old keys stay published")
	rotate.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	keysc.AddCommand(rotate)
	return keysc
}

func installsCmd(m *Main) *cobra.Command {
	installs := &cobra.Command{Use: "installs", Short: "See where apps are installed"}
	var asJSON bool
	var limit int
	list := &cobra.Command{
		Use:   "list APP",
		Short: "List an app's installations, oldest id first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			if _, err := m.Registry.App(cmd.Context(), args[0]); err != nil {
				return err
			}
			rows, err := m.Store.Installations(cmd.Context(), args[0], "", limit)
			if err != nil {
				return err
			}
			if asJSON {
				out := []map[string]any{}
				for _, i := range rows {
					out = append(out, map[string]any{"instance_id": i.ID, "tenant_id": i.TenantID, "mode": i.Mode,
						"status": i.Status, "permissions": i.Permissions, "updated_at": i.UpdatedAt.Format(time.RFC3339)})
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			if len(rows) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is not installed anywhere yet.\n", args[0])
				return nil
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%-30s  %-30s  %-4s  %-16s  %s\n", "INSTANCE", "TENANT", "MODE", "STATUS", "UPDATED")
			for _, i := range rows {
				fmt.Fprintf(w, "%-30s  %-30s  %-4s  %-16s  %s\n", i.ID, i.TenantID, i.Mode, i.Status, i.UpdatedAt.Format(time.RFC3339))
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	list.Flags().IntVar(&limit, "limit", 1000, "at most this many")
	installs.AddCommand(list)
	return installs
}

func webhooksCmd(m *Main) *cobra.Command {
	wh := &cobra.Command{Use: "webhooks", Short: "See webhook deliveries, replay events, re-enable endpoints",
		Long: `Webhooks are lifecycle events (app.installed, app.setup_completed,
app.permissions_changed, app.uninstalled) that doorway serve delivers to each
app's webhook_url from an outbox in the database, at least once and in order
per installation. These commands read and steer that outbox; the admin JSON
API (/admin/v1/, with --admin-token) offers the same.`}

	var limit int
	var before int64
	var asJSON bool
	deliveries := &cobra.Command{
		Use:   "deliveries APP",
		Short: "The app's delivery log, newest first: each attempt's status, latency and answer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			page, err := m.Admin.Deliveries(cmd.Context(), args[0], before, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), page)
			}
			out := cmd.OutOrStdout()
			if len(page.Deliveries) == 0 {
				fmt.Fprintf(out, "No deliveries for %s yet.\n", args[0])
				return nil
			}
			fmt.Fprintf(out, "%-20s  %-30s  %-24s  %3s  %-6s  %-9s  %7s  %s\n", "AT", "EVENT", "TYPE", "TRY", "STATUS", "OUTCOME", "LATENCY", "ERROR / NEXT")
			for _, d := range page.Deliveries {
				status := "-"
				if d.Status != 0 {
					status = strconv.Itoa(d.Status)
				}
				note := d.Error
				if d.NextAttemptAt != "" {
					note += " (next try " + d.NextAttemptAt + ")"
				}
				fmt.Fprintf(out, "%-20s  %-30s  %-24s  %3d  %-6s  %-9s  %5dms  %s\n", d.At, d.EventID, d.EventType, d.Attempt, status, d.Outcome, d.LatencyMS, note)
			}
			if page.Next != 0 {
				fmt.Fprintf(out, "Older: doorway webhooks deliveries %s --before %d\n", args[0], page.Next)
			}
			return nil
		},
	}
	deliveries.Flags().IntVar(&limit, "limit", 20, "how many attempts to show (at most 200)")
	deliveries.Flags().Int64Var(&before, "before", 0, "show attempts older than this delivery id")
	deliveries.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")

	var rJSON bool
	replay := &cobra.Command{
		Use:   "replay EVENT_ID",
		Short: "Send an event again now (same id, so receivers can drop it if they saw it)",
		Long: `Send an event again now, whatever happened to it before (delivered, failed,
disabled, skipped). A running doorway serve picks it up within a second. It
keeps its id (the webhook-id header), so a receiver that processed it already
can tell. If it fails, it is retried on what remains of the schedule.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			e, err := m.Admin.Replay(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if rJSON {
				return printJSON(cmd.OutOrStdout(), e)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Queued %s (%s, attempt %d so far) for delivery now.\n", e.ID, e.Type, e.Attempts)
			return nil
		},
	}
	replay.Flags().BoolVar(&rJSON, "json", false, "print one JSON object")

	enable := &cobra.Command{
		Use:   "enable APP",
		Short: "Re-enable an app's webhook endpoints after a 410 Gone, and send what was held back",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			n, err := m.Admin.Enable(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Webhooks of %s are enabled; %d held-back event(s) queued.\n", args[0], n)
			return nil
		},
	}

	key := &cobra.Command{
		Use:   "key APP",
		Short: "Print the PEM public key that verifies the app's wix-format webhooks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := open(cmd, m); err != nil {
				return err
			}
			defer m.Close()
			pub, err := m.Registry.WebhookPublicKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), pub)
			return nil
		},
	}
	wh.AddCommand(deliveries, replay, enable, key)
	return wh
}

func configCmd() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Work with the configuration file"}
	c.AddCommand(&cobra.Command{
		Use:   "example",
		Short: "Print the default configuration file, with comments, to start from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cmd.OutOrStdout().Write(config.DefaultYAML())
			return err
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Check a configuration file and report every problem in it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := config.Load(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid.\n", args[0])
			return nil
		},
	})
	return c
}

// Execute runs the program with os.Args and returns the exit code.
func Execute(ctx context.Context) int {
	cmd := Command(os.Stdin, os.Stdout)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "doorway:", err)
		return 1
	}
	return 0
}
