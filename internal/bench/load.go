package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one closed-loop client goroutine.
type worker struct {
	id   int
	c    *client
	rand *rand.Rand
	reqs int             // HTTP requests made by the current operation
	lat  []time.Duration // and how long each took
}

func newRand(i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
}

// do sends req and reads the whole answer; a status other than want is an
// error that quotes the start of the body.
func (w *worker) do(req *http.Request, want int) (*http.Response, []byte, error) {
	w.reqs++
	began := time.Now()
	resp, body, err := w.c.do(w.id, req)
	if err != nil {
		return nil, nil, err
	}
	w.lat = append(w.lat, time.Since(began))
	if resp.StatusCode != want {
		return nil, nil, fmt.Errorf("%s %s: %s, want %d: %.200s", req.Method, req.URL.Path, resp.Status, want, body)
	}
	return resp, body, nil
}

// result is one scenario's measurement.
type result struct {
	ops      int // completed operations
	reqs     int // HTTP requests they made
	errs     int
	firstErr string
	elapsed  time.Duration
	lat      []time.Duration // per completed operation, sorted
	reqLat   []time.Duration // per request of those operations, sorted
	// byStep is reqLat by each request's place in its operation (b: the
	// consent page, the decision, the code exchange), each sorted.
	byStep  [][]time.Duration
	peakRSS int64
	cpu     time.Duration // the server's CPU time while measured (0: unknown)
	dbCPU   time.Duration // the database server's (PostgreSQL), likewise
	// floor is the floor measured in slices alternating with this
	// scenario (drivePaired); nil when it was not.
	floor *result
	// pairs is, for each pair of slices (drivePaired), this scenario's
	// rate of requests over the floor's in the slice beside it.
	pairs []float64
	// began is when the measured seconds began (of the first slice, for a
	// result added up from several).
	began time.Time
	// inServer is, for each of an install's requests, what the server's
	// request log says it took on each in the measured seconds, sorted
	// (b; nil when not read).
	inServer [][]time.Duration
	// offered is the rate operations arrived at (drivePaced), 0 for a
	// closed loop.
	offered float64
}

// add merges o, measured over another stretch of time, into r.
func (r *result) add(o *result) {
	r.ops += o.ops
	r.reqs += o.reqs
	r.errs += o.errs
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
	if r.began.IsZero() {
		r.began = o.began
	}
	r.elapsed += o.elapsed
	r.cpu += o.cpu
	r.dbCPU += o.dbCPU
	r.lat = append(r.lat, o.lat...)
	r.reqLat = append(r.reqLat, o.reqLat...)
	slices.Sort(r.lat)
	slices.Sort(r.reqLat)
	r.byStep = addSteps(r.byStep, o.byStep)
	for _, l := range r.byStep {
		slices.Sort(l)
	}
}

// addSteps appends each of src's lists to dst's list for the same step.
func addSteps(dst, src [][]time.Duration) [][]time.Duration {
	for j, l := range src {
		if j == len(dst) {
			dst = append(dst, nil)
		}
		dst[j] = append(dst[j], l...)
	}
	return dst
}

// spread is the lowest and the highest of r's pairs; ok is false with
// fewer than two. r's ratio pools its pairs, and the spread is how much
// one second of this machine moves a pair: a ratio a few per cent from
// its target's line is on it.
func (r *result) spread() (lo, hi float64, ok bool) {
	if len(r.pairs) < 2 {
		return 0, 0, false
	}
	return slices.Min(r.pairs), slices.Max(r.pairs), true
}

// ratio is r's rate of requests over its paired floor's, 0 without one.
func (r *result) ratio() float64 {
	if r.floor == nil || r.floor.reqRate() == 0 {
		return 0
	}
	return r.reqRate() / r.floor.reqRate()
}

func (r *result) dbCPUPerOp() time.Duration {
	if r.ops == 0 || r.dbCPU <= 0 {
		return 0
	}
	return r.dbCPU / time.Duration(r.ops)
}

