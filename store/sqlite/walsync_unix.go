//go:build unix

package sqlite

import (
	"encoding/binary"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

const canSync = true

// fileDescriptor is the descriptor of file, the address of a unixFile
// (SQLite's unix VFS's sqlite3_file).
func fileDescriptor(file uintptr) int {
	return int(int32(binary.NativeEndian.Uint32(libc.GoBytes(file+unsafe.Offsetof(lib.TunixFile{}.Fh), 4))))
}
