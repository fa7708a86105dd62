package cli

import (
	"os"
	"runtime/debug"
)

// serveGCPercent and serveMemoryLimit are the Go garbage collector's
// settings for serve and demo when GOGC and GOMEMLIMIT are not set.
//
// The server's live heap is small (tens of MB) and every request
// allocates, so at Go's default, GOGC=100, the collector ran several times
// a second under load. At 400 the heap may grow to five times the live
// data. Against 200, in nine interleaved pairs of harness runs
// (BENCHMARKS.md): more installs a second in eight (3–14 % less CPU an
// install in the first six), c and d closer to the floor in all six that
// measured them, a and g unchanged, 7–10 MB more peak RSS.
//
// A growth factor alone does not bound memory: while two password hashes
// run (19 MiB each, argonSlots), the live heap is ~40 MB and the next goal
// five times that; a burst of sign-ins peaked at 240 MB of RSS at 400, 161
// at 200. The soft limit makes the collector work harder as the heap nears
// it instead (the same burst: 142 MB). Doorway's heap is bounded by design
// (its caches have fixed sizes; SQLite's pages are not Go memory), so the
// limit is not reached under load; past it, Go still caps the collector
// at half the CPU rather than fail.
//
// GOGC and GOMEMLIMIT, each on its own, still decide when an operator sets
// them (a container's memory is the usual reason for GOMEMLIMIT).
const (
	serveGCPercent   = 400
	serveMemoryLimit = 128 << 20
)

// tuneGC applies serveGCPercent unless GOGC is set, and serveMemoryLimit
// unless GOMEMLIMIT is set.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
}
