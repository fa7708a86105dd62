package cli_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/guard"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/pgtest"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// TestTwoNodesOnePostgres runs two doorway processes (the real binary) on
// one PostgreSQL behind a pretend load balancer that sends each request to
// either node:
//   - an install's pages alternate between the nodes, request by request;
//   - a token node A issued is active in node B's introspection and
//     accepted by a guard that knows only B;
//   - a signing key rotated while both run is signed with by A and
//     verified by B;
//   - under load both nodes dispatch webhooks, each event is sent once per
//     recorded attempt, and after node B is killed with SIGKILL mid-load
//     nothing is lost: every committed event is delivered, by A.
func TestTwoNodesOnePostgres(t *testing.T) {
	const (
		workers = 4
		perUser = 120
		target  = 300
	)
	db := pgtest.URL(t)
	dir := t.TempDir()
	bin, cfg := buildDoorway(t, dir)
	key := testkit.MasterKey()
	t.Setenv("DOORWAY_MASTER_KEY", key) // for the CLI commands below

	rc := newReceiver()
	hooks := httptest.NewServer(rc)
	t.Cleanup(hooks.Close)
	seed := &cli.Main{DB: db, ConfigPath: cfg, MasterKey: key, Logger: quiet()}
	if err := seed.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	app, tenants := seedFleet(t, seed, rc, hooks.URL, workers, perUser)
	seed.Close()

	// Both nodes name B's address as the issuer: it stands for the load
	// balancer's public URL, which every node must share.
	addrA, addrB := freeAddr(t), freeAddr(t)
	issuer := "DOORWAY_ISSUER=http://" + addrB
	logA, logB := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	nodes := []*process{
		startBinary(t, bin, db, cfg, addrA, logA, "DOORWAY_MASTER_KEY="+key, issuer),
		startBinary(t, bin, db, cfg, addrB, logB, "DOORWAY_MASTER_KEY="+key, issuer),
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.cmd.Process.Kill()
			n.cmd.Wait()
		}
	})
	a, b := nodes[0].base, nodes[1].base
	var bDead atomic.Bool
	var turn atomic.Uint64
	balance := func() string {
		if bDead.Load() || turn.Add(1)%2 == 0 {
			return a
		}
		return b
	}

	// One install, its requests alternating between A and B.
	in := &installer{c: testkit.NewBrowser(t, "").Client, pick: balance, app: app.App.ID, email: "worker0@example.com"}
	instance, err := in.install(tenants[0][0])
	if err != nil {
		t.Fatalf("install across nodes: %v", err)
	}

	// A token from A, checked by B and by a guard that knows only B.
	instanceToken := func(node string) string {
		t.Helper()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		postForm(t, node+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {app.App.ID},
			"client_secret": {app.ClientSecret}, "instance_id": {instance}}, &tok)
		return tok.AccessToken
	}
	g := &guard.Guard{Issuer: b}
	api := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	accepted := func(node, token string) {
		t.Helper()
		var intro struct {
			Active bool
			Sub    string
		}
		postForm(t, node+"/oauth2/introspect", url.Values{"client_id": {app.App.ID}, "client_secret": {app.ClientSecret}, "token": {token}}, &intro)
		if !intro.Active || intro.Sub != instance {
			t.Fatalf("%s introspects a token from the other node as %+v, want active for %s", node, intro, instance)
		}
		req, _ := http.NewRequest("GET", "/platform-api", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code != 204 {
			t.Fatalf("a guard on %s answered %d for a token from the other node", b, rec.Code)
		}
	}
	fromA := instanceToken(a)
	accepted(b, fromA)

	// Rotate the signing key while both run; A signs with the new key
	// within key_reload (2s here) and B verifies it at once.
	out, err := run(t, "", "keys", "rotate", "--db", db, "--overlap", "5h")
	if err != nil {
		t.Fatalf("keys rotate: %v", err)
	}
	newKid := strings.TrimSuffix(strings.Fields(out[strings.Index(out, "key_"):])[0], ".")
	deadline := time.Now().Add(10 * time.Second)
	for kidOf(t, fromA) != newKid {
		if time.Now().After(deadline) {
			t.Fatalf("A still signs with %s 10s after the rotation to %s", kidOf(t, fromA), newKid)
		}
		time.Sleep(200 * time.Millisecond)
		fromA = instanceToken(a)
	}
	accepted(b, fromA)

	// Load on both nodes; B dies with SIGKILL partway through.
	killAt := int64(60 + rand.IntN(120))
	t.Logf("SIGKILL node B after %d confirmed installs", killAt)
	var confirmed atomic.Int64
	var mu sync.Mutex
	confirmedIDs := map[string]bool{instance: true}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := &installer{c: testkit.NewBrowser(t, "").Client, pick: balance, app: app.App.ID,
				email: fmt.Sprintf("worker%d@example.com", w)}
			for i, tenant := range tenants[w][1:] {
				if confirmed.Load() >= target {
					return
				}
				instance, err := in.install(tenant)
				if err != nil {
					if !bDead.Load() {
						t.Errorf("install with both nodes up: %v", err)
						return
					}
					continue // the request went to B as it died; go on with A
				}
				mu.Lock()
				confirmedIDs[instance] = true
				mu.Unlock()
				if confirmed.Add(1) == killAt {
					// Marked dead first: a worker whose request B drops
					// may see its error before this goroutine runs again.
					bDead.Store(true)
					nodes[1].cmd.Process.Signal(syscall.SIGKILL)
				}
				if i%3 == 0 {
					if err := in.uninstall(instance); err != nil && !bDead.Load() {
						t.Errorf("uninstall: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	pg, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	drained := waitDrained(t, pg, rc, 60*time.Second)
	t.Logf("outbox drained %s after the load (the lease is 7s)", drained.Round(time.Millisecond))
	committed := checkNothingLost(t, pg, rc, confirmedIDs)

	var dispatchers []string
	rows, err := pg.Query(`SELECT DISTINCT dispatcher FROM webhook_attempts ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		rows.Scan(&d)
		dispatchers = append(dispatchers, d)
	}
	rows.Close()
	if len(dispatchers) < 2 {
		t.Errorf("attempts were made by %v; want both nodes' dispatchers", dispatchers)
	}

	attempts := map[string]int{}
	rows, err = pg.Query(`SELECT event_id, count(*) FROM webhook_attempts GROUP BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var n int
		rows.Scan(&id, &n)
		attempts[id] = n
	}
	rows.Close()

	rc.mu.Lock()
	defer rc.mu.Unlock()
	// Each request the receiver got is a recorded attempt, except the
	// deliveries B had in flight when it died: those were sent again by A
	// after B's lease ran out (at most one batch of them).
	resent := 0
	for id, got := range rc.received {
		switch extra := got - attempts[id]; {
		case extra == 1:
			resent++
		case extra != 0:
			t.Errorf("event %s reached the receiver %d times for %d recorded attempts", id, got, attempts[id])
		}
	}
	if resent > 32 {
		t.Errorf("%d events were sent without a recorded attempt; only B's in-flight batch (≤ 32) may be", resent)
	}
	t.Logf("%d installs committed, %d events delivered by %d dispatchers, %d resent after the kill",
		len(committed), len(rc.received), len(dispatchers), resent)
}

// kidOf returns the kid in a JWT's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	var h struct{ Kid string }
	seg, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil || json.Unmarshal(seg, &h) != nil {
		t.Fatalf("not a JWT: %q", token)
	}
	return h.Kid
}

// postForm posts form to u and decodes a 200 JSON answer into out.
func postForm(t *testing.T, u string, form url.Values, out any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var e map[string]any
		json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("POST %s = %d %v", u, resp.StatusCode, e)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
