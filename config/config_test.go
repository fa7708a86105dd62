package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorwayhq/doorway/config"
)

func TestDefaultIsValid(t *testing.T) {
	c := config.Default()
	if c.Platform.Name == "" || !c.Permissions.Has("customer_read") {
		t.Fatalf("default config = %+v", c)
	}
}

func TestLoadReportsEveryMistake(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorway.yaml")
	os.WriteFile(path, []byte(`
platform:
  accent_color: blue
  logo_url: http://example.com/logo.png
permissions:
  - name: Customer Read
    description: See customers
  - name: ok_perm
    description: ""
  - name: ok_perm
    description: twice
lifetimes:
  install_request: 2h
`), 0o644)
	_, err := config.Load(path)
	if err == nil {
		t.Fatal("Load accepted a bad file")
	}
	for _, want := range []string{"accent_color \"blue\"", "logo_url", `permissions[0].name "Customer Read"`,
		"permissions[1].description is empty", `permissions[2].name "ok_perm" is listed twice`, "install_request 2h0m0s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestLoadRefusesUnknownKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorway.yaml")
	os.WriteFile(path, []byte("platfrom:\n  name: X\n"), 0o644)
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), "platfrom") {
		t.Fatalf("Load = %v, want an error naming the misspelt key", err)
	}
}
