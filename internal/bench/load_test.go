package main

import (
	"context"
	"strings"
	"sync"
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
