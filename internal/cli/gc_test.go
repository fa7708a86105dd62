package cli

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

// TestServeGCUnlessTheOperatorSaysOtherwise: serve runs the collector at
// serveGCPercent with a soft limit of serveMemoryLimit, and an operator's
// GOGC or GOMEMLIMIT wins, each on its own.
func TestServeGCUnlessTheOperatorSaysOtherwise(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	for _, c := range []struct {
		gogc, limit string // "-": unset
		wantPercent int
		wantLimit   int64
	}{
		{"-", "-", serveGCPercent, serveMemoryLimit},
		{"100", "-", 100, serveMemoryLimit},
		{"off", "-", 100, serveMemoryLimit},
		{"-", "1GiB", serveGCPercent, math.MaxInt64},
	} {
		for name, v := range map[string]string{"GOGC": c.gogc, "GOMEMLIMIT": c.limit} {
			t.Setenv(name, v) // restored after the test
			if v == "-" {
				os.Unsetenv(name)
			}
		}
		// What the runtime read from the environment at start is not
		// what tuneGC is asked about; start each case from Go's defaults.
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		tuneGC()
		if got := debug.SetGCPercent(100); got != c.wantPercent {
			t.Errorf("GOGC %q: GC percent %d, want %d", c.gogc, got, c.wantPercent)
		}
		if got := debug.SetMemoryLimit(math.MaxInt64); got != c.wantLimit {
			t.Errorf("GOGC %q, GOMEMLIMIT %q: memory limit %d, want %d", c.gogc, c.limit, got, c.wantLimit)
		}
	}
}
