//go:build !unix

package sqlite

// newSlab is nil where there is no mmap(2): SQLite keeps its own page
// cache there (pagecache.go).
var newSlab func(n int) []byte

func freeSlab([]byte) {}
