package secret

import (
	"regexp"
	"slices"
	"strings"
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
		id := IDAt("ins_", base)
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
		id := IDAt("", base)
		if many[id] {
			t.Fatalf("id %q made twice in the same millisecond", id)
		}
		many[id] = true
	}
}

// TestIDOrdersSortByTime: an id's order grows with the time it was made
// at, across every character of the time, and takes 13 random bits after
// it; strings that are not ids have none.
func TestIDOrdersSortByTime(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	last := int64(-1)
	for _, step := range []time.Duration{0, time.Millisecond, 31 * time.Millisecond, time.Second, time.Hour, 400 * 24 * time.Hour, 30 * 365 * 24 * time.Hour} {
		base = base.Add(step)
		id := IDAt("ins_", base)
		order, ok := IDOrder(id)
		if !ok || order <= last {
			t.Fatalf("id %q made %v later: order %d (ok %v), the one before %d", id, step, order, ok, last)
		}
		if got := order >> 13; got != base.UnixMilli() {
			t.Fatalf("id %q: order %d holds time %d, want %d", id, order, got, base.UnixMilli())
		}
		last = order
	}
	// The low 13 bits are random: ids of one millisecond spread over them.
	low := map[int64]bool{}
	for range 1000 {
		order, _ := IDOrder(IDAt("ins_", base))
		low[order&8191] = true
	}
	if len(low) < 900 {
		t.Errorf("1,000 ids of one millisecond have %d distinct low bits, want nearly 1,000", len(low))
	}
	for _, s := range []string{"", "ins_1", "ins_" + strings.Repeat("A", 26), "ins_" + strings.Repeat("a", 25) + "1", strings.Repeat("a", 12) + "-" + strings.Repeat("a", 13)} {
		if order, ok := IDOrder(s); ok {
			t.Errorf("IDOrder(%q) = %d, true; want not an id", s, order)
		}
	}
}

// TestTokenKeysSortByTime: a timed token has 36 characters after its
// prefix; its key starts with its time, so keys of tokens made later sort
// later, and two tokens made in the same millisecond differ in key. A
// token from Token (a refresh token made before timed tokens) keeps its
// key, Hash(token), and anything that only looks timed is hashed whole.
func TestTokenKeysSortByTime(t *testing.T) {
	shape := regexp.MustCompile(`^dwrt_[a-z2-7]{36}$`)
	key := regexp.MustCompile(`^[a-z2-7]{10}[0-9a-f]{64}$`)
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var keys []string
	for _, step := range []time.Duration{0, time.Millisecond, time.Second, time.Hour, 400 * 24 * time.Hour} {
		base = base.Add(step)
		tok := timedTokenAt("dwrt_", base)
		k := TokenKey(tok)
		if !shape.MatchString(tok) || !key.MatchString(k) || k[10:] != Hash(tok) {
			t.Fatalf("timed token %q has key %q; want dwrt_ and 36 characters, keyed by its time then its hash", tok, k)
		}
		if len(keys) > 0 && k <= keys[len(keys)-1] {
			t.Fatalf("key %q of a token made %v later sorts before %q", k, step, keys[len(keys)-1])
		}
		keys = append(keys, k)
	}
	same := map[string]bool{}
	for range 10_000 {
		k := TokenKey(timedTokenAt("dwac_", base))
		if same[k] {
			t.Fatalf("two tokens made in the same millisecond share key %q", k)
		}
		same[k] = true
	}
	for _, tok := range []string{
		Token("dwrt_"), // made before timed tokens
		"dwrt_" + "ABCDEFGHIJ" + strings.Repeat("a", 26), // uppercase: not ours
		"dwrt_" + strings.Repeat("a", 35),                // one short
		"dwrt_" + strings.Repeat("a", 9) + "_" + strings.Repeat("a", 26),
		"",
	} {
		if got := TokenKey(tok); got != Hash(tok) {
			t.Errorf("TokenKey(%q) = %q, want its hash alone", tok, got)
		}
	}
}
