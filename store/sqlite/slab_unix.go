//go:build unix

package sqlite

import "syscall"

// newSlab maps n bytes of anonymous memory, which the kernel backs a
// page at a time as it is first touched (pagecache.go).
var newSlab = func(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil
	}
	return b
}

func freeSlab(b []byte) { syscall.Munmap(b) }
