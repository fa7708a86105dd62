package main

import (
	"testing"
	"time"

	"github.com/doorwayhq/doorway/secret"
)

func TestFleetIdsAreMadeOneAtATime(t *testing.T) {
	// SQLite keeps installations by their id's order (secret.IDOrder) and
	// looks one up twice when another took its order first. A server
	// makes ids as installs happen and almost never repeats one; a fleet
	// seeded in a burst of secret.ID repeated one in eight, so its
	// tokens read a fleet no server holds. The fleet's ids must order as
	// a server's do: each its own order, rising, all before the run.
	f := &fleet{}
	a := app{id: "app_1", version: "ver_1", perms: perms}
	start := time.Now()
	seen := map[int64]bool{}
	var last int64
	for i := range 20_000 {
		it := f.imported(a, "ten_1", start, i%2 == 0)
		order, ok := secret.IDOrder(it.Installation.ID)
		if !ok {
			t.Fatalf("installation id %q is not one of secret.ID's", it.Installation.ID)
		}
		if seen[order] {
			t.Fatalf("installation %d, %s, shares its order with one before it", i, it.Installation.ID)
		}
		if order <= last {
			t.Fatalf("installation %d, %s, orders before the one made before it", i, it.Installation.ID)
		}
		seen[order], last = true, order
	}
	if now, _ := secret.IDOrder(secret.ID("ins_")); last >= now {
		t.Errorf("the fleet's last id orders after an id made now: the run's installs would land among the fleet's")
	}
}
