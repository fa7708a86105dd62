package doorway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/registry"
)

// platform starts a Doorway on a free port with a throwaway database, a user
// ada@example.com (password "correct horse battery") in the tenant "Acme
// Bakery", and an app Invoicing. In real life: `doorway serve` and the
// `doorway users|tenants|apps create` commands.
func platform() (m *cli.Main, app *registry.Created, stop func()) {
	dir, err := os.MkdirTemp("", "doorway-example")
	if err != nil {
		panic(err)
	}
	m = &cli.Main{DB: filepath.Join(dir, "doorway.db"), Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	must(m.Run(ctx))
	_, err = m.Identity.CreateUser(ctx, "ada@example.com", "correct horse battery")
	must(err)
	_, err = m.Identity.CreateTenant(ctx, "Acme Bakery", "ada@example.com")
	must(err)
	app, err = m.Registry.CreateApp(ctx, doorway.Manifest{ID: "com.example.invoicing", Name: "Invoicing", Version: "1.0.0",
		Permissions: []doorway.PermissionRequest{
			{Permission: "customer_read", Purpose: "To address invoices."},
			{Permission: "invoice_write", Purpose: "To send invoices for you."},
		},
		AllowedRedirectURIs: []string{"https://app.example/installed"}})
	must(err)
	return m, app, func() { m.Close(); os.RemoveAll(dir) }
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	// The install pages' forms post under /install/{ref}.
	installForm = regexp.MustCompile(`<form method="post" action="(/install/[^/"?]+)/`)
)

// userInstalls plays the user who clicks the install link: sign in, press
// Install. It returns where the browser is sent back to the app.
func userInstalls(base, entry string) string {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (string, string) {
		resp, err := c.Get(u)
		must(err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Location"), string(b)
	}
	post := func(u string, f url.Values) string {
		resp, err := c.PostForm(u, f)
		must(err)
		resp.Body.Close()
		return resp.Header.Get("Location")
	}
	// The entry answers with the first page (here: sign in), or, when it
	// used up a single-use token, redirects to it.
	to, body := get(base + entry)
	if to != "" {
		_, body = get(base + to)
	}
	page := installForm.FindStringSubmatch(body)[1]
	post(base+page+"/signin", url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]},
		"email": {"ada@example.com"}, "password": {"correct horse battery"}})
	_, body = get(base + page)
	if !strings.Contains(body, "will be able to") {
		panic("no consent page")
	}
	return post(base+page+"/decision", url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]}, "decision": {"approve"}})
}
