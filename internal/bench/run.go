package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/pgtest"
)

// postgresEnv names an existing PostgreSQL for the benchmark, instead of a
// throwaway cluster; its user must be allowed to create databases.
const postgresEnv = "DOORWAY_BENCH_POSTGRES_URL"

// bench is one run: the floor and each store's rounds.
type bench struct {
	o   options
	dir string
	bin string
	key string // master key
	c   *client
	rc  *receiver
	rep *report
	pg  *pgtest.Cluster
	// fl is the floor the scenarios alternate with (drivePaired), running
	// from the first floor measurement to the end of the run.
	fl *process
	// sqliteCopy is a copy of SQLite's database as its first round left
	// it, and sqliteFleet the fleet in it: PostgreSQL's b runs beside a
	// server on it (besideSQLite). "" when no PostgreSQL comes after.
	sqliteCopy  string
	sqliteFleet *fleet
}

func run(ctx context.Context, o options) (*report, error) {
	rep := &report{o: o, machine: machine(), date: time.Now().UTC()}
	dir, err := os.MkdirTemp("", "doorway-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		defer note("kept the databases and server logs in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	b := &bench{o: o, dir: dir, key: base64.StdEncoding.EncodeToString(raw), c: newClient(o.client, o.conns), rep: rep}
	defer b.c.closeIdle()
	if b.bin = o.bin; b.bin != "" {
		note("driving %s (-bin), not a build of this tree", b.bin)
	} else {
		note("building doorway")
		if b.bin, err = build(ctx, dir); err != nil {
			return rep, err
		}
	}
	if b.rc, err = newReceiver(); err != nil {
		return rep, err
	}
	defer b.rc.close()
	defer func() {
		if b.pg != nil {
			b.pg.Stop()
		}
		if b.fl != nil {
			b.fl.stop()
		}
	}()
	for _, st := range o.stores {
		if err := b.store(ctx, st); err != nil {
			return rep, fmt.Errorf("%s: %w", st, err)
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	if rep.floor != nil {
		rep.floorEnd = b.measureFloor(ctx, "floor again (net/http, same client)", "floor-again")
	}
	return rep, nil
}

// logWritten is how long after a request the harness counts on its line
// being in the server's log file (internal/logbuf writes every 100 ms).
const logWritten = 300 * time.Millisecond

// analyze refreshes PostgreSQL's planner statistics after a bulk load, as
// an operator would. Left to autovacuum, the analyze of the freshly loaded
// tables ran at a random moment, often in the middle of b, and b ran at
// 350 or at 600 installs/s depending on whether it had.
func analyze(ctx context.Context, db string) error {
	if !strings.HasPrefix(db, "postgres") {
		return nil
	}
	c, err := sql.Open("pgx", db)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("analyze %s: %w", db, err)
	}
	return nil
}

// offline opens db as doorway does, while the server is stopped, runs
// load, closes it and brings the planner's statistics up to date.
func (b *bench) offline(ctx context.Context, db string, load func(*cli.Main) error) error {
	m, err := open(ctx, db, b.key)
	if err != nil {
		return err
	}
	err = load(m)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = analyze(ctx, db)
	}
	return err
}

// database returns the DSN of a fresh, empty database for st.
func (b *bench) database(ctx context.Context, st string) (string, error) {
	if st == "sqlite" {
		return filepath.Join(b.dir, "bench.db"), nil
	}
	base := os.Getenv(postgresEnv)
	if base == "" {
		note("starting a throwaway PostgreSQL (fsync on, synchronous_commit on: what production pays)")
		c, err := pgtest.StartWith("fsync=on", "full_page_writes=on", "synchronous_commit=on", "shared_buffers=128MB")
		if err != nil {
			return "", fmt.Errorf("PostgreSQL is needed for -stores postgres: %v\n"+
				"Install it (Debian: apt-get install postgresql), set %s, or run with -stores sqlite", err, postgresEnv)
		}
		b.pg, base = c, c.URL
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	name := "bench_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return "", fmt.Errorf("create database %s on %s: %w", name, base, err)
	}
	u := strings.Replace(base, "/postgres?", "/"+name+"?", 1)
	if u == base {
		return "", fmt.Errorf("%s: name the postgres database in the URL (…/postgres?…) so the benchmark can make its own", postgresEnv)
	}
	return u, nil
}

// store measures one backend: seed, the first round (a–f), and the growth
// round (g) when asked for.
func (b *bench) store(ctx context.Context, st string) error {
	o := b.o
	sr := &storeResult{name: st}
	b.rep.stores = append(b.rep.stores, sr)
	db, err := b.database(ctx, st)
	if err != nil {
		return err
	}
	note("%s: seeding %d users with a tenant each, %d installations", st, o.tenants, o.fleet)
	var f *fleet
	if err := b.offline(ctx, db, func(m *cli.Main) (err error) {
		f, err = seed(ctx, m, o, b.rc.url)
		return err
	}); err != nil {
		return err
	}
	logPath := filepath.Join(b.dir, st+".log")
	srv, err := startDoorway(b.bin, db, b.key, logPath, o.profile != "")
	if err != nil {
		return err
	}
	defer func() {
		if srv != nil {
			srv.stop()
		}
	}()
	time.Sleep(500 * time.Millisecond) // settle before measuring idle memory
	sr.startup = srv.startup
	sr.idleRSS, _ = srv.memory()

	pairs := &atomic.Int64{}
	sc := newScenarios(srv.url, f, b.rc, pairs, o.conns)
	if b.rep.floor == nil {
		// The floor answers a body the size of a's token response.
		if err := sc.instanceToken(&worker{c: b.c, rand: newRand(0)}); err != nil {
			return fmt.Errorf("a first token request: %w", err)
		}
		if err := b.floor(ctx, int(sc.bodySize.Load())); err != nil {
			return err
		}
	}
	round := func(size int, g string) (*round, error) {
		r := &round{installations: size}
		var err error
		if o.runs("a") {
			if r.token, err = b.scenario(ctx, srv, st+g+" a instance token", "a", sc.instanceToken); err != nil {
				return r, err
			}
		}
		if o.runs("b") {
			var logged int64 // the request log's size as b begins
			if fi, err := os.Stat(logPath); err == nil {
				logged = fi.Size()
			}
			if r.install, err = b.scenario(ctx, srv, st+g+" b full install", "b", sc.install); err != nil {
				return r, err
			}
			r.owed = b.rc.pending()
			r.lags, r.undelivered = b.waitLags()
			in := r.install
			// The server writes its log every 100 ms: b's last lines are
			// written well within logWritten of its end.
			time.Sleep(time.Until(in.began.Add(in.elapsed + logWritten)))
			if in.inServer, err = installStepsInLog(logPath, logged, in.began, in.began.Add(in.elapsed)); err != nil {
				return r, fmt.Errorf("b: the server's request log: %w", err)
			}
			// The targets are SQLite's: PostgreSQL's b is not paced, to
			// keep the run within its five minutes.
			if g == "" && o.paced > 0 && st == "sqlite" {
				rate := o.paced * in.rate()
				r.paced = drivePaced(ctx, fmt.Sprintf("%s b paced at %s installs/s", st, thousands(rate)), b.c, o.conns, rate, o.warmup, o.duration, sc.install)
				if _, lost := b.waitLags(); lost > 0 {
					return r, fmt.Errorf("b paced: %d installs' webhooks did not arrive within 30 s", lost)
				}
				if r.paced.ops == 0 {
					return r, fmt.Errorf("b paced completed nothing: %s", r.paced.firstErr)
				}
			}
		}
		return r, nil
	}
	first, err := round(f.size, "")
	sr.first = first
	if err != nil {
		return err
	}
	if o.against != "" {
		srv, sr.against, err = b.againstBuild(ctx, st, srv, db, logPath, sc, pairs)
		if err != nil {
			return err
		}
	}
	if o.runs("c") {
		if sr.refresh, err = b.scenario(ctx, srv, st+" c refresh rotation", "c", sc.refreshRotation); err != nil {
			return err
		}
	}
	if o.runs("d") {
		if sr.introspect, err = b.scenario(ctx, srv, st+" d introspection", "d", sc.introspection); err != nil {
			return err
		}
	}
	if o.runs("e") {
		p := newProgress(st + " e guard verifications (in-process)")
		p.show(func() string { return "benchmarking" })
		res, refused, err := sc.guardBenchmark()
		if err != nil {
			return err
		}
		sr.guard, sr.guardRefused = res, refused
		p.done(fmt.Sprintf("%s/s, %s/op, %d refused", thousands(1e9/float64(max(res.NsPerOp(), 1))), time.Duration(res.NsPerOp()), refused))
	}
	if o.runs("f") {
		// f: a backlog of events queued while the server was down, drained.
		if err := srv.stop(); err != nil {
			return err
		}
		srv = nil
		if err := b.offline(ctx, db, func(m *cli.Main) error { return f.queueBacklog(ctx, m.Store, o.backlog) }); err != nil {
			return err
		}
		before, _ := b.rc.received()
		if srv, err = startDoorway(b.bin, db, b.key, logPath, o.profile != ""); err != nil {
			return err
		}
		sr.restart = srv.startup
		sc.url = srv.url
		began := time.Now()
		p := newProgress(st + " f webhook backlog drain")
		for {
			n, last := b.rc.received()
			if n-before >= o.backlog {
				sr.drain = float64(o.backlog) / last.Sub(began).Seconds()
				break
			}
			if time.Since(began) > 3*time.Minute {
				return fmt.Errorf("f: %d of %d queued webhooks arrived within 3 minutes; see %s", n-before, o.backlog, logPath)
			}
			p.show(func() string { return fmt.Sprintf("%d/%d delivered", n-before, o.backlog) })
			time.Sleep(20 * time.Millisecond)
		}
		p.done(fmt.Sprintf("%s deliveries/s", thousands(sr.drain)))
	}
	if st == "sqlite" && first.install != nil && slices.Index(o.stores, "postgres") > slices.Index(o.stores, st) {
		// For PostgreSQL's b beside SQLite's, later (besideSQLite).
		if err := srv.stop(); err != nil {
			return err
		}
		srv = nil
		if b.sqliteCopy, err = b.copyOf(ctx, db, "beside-postgres"); err != nil {
			return fmt.Errorf("copy the database for PostgreSQL's b beside it: %w", err)
		}
		b.sqliteFleet = f.snapshot()
	}
	if st == "postgres" && first.install != nil && b.sqliteCopy != "" {
		if sr.besideSQLite, err = b.besideSQLite(ctx, st, srv, sc, pairs); err != nil {
			return err
		}
	}
	if !o.runs("g") || o.grow == 0 || !slices.Contains(o.growStores, st) {
		return nil
	}
	// g: the same a and b with the fleet grown.
	if srv != nil {
		if err := srv.stop(); err != nil {
			return err
		}
		srv = nil
	}
	// A copy of the database as it is now, for a at this size beside a
	// at the grown one (besideSmaller).
	small, err := b.copyOf(ctx, db, "before-growth")
	if err != nil {
		return fmt.Errorf("copy the database before the growth: %w", err)
	}
	smallFleet := f.snapshot()
	if err := b.offline(ctx, db, func(m *cli.Main) error {
		defer b.profileHarness(st + " g import")()
		return f.grow(ctx, m.Store, o.grow, "installations (growth)")
	}); err != nil {
		return err
	}
	if srv, err = startDoorway(b.bin, db, b.key, logPath, o.profile != ""); err != nil {
		return err
	}
	sc.url = srv.url
	if sr.grown, err = round(f.size, " g"); err != nil {
		return err
	}
	if sr.beside, err = b.besideSmaller(ctx, st, srv, sc, small, smallFleet, pairs); err != nil || o.against == "" {
		return err
	}
	// A change meant for g is judged here, at the grown size, beside the
	// build before it: g's own figures compare two sizes, and between two
	// runs the host's drift moves them by more than such a change.
	srv, sr.grownAgainst, err = b.againstBuild(ctx, st+" g", srv, db, logPath, sc, pairs)
	return err
}

// besideSmaller measures a and b on srv, whose fleet has grown, in slices
// that alternate with the same scenario on a second server started on
// small, the database as it was before the growth: the drop g is about,
// read from the same seconds. g's a beside the floor is compared with the
// first round's a, measured minutes before, through the floor beside
// each, and g's b with b by their rates minutes apart; in the twelfth
// session's runs the machine's drift in those minutes moved the same
// server's CPU per token by up to 29 % (85 µs beside its twin, 110 µs
// beside the floor a minute before), and the ratio through the floors
// once said −15 % where a served more tokens a second at 10⁶ than at 10⁴.
// Each result's floor field holds the smaller fleet's.
func (b *bench) besideSmaller(ctx context.Context, st string, srv *process, sc *scenarios, small string, f *fleet, pairs *atomic.Int64) (*round, error) {
	twin, err := startDoorway(b.bin, small, b.key, filepath.Join(b.dir, st+"-before-growth.log"), false)
	if err != nil {
		return nil, fmt.Errorf("start a server on the copy made before the growth: %w", err)
	}
	defer twin.stop()
	tsc := newScenarios(twin.url, f, b.rc, pairs, b.o.conns)
	grown, smaller := thousands(float64(sc.f.size)), thousands(float64(f.size))
	r, err := b.alternate(ctx, srv, twin, sc, tsc, func(name string) string {
		return fmt.Sprintf("%s g %s with %s installations beside %s", st, name, grown, smaller)
	}, "the same with "+smaller, "ab", nil, nil)
	r.installations = sc.f.size
	return r, err
}

// besideSQLite measures b on srv, PostgreSQL's server, in slices that
// alternate with b on a SQLite server started on the copy of SQLite's
// database its first round left (b.sqliteCopy): the target "PostgreSQL's b
// within 2× of SQLite's" read from the same seconds. Its rates minutes
// apart carry the machine's drift between the two stores' rounds: in one
// run of the twenty-seventh session the floor fell from 24,000 to 13,000
// requests a second between them, and the ratio read 2.88 where the run
// before, on a steady host, read 2.32. The result's floor field holds
// SQLite's b.
func (b *bench) besideSQLite(ctx context.Context, st string, srv *process, sc *scenarios, pairs *atomic.Int64) (*round, error) {
	twin, err := startDoorway(b.bin, b.sqliteCopy, b.key, filepath.Join(b.dir, "sqlite-beside-"+st+".log"), false)
	if err != nil {
		return nil, fmt.Errorf("start a SQLite server on the copy of its database: %w", err)
	}
	defer twin.stop()
	tsc := newScenarios(twin.url, b.sqliteFleet, b.rc, pairs, b.o.conns)
	r, err := b.alternate(ctx, srv, twin, sc, tsc, func(name string) string {
		return fmt.Sprintf("%s %s beside sqlite's", st, name)
	}, "sqlite's", "b", func() (time.Duration, time.Duration) { return srv.cpu(), postgresCPU() },
		// PostgreSQL's own work left over from its slices (its
		// checkpointer's, autovacuum's) runs in SQLite's: the twin's
		// database CPU says how much.
		func() (time.Duration, time.Duration) { return twin.cpu(), postgresCPU() })
	r.installations = sc.f.size
	return r, err
}

// againstBuild measures a and b on srv in slices alternating with the same
// on a server of the -against binary, started on a copy of srv's database
// (db) made now (after the first round, and again at the grown size, st
// then ending in " g"): two builds in the same seconds of the machine, whose
// speed moves more between two runs a minute apart than most changes do.
// srv is stopped for the copy and started again; it is returned. Each
// result's floor field holds the -against build's.
func (b *bench) againstBuild(ctx context.Context, st string, srv *process, db, logPath string, sc *scenarios, pairs *atomic.Int64) (*process, *round, error) {
	if err := srv.stop(); err != nil {
		return nil, nil, err
	}
	file := strings.ReplaceAll(st, " ", "-") // "sqlite", "sqlite-g"
	other, err := b.copyOf(ctx, db, file+"-against")
	if err != nil {
		return nil, nil, fmt.Errorf("copy the database for -against: %w", err)
	}
	if srv, err = startDoorway(b.bin, db, b.key, logPath, b.o.profile != ""); err != nil {
		return nil, nil, err
	}
	sc.url = srv.url
	twin, err := startDoorway(b.o.against, other, b.key, filepath.Join(b.dir, file+"-against.log"), false)
	if err != nil {
		return srv, nil, fmt.Errorf("start -against %s on a copy of the database: %w", b.o.against, err)
	}
	defer twin.stop()
	tsc := newScenarios(twin.url, sc.f, b.rc, pairs, b.o.conns)
	r, err := b.alternate(ctx, srv, twin, sc, tsc, func(name string) string {
		return fmt.Sprintf("%s %s beside -against", st, name)
	}, "-against", "ab", nil, nil)
	r.installations = sc.f.size
	return srv, r, err
}

// alternate drives a and b, those of which (letters) that the run asks
// for, on srv in slices alternating with the same on twin, each server
// with its own scenarios. cpu and twinCPU read each side's CPU and a
// database's (what the result's dbCPU holds); nil reads the server's
// alone.
func (b *bench) alternate(ctx context.Context, srv, twin *process, sc, tsc *scenarios, label func(name string) string, other, which string,
	cpu, twinCPU func() (time.Duration, time.Duration)) (*round, error) {
	if cpu == nil {
		cpu = func() (time.Duration, time.Duration) { return srv.cpu(), 0 }
	}
	if twinCPU == nil {
		twinCPU = func() (time.Duration, time.Duration) { return twin.cpu(), 0 }
	}
	r := &round{}
	pair := func(name string, op, twinOp func(*worker) error, between func()) (*result, error) {
		srv.resetPeak()
		twin.resetPeak()
		label := label(name)
		res := drivePairedWith(ctx, label, other, between, b.c, b.o.conns, b.o.warmup, b.o.duration, op, twinOp,
			cpu, twinCPU)
		_, res.peakRSS = srv.memory()
		_, res.floor.peakRSS = twin.memory()
		if res.ops == 0 || res.floor.ops == 0 {
			return res, fmt.Errorf("%s completed nothing: %s%s", label, res.firstErr, res.floor.firstErr)
		}
		return res, nil
	}
	var err error
	if b.o.runs("a") && strings.Contains(which, "a") {
		if r.token, err = pair("a", sc.instanceToken, tsc.instanceToken, nil); err != nil {
			return r, err
		}
	}
	if b.o.runs("b") && strings.Contains(which, "b") {
		// Each slice of b starts once the webhooks of the one before have
		// arrived: delivered by the other server during a slice, they
		// would slow it.
		drained := func() { b.waitLags() } // their lags are not kept: b reported the lag
		if r.install, err = pair("b", sc.install, tsc.install, drained); err != nil {
			return r, err
		}
		// And the last slice's, before its server stops: a webhook left
		// in its outbox would never arrive, and the next store's b would
		// wait for it.
		if _, lost := b.waitLags(); lost > 0 {
			return r, fmt.Errorf("%s: %d installs' webhooks did not arrive within 30 s", label("b"), lost)
		}
	}
	return r, nil
}

// copyOf copies the database db, whose server is stopped, and returns the
// copy's DSN: the SQLite file (with its WAL, if any) beside it, named with
// the suffix, or on PostgreSQL a database made from it as a template.
func (b *bench) copyOf(ctx context.Context, db, suffix string) (string, error) {
	if !strings.HasPrefix(db, "postgres") {
		dst := strings.TrimSuffix(db, filepath.Ext(db)) + "-" + suffix + filepath.Ext(db)
		for _, suffix := range []string{"", "-wal"} {
			err := copyFile(db+suffix, dst+suffix)
			if err != nil && (suffix == "" || !errors.Is(err, fs.ErrNotExist)) {
				return "", err
			}
		}
		return dst, nil
	}
	u, err := url.Parse(db)
	if err != nil {
		return "", err
	}
	name := strings.TrimPrefix(u.Path, "/")
	copyName := name + "_" + strings.ReplaceAll(suffix, "-", "_")
	u.Path = "/postgres"
	admin, err := sql.Open("pgx", u.String())
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+copyName+` TEMPLATE `+name); err != nil {
		return "", fmt.Errorf("copy database %s: %w", name, err)
	}
	u.Path = "/" + copyName
	return u.String(), nil
}

