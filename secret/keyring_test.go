package secret_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorwayhq/doorway/secret"
)

func TestKeyringSealOpen(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, _ := secret.NewKeyring(oldKey)
	sealed := old.Seal("dwss_signing", "sec_1")
	if strings.Contains(sealed, "dwss_signing") {
		t.Fatal("sealed value contains the plaintext")
	}
	if got, err := old.Open(sealed, "sec_1"); err != nil || got != "dwss_signing" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := old.Open(sealed, "sec_2"); err == nil {
		t.Error("a sealed value opened for another row")
	}
	// Every character of the ciphertext, the last one included (it carries
	// only some bits of a byte), changed to another: none opens.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	body := strings.LastIndexByte(sealed, '.') + 1
	for i := body; i < len(sealed); i++ {
		next := alphabet[(strings.IndexByte(alphabet, sealed[i])+1)%len(alphabet)]
		tampered := sealed[:i] + string(next) + sealed[i+1:]
		if _, err := old.Open(tampered, "sec_1"); err == nil {
			t.Fatalf("a value with character %d changed from %q to %q opened", i, sealed[i], next)
		}
	}
	rotated, _ := secret.NewKeyring(newKey, oldKey)
	if got, err := rotated.Open(sealed, "sec_1"); err != nil || got != "dwss_signing" {
		t.Errorf("a keyring with the old key as older key cannot open: %v", err)
	}
	other, _ := secret.NewKeyring(newKey)
	if _, err := other.Open(sealed, "sec_1"); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("Open with the wrong master key = %v, want an error naming the missing key", err)
	}
	if _, err := secret.NewKeyring([]byte("short")); err == nil {
		t.Error("a 5-byte master key was accepted")
	}
}

func TestMasterKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorway.db.key")
	k1, created, err := secret.LoadOrCreateMasterKey(path)
	if err != nil || !created || len(k1) != secret.MasterKeySize {
		t.Fatalf("create: %v %v %d", err, created, len(k1))
	}
	k2, created, err := secret.LoadOrCreateMasterKey(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("reload gave another key or error: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, _, err := secret.LoadOrCreateMasterKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key file was accepted: %v", err)
	}
}
