package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// run runs the doorway command line in-process against db.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.Command(strings.NewReader(stdin), &out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func runJSON(t *testing.T, args ...string) map[string]string {
	t.Helper()
	out, err := run(t, "", args...)
	if err != nil {
		t.Fatalf("doorway %s: %v", strings.Join(args, " "), err)
	}
	var v map[string]string
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&v); err != nil || dec.More() {
		t.Fatalf("doorway %s printed %q, want exactly one JSON object", strings.Join(args, " "), out)
	}
	if v["id"] == "" {
		t.Fatalf("doorway %s: JSON has no id: %v", strings.Join(args, " "), v)
	}
	return v
}

func writeManifest(t *testing.T, body string) string {
	path := filepath.Join(t.TempDir(), "app.json")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const manifest = `{"id":"com.example.invoicing","name":"Invoicing","version":"1.0.0",
 "permissions":[{"permission":"invoice_write","purpose":"To send invoices"}],
 "allowed_redirect_uris":["https://app.example/cb"],"ui_extension":{}}`

func TestCLIScriptedSetup(t *testing.T) {
	db := filepath.Join(t.TempDir(), "doorway.db")
	user := runJSON(t, "users", "create", "--db", db, "--email", "ada@example.com", "--password", "correct horse", "--json")
	if !strings.HasPrefix(user["id"], "usr_") {
		t.Fatalf("user id = %q", user["id"])
	}
	out, err := run(t, "another password\n", "users", "create", "--db", db, "--email", "bob@example.com", "--password-stdin")
	if err != nil || !strings.Contains(out, "Created user") {
		t.Fatalf("users create --password-stdin: %q, %v", out, err)
	}
	tenant := runJSON(t, "tenants", "create", "--db", db, "--name", "Acme", "--owner", "ada@example.com", "--json")
	app := runJSON(t, "apps", "create", "--db", db, "--manifest", writeManifest(t, manifest), "--json")
	if !strings.HasPrefix(app["client_secret"], "dwcs_") || !strings.HasPrefix(app["signing_secret"], "dwss_") {
		t.Fatalf("apps create JSON = %v, want client_secret and signing_secret", app)
	}
	link := runJSON(t, "links", "create", app["id"], "--db", db, "--test", "--issuer", "https://install.example", "--json")
	if link["url"] != "https://install.example/apps/install/link/"+link["id"] || link["mode"] != "test" {
		t.Fatalf("links create JSON = %v", link)
	}
	if out, err := run(t, "", "installs", "list", app["id"], "--db", db, "--json"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("installs list of a new app = %q, %v; want []", out, err)
	}
	if _, err := run(t, "", "installs", "list", "app_nope", "--db", db); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("installs list of an unknown app: %v, want an error naming it", err)
	}
	if _, err := run(t, "", "keys", "rotate", "--db", db, "--overlap", "1h"); err == nil || !strings.Contains(err.Error(), "shorter than an instance token") {
		t.Fatalf("keys rotate --overlap 1h: %v, want a refusal that explains the 4h minimum", err)
	}
	v2 := strings.Replace(manifest, `"1.0.0"`, `"1.1.0"`, 1)
	ver := runJSON(t, "apps", "versions", "add", app["id"], "--db", db, "--manifest", writeManifest(t, v2), "--mode", "live", "--json")
	if ver["version"] != "1.1.0" {
		t.Fatalf("versions add JSON = %v", ver)
	}
	rot := runJSON(t, "apps", "secrets", "rotate", app["id"], "--db", db, "--overlap", "1h", "--json")
	if rot["client_secret"] == app["client_secret"] || rot["signing_secret"] == "" {
		t.Fatalf("rotate JSON = %v", rot)
	}
	if !strings.HasPrefix(tenant["id"], "tnt_") || tenant["name"] != "Acme" {
		t.Fatalf("tenants create JSON = %v", tenant)
	}

	// The same database through DOORWAY_DB.
	t.Setenv("DOORWAY_DB", db)
	if _, err := run(t, "", "tenants", "create", "--name", "Beta", "--owner", "ada@example.com"); err != nil {
		t.Fatalf("tenants create with DOORWAY_DB: %v", err)
	}

	// The master key file is private.
	fi, err := os.Stat(db + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
}

// TestCLIMigrateSaysWhatRuns: doorway migrate names each migration before
// it runs and says how long it took; run again, it has nothing to do.
func TestCLIMigrateSaysWhatRuns(t *testing.T) {
	db := testkit.Database(t)
	out, err := run(t, "", "migrate", "--db", db)
	if err != nil {
		t.Fatalf("doorway migrate: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || len(lines)%2 != 0 || lines[0] != "applying 0001_init.sql …" {
		t.Fatalf("doorway migrate printed:\n%s\nwant \"applying 0001_init.sql …\" first, then a line after each migration", out)
	}
	for i := 0; i < len(lines); i += 2 {
		name, ok := strings.CutPrefix(lines[i], "applying ")
		name, ok2 := strings.CutSuffix(name, " …")
		if !ok || !ok2 || !strings.HasPrefix(lines[i+1], "applied "+name+" in ") {
			t.Fatalf("doorway migrate printed %q then %q; want \"applying NAME …\" then \"applied NAME in DURATION\"", lines[i], lines[i+1])
		}
	}
	if out, err := run(t, "", "migrate", "--db", db); err != nil || !strings.HasSuffix(out, " is up to date.\n") || strings.Contains(out, "applying") {
		t.Fatalf("second doorway migrate = %q, %v; want only that the database is up to date", out, err)
	}
}

func TestCLIErrorsNameTheFix(t *testing.T) {
	db := filepath.Join(t.TempDir(), "doorway.db")
	runJSON(t, "users", "create", "--db", db, "--email", "ada@example.com", "--password", "correct horse", "--json")
	app := runJSON(t, "apps", "create", "--db", db, "--manifest", writeManifest(t, manifest), "--json")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown permission", []string{"apps", "create", "--manifest", writeManifest(t, strings.Replace(manifest, "invoice_write", "launch_missiles", 1))},
			[]string{`"launch_missiles" is not in the platform's permission catalog`, "customer_read", "invoice_write"}},
		{"unknown manifest field", []string{"apps", "create", "--manifest", writeManifest(t, strings.Replace(manifest, `"name"`, `"nmae"`, 1))},
			[]string{`unknown field(s) "nmae"`}},
		{"http redirect to a public host", []string{"apps", "create", "--manifest", writeManifest(t, strings.Replace(manifest, "https://app.example/cb", "http://app.example/cb", 1))},
			[]string{"must use https"}},
		{"duplicate version", []string{"apps", "versions", "add", app["id"], "--manifest", writeManifest(t, manifest)},
			[]string{`already has version "1.0.0"`, "give the manifest a new \"version\""}},
		{"unknown app", []string{"links", "create", "app_nope"}, []string{`app "app_nope" does not exist`}},
		{"short password", []string{"users", "create", "--email", "b@example.com", "--password", "short"}, []string{"use at least 8"}},
		{"duplicate email", []string{"users", "create", "--email", "ADA@example.com", "--password", "long enough"}, []string{"exists already"}},
		{"owner unknown", []string{"tenants", "create", "--name", "X", "--owner", "nobody@example.com"}, []string{"doorway users create --email nobody@example.com"}},
		{"bad mode", []string{"apps", "versions", "add", app["id"], "--manifest", "x", "--mode", "prod"}, []string{"use test, live, both or none"}},
		{"trusted proxy by name", []string{"serve", "--addr", "127.0.0.1:0", "--trusted-proxies", "10.0.0.0/8,lb.internal"},
			[]string{"--trusted-proxies", `"lb.internal"`, "CIDR prefix (10.0.0.0/8)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, "", append(tc.args, "--db", db)...)
			if err == nil {
				t.Fatalf("succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestCLIServeHelpTeaches(t *testing.T) {
	out, err := run(t, "", "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--addr", "--issuer", "--db", "--config", "DOORWAY_MASTER_KEY", "Examples:"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}
