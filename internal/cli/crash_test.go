package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/config"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
	"github.com/doorwayhq/doorway/webhook"
)

// serialReceiver is an app's webhook endpoint that processes one request
// at a time, verifies each with the Standard Webhooks library, and checks
// that every installation's events arrive in sequence order (a duplicate
// of the last one is fine: delivery is at least once).
type serialReceiver struct {
	wh        *standardwebhooks.Webhook
	mu        sync.Mutex
	requests  int
	bodyOf    map[string]string // webhook-id → body
	received  map[string]int    // webhook-id → requests
	seen      map[string][]int64
	installed map[string]bool // instance ids with an app.installed
	problems  []string
}

func (rc *serialReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if err := rc.wh.Verify(body, r.Header); err != nil {
		rc.problems = append(rc.problems, "signature: "+err.Error())
		w.WriteHeader(400)
		return
	}
	id := r.Header.Get("webhook-id")
	if prev, ok := rc.bodyOf[id]; ok && prev != string(body) {
		rc.problems = append(rc.problems, "webhook-id "+id+" came with two different bodies")
	}
	rc.bodyOf[id] = string(body)
	rc.received[id]++
	var ev webhook.Body
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != id {
		rc.problems = append(rc.problems, fmt.Sprintf("body %s: %v (id vs webhook-id %s)", body, err, id))
		return
	}
	seqs := rc.seen[ev.Data.InstanceID]
	if n := len(seqs); n > 0 && ev.Data.Sequence < seqs[n-1] {
		rc.problems = append(rc.problems, fmt.Sprintf("%s: sequence %d after %d", ev.Data.InstanceID, ev.Data.Sequence, seqs[n-1]))
	}
	rc.seen[ev.Data.InstanceID] = append(seqs, ev.Data.Sequence)
	if ev.Type == doorway.EventInstalled {
		rc.installed[ev.Data.InstanceID] = true
	}
	w.WriteHeader(http.StatusNoContent)
}

// buildDoorway builds the binary into dir and writes a shortConfig beside
// it, so that events leased by a killed process are retried seconds later
// rather than a minute.
func buildDoorway(t *testing.T, dir string) (bin, cfg string) {
	t.Helper()
	bin = filepath.Join(dir, "doorway")
	build := exec.Command("go", "build", "-o", bin, "github.com/doorwayhq/doorway/cmd/doorway")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin, shortConfig(t, dir)
}

// shortConfig writes the default config with a 2s webhook timeout, a 7s
// lease and a 2s key reload into dir.
func shortConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := filepath.Join(dir, "doorway.yaml")
	yaml := strings.NewReplacer("timeout: 15s", "timeout: 2s", "lease: 45s", "lease: 7s", "key_reload: 30s", "key_reload: 2s").
		Replace(string(config.DefaultYAML()))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// process is the doorway binary, running.
type process struct {
	cmd  *exec.Cmd
	base string
}

