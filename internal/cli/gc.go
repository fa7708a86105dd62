package cli

import (
	"os"
	"runtime/debug"
)

// serveGCPercent is the Go garbage collector's target for serve and demo
// when GOGC is not set. The server's live heap is small (tens of MB) and
// every request allocates, so at Go's default, 100, the collector ran
// several times a second under load. At 200 the heap may grow to three
// times the live data instead of two: about 20 MB more under load, for
// 5–8 % less CPU per token and per install (BENCHMARKS.md). GOGC, and
// GOMEMLIMIT for a hard cap, still decide when an operator sets them.
const serveGCPercent = 200

// tuneGC applies serveGCPercent unless GOGC is set.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
}
