package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// testImport loads more installations than one INSERT holds, half with a
// pending event, and checks that they read back, count, claim and
// reinstall like installations made by approvals.
func testImport(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "importer@example.com")
	app, v := newApp(t, s, "customer_read", "invoice_write")
	const n = 450 // more than one statement's batch
	var items []store.Import
	for k := range n {
		tn := newTenant(t, s, fmt.Sprint("T", k), u.ID)
		it := store.Import{Installation: doorway.Installation{ID: secret.Token("ins_"), AppID: app.ID, TenantID: tn.ID,
			Mode: doorway.Live, Status: doorway.Active, VersionID: v.ID, Permissions: []string{"customer_read", "invoice_write"},
			InstalledBy: u.ID, GrantID: secret.Token("gr_"), CreatedAt: t0, UpdatedAt: t0.Add(time.Second)}}
		if k%2 == 0 {
			it.EventID = secret.Token("evt_")
		}
		items = append(items, it)
	}
	must(t, s.ImportInstallations(ctx, items))

	last := items[n-1].Installation
	got, err := s.Installation(ctx, last.ID)
	must(t, err)
	if got.TenantID != last.TenantID || got.Status != doorway.Active || got.GrantID != last.GrantID ||
		!slices.Equal(got.Permissions, last.Permissions) || !got.UpdatedAt.Equal(last.UpdatedAt) {
		t.Fatalf("imported installation reads back as %+v, want %+v", got, last)
	}
	g, err := s.Grant(ctx, last.GrantID)
	must(t, err)
	if g.Kind != doorway.GrantInstall || g.InstallationID != last.ID || !g.RevokedAt.IsZero() || !slices.Equal(g.Scope, last.Permissions) {
		t.Fatalf("imported install grant = %+v", g)
	}
	page, err := s.Installations(ctx, app.ID, "", 1000)
	must(t, err)
	if len(page) != n {
		t.Fatalf("app lists %d installations after importing %d", len(page), n)
	}
	claimed := claimIDs(t, s, "n1", t0.Add(time.Hour), 1000)
	if len(claimed) != n/2 {
		t.Fatalf("claimed %d events, want %d (one per installation imported with an event)", len(claimed), n/2)
	}

	// Approving again continues each installation's event sequence.
	for _, k := range []int{0, 1} {
		it := items[k].Installation
		again, err := approve(s, newRequest(app, "", u.ID, it.TenantID), t0.Add(time.Minute))
		must(t, err)
		evs, err := s.Events(ctx, it.ID)
		must(t, err)
		if again.ID != it.ID || len(evs) != 2-k || evs[len(evs)-1].Sequence != int64(2-k) {
			t.Fatalf("reinstall of imported %s: id %s, events %+v", it.ID, again.ID, evs)
		}
	}

	// A batch with one installation that exists is refused whole.
	fresh := newTenant(t, s, "Fresh", u.ID)
	dup := items[5]
	dup.Installation.ID, dup.Installation.GrantID = secret.Token("ins_"), secret.Token("gr_")
	ok := store.Import{Installation: doorway.Installation{ID: secret.Token("ins_"), AppID: app.ID, TenantID: fresh.ID,
		Mode: doorway.Live, Status: doorway.Active, VersionID: v.ID, Permissions: []string{}, InstalledBy: u.ID,
		GrantID: secret.Token("gr_"), CreatedAt: t0, UpdatedAt: t0}}
	wantErr(t, s.ImportInstallations(ctx, []store.Import{ok, dup}), store.ErrConflict)
	if _, err := s.Installation(ctx, ok.Installation.ID); err == nil {
		t.Fatalf("installation %s was written by an import that failed", ok.Installation.ID)
	}
}

// testImportBesideWrites: imports and small writes made at the same time
// all land (a store that commits writes together must still take a large
// one, and those around it).
// testImportOfUnknownReferences: an import naming an app, version or
// tenant that does not exist is refused with ErrNotFound naming it, and
// writes nothing.
func testImportOfUnknownReferences(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "importer@example.com")
	app, v := newApp(t, s, "customer_read")
	tn := newTenant(t, s, "Known", u.ID)
	item := func(change func(*doorway.Installation)) store.Import {
		i := doorway.Installation{ID: secret.Token("ins_"), AppID: app.ID, TenantID: tn.ID, Mode: doorway.Live,
			Status: doorway.Active, VersionID: v.ID, Permissions: []string{"customer_read"}, InstalledBy: u.ID,
			GrantID: secret.Token("gr_"), CreatedAt: t0, UpdatedAt: t0}
		change(&i)
		return store.Import{Installation: i}
	}
	for _, c := range []struct {
		name, missing string
		change        func(*doorway.Installation)
	}{
		{"an unknown app", "app_missing", func(i *doorway.Installation) { i.AppID = "app_missing" }},
		{"an unknown version", "ver_missing", func(i *doorway.Installation) { i.VersionID = "ver_missing" }},
		{"an unknown tenant", "tnt_missing", func(i *doorway.Installation) { i.TenantID = "tnt_missing" }},
	} {
		good, bad := item(func(*doorway.Installation) {}), item(c.change)
		err := s.ImportInstallations(ctx, []store.Import{good, bad})
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), c.missing) {
			t.Fatalf("import with %s: %v, want ErrNotFound naming %s", c.name, err, c.missing)
		}
		if _, err := s.Installation(ctx, good.Installation.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("import with %s wrote the other installation (err %v)", c.name, err)
		}
	}
}

func testImportBesideWrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "importer@example.com")
	app, v := newApp(t, s, "customer_read")
	imports := make([][]store.Import, 3) // of 50 each
	for k := range 150 {
		imports[k%3] = append(imports[k%3], store.Import{Installation: doorway.Installation{ID: secret.ID("ins_"), AppID: app.ID,
			TenantID: newTenant(t, s, fmt.Sprint("T", k), u.ID).ID, Mode: doorway.Live, Status: doorway.Active, VersionID: v.ID,
			Permissions: []string{"customer_read"}, InstalledBy: u.ID, GrantID: secret.ID("gr_"), CreatedAt: t0, UpdatedAt: t0},
			EventID: secret.ID("evt_")})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for g, items := range imports {
		wg.Go(func() { errs <- s.ImportInstallations(ctx, items) })
		wg.Go(func() {
			for k := range 5 {
				errs <- s.CreateUser(ctx, &doorway.User{ID: secret.ID("usr_"), Email: fmt.Sprintf("u%d-%d@example.com", g, k),
					PasswordHash: "x", CreatedAt: t0})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	page, err := s.Installations(ctx, app.ID, "", 1000)
	must(t, err)
	if len(page) != 150 {
		t.Fatalf("%d installations after three imports of 50 beside other writes, want 150", len(page))
	}
	for g := range 3 {
		if _, err := s.UserByEmail(ctx, fmt.Sprintf("u%d-4@example.com", g)); err != nil {
			t.Fatalf("a user created beside the imports is missing: %v", err)
		}
	}
}

// testIDsOfOneMillisecond: ids made in the same millisecond can share
// their time and first random bits, which a backend may keep
// installations in the order of (SQLite: sqlstore.InstallationKeys).
// Installations with such ids, imported in one batch, in a later one and
// approved one by one, and ids that are not Doorway's, are all kept and
// each found by its own id; an id of the same millisecond that was never
// written is not found.
func testIDsOfOneMillisecond(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s, "millisecond@example.com")
	app, v := newApp(t, s, "customer_read")
	head := secret.ID("ins_")[:4+13] // prefix, time, first random bits
	id := func(c string) string { return head + strings.Repeat(c, 13) }
	imported := func(ids ...string) []store.Import {
		var items []store.Import
		for _, i := range ids {
			tn := newTenant(t, s, "Tenant of "+i, u.ID)
			items = append(items, store.Import{Installation: doorway.Installation{ID: i, AppID: app.ID, TenantID: tn.ID,
				Mode: doorway.Live, Status: doorway.Active, VersionID: v.ID, Permissions: []string{"customer_read"},
				InstalledBy: u.ID, GrantID: secret.ID("gr_"), CreatedAt: t0, UpdatedAt: t0}})
		}
		return items
	}
	want := map[string]string{} // id → tenant
	for _, batch := range [][]store.Import{
		imported(id("c"), id("a"), id("b"), "3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
		imported(id("d"), "legacy-42"),
	} {
		must(t, s.ImportInstallations(ctx, batch))
		for _, it := range batch {
			want[it.Installation.ID] = it.Installation.TenantID
		}
	}
	for _, c := range []string{"e", "f"} {
		tn := newTenant(t, s, "Approved "+c, u.ID)
		inst, err := s.Decide(ctx, store.Decision{Request: newRequest(app, "", u.ID, tn.ID), Decision: doorway.Approved,
			Now: t0, InstallationID: id(c), EventID: secret.ID("evt_"), GrantID: secret.ID("gr_")})
		must(t, err)
		if inst.ID != id(c) {
			t.Fatalf("approval made installation %s, want %s", inst.ID, id(c))
		}
		want[inst.ID] = tn.ID
	}
	// Approving again keeps the installation and its id.
	again, err := s.Decide(ctx, store.Decision{Request: newRequest(app, "", u.ID, want[id("f")]), Decision: doorway.Approved,
		Now: t0.Add(time.Minute), InstallationID: id("g"), EventID: secret.ID("evt_"), GrantID: secret.ID("gr_")})
	must(t, err)
	if again.ID != id("f") {
		t.Fatalf("approving %s's app again in its tenant made %s", id("f"), again.ID)
	}
	for i, tenant := range want {
		got, err := s.Installation(ctx, i)
		if err != nil || got.ID != i || got.TenantID != tenant {
			t.Errorf("Installation(%s) = %+v, %v; want the one in tenant %s", i, got, err, tenant)
		}
	}
	for _, missing := range []string{id("g"), id("z"), "legacy-43"} {
		_, err := s.Installation(ctx, missing)
		wantErr(t, err, store.ErrNotFound)
	}
}
