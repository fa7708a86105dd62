package sqlite

import "testing"

// WALSequence is walSequence, for the package's external tests.
var WALSequence = walSequence

// SetWALRestartFrames sets walRestartFrames until the test ends.
func SetWALRestartFrames(t *testing.T, n int64) {
	old := walRestartFrames.Swap(n)
	t.Cleanup(func() { walRestartFrames.Store(old) })
}
