package sqlite

import "golang.org/x/sys/unix"

// fdatasync writes fd's data to the disk, and what of its metadata reading
// the data needs (its size), as SQLite's unix VFS syncs a file.
func fdatasync(fd int) error { return unix.Fdatasync(fd) }
