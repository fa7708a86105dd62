// Command bench is Doorway's load harness (make bench, make bench-quick).
//
// It builds doorway, seeds a fleet of users, tenants, apps and
// installations through the store, starts a real `doorway serve` on
// loopback and drives it over HTTP with a Go client, closed-loop, from a
// fixed number of connections. The server and the harness share the
// machine, as a platform's load balancer and Doorway would not, so the
// absolute figures are a lower bound.
//
// Absolute figures on shared machines also drift from run to run, so the
// same client with the same connections and duration first drives a floor:
// a minimal net/http handler in its own process answering a JSON body the
// size of a token response, which the client reads as it reads a token.
// Every figure is printed as a ratio to it. The machine's speed moves by a
// fifth within minutes, so the scenarios whose work ends with their
// requests (a, c, d) alternate with the floor in one-second slices and are
// divided by the floor measured beside them; the rest by the mean of the
// floor measured first and again last. A second reference, the signing
// floor, also signs each
// answer with Ed25519 as every Doorway access token is signed: the gap
// between the two is what the signature alone costs, whatever the store.
// The growth round (g) also drives a and b at the grown size in slices
// alternating with the same on a copy of the database made before the
// growth: a million installations against ten thousand, in the same
// seconds.
//
// A closed loop's latencies are its own queue's: each connection sends
// its next request when the last is answered, so the mean is the
// connections over the rate, whatever the server. So after SQLite's b,
// b runs again open loop (-paced): its installs arrive at a steady rate,
// half of b's by default, whether or not a connection is free, and each
// latency runs from the install's arrival, as a person's wait does.
//
//	go run ./internal/bench             # the full run, 4 to 5 minutes
//	go run ./internal/bench -scenarios a  # the floors and a, about 30 s
//	go run ./internal/bench -quick      # under a minute: does everything run?
//	go run ./internal/bench -profile p  # CPU and allocation profiles of a–d
//	go run ./internal/bench -against OLD -stores sqlite -scenarios ab  # this tree's a and b beside OLD's
//	go run ./internal/bench -against OLD -stores sqlite -scenarios abg # and again at a million installations
//
// The exit status is 1 when a scenario had errors or did nothing, so CI
// can run -quick to prove the harness works (not how fast it is).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick            bool
	scenarios        string // the letters of the scenarios to run
	duration, warmup time.Duration
	conns            int
	stores           []string
	tenants          int // users, each owning one tenant
	fleet            int // installations before the first round
	grow             int // installations in the growth round (0: none)
	backlog          int // webhook events queued for the drain
	growStores       []string
	profile          string  // directory for pprof files, "" for none
	markdown         string  // file for the Markdown table, "" for none
	keep             bool    // keep the work directory (databases, server logs)
	client           string  // clientStd or clientMinimal
	bin              string  // a doorway binary to drive, "" to build one from this tree
	against          string  // a second doorway binary, driven in slices alternating with the first ("": none)
	paced            float64 // b again at this share of its rate, its installs arriving at a steady pace (0: not)
}

