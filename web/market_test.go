package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/testkit"
	"github.com/doorwayhq/doorway/secret"
)

// TestMarketInstallTokens: anybody may open an app's marketplace address,
// so the install token it sends to the app URL is sealed, not stored, and
// twenty visitors write nothing; a token's use writes the row that makes
// it single-use. A token changed by one character, one used for another
// app, and one past its ten minutes are refused, and of two uses at once
// one wins.
func TestMarketInstallTokens(t *testing.T) {
	ctx := context.Background()
	s := testkit.Start(t)
	m := testkit.Manifest(wixCallback)
	m.AppURL = "https://app.example/wix/start"
	app := s.AppManifest(t, m)
	m.ID = "com.example.other"
	other := s.AppManifest(t, m)
	farFuture := s.Clock.Now().Add(365 * 24 * time.Hour)
	if _, err := s.Store.Sweep(ctx, farFuture); err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, 20)
	for i := range tokens {
		p := s.Browser(t).Get("/market/" + app.App.ID + "/install")
		lu, err := url.Parse(p.Location)
		if p.Status != http.StatusSeeOther || err != nil || lu.Query().Get("token") == "" {
			t.Fatalf("market install = %d to %q, want the app URL with a token", p.Status, p.Location)
		}
		tokens[i] = lu.Query().Get("token")
	}
	if n, err := s.Store.Sweep(ctx, farFuture); err != nil || n != 0 {
		t.Fatalf("20 visitors of the marketplace address left %d rows (err %v), want none", n, err)
	}
	entry := func(token, appID string) string {
		return "/installer/install?token=" + url.QueryEscape(token) + "&appId=" + appID + "&redirectUrl=" + url.QueryEscape(wixCallback)
	}
	tok := tokens[0]
	i := len(tok) / 2
	changed := tok[:i] + map[bool]string{true: "B", false: "A"}[tok[i] == 'A'] + tok[i+1:]
	for _, c := range []struct {
		name, url string
		status    int
		text      string
	}{
		{"changed by one character", entry(changed, app.App.ID), http.StatusBadRequest, "install token is not valid"},
		{"for another app", entry(tok, other.App.ID), http.StatusBadRequest, "install token is not valid"},
	} {
		if p := s.Browser(t).Get(c.url); p.Status != c.status || !strings.Contains(p.Body, c.text) {
			t.Errorf("token %s = %d, want %d %q:\n%.300s", c.name, p.Status, c.status, c.text, p.Body)
		}
	}

	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Go(func() { statuses[i] = s.Browser(t).Get(entry(tokens[1], app.App.ID)).Status })
	}
	wg.Wait()
	slices.Sort(statuses)
	if !slices.Equal(statuses, []int{http.StatusSeeOther, http.StatusGone}) {
		t.Fatalf("two uses of one token at once = %v, want one 303 to the install and one 410", statuses)
	}
	if n, err := s.Store.Sweep(ctx, farFuture); err != nil || n != 1 {
		t.Fatalf("after a token's use %d rows expire (err %v), want 1 (its use)", n, err)
	}

	// A token issued before tokens were sealed is a row in the store.
	now := s.Clock.Now()
	legacy := &doorway.InstallToken{Hash: secret.Hash("dwit_legacy"), AppID: app.App.ID, Mode: doorway.Live,
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := s.Store.CreateInstallToken(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{http.StatusSeeOther, http.StatusGone} {
		if p := s.Browser(t).Get(entry("dwit_legacy", app.App.ID)); p.Status != want {
			t.Fatalf("a stored token = %d, want %d (once, then used)", p.Status, want)
		}
	}

	s.Clock.Advance(10 * time.Minute)
	if p := s.Browser(t).Get(entry(tokens[2], app.App.ID)); p.Status != http.StatusGone || !strings.Contains(p.Body, "has expired") {
		t.Fatalf("a token after its ten minutes = %d, want 410 saying it expired:\n%.300s", p.Status, p.Body)
	}
}
