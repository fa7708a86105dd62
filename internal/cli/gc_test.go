package cli

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestServeGCPercentUnlessGOGC: serve runs the collector at
// serveGCPercent, and an operator's GOGC wins.
func TestServeGCPercentUnlessGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, c := range []struct {
		gogc string // "-": unset
		want int
	}{{"-", serveGCPercent}, {"100", 100}, {"off", 100}} {
		t.Setenv("GOGC", c.gogc) // restored after the test
		if c.gogc == "-" {
			os.Unsetenv("GOGC")
		}
		debug.SetGCPercent(100)
		tuneGC()
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("GOGC %q: GC percent %d, want %d", c.gogc, got, c.want)
		}
	}
}
