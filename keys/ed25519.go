package keys

import (
	"crypto/ed25519"
	"crypto/fips140"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Every access token costs one Ed25519 signature, and with the standard
// library's it was 44 % of the token endpoint's CPU (23–24 µs a signature
// here). curve25519-voi (Oasis Protocol's Go port of curve25519-dalek)
// computes the same signature with AVX2 vector point arithmetic in 12 µs.
//
// Ed25519 signatures are deterministic (RFC 8032 §5.1.6): a key and a
// message have exactly one, so the two implementations must agree byte for
// byte, which TestSignaturesAreTheStandardLibrarys checks on thousands of
// keys and messages. Only signing moves: verification, where the
// implementations' acceptance rules could differ, stays with the standard
// library. In FIPS 140-3 mode (GODEBUG=fips140=on) the standard library's
// validated module signs, as the operator asked.

// signEd25519 signs access tokens. FIPS 140-3 mode is set when the process
// starts, so the choice is made once.
var signEd25519 = ed25519Signer()

// voiSign is curve25519-voi's Ed25519 signature.
func voiSign(priv ed25519.PrivateKey, msg []byte) []byte {
	return voi.Sign(voi.PrivateKey(priv), msg)
}

// ed25519Signer returns the function that signs access tokens in this
// process's mode.
func ed25519Signer() func(ed25519.PrivateKey, []byte) []byte {
	if fips140.Enabled() {
		return ed25519.Sign
	}
	return voiSign
}