// copyFile copies from to to, and syncs the copy: left dirty in the page
// cache, a 30 MB copy was written back by its server's first checkpoint,
// whose fsync then held that server's writes (b beside an identical build
// on the original read 1.05 in two runs of two; a, which writes nothing,
// 0.99 and 1.03).
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// floor starts the floor, which runs to the end of the run (the scenarios
// alternate with it), measures it with scenario a's request shape, then
// the signing floor, which also signs each answer with Ed25519.
func (b *bench) floor(ctx context.Context, size int) error {
	var err error
	if b.fl, err = startFloor(size, false); err != nil {
		return fmt.Errorf("start the floor: %w", err)
	}
	b.rep.floor, b.rep.floorSize = b.measureFloor(ctx, "floor (net/http, same client)", "floor"), size
	// The signing floor alternates with the floor, so that what the
	// signature costs is read from the same seconds.
	sf, err := startFloor(size, true)
	if err != nil {
		return fmt.Errorf("start the signing floor: %w", err)
	}
	defer sf.stop()
	sf.resetPeak()
	stop := b.profileHarness("floor-sign")
	b.rep.floorSign = drivePaired(ctx, "signing floor (floor + one Ed25519 signature)", b.c, b.o.conns, b.o.warmup, b.o.duration,
		floorRequest(sf.url), floorRequest(b.fl.url), func() (time.Duration, time.Duration) { return sf.cpu(), 0 },
		func() (time.Duration, time.Duration) { return b.fl.cpu(), 0 })
	stop()
	_, b.rep.floorSign.peakRSS = sf.memory()
	return nil
}

