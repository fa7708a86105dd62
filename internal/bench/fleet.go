package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/identity"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// fleet is what the harness seeded and the scenarios use: users who each
// own one tenant and are signed in, apps with their secrets, and a sample
// of the installations to ask tokens for.
type fleet struct {
	tenants  []string // tenant ids
	sessions []string // session cookie of each tenant's owner
	fleetApp []app    // apps whose installations are the fleet (one per tenant each)
	install  []app    // apps that scenario b installs
	hookApp  app      // the app whose backlog scenario f drains
	sample   []instance
	size     int       // installations seeded so far
	clock    time.Time // when the last one was made (made)
}

type app struct {
	id, secret string
	version    string
	perms      []string
}

type instance struct {
	id  string
	app int // index in fleetApp
}

// maxSample bounds the installations the harness keeps to pick from.
const maxSample = 200_000

var perms = []string{"customer_read", "invoice_read"}

// open opens db as doorway itself does, with the harness's master key.
func open(ctx context.Context, db, masterKey string) (*cli.Main, error) {
	m := &cli.Main{DB: db, MasterKey: masterKey, DBMaxConns: 32, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Open(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// seed creates the users, tenants, sessions and apps, and the first
// installations of the fleet: one of fleetApp[0] in each of the first n
// tenants.
func seed(ctx context.Context, m *cli.Main, o options, hooks string) (*fleet, error) {
	f := &fleet{tenants: make([]string, o.tenants), sessions: make([]string, o.tenants)}
	now := time.Now()
	hash := identity.HashPassword("bench-password")
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	p := newProgress("seeding users, tenants and sessions")
	for range 16 { // PostgreSQL commits in parallel; SQLite queues them
		wg.Go(func() {
			for i := range next {
				err := seedTenant(ctx, m.Store, f, i, hash, now)
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		})
	}
	for i := range o.tenants {
		mu.Lock()
		err := first
		mu.Unlock()
		if err != nil {
			break
		}
		next <- i
		if i%1000 == 999 {
			p.show(func() string { return fmt.Sprintf("%d/%d", i+1, o.tenants) })
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	p.done(fmt.Sprintf("%d", o.tenants))

	newApp := func(name, webhook string) (app, error) {
		man := doorway.Manifest{ID: "com.example." + name, Name: "Bench " + name, Version: "1.0.0",
			AllowedRedirectURIs: []string{"https://bench.example/callback"}, WebhookURL: webhook}
		for _, p := range perms {
			man.Permissions = append(man.Permissions, doorway.PermissionRequest{Permission: p, Purpose: "the benchmark"})
		}
		c, err := m.Registry.CreateApp(ctx, man)
		if err != nil {
			return app{}, fmt.Errorf("create app %s: %w", name, err)
		}
		return app{id: c.App.ID, secret: c.ClientSecret, version: c.Version.ID, perms: perms}, nil
	}
	var err error
	fleetApps := max(1, (max(o.grow, o.fleet)+o.tenants-1)/o.tenants)
	for i := range fleetApps {
		a, err := newApp(fmt.Sprintf("fleet%d", i), "")
		if err != nil {
			return nil, err
		}
		f.fleetApp = append(f.fleetApp, a)
	}
	for i := range 8 {
		a, err := newApp(fmt.Sprintf("install%d", i), fmt.Sprintf("%s/hooks/install%d", hooks, i))
		if err != nil {
			return nil, err
		}
		f.install = append(f.install, a)
	}
	if f.hookApp, err = newApp("backlog", hooks+"/hooks/backlog"); err != nil {
		return nil, err
	}
	return f, f.grow(ctx, m.Store, o.fleet, "installations (fleet)")
}

func seedTenant(ctx context.Context, s store.Store, f *fleet, i int, hash string, now time.Time) error {
	u := &doorway.User{ID: secret.Token("usr_"), Email: fmt.Sprintf("owner%d@bench.example", i), PasswordHash: hash, CreatedAt: now}
	if err := s.CreateUser(ctx, u); err != nil {
		return fmt.Errorf("create user %s: %w", u.Email, err)
	}
	t := &doorway.Tenant{ID: secret.Token("tnt_"), Name: fmt.Sprintf("Shop %d", i), CreatedAt: now}
	if err := s.CreateTenant(ctx, t, u.ID); err != nil {
		return fmt.Errorf("create tenant %s: %w", t.Name, err)
	}
	token := secret.Token("")
	if err := s.CreateSession(ctx, &doorway.Session{Hash: secret.Hash(token), UserID: u.ID, CreatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	f.tenants[i], f.sessions[i] = t.ID, token
	return nil
}

// grow imports installations of the fleet apps until there are n, app by
// app across every tenant, in transactions of 100,000. One app's
// installations across every tenant touch every leaf of the (tenant, app,
// mode) key, so each commit writes all of them to the WAL: 10,000 a
// transaction took 52–71 s to a million, 100,000 about 40.
func (f *fleet) grow(ctx context.Context, s store.Store, n int, label string) error {
	p := newProgress("importing " + label)
	began, from := time.Now(), f.size
	now := time.Now()
	// The sample is every stride-th installation of all of them, the ones
	// already sampled included: kept whole, the first ones (whose ids,
	// ordered by time, sit together in one corner of the index) would be
	// asked for more often than the rest.
	stride := max(1, n/maxSample)
	kept := f.sample[:0]
	for i, in := range f.sample {
		if i%stride == 0 {
			kept = append(kept, in)
		}
	}
	f.sample = kept
	for f.size < n {
		batch := make([]store.Import, 0, 100_000)
		for f.size+len(batch) < n && len(batch) < cap(batch) {
			k := f.size + len(batch)
			a, tenant := k/len(f.tenants), f.tenants[k%len(f.tenants)]
			batch = append(batch, f.imported(f.fleetApp[a], tenant, now, false))
		}
		if err := s.ImportInstallations(ctx, batch); err != nil {
			return fmt.Errorf("import installations: %w", err)
		}
		for i, it := range batch {
			k := f.size + i
			// Keep a spread sample: every stride-th installation.
			if k%stride == 0 {
				f.sample = append(f.sample, instance{id: it.Installation.ID, app: k / len(f.tenants)})
			}
		}
		f.size += len(batch)
		p.show(func() string { return fmt.Sprintf("%d/%d", f.size, n) })
	}
	p.done(fmt.Sprintf("%d in %s (%s/s)", f.size-from, time.Since(began).Round(time.Millisecond),
		thousands(float64(f.size-from)/time.Since(began).Seconds())))
	return nil
}

// snapshot is f as it is now: growing f later leaves it as it was.
func (f *fleet) snapshot() *fleet {
	c := *f
	c.sample = slices.Clone(f.sample)
	return &c
}

// imported is an installation of a in tenant, made elsewhere.
func (f *fleet) imported(a app, tenant string, now time.Time, event bool) store.Import {
	made := f.made()
	it := store.Import{Installation: doorway.Installation{ID: secret.IDAt("ins_", made), AppID: a.id, TenantID: tenant,
		Mode: doorway.Live, Status: doorway.Active, VersionID: a.version, Permissions: a.perms, InstalledBy: "",
		GrantID: secret.IDAt("gr_", made), CreatedAt: now, UpdatedAt: now}}
	if event {
		it.EventID = secret.IDAt("evt_", made)
	}
	return it
}

// made is when the fleet's next installation was made: a millisecond
// after the one before, from a day before the run, so that the fleet's
// ids are those of installs made one at a time, as a server makes them,
// and still older than any install the run makes. Ids made in one burst
// (secret.ID a million times in a loop: a thousand a millisecond) share
// the order SQLite keeps installations by (secret.IDOrder) about one in
// eight times, and each read of one kept under its second key looks it
// up twice (sqlstore's installation keys): a fleet no server ever makes.
func (f *fleet) made() time.Time {
	if f.clock.IsZero() {
		f.clock = time.Now().Add(-24 * time.Hour)
	}
	f.clock = f.clock.Add(time.Millisecond)
	return f.clock
}

// queueBacklog imports n installations of the backlog app, each with its
// pending app.installed event.
func (f *fleet) queueBacklog(ctx context.Context, s store.Store, n int) error {
	now := time.Now()
	items := make([]store.Import, n)
	for i := range n {
		items[i] = f.imported(f.hookApp, f.tenants[i], now, true)
	}
	return s.ImportInstallations(ctx, items)
}
