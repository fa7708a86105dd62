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
)

// Token returns prefix followed by 26 random base32 characters (130 bits).
func Token(prefix string) string { return prefix + strings.ToLower(rand.Text()) }

// Hash returns the hex SHA-256 of s: what the store keeps for a token.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Equal compares a and b in time that depends only on their lengths.
func Equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
