package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/fips140"
	"crypto/rand"
	"os"
	"os/exec"
	"reflect"
	"testing"
)

// TestSignaturesAreTheStandardLibrarys: Ed25519 is deterministic, so the
// signer access tokens use must give exactly crypto/ed25519's signature for
// every key and message, from empty to longer than any token.
func TestSignaturesAreTheStandardLibrarys(t *testing.T) {
	sign := signEd25519
	seed := make([]byte, ed25519.SeedSize)
	for i := range 3000 {
		rand.Read(seed)
		priv := ed25519.NewKeyFromSeed(seed)
		msg := make([]byte, i%1500)
		rand.Read(msg)
		if got, want := sign(priv, msg), ed25519.Sign(priv, msg); !bytes.Equal(got, want) {
			t.Fatalf("seed %x, %d-byte message %x: signed %x, crypto/ed25519 signs %x", seed, len(msg), msg, got, want)
		}
	}
}

// TestFIPSModeSignsWithTheStandardLibrary runs this test binary again with
// GODEBUG=fips140=on: there the validated module must sign, and outside it
// curve25519-voi.
func TestFIPSModeSignsWithTheStandardLibrary(t *testing.T) {
	same := func(a, b func(ed25519.PrivateKey, []byte) []byte) bool {
		return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
	}
	if os.Getenv("DOORWAY_TEST_FIPS_CHILD") == "1" {
		if !fips140.Enabled() {
			t.Fatal("GODEBUG=fips140=on did not enable FIPS 140-3 mode")
		}
		if !same(signEd25519, ed25519.Sign) {
			t.Fatal("in FIPS 140-3 mode access tokens are not signed by crypto/ed25519")
		}
		return
	}
	if fips140.Enabled() {
		t.Fatal("this test must run outside FIPS 140-3 mode")
	}
	if !same(signEd25519, voiSign) {
		t.Fatal("outside FIPS 140-3 mode access tokens are not signed by curve25519-voi")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFIPSModeSignsWithTheStandardLibrary$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DOORWAY_TEST_FIPS_CHILD=1", "GODEBUG=fips140=on")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the FIPS 140-3 run failed: %v\n%s", err, out)
	}
}