func main() {
	if addr := os.Getenv(floorEnv); addr != "" {
		serveFloor(addr)
		return
	}
	o := options{}
	var stores, growStores string
	flag.BoolVar(&o.quick, "quick", false, "a short run (under a minute) that proves every scenario works; for CI")
	flag.StringVar(&o.scenarios, "scenarios", "abcdefg", "the scenarios to run, by letter: a alone (with the floor) is the quickest A/B of a change to the token path; c needs b, d and e need a, g needs a and b")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each scenario is measured (a, c and d: and the floor beside them, as long again)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "load before each measurement, not counted")
	flag.IntVar(&o.conns, "conns", 32, "connections (and client goroutines) driving the server")
	flag.StringVar(&stores, "stores", "sqlite,postgres", "backends to measure, in order")
	flag.IntVar(&o.tenants, "tenants", 10_000, "users, each owning one tenant, to install into")
	flag.IntVar(&o.fleet, "fleet", 10_000, "installations present during the first round")
	flag.IntVar(&o.grow, "grow", 1_000_000, "installations present during the growth round (g); 0 skips it")
	flag.StringVar(&growStores, "grow-stores", "sqlite", "backends that also run the growth round")
	flag.IntVar(&o.backlog, "backlog", 10_000, "webhook events queued before the drain (f)")
	flag.StringVar(&o.profile, "profile", "", "write CPU and allocation profiles of the server in scenarios a–d, and the harness's own CPU profile, to this directory")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (databases and each server's request log) and print where it is")
	flag.StringVar(&o.markdown, "markdown", "", "also write the results as a Markdown table to this file")
	flag.StringVar(&o.client, "client", clientStd, "the HTTP client that drives every server, the floor's too: "+clientStd+
		" (net/http's Transport, as an app's backend calls Doorway; the targets were set with it) or "+clientMinimal+
		" (one goroutine a connection, writing the request and reading the answer itself: less of the client's own CPU in every figure; BENCHMARKS.md)")
	flag.Float64Var(&o.paced, "paced", 0.5, "after SQLite's b, run b again with its installs arriving at a steady pace, this share of b's rate, each latency counted from the install's arrival, not from when a connection was free (0 skips it)")
	flag.StringVar(&o.bin, "bin", "", "drive this doorway binary instead of building one from this tree")
	flag.StringVar(&o.against, "against", "", "after the first round, also drive this doorway binary, on a copy of the database, in slices alternating with the one measured (a and b), and again at the grown size when g runs: two builds compared in the same seconds, an A/B of a change (e.g. -against /tmp/old -scenarios ab -stores sqlite; -scenarios abg for a change meant for g)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: go run ./internal/bench [flags]\n\n"+
			"Measures a real doorway serve over loopback against a minimal net/http floor\n"+
			"and prints one table; figures are also given as ratios to the floor (measured\n"+
			"first and last), with the server's CPU time per operation (and PostgreSQL's).\n"+
			"PostgreSQL runs on a throwaway cluster from the machine's own binaries\n"+
			"(Debian: apt-get install postgresql), or on DOORWAY_BENCH_POSTGRES_URL.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		quick := map[string]func(){
			"duration": func() { o.duration = time.Second }, // one slice beside the floor
			"warmup":   func() { o.warmup = 300 * time.Millisecond },
			"tenants":  func() { o.tenants = 600 },
			"fleet":    func() { o.fleet = 600 },
			"grow":     func() { o.grow = 6_000 },
			"backlog":  func() { o.backlog = 500 },
		}
		for name, apply := range quick {
			if !set[name] {
				apply()
			}
		}
	}
	o.stores = split(stores)
	o.growStores = split(growStores)
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if ctx.Err() != nil {
		// Interrupted: the scenario cut short would print as measured
		// (and the targets as met or missed), so there is no table; the
		// progress lines say what finished, and a -markdown file is left
		// as it was.
		fmt.Fprintln(os.Stderr, "bench: interrupted; no table (the lines above are what finished)")
		os.Exit(130)
	}
	if rep != nil && rep.floor != nil {
		rep.print(os.Stdout)
	}
	if rep != nil && rep.floor != nil && o.markdown != "" {
		if werr := os.WriteFile(o.markdown, []byte(rep.markdown()), 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, "bench:", werr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if bad := rep.failures(); len(bad) > 0 {
		fmt.Fprintln(os.Stderr, "bench: failed:\n  "+strings.Join(bad, "\n  "))
		os.Exit(1)
	}
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (o options) check() error {
	for _, s := range append(append([]string{}, o.stores...), o.growStores...) {
		if s != "sqlite" && s != "postgres" {
			return fmt.Errorf("unknown store %q: use sqlite and/or postgres", s)
		}
	}
	if bad := strings.Trim(o.scenarios, "abcdefg"); bad != "" || o.scenarios == "" {
		return fmt.Errorf("-scenarios %q: name scenarios by their letters, a to g (for example ab)", o.scenarios)
	}
	for _, need := range []struct{ s, needs, why string }{
		{"c", "b", "c refreshes the tokens of b's installs"},
		{"d", "a", "d introspects a's tokens"},
		{"e", "a", "e verifies a's tokens"},
		{"g", "a", "g is a and b again with the fleet grown"},
		{"g", "b", "g is a and b again with the fleet grown"},
	} {
		if o.runs(need.s) && !o.runs(need.needs) {
			return fmt.Errorf("-scenarios %q: add %s (%s)", o.scenarios, need.needs, need.why)
		}
	}
	if o.client != clientStd && o.client != clientMinimal {
		return fmt.Errorf("-client %q: use %s or %s", o.client, clientStd, clientMinimal)
	}
	for _, f := range []struct{ flag, path string }{{"-bin", o.bin}, {"-against", o.against}} {
		if f.path == "" {
			continue
		}
		if fi, err := os.Stat(f.path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s %s: not an executable file; build one with go build -o FILE ./cmd/doorway", f.flag, f.path)
		}
	}
	if o.against != "" && !o.runs("a") && !o.runs("b") {
		return fmt.Errorf("-against compares a and b: add a or b to -scenarios %q", o.scenarios)
	}
	switch {
	case len(o.stores) == 0:
		return fmt.Errorf("-stores is empty: name sqlite and/or postgres")
	case o.conns < 1 || o.conns > 1024:
		return fmt.Errorf("-conns %d: use 1 to 1024", o.conns)
	case o.duration < 100*time.Millisecond:
		return fmt.Errorf("-duration %s is too short to measure anything; use at least 100ms", o.duration)
	case o.tenants < o.conns:
		return fmt.Errorf("-tenants %d: need at least one per connection (%d)", o.tenants, o.conns)
	case o.fleet < 1 || o.fleet > o.tenants:
		return fmt.Errorf("-fleet %d: use 1 to -tenants (%d); the fleet is one app in each tenant", o.fleet, o.tenants)
	case o.grow != 0 && o.grow <= o.fleet:
		return fmt.Errorf("-grow %d must exceed -fleet %d (or be 0 to skip the growth round)", o.grow, o.fleet)
	case o.paced < 0 || o.paced >= 1:
		return fmt.Errorf("-paced %g: use a share of b's rate below 1 (0.5 is half), or 0 to skip it; at b's whole rate or above its installs would queue without end", o.paced)
	case o.backlog < 1 || o.backlog > o.tenants:
		return fmt.Errorf("-backlog %d: use 1 to -tenants (%d)", o.backlog, o.tenants)
	}
	return nil
}

// runs reports whether scenario (a letter) is among those to run.
func (o options) runs(scenario string) bool { return strings.Contains(o.scenarios, scenario) }

// machine describes where the run happened, for the table's heading.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
