package keys_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/doorwayhq/doorway/keys"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store/sqlite"
)

func newKeys(t *testing.T, now time.Time) *keys.Keys {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	master := make([]byte, 32)
	rand.Read(master)
	ring, err := secret.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	return &keys.Keys{Store: db, Keyring: ring, Now: func() time.Time { return now }}
}

const issuer = "https://doorway.example"

// TestSignedTokensAreStandardJWS checks Doorway's own encoder against an
// independent JOSE implementation, through the published JWKS.
func TestSignedTokensAreStandardJWS(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	k := newKeys(t, now)
	c := keys.Claims{Issuer: issuer, Subject: "ins_1", Audience: issuer, ClientID: "app_1", TenantID: "tnt_1",
		Scope: "a b", Expiry: now.Add(time.Hour).Unix(), IssuedAt: now.Unix(), ID: "at_1", GrantID: "gr_1", LiveMode: true}
	tok, err := k.Sign(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	set, err := k.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("go-jose cannot parse %s: %v", tok, err)
	}
	if h := parsed.Headers[0]; h.KeyID != set.Keys[0].KeyID || h.ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("header = %+v, want kid %s and typ at+jwt", h, set.Keys[0].KeyID)
	}
	var got keys.Claims
	if err := parsed.Claims(set.Keys[0].Key, &got); err != nil {
		t.Fatalf("go-jose does not verify the token with the JWKS key: %v", err)
	}
	if got != c {
		t.Fatalf("go-jose read claims %+v, want %+v", got, c)
	}
	mine, err := k.Verify(ctx, tok, issuer)
	if err != nil || *mine != c {
		t.Fatalf("Verify = %+v, %v; want %+v", mine, err, c)
	}
}

func TestVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	k := newKeys(t, now)
	claims := keys.Claims{Issuer: issuer, Subject: "ins_1", Expiry: now.Add(time.Hour).Unix(), GrantID: "gr_1"}
	tok, err := k.Sign(ctx, claims)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, _ := strings.Cut(tok, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	enc := base64.RawURLEncoding
	expired := claims
	expired.Expiry = now.Unix()
	expiredTok, _ := k.Sign(ctx, expired)

	// A token signed by a stranger's Ed25519 key under our kid.
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	foreign := head + "." + payload + "." + enc.EncodeToString(ed25519.Sign(stranger, []byte(head+"."+payload)))
	// The same signature under a header naming another algorithm.
	rawHead, _ := enc.DecodeString(head)
	noneHead := enc.EncodeToString([]byte(strings.Replace(string(rawHead), `"EdDSA"`, `"none"`, 1)))
	// A header with an extra parameter, correctly signed by nobody we know.
	critHead := enc.EncodeToString([]byte(strings.Replace(string(rawHead), `{`, `{"crit":["x"],"x":1,`, 1)))
	other := enc.EncodeToString([]byte(`{"iss":"` + issuer + `","exp":9999999999,"gid":"gr_2"}`))

	for _, tc := range []struct{ name, token, issuer string }{
		{"empty", "", issuer},
		{"two segments", head + "." + payload, issuer},
		{"four segments", tok + ".x", issuer},
		{"payload swapped", head + "." + other + "." + sig, issuer},
		{"signature of a stranger's key", foreign, issuer},
		{"alg none", noneHead + "." + payload + ".", issuer},
		{"alg none with the signature", noneHead + "." + payload + "." + sig, issuer},
		{"extra header parameters", critHead + "." + payload + "." + sig, issuer},
		{"unknown kid", enc.EncodeToString([]byte(`{"alg":"EdDSA","kid":"key_x","typ":"at+jwt"}`)) + "." + payload + "." + sig, issuer},
		{"not base64", head + "." + payload + ".***", issuer},
		{"expired", expiredTok, issuer},
		{"another issuer", tok, "https://evil.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := k.Verify(ctx, tc.token, tc.issuer); !errors.Is(err, keys.ErrInvalid) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalid", c, err)
			}
		})
	}
}

// TestVerifyRemembersOnlyWhatStillHolds: a token verified once is checked
// again each time for issuer, expiry and a valid signing key; a token one
// character away from it is verified from scratch.
func TestVerifyRemembersOnlyWhatStillHolds(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	k := newKeys(t, now)
	k.Now = func() time.Time { return now }
	claims := keys.Claims{Issuer: issuer, Subject: "ins_1", Expiry: now.Add(time.Hour).Unix(), GrantID: "gr_1"}
	tok, err := k.Sign(ctx, claims)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if c, err := k.Verify(ctx, tok, issuer); err != nil || *c != claims {
			t.Fatalf("Verify #%d = %+v, %v; want %+v", i+1, c, err, claims)
		}
	}
	head, rest, _ := strings.Cut(tok, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	flipped := []byte(sig)
	flipped[10] ^= 1
	// The signature's last character carries 2 bits of the last byte; the
	// next character in the alphabet differs only in unused bits.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	respelled := sig[:len(sig)-1] + string(alphabet[(strings.IndexByte(alphabet, sig[len(sig)-1])+1)%len(alphabet)])
	for _, tc := range []struct{ name, token, issuer string }{
		{"another issuer", tok, "https://evil.example"},
		{"one bit of the signature flipped", head + "." + payload + "." + string(flipped), issuer},
		{"signature cut short", tok[:len(tok)-2], issuer},
		{"last character of the signature respelled", head + "." + payload + "." + respelled, issuer},
	} {
		if c, err := k.Verify(ctx, tc.token, tc.issuer); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("%s: Verify = %+v, %v; want ErrInvalid", tc.name, c, err)
		}
	}
	// The key rotated out with no overlap: the token dies with it.
	if _, err := k.Rotate(ctx, 0); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	if c, err := k.Verify(ctx, tok, issuer); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("after its key was rotated out: Verify = %+v, %v; want ErrInvalid", c, err)
	}
	// A fresh token under the new key expires on time.
	fresh, _ := k.Sign(ctx, claims)
	if _, err := k.Verify(ctx, fresh, issuer); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
	now = time.Unix(claims.Expiry, 0)
	if c, err := k.Verify(ctx, fresh, issuer); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("at its expiry: Verify = %+v, %v; want ErrInvalid", c, err)
	}
}