// startBinary runs `doorway serve` on db, appending its output to logPath,
// with env added to the environment, and waits until it is healthy.
func startBinary(t *testing.T, bin, db, cfg, addr, logPath string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--db", db, "--config", cfg, "--addr", addr, "--webhook-allow-private")
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, base: "http://" + addr}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			log, _ := os.ReadFile(logPath)
			t.Fatalf("doorway serve did not become healthy: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// installer drives installs like a browser, returning errors instead of
// failing the test, since the server dies under it.
type installer struct {
	c     *http.Client
	base  string
	pick  func() string                         // if set, the base of each request (several nodes)
	saw   func(method, path string, status int) // if set, told of every answer
	email string
	app   string
	csrf  string // the Installed-apps page's token for this session
}

func (in *installer) do(method, path string, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	base := in.base
	if in.pick != nil {
		base = in.pick()
	}
	req, _ := http.NewRequest(method, base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := in.c.Do(req)
	if err != nil {
		return nil, "", err
	}
	if in.saw != nil {
		in.saw(method, path, resp.StatusCode)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func (in *installer) page(path string) (string, error) {
	resp, body, err := in.do("GET", path, nil)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s = %d", path, resp.StatusCode)
	}
	return body, err
}

func (in *installer) post(path string, form url.Values) (string, error) {
	resp, _, err := in.do("POST", path, form)
	if err == nil && resp.StatusCode != http.StatusSeeOther {
		err = fmt.Errorf("POST %s = %d", path, resp.StatusCode)
	}
	if err != nil {
		return "", err
	}
	return resp.Header.Get("Location"), nil
}

func token(body string) string {
	if m := csrfField.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// install installs the app into tenant through the wix-external entry
// point and returns the instance id from the redirect.
func (in *installer) install(tenant string) (string, error) {
	q := url.Values{"appId": {in.app}, "postInstallationUrl": {"https://app.example/callback?t=" + tenant}}
	resp, body, err := in.do("GET", "/app-installer?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	flow := testkit.InstallPath(body)
	if resp.StatusCode != http.StatusOK || flow == "" {
		return "", fmt.Errorf("entry = %d, want an install page: %.300s", resp.StatusCode, body)
	}
	if strings.Contains(body, `name="password"`) {
		if _, err := in.post(flow+"/signin", url.Values{"csrf": {token(body)}, "email": {in.email}, "password": {testkit.Password}}); err != nil {
			return "", err
		}
		if body, err = in.page(flow); err != nil {
			return "", err
		}
	}
	// The choice comes back in the consent page's address.
	if flow, err = in.post(flow+"/tenant", url.Values{"csrf": {token(body)}, "tenant": {tenant}}); err != nil {
		return "", err
	}
	if body, err = in.page(flow); err != nil {
		return "", err
	}
	back, err := in.post(flow+"/decision", url.Values{"csrf": {token(body)}, "decision": {"approve"}})
	if err != nil {
		return "", err
	}
	u, err := url.Parse(back)
	if err != nil || u.Query().Get("instanceId") == "" {
		return "", fmt.Errorf("approval redirected to %q", back)
	}
	return u.Query().Get("instanceId"), nil
}

func (in *installer) uninstall(instance string) error {
	if in.csrf == "" {
		body, err := in.page("/settings/apps")
		if err != nil {
			return err
		}
		if in.csrf = token(body); in.csrf == "" {
			return errors.New("no form token on /settings/apps")
		}
	}
	_, err := in.post("/settings/apps/"+instance+"/uninstall", url.Values{"csrf": {in.csrf}})
	return err
}

// TestCrashLosesNoWebhook installs into 1,000+ tenants on the real binary
// while a receiver acknowledges, kills the server with SIGKILL at a random
// moment, restarts it, and checks the outbox's promise: every committed
// installation's app.installed was delivered, no event was delivered for an
// installation that did not commit, duplicates share their webhook-id, and
// each installation's events arrived in sequence order.
func TestCrashLosesNoWebhook(t *testing.T) {
	const (
		workers = 6
		perUser = 230 // tenants per worker: more than enough for 1,000 installs
		target  = 1000
	)
	dir := t.TempDir()
	bin, cfg := buildDoorway(t, dir)
	db := filepath.Join(dir, "doorway.db")

	rc := newReceiver()
	hooks := httptest.NewServer(rc)
	t.Cleanup(hooks.Close)

	// Seed through the same Main the binary runs: users, tenants, the app.
	seed := &cli.Main{DB: db, ConfigPath: cfg, Logger: quiet()}
	if err := seed.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	app, tenants := seedFleet(t, seed, rc, hooks.URL, workers, perUser)
	seed.Close()

	addr := freeAddr(t)
	srvProc := startBinary(t, bin, db, cfg, addr, db+".log")
	t.Cleanup(func() {
		srvProc.cmd.Process.Kill()
		srvProc.cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(db + ".log")
			t.Logf("server log (warnings):\n%s", tail(grepLines(string(log), "level=WARN", "level=ERROR"), 3000))
		}
	})

	killAt := int64(200 + rand.IntN(600))
	t.Logf("SIGKILL after %d confirmed installs", killAt)
	var confirmed atomic.Int64
	var killed atomic.Bool
	var mu sync.Mutex
	confirmedIDs := map[string]bool{}
	restarted := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := &installer{c: testkit.NewBrowser(t, "").Client, base: "http://" + addr, app: app.App.ID,
				email: fmt.Sprintf("worker%d@example.com", w)}
			for i, tenant := range tenants[w] {
				if confirmed.Load() >= target+50 {
					return
				}
				instance, err := in.install(tenant)
				if err != nil {
					if !killed.Load() {
						t.Errorf("install before the crash: %v", err)
						return
					}
					<-restarted // the server is down: wait, then go on with the next tenant
					continue
				}
				mu.Lock()
				confirmedIDs[instance] = true
				mu.Unlock()
				if confirmed.Add(1) == killAt {
					killed.Store(true)
					srvProc.cmd.Process.Signal(syscall.SIGKILL)
				}
				if i%3 == 0 { // a second event for this installation
					if err := in.uninstall(instance); err != nil && !killed.Load() {
						t.Errorf("uninstall: %v", err)
					}
				}
			}
		}()
	}
	// Restart once the kill happened.
	for !killed.Load() && !t.Failed() {
		time.Sleep(5 * time.Millisecond)
	}
	if t.Failed() {
		wg.Wait()
		return
	}
	srvProc.cmd.Wait()
	srvProc = startBinary(t, bin, db, cfg, addr, db+".log")
	close(restarted)
	wg.Wait()
	if n := confirmed.Load(); n < target {
		t.Fatalf("only %d installs confirmed; want at least %d", n, target)
	}

	// Wait until the outbox is drained: every event delivered.
	ro, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	drained := waitDrained(t, ro, rc, 60*time.Second)
	t.Logf("outbox drained %s after the last install", drained.Round(time.Millisecond))

	committed := checkNothingLost(t, ro, rc, confirmedIDs)
	events := 0
	for _, n := range committed {
		events += n
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t.Logf("%d installs confirmed (%d committed), %d events, %d requests to the receiver (%d duplicates)",
		len(confirmedIDs), len(committed), events, rc.requests, rc.requests-len(rc.bodyOf))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func distinctSeqs(s []int64) int {
	m := map[int64]bool{}
	for _, v := range s {
		m[v] = true
	}
	return len(m)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func grepLines(s string, any ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, a := range any {
			if strings.Contains(l, a) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
