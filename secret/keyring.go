package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// MasterKeySize is the length of a master key in bytes.
const MasterKeySize = 32

// Keyring encrypts stored secrets with keys derived from the master key, and
// derives the other keys Doorway needs (CSRF tokens). Sealed values name the
// key they were sealed with, so a new master key can be added and old values
// still opened.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
	master  []byte
	macKeys sync.Map // purpose → derived key, so MAC does no HKDF per call
}

// NewKeyring returns a keyring that seals with master (MasterKeySize bytes)
// and also opens values sealed with any of older.
func NewKeyring(master []byte, older ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}, master: master}
	for i, m := range append([][]byte{master}, older...) {
		if len(m) != MasterKeySize {
			return nil, fmt.Errorf("master key is %d bytes; it must be %d (generate one with: openssl rand -base64 32)", len(m), MasterKeySize)
		}
		key, err := hkdf.Key(sha256.New, m, nil, "doorway secret encryption v1", 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, err
		}
		id := keyID(m)
		k.aeads[id] = aead
		if i == 0 {
			k.current = id
		}
	}
	return k, nil
}

func keyID(master []byte) string {
	sum := sha256.Sum256(append([]byte("doorway key id\x00"), master...))
	return hex.EncodeToString(sum[:4])
}

// Seal encrypts plaintext, bound to context (for example the row it belongs
// to, so a sealed value cannot be moved to another row).
func (k *Keyring) Seal(plaintext, context string) string {
	ct := k.aeads[k.current].Seal(nil, nil, []byte(plaintext), []byte(context))
	return "v1." + k.current + "." + base64.RawURLEncoding.EncodeToString(ct)
}

// Open decrypts a value made by Seal with the same context.
func (k *Keyring) Open(sealed, context string) (string, error) {
	parts := strings.SplitN(sealed, ".", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return "", errors.New("sealed secret: unknown format")
	}
	aead, ok := k.aeads[parts[1]]
	if !ok {
		return "", fmt.Errorf("sealed secret: sealed with master key %s, which is not configured", parts[1])
	}
	// Strict: Seal writes the one canonical encoding, so an edited last
	// character cannot decode to the same bytes and pass as the original.
	ct, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil {
		return "", fmt.Errorf("sealed secret: %w", err)
	}
	pt, err := aead.Open(nil, nil, ct, []byte(context))
	if err != nil {
		return "", errors.New("sealed secret: does not open with the master key (wrong key or tampered value)")
	}
	return string(pt), nil
}

// MAC returns a hex HMAC-SHA256 of msg under a key derived from the master
// key for purpose. Every node with the same master key computes the same MAC.
func (k *Keyring) MAC(purpose, msg string) string {
	key, ok := k.macKeys.Load(purpose)
	if !ok {
		derived, _ := hkdf.Key(sha256.New, k.master, nil, "doorway mac v1 "+purpose, 32)
		key, _ = k.macKeys.LoadOrStore(purpose, derived)
	}
	m := hmac.New(sha256.New, key.([]byte))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// ParseMasterKey decodes a base64 master key.
func ParseMasterKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("master key is not base64 (generate one with: openssl rand -base64 32): %w", err)
	}
	if len(b) != MasterKeySize {
		return nil, fmt.Errorf("master key is %d bytes; it must be %d (generate one with: openssl rand -base64 32)", len(b), MasterKeySize)
	}
	return b, nil
}

// LoadOrCreateMasterKey reads the base64 master key in path, creating the
// file with a new random key (mode 0600) when it does not exist. It refuses a
// key file that others can read.
func LoadOrCreateMasterKey(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, MasterKeySize)
		rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) { // another process created it first
			return LoadOrCreateMasterKey(path)
		}
		if err != nil {
			return nil, false, fmt.Errorf("create master key file: %w", err)
		}
		_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return key, true, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("read master key file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("master key file %s has mode %v; others must not read it (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	key, err = ParseMasterKey(string(b))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return key, false, nil
}
