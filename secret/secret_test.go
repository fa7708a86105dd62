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
