package cli_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/doorwayhq/doorway/demo"
	"github.com/doorwayhq/doorway/internal/cli"
)

// chromium finds Debian's Chromium. Under CI=true a missing browser fails
// the test: .ci/run installs it, so its absence is a broken CI, not a skip.
func chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("DOORWAY_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "Chromium not found: install Debian's chromium (apt-get install chromium) or set DOORWAY_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// artifacts is where screenshots go: $DOORWAY_TEST_ARTIFACTS or
// test-artifacts/ at the repository root.
func artifacts(t *testing.T) string {
	dir := os.Getenv("DOORWAY_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDemoInstallInChromium(t *testing.T) {
	exe := chromium(t)
	m := &cli.Main{DB: filepath.Join(t.TempDir(), "demo.db"), Addr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := m.RunDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(900, 1000))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()

	dir := artifacts(t)
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(browser, actions...); err != nil {
			t.Fatalf("%s: %v (screenshots so far are in %s)", what, err, dir)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}

	step("open the sample app and click Install",
		chromedp.Navigate(m.Issuer+"/demo-app/"),
		chromedp.Click(chromedp.CSS("#install")),
		chromedp.WaitVisible(chromedp.CSS("#email")))
	screenshot(t, browser, dir, "1-sign-in.png")
	step("sign in",
		chromedp.SendKeys(chromedp.CSS("#email"), demo.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), demo.Password),
		chromedp.Click(chromedp.CSS("form.form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("input[name=tenant]")))
	screenshot(t, browser, dir, "2-choose-account.png")
	step("choose the second account",
		chromedp.Click(chromedp.CSS("input[name=tenant]:not(:checked)")),
		chromedp.Click(chromedp.CSS("form.form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("button[value=approve]")))
	consentTitle := text("h1")
	screenshot(t, browser, dir, "3-consent.png")
	step("approve", chromedp.Click(chromedp.CSS("button[value=approve]")), chromedp.WaitVisible(chromedp.CSS("#verified")))
	screenshot(t, browser, dir, "4-app-verified.png")
	account, livemode, state := text("#account-id"), text("#livemode"), text("#state")

	if consentTitle != "Install Invoicely" {
		t.Errorf("consent heading = %q", consentTitle)
	}
	u, err := m.Store.UserByEmail(context.Background(), demo.Email)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := m.Store.Memberships(context.Background(), u.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("demo memberships = %v, %v; want 2", ms, err)
	}
	if account != ms[1].Tenant.ID {
		t.Errorf("the app page shows account_id %q, want the second account %s", account, ms[1].Tenant.ID)
	}
	if livemode != "false" || !strings.HasPrefix(state, "st_") {
		t.Errorf("livemode = %q, state = %q; want false and the app's st_ state", livemode, state)
	}

	// The app's webhook endpoint got app.installed with the same state,
	// verified with its webhook secret.
	var hooks string
	for deadline := time.Now().Add(10 * time.Second); ; {
		step("open the sample app", chromedp.Navigate(m.Issuer+"/demo-app/"), chromedp.WaitVisible(chromedp.CSS("h2")))
		if hooks = text("main"); strings.Contains(hooks, "app.installed") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(hooks, "app.installed") || !strings.Contains(hooks, state) {
		t.Errorf("the sample app's page shows %q; want the app.installed webhook with state %s", hooks, state)
	}
	screenshot(t, browser, dir, "5-webhook-received.png")
}
