package identity

import (
	"strings"
	"testing"
)

// An unknown email is checked against dummyHash so that it takes as long
// as a wrong password. That holds only while dummyHash was made with the
// parameters HashPassword uses now: raise argon2id's memory or passes and
// forget the constant, and an attacker could tell unknown emails from
// known ones by the time a sign-in takes.
func TestDummyHashCostsWhatAPasswordCosts(t *testing.T) {
	params := func(hash string) string {
		parts := strings.Split(hash, "$")
		if len(parts) != 6 {
			t.Fatalf("%q is not a PHC string", hash)
		}
		return strings.Join(parts[:4], "$")
	}
	if got, want := params(dummyHash), params(HashPassword("x")); got != want {
		t.Errorf("dummyHash was made with %s, passwords are hashed with %s: make it again with HashPassword", got, want)
	}
	if CheckPassword(dummyHash, "") || CheckPassword(dummyHash, "doorway-dummy-password") {
		t.Error("dummyHash matches a password somebody could guess")
	}
}
