package sqlstore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/doorwayhq/doorway/secret"
)

// Installation keys (Dialect.InstallationKeys).
//
// An access token reads its installation by id. SQLite kept installations
// in a WITHOUT ROWID tree keyed by id, and that format keeps whole rows in
// the interior pages too: at a million installations, sixteen rows to an
// interior page, five levels, 3,894 interior pages that a reader's page
// cache cannot keep, so a random read made two page reads from the OS. A
// rowid table's interior pages hold integers, hundreds to a page (about
// 160 pages at a million), which the cache keeps: a read by an integer
// key makes one.
//
// The integer is the id's first key: its order (secret.IDOrder: time
// first, so installs append to the table as they did), or for an id that
// is not one of ours (an import) a hash of it. Two installations can share
// a first key (ids of one millisecond, once in 8,192 pairs), so the one
// written second is kept under the id's second key, from another part of
// the hash and negative, where no first key is. A read tries the first
// key, then the id (DB.Installation): the table's unique index on id,
// which keeps ids unique, serves every other lookup by id and the
// references to installations, also finds the rows kept under a second
// key and those written by an older binary, which let SQLite pick the
// key.

// InstallationKeys returns the two keys an installation may be kept under.
func InstallationKeys(id string) (first, second int64) { return firstKey(id), secondKey(id) }

// firstKey is InstallationKeys' first: a read by id needs no hash for it.
func firstKey(id string) int64 {
	if order, ok := secret.IDOrder(id); ok {
		return order
	}
	sum := sha256.Sum256([]byte(id))
	return int64(binary.BigEndian.Uint64(sum[:8]) >> 1)
}

// secondKey is InstallationKeys' second: negative, so never a first.
func secondKey(id string) int64 {
	sum := sha256.Sum256([]byte(id))
	return -1 - int64(binary.BigEndian.Uint64(sum[8:16])>>1)
}

// keyedInstallation is the SQL value of a new installation's key in a
// one-row INSERT whose parameters $n and $n+1 are InstallationKeys: the
// first unless a row has it.
func keyedInstallation(n int) string {
	return fmt.Sprintf(`CASE WHEN EXISTS (SELECT 1 FROM installations WHERE id_key = $%d) THEN $%d ELSE $%d END`, n, n+1, n)
}
