package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPairedSlicesTakeTurnsAtGoingFirst: the scenario and its yardstick
// alternate floor, scenario, scenario, floor, …, so that neither always
// runs in the wake of the other (an A/A of one build beside itself read
// b 1.05 in two runs of two when the yardstick always went first, with
// the copy it ran on left dirty; 0.97–1.04 since).
func TestPairedSlicesTakeTurnsAtGoingFirst(t *testing.T) {
	var (
		mu    sync.Mutex
		order []string
	)
	side := func(name string) func(*worker) error {
		return func(w *worker) error {
			w.reqs++ // as one request would
			mu.Lock()
			if len(order) == 0 || order[len(order)-1] != name {
				order = append(order, name)
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
			return nil
		}
	}
	res := drivePairedWith(context.Background(), "order", "the yardstick", nil, nil, 1, 0, 2*pairSlice,
		side("scenario"), side("floor"), nil, nil)
	if got, want := strings.Join(order, " "), "floor scenario floor"; got != want {
		t.Errorf("slices ran %q, want %q (the second pair's scenario first)", got, want)
	}
	if res.ops == 0 || res.floor == nil || res.floor.ops == 0 {
		t.Errorf("ops: scenario %d, yardstick %v; want both measured", res.ops, res.floor)
	}
	if len(res.pairs) != 2 {
		t.Errorf("pairs = %v, want the ratio of each of the two pairs of slices", res.pairs)
	}
	for _, p := range res.pairs {
		if p < 0.5 || p > 2 {
			t.Errorf("pairs = %v: two sides doing the same work should read near 1", res.pairs)
		}
	}
}

// TestPacedLatencyRunsFromArrival: paced operations arrive on time whether
// or not a connection is free, and each one's latency, and its first
// request's, counts the wait. A server that answers one request at a time
// in 10 ms (100 a second) gets 200 arrivals a second for half a second on
// 4 connections: a closed loop would read about 40 ms for every request,
// while the hundredth arrival waits about half a second for its turn.
func TestPacedLatencyRunsFromArrival(t *testing.T) {
	var one sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		one.Lock()
		time.Sleep(10 * time.Millisecond)
		one.Unlock()
	}))
	defer srv.Close()
	c := newClient(clientStd, 4)
	defer c.closeIdle()
	get := func(w *worker) error {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		_, _, err := w.do(req, http.StatusOK)
		return err
	}
	res := drivePaced(context.Background(), "paced", c, 4, 200, 0, 500*time.Millisecond, get)
	if res.errs != 0 {
		t.Fatalf("errors: %d, the first %s", res.errs, res.firstErr)
	}
	if res.ops < 99 || res.ops > 101 {
		t.Errorf("ops = %d, want the 100 that arrived in half a second at 200 a second, every one of them", res.ops)
	}
	if p := res.pct(99); p < 300*time.Millisecond {
		t.Errorf("p99 = %s, want the queue's wait counted (the last arrivals wait about 500 ms)", p)
	}
	if len(res.byStep) != 1 {
		t.Fatalf("%d steps, want the one request of each operation", len(res.byStep))
	}
	if p := pctOf(res.byStep[0], 99); p < 300*time.Millisecond {
		t.Errorf("the first request's p99 = %s, want the wait for a connection in it", p)
	}
}

// TestPacedArrivalsKeepTheirRate: below the server's capacity the paced
// operations run at the rate asked for, not as fast as the connections
// allow, and those that arrived during the warm-up are not counted.
func TestPacedArrivalsKeepTheirRate(t *testing.T) {
	var n atomic.Int64
	op := func(w *worker) error {
		w.reqs++
		n.Add(1)
		time.Sleep(time.Millisecond)
		return nil
	}
	res := drivePaced(context.Background(), "paced", nil, 4, 50, 200*time.Millisecond, time.Second, op)
	if res.ops < 49 || res.ops > 51 {
		t.Errorf("ops = %d, want the 50 that arrived in the measured second at 50 a second", res.ops)
	}
	if all := n.Load(); all < 59 || all > 61 {
		t.Errorf("%d operations ran, want 60: 10 in the warm-up (not counted), 50 after", all)
	}
	if r := res.rate(); r < 49 || r > 51 {
		t.Errorf("rate = %.1f/s, want 50", r)
	}
	if res.offered != 50 {
		t.Errorf("offered = %v, want 50", res.offered)
	}
}
