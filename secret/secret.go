// Package secret holds Doorway's few cryptographic primitives, so that every
// other package uses them the same way: random tokens and ids, the hash under
// which high-entropy secrets are stored, constant-time comparison, and the
// master-key envelope that encrypts the secrets Doorway must be able to read
// back (signing secrets).
//
// Random secrets (client secrets, session tokens) carry at least 128 bits of
// entropy and are stored as SHA-256: a slow password hash adds nothing when
// the input cannot be guessed, and a fast one keeps the token endpoint fast.
// Passwords are different and are hashed in package identity with argon2id.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"
)

// Token returns prefix followed by 26 random base32 characters (130 bits).
func Token(prefix string) string { return prefix + strings.ToLower(rand.Text()) }

// sortable is Token's alphabet in ASCII order, so that ids compare as the
// numbers they encode.
const sortable = "234567abcdefghijklmnopqrstuvwxyz"

// ID returns prefix followed by 26 base32 characters, in Token's alphabet,
// for the id of a new row: 10 characters of the time in milliseconds, then
// 80 random bits. Ids made one after another sort one after another, so a
// new row lands beside the last one in every index keyed by its id, not on
// a random page: at each commit the database writes one page for a burst of
// new rows instead of one per row, and the pages it writes are the ones it
// has cached. An id does not reveal its neighbours; ids that must stay
// secret (codes, tokens) use Token.
func ID(prefix string) string { return IDAt(prefix, time.Now()) }

// IDAt is ID for a row made at t: rows written now that were made before,
// such as an import's or a load benchmark's fleet. Ids made in the same
// millisecond share an order (IDOrder) once in 8,192 pairs, so a thousand
// made in one millisecond's burst share it about one in eight times, which
// ids made as things happen, one a millisecond or fewer, never come near.
func IDAt(prefix string, t time.Time) string {
	var b [26]byte
	putTime(b[:10], t)
	rand.Read(b[10:])
	for i := 10; i < len(b); i++ {
		b[i] = sortable[b[i]&31]
	}
	return prefix + string(b[:])
}

// IDOrder returns the number at the start of an id made by ID: its time in
// milliseconds (50 bits), then the first 13 of its random bits, 63 bits in
// all. Ids made later have larger orders, so rows kept in the order of
// their ids' orders are appended to as ids are made, like rows kept in the
// order of their ids. Ids made in the same millisecond share an order
// once in 8,192 pairs: it orders rows, it does not name them. ok is false
// for a string that does not end in an id's 26 characters.
func IDOrder(id string) (order int64, ok bool) {
	if len(id) < 26 {
		return 0, false
	}
	body := id[len(id)-26:]
	var n uint64
	for i := range len(body) {
		d := sortableDigit[body[i]]
		if d < 0 {
			return 0, false
		}
		if i < 13 { // 10 characters of time, 3 of randomness
			n = n<<5 | uint64(d)
		}
	}
	return int64(n >> 2), true
}

// sortableDigit is each byte's value in sortable, or -1.
var sortableDigit = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := range len(sortable) {
		t[sortable[i]] = int8(i)
	}
	return t
}()

// TimedToken returns prefix followed by 36 base32 characters: 10 of the
// time in milliseconds, as in ID, then 26 random ones (130 bits), as in
// Token. It is for secrets that are stored as rows, many a second: codes
// and refresh tokens. Their store key (TokenKey) starts with the same 10
// characters, so a burst of new rows lands on the last page of the key's
// index, as new ids do, instead of one random page each. The time a token
// was made is no secret (an access token carries it as iat).
func TimedToken(prefix string) string { return timedTokenAt(prefix, time.Now()) }

func timedTokenAt(prefix string, t time.Time) string {
	var b [10]byte
	putTime(b[:], t)
	return prefix + string(b[:]) + strings.ToLower(rand.Text())
}

// putTime writes t's milliseconds into b's 10 characters, most significant
// first, in the sortable alphabet.
func putTime(b []byte, t time.Time) {
	ms := uint64(t.UnixMilli())
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = sortable[ms&31]
		ms >>= 5
	}
}

// TokenKey returns what the store keeps for a code or refresh token, and
// looks it up by: the token's 10 time characters, when it has them
// (TimedToken), then the hex SHA-256 of the whole token. A token made by
// Token, as refresh tokens were before, has no time; its key is Hash(token),
// so it is still found.
func TokenKey(token string) string {
	body := token[strings.LastIndexByte(token, '_')+1:]
	if len(body) != 36 || strings.Trim(body, sortable) != "" {
		return Hash(token)
	}
	return body[:10] + Hash(token)
}

// Hash returns the hex SHA-256 of s: what the store keeps for a token.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Equal compares a and b in time that depends only on their lengths.
func Equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
