package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/doorwayhq/doorway/internal/pgtest"
	"github.com/doorwayhq/doorway/store"
	"github.com/doorwayhq/doorway/store/postgres"
	"github.com/doorwayhq/doorway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	url := pgtest.URL(t)
	applied, err := postgres.Migrate(context.Background(), url)
	if err != nil || len(applied) == 0 {
		t.Fatalf("first migrate applied %v, err %v; want the initial migration", applied, err)
	}
	applied, err = postgres.Migrate(context.Background(), url)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second migrate applied %v, err %v; want nothing", applied, err)
	}
}
