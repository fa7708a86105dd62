//go:build !unix

package sqlite

// Elsewhere than Unix the WAL has no syncer: the checkpoint's fsync writes
// all of it, as SQLite's own way does.
const canSync = false

func fileDescriptor(file uintptr) int { return -1 }

func fdatasync(fd int) error { return nil }
