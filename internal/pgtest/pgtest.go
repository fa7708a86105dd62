// Package pgtest gives tests a real PostgreSQL: a fresh schema per test in
// the database named by DOORWAY_TEST_POSTGRES_URL, or, when that is not
// set, in a throwaway cluster started from the machine's own PostgreSQL
// binaries (initdb and postgres; as an unprivileged user when run as root)
// on a private socket directory and a free port, and removed afterwards.
//
// A package that uses it runs its tests through Main, which stops the
// cluster after the last test:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Under CI=true a PostgreSQL that cannot be found or started fails the test;
// elsewhere the test is skipped with the reason, so a laptop without
// PostgreSQL still runs the rest.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// EnvURL names an existing server to use instead of a throwaway cluster.
// Its user must be allowed to create schemas.
const EnvURL = "DOORWAY_TEST_POSTGRES_URL"

var (
	shared     *Cluster
	sharedErr  error
	sharedOnce sync.Once
)

// Main runs the package's tests and then stops the cluster they shared, if
// one was started.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

// URL returns the URL of a new, empty schema that is dropped when the test
// ends. Everything the URL opens works in that schema only.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		sharedOnce.Do(func() { shared, sharedErr = Start() })
		if sharedErr != nil {
			Unavailable(t, sharedErr)
		}
		base = shared.URL
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("pgtest: create schema in %s: %v", base, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err == nil {
			db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			db.Close()
		}
	})
	return WithParam(base, "search_path", schema)
}

// WithParam adds a query parameter to a database URL.
func WithParam(u, key, value string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
}

// Unavailable fails the test under CI=true and skips it elsewhere.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("PostgreSQL is not available: %v\n"+
		"Install it (Debian: apt-get install postgresql) or set %s to a server where this user may create schemas.", err, EnvURL)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Cluster is a throwaway PostgreSQL server.
type Cluster struct {
	Dir  string // data directory and socket directory live under it
	Port int
	URL  string // superuser URL of the "postgres" database

	bin      string
	settings []string // -c name=value, after the defaults
	cred     *syscall.Credential
	cmd      *exec.Cmd
	done     chan error
}

// Start initialises and starts a cluster made for tests: fsync and full
// page writes are off, since its data is thrown away.
func Start() (*Cluster, error) { return StartWith() }

// StartWith is Start with server settings (name=value) that override the
// test defaults, such as "fsync=on" for a benchmark that should pay what
// a production server pays.
func StartWith(settings ...string) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, settings: settings}
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		if c.cred, err = unprivileged(); err != nil {
			return nil, err
		}
	}
	if c.Dir, err = os.MkdirTemp("", "doorway-pg-"); err != nil {
		return nil, err
	}
	if c.cred != nil {
		if err := os.Chown(c.Dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(c.socketDir(), 0o700); err != nil {
		return nil, err
	}
	if c.cred != nil {
		os.Chown(c.socketDir(), int(c.cred.Uid), int(c.cred.Gid))
	}
	initdb := c.command("initdb", "-D", c.dataDir(), "-U", "doorway", "--auth=trust", "--no-sync",
		"--encoding=UTF8", "--locale=C.UTF-8")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(c.Dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if c.Port, err = freePort(); err != nil {
		return nil, err
	}
	c.URL = fmt.Sprintf("postgres://doorway@/postgres?host=%s&port=%d", c.socketDir(), c.Port)
	if err := c.Resume(); err != nil {
		os.RemoveAll(c.Dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) dataDir() string   { return filepath.Join(c.Dir, "data") }
func (c *Cluster) socketDir() string { return filepath.Join(c.Dir, "sock") }

// Resume starts the server on the cluster's data, port and socket, and
// waits until it accepts connections.
func (c *Cluster) Resume() error {
	args := []string{"-D", c.dataDir(), "-p", strconv.Itoa(c.Port), "-k", c.socketDir(),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=400", "-c", "shared_buffers=64MB"}
	for _, s := range c.settings {
		args = append(args, "-c", s) // the last -c of a name wins
	}
	c.cmd = c.command("postgres", args...)
	log, err := os.Create(filepath.Join(c.Dir, "postgres.log"))
	if err != nil {
		return err
	}
	c.cmd.Stdout, c.cmd.Stderr = log, log
	// If the test binary dies, the server goes with it.
	c.cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := c.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait(); log.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", c.URL)
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case werr := <-c.done:
			b, _ := os.ReadFile(filepath.Join(c.Dir, "postgres.log"))
			return fmt.Errorf("postgres exited (%v):\n%s", werr, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		}
	}
}

// Halt stops the server at once (an immediate shutdown, as a crash would),
// keeping its data for Resume.
func (c *Cluster) Halt() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// Stop halts the server and removes its files.
func (c *Cluster) Stop() error {
	c.Halt()
	return os.RemoveAll(c.Dir)
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	return cmd
}

// binDir finds initdb and postgres: pg_config's bindir, then Debian's
// /usr/lib/postgresql/N/bin (newest first), then PATH.
func binDir() (string, error) {
	has := func(dir string) bool {
		_, err1 := os.Stat(filepath.Join(dir, "initdb"))
		_, err2 := os.Stat(filepath.Join(dir, "postgres"))
		return err1 == nil && err2 == nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no initdb and postgres binaries (looked at pg_config --bindir, /usr/lib/postgresql/*/bin and PATH)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// unprivileged is the user the server runs as when the tests run as root.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and there is no postgres or nobody user to run PostgreSQL as")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Ping reports whether url answers, within d.
func Ping(url string, d time.Duration) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return db.PingContext(ctx)
}