// cpuPerOp is the server's CPU time per completed operation: steadier than
// a rate when the machine is shared, since the CPU an operation costs does
// not depend on how much of the machine the server got.
func (r *result) cpuPerOp() time.Duration {
	if r.ops == 0 || r.cpu <= 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ops)
}

func (r *result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

func (r *result) reqRate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.reqs) / r.elapsed.Seconds()
}

// pct returns the p-th percentile latency (0 < p ≤ 100), nearest rank.
func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

// drive runs op on conns goroutines for warmup plus d, counting only what
// completes after the warmup. It shows a progress line on stderr.
//
// cpu, if not nil, reads the CPU time of the server and of its database
// server; the result keeps what each used while measured.
func drive(ctx context.Context, label string, c *client, conns int, warmup, d time.Duration, op func(*worker) error, cpu func() (server, db time.Duration)) *result {
	p := newProgress(label)
	res := measure(ctx, c, conns, warmup, d, op, cpu, func(s float64, ops, errs int64) {
		p.show(func() string {
			if s < 0 {
				return "warming up"
			}
			return fmt.Sprintf("%3.0fs/%.0fs  %s/s  errors %d", s, d.Seconds(), thousands(float64(ops)/s), errs)
		})
	})
	p.done(fmt.Sprintf("%s/s, p99 %s, errors %d", thousands(res.rate()), ms(res.pct(99)), res.errs))
	return res
}

// pairSlice is how long op and the floor each run before drivePaired
// switches to the other.
const pairSlice = time.Second

// drivePaired measures op and the floor for d each, in alternating slices
// of pairSlice (the floor first, each slice after a short warm-up of its
// own), and returns op's result with the floor's in its floor field.
//
// On a shared machine the rate of the same code moves by a fifth within
// minutes (the floor measured at the start and at the end of one run
// differ that much), so a ratio of a scenario to a floor measured minutes
// away says as much about the neighbours as about Doorway. Slices a second
// apart see the same machine: the ratio of the two is what the scenario
// costs against the least an HTTP server can do, whatever the machine's
// speed that minute.
func drivePaired(ctx context.Context, label string, c *client, conns int, warmup, d time.Duration,
	op, floorOp func(*worker) error, cpu, floorCPU func() (server, db time.Duration)) *result {
	return drivePairedWith(ctx, label, "the floor", nil, c, conns, warmup, d, op, floorOp, cpu, floorCPU)
}

// drivePairedWith is drivePaired with another yardstick than the floor,
// named by other in the progress line; between, if not nil, runs before
// every slice (to let the work a slice left behind finish, so that it
// does not slow the next).
func drivePairedWith(ctx context.Context, label, other string, between func(), c *client, conns int, warmup, d time.Duration,
	op, floorOp func(*worker) error, cpu, floorCPU func() (server, db time.Duration)) *result {
	n := max(1, int((d+pairSlice/2)/pairSlice))
	sl := d / time.Duration(n)
	settle := min(warmup, 100*time.Millisecond)
	res, fl := &result{}, &result{}
	p := newProgress(label)
	for i := range n {
		w := settle
		if i == 0 {
			w = warmup
		}
		show := func(side string) func(float64, int64, int64) {
			return func(s float64, ops, errs int64) {
				p.show(func() string {
					return fmt.Sprintf("slice %d/%d, %s  %s/s so far  errors %d", i+1, n, side, thousands(res.rate()), res.errs+int(errs))
				})
			}
		}
		// The two take turns at going first (floor, scenario, scenario,
		// floor, …): a slice can leave work behind that the one after it
		// pays for (a checkpoint, a collection), and a machine whose speed
		// drifts through the pair gives both the same share of it.
		var mine, theirs *result
		sides := []func(){
			func() { theirs = measure(ctx, c, conns, w, sl, floorOp, floorCPU, show("floor")); fl.add(theirs) },
			func() { mine = measure(ctx, c, conns, w, sl, op, cpu, show("scenario")); res.add(mine) },
		}
		if i%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			if between != nil {
				between()
			}
			side()
		}
		if t := theirs.reqRate(); t > 0 {
			res.pairs = append(res.pairs, mine.reqRate()/t)
		}
		if ctx.Err() != nil {
			break
		}
	}
	res.floor = fl
	p.done(fmt.Sprintf("%s/s, p99 %s, errors %d; %.2f× %s beside it (%s/s)",
		thousands(res.rate()), ms(res.pct(99)), res.errs, res.ratio(), other, thousands(fl.rate())))
	return res
}

