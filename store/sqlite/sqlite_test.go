package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/doorwayhq/doorway/store"
	"github.com/doorwayhq/doorway/store/sqlite"
	"github.com/doorwayhq/doorway/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "doorway.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorway.db")
	applied, err := sqlite.Migrate(context.Background(), path)
	if err != nil || len(applied) == 0 {
		t.Fatalf("first migrate applied %v, err %v; want the initial migration", applied, err)
	}
	applied, err = sqlite.Migrate(context.Background(), path)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second migrate applied %v, err %v; want nothing", applied, err)
	}
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}
