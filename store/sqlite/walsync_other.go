//go:build unix && !linux

package sqlite

import "syscall"

func fdatasync(fd int) error { return syscall.Fsync(fd) }
