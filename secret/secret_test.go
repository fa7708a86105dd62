package secret

import (
	"regexp"
	"slices"
	"testing"
	"time"
)

var tokenShape = regexp.MustCompile(`^ins_[a-z2-7]{26}$`)

// TestIDsSortByTime: ids have Token's shape, differ when made in the same
// millisecond, and sort in the order of the times they were made at, across
// every character position of the time.
func TestIDsSortByTime(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var ids []string
	seen := map[string]bool{}
	for _, step := range []time.Duration{0, 0, time.Millisecond, 31 * time.Millisecond, time.Second, time.Hour, 24 * time.Hour, 400 * 24 * time.Hour, 30 * 365 * 24 * time.Hour} {
		base = base.Add(step)
		id := idAt("ins_", base)
		if !tokenShape.MatchString(id) || !tokenShape.MatchString(Token("ins_")) {
			t.Fatalf("id %q does not have a token's shape", id)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
		if step > 0 && len(ids) > 0 && id <= ids[len(ids)-1] {
			t.Fatalf("id %q made %v after %q sorts before it", id, step, ids[len(ids)-1])
		}
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids[1:]) {
		t.Fatalf("ids out of order: %v", ids)
	}
	// 80 random bits: ids made in the same millisecond do not collide.
	many := map[string]bool{}
	for range 100_000 {
		id := idAt("", base)
		if many[id] {
			t.Fatalf("id %q made twice in the same millisecond", id)
		}
		many[id] = true
	}
}