// measureFloor drives the floor alone.
func (b *bench) measureFloor(ctx context.Context, label, profile string) *result {
	b.fl.resetPeak()
	stop := b.profileHarness(profile)
	r := drive(ctx, label, b.c, b.o.conns, b.o.warmup, b.o.duration, floorRequest(b.fl.url),
		func() (time.Duration, time.Duration) { return b.fl.cpu(), 0 })
	stop()
	_, r.peakRSS = b.fl.memory()
	return r
}

// profileHarness starts a CPU profile of the harness itself, when -profile
// is set, and returns what stops it: the client's share of the machine is
// what separates a scenario's ratio from the server's own cost.
func (b *bench) profileHarness(label string) (stop func()) {
	if b.o.profile == "" {
		return func() {}
	}
	os.MkdirAll(b.o.profile, 0o755)
	f, err := os.Create(filepath.Join(b.o.profile, strings.ReplaceAll(label, " ", "-")+".harness.cpu.pprof"))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		note("profile of the harness during %s: %v", label, err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// scenario drives op against srv, noting the server's peak memory, and
// profiles it when -profile is set and name (a–d) is given.
func (b *bench) scenario(ctx context.Context, srv *process, label, name string, op func(*worker) error) (*result, error) {
	srv.resetPeak()
	// b's webhooks are delivered while it runs and for a while after:
	// slices of the floor between b's would be slowed by b's own work,
	// so b is measured whole (its target is a rate, not a ratio).
	paired := b.fl != nil && name != "b"
	measured := b.o.duration
	if paired {
		measured *= 2 // the scenario and the floor beside it
	}
	done := make(chan error, 1)
	if b.o.profile != "" && name != "" {
		os.MkdirAll(b.o.profile, 0o755)
		stem := filepath.Join(b.o.profile, strings.ReplaceAll(label, " ", "-"))
		fetch(ctx, srv.pprof+"/debug/pprof/allocs", stem+".allocs-before.pprof")
		secs := max(1, int((b.o.warmup+measured)/time.Second)-1)
		go func() {
			done <- fetch(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", srv.pprof, secs), stem+".cpu.pprof")
		}()
		defer b.profileHarness(label)()
		defer func() {
			if err := <-done; err != nil {
				note("profile of %s: %v", label, err)
			}
			fetch(ctx, srv.pprof+"/debug/pprof/allocs", stem+".allocs.pprof")
		}()
	}
	cpu := func() (time.Duration, time.Duration) {
		if strings.HasPrefix(label, "postgres") {
			return srv.cpu(), postgresCPU()
		}
		return srv.cpu(), 0
	}
	var r *result
	if paired {
		r = drivePaired(ctx, label, b.c, b.o.conns, b.o.warmup, b.o.duration, op, floorRequest(b.fl.url), cpu,
			func() (time.Duration, time.Duration) { return b.fl.cpu(), 0 })
	} else {
		r = drive(ctx, label, b.c, b.o.conns, b.o.warmup, b.o.duration, op, cpu)
	}
	_, r.peakRSS = srv.memory()
	select {
	case <-srv.exited:
		return r, fmt.Errorf("doorway exited during %s: %v", label, srv.err)
	default:
	}
	if r.ops == 0 {
		return r, fmt.Errorf("%s completed nothing: %s", label, r.firstErr)
	}
	return r, nil
}

// waitLags waits (up to 30 s) for the webhooks of b's installs and returns
// their lags and how many never came.
func (b *bench) waitLags() ([]time.Duration, int) {
	deadline := time.Now().Add(30 * time.Second)
	for b.rc.pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return b.rc.takeLags()
}