// measure is drive without its progress line: tick is called every second
// with the seconds measured so far (negative while warming up), and the
// operations and errors counted.
func measure(ctx context.Context, c *client, conns int, warmup, d time.Duration, op func(*worker) error,
	cpu func() (server, db time.Duration), tick func(s float64, ops, errs int64)) *result {
	if cpu == nil {
		cpu = func() (time.Duration, time.Duration) { return 0, 0 }
	}
	var (
		measuring atomic.Bool
		ops, errs atomic.Int64
		mu        sync.Mutex
		res       = &result{}
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lats := make([][]time.Duration, conns)
	reqLats := make([][]time.Duration, conns)
	steps := make([][][]time.Duration, conns)
	reqs := make([]int, conns)
	for i := range conns {
		wg.Go(func() {
			w := &worker{id: i, c: c, rand: newRand(i)}
			for ctx.Err() == nil {
				w.reqs, w.lat = 0, w.lat[:0]
				began := time.Now()
				err := op(w)
				took := time.Since(began)
				if !measuring.Load() || ctx.Err() != nil {
					continue
				}
				reqs[i] += w.reqs
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if res.firstErr == "" {
						res.firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				ops.Add(1)
				lats[i] = append(lats[i], took)
				reqLats[i] = append(reqLats[i], w.lat...)
				for j, l := range w.lat {
					if j == len(steps[i]) {
						steps[i] = append(steps[i], nil)
					}
					steps[i][j] = append(steps[i][j], l)
				}
			}
		})
	}
	tick(-1, 0, 0)
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
	}
	measuring.Store(true)
	cpuBefore, dbBefore := cpu()
	began := time.Now()
	res.began = began
	ticker := time.NewTicker(time.Second)
	deadline := time.After(d)
loop:
	for {
		select {
		case <-ticker.C:
			tick(time.Since(began).Seconds(), ops.Load(), errs.Load())
		case <-deadline:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	ticker.Stop()
	res.elapsed = time.Since(began)
	measuring.Store(false)
	cpuAfter, dbAfter := cpu()
	res.cpu, res.dbCPU = cpuAfter-cpuBefore, dbAfter-dbBefore
	cancel()
	wg.Wait()
	res.ops, res.errs = int(ops.Load()), int(errs.Load())
	for i := range conns {
		res.lat = append(res.lat, lats[i]...)
		res.reqLat = append(res.reqLat, reqLats[i]...)
		res.reqs += reqs[i]
		res.byStep = addSteps(res.byStep, steps[i])
	}
	slices.Sort(res.lat)
	slices.Sort(res.reqLat)
	for _, l := range res.byStep {
		slices.Sort(l)
	}
	return res
}

// progress is the line a scenario shows while it runs: rewritten in place
// on a terminal, one line at the start and one at the end elsewhere (CI
// logs).
type progress struct {
	label string
	tty   bool
	last  time.Time // the last line printed, off a terminal
}

func newProgress(label string) *progress {
	fi, err := os.Stderr.Stat()
	return &progress{label: label, tty: err == nil && fi.Mode()&os.ModeCharDevice != 0, last: time.Now()}
}

// show rewrites the line on a terminal; elsewhere it prints one every 10 s.
func (p *progress) show(line func() string) {
	switch {
	case p.tty:
		fmt.Fprintf(os.Stderr, "\r\033[K  %-44s %s", p.label, line())
	case time.Since(p.last) >= 10*time.Second:
		p.last = time.Now()
		fmt.Fprintf(os.Stderr, "  %-44s %s\n", p.label, line())
	}
}

func (p *progress) done(summary string) {
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K")
	}
	fmt.Fprintf(os.Stderr, "  %-44s %s\n", p.label, summary)
}

// note prints a progress message of the harness itself.
func note(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// drivePaced runs op at a steady rate of arrivals, rate a second, for
// warmup plus d, on conns goroutines (the same connections as drive), and
// counts every operation that arrived in the measured seconds, however
// long after them it ends.
//
// Why: drive's closed loop starts an operation only when one ends, so its
// latencies measure the queue its own connections keep full (a closed
// loop's mean is conns over the rate, whatever the server) and leave out
// the wait of the operations a slow answer kept from starting. Here an
// operation arrives on time whether or not the ones before have ended, as
// people's installs do, and its latency runs from its arrival: the first
// request of each counts the wait for a free connection (steps[0]), the
// requests after it run as soon as the one before is answered, as the
// person's browser follows them.
func drivePaced(ctx context.Context, label string, c *client, conns int, rate float64, warmup, d time.Duration, op func(*worker) error) *result {
	if rate <= 0 {
		return &result{elapsed: d, firstErr: fmt.Sprintf("%s: no rate to pace at", label)}
	}
	p := newProgress(label)
	every := time.Duration(float64(time.Second) / rate)
	start := time.Now().Add(10 * time.Millisecond)
	measured := start.Add(warmup)
	end := measured.Add(d)
	arrivals := make(chan time.Time, int(rate*(warmup+d).Seconds())+1)
	var arrived atomic.Int64 // in the measured seconds
	go func() {
		defer close(arrivals)
		for at := start; at.Before(end); at = at.Add(every) {
			if wait := time.Until(at); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			if !at.Before(measured) {
				arrived.Add(1)
			}
			arrivals <- at
		}
	}()
	var (
		mu   sync.Mutex
		res  = &result{began: measured, elapsed: d}
		wg   sync.WaitGroup
		done atomic.Int64
	)
	for i := range conns {
		wg.Go(func() {
			w := &worker{id: i, c: c, rand: newRand(i)}
			for at := range arrivals {
				if ctx.Err() != nil {
					return
				}
				w.reqs, w.lat = 0, w.lat[:0]
				waited := time.Since(at)
				err := op(w)
				took := time.Since(at)
				if at.Before(measured) {
					continue
				}
				done.Add(1)
				mu.Lock()
				res.reqs += w.reqs
				if err != nil {
					res.errs++
					if res.firstErr == "" {
						res.firstErr = err.Error()
					}
				} else {
					res.ops++
					res.lat = append(res.lat, took)
					if len(w.lat) > 0 {
						w.lat[0] += waited // for a free connection
					}
					res.reqLat = append(res.reqLat, w.lat...)
					for j, l := range w.lat {
						if j == len(res.byStep) {
							res.byStep = append(res.byStep, nil)
						}
						res.byStep[j] = append(res.byStep[j], l)
					}
				}
				mu.Unlock()
			}
		})
	}
	ticker := time.NewTicker(time.Second)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-ticker.C:
			p.show(func() string {
				if time.Now().Before(measured) {
					return "warming up"
				}
				return fmt.Sprintf("%d of the %d arrived so far done", done.Load(), arrived.Load())
			})
		}
	}
	ticker.Stop()
	slices.Sort(res.lat)
	slices.Sort(res.reqLat)
	for _, l := range res.byStep {
		slices.Sort(l)
	}
	res.offered = rate
	p.done(fmt.Sprintf("%s done of %s arrived in %s, p99 %s, errors %d", thousands(float64(res.ops)), thousands(float64(arrived.Load())), d, ms(res.pct(99)), res.errs))
	return res
}
