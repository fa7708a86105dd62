package sqlite

import "syscall"

// fdatasync writes fd's data to the disk, and what of its metadata reading
// the data needs (its size), as SQLite's unix VFS syncs a file.
func fdatasync(fd int) error { return syscall.Fdatasync(fd) }
