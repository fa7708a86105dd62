package web_test

import (
	"strings"
	"testing"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// TestConsentPageEscapesTheApp: an app's name and purposes are the app
// developer's text, shown to someone else. The consent page shows them as
// text, escaped, with the platform's bar and footer, and each app's page
// shows that app's own (the parts are rendered once per version and kept).
func TestConsentPageEscapesTheApp(t *testing.T) {
	s := testkit.Start(t)
	ada := s.User(t, "ada@example.com")
	s.Tenant(t, "Acme Bakery", ada.Email)
	hostile := testkit.Manifest(appCallback)
	hostile.Name = `<script>alert(1)</script> & "Co"`
	hostile.Permissions[0].Purpose = `<img src=x onerror=alert(2)>`
	plain := testkit.Manifest(appCallback)
	plain.ID, plain.Name = "com.example.plain", "Plain Invoices"
	apps := []struct {
		m    doorway.Manifest
		want []string
		link string
	}{
		{hostile, []string{"Install &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Co&#34;</h1>",
			`<span class="purpose">&lt;img src=x onerror=alert(2)&gt;</span>`}, ""},
		{plain, []string{"Install Plain Invoices</h1>", "<h2>Plain Invoices will be able to:</h2>",
			`<span class="purpose">To address invoices.</span>`}, ""},
	}
	for i := range apps {
		apps[i].link = s.Link(t, s.AppManifest(t, apps[i].m).App.ID, doorway.Live)
	}
	for round := range 2 { // the second time from the kept parts
		for _, a := range apps {
			f := s.Browser(t).Start(a.link)
			p := f.SignIn(ada.Email, testkit.Password)
			for _, w := range append(a.want, `<span class="platform">`, "Secured by Doorway") {
				if !strings.Contains(p.Body, w) {
					t.Fatalf("round %d: the consent page of %q lacks %q:\n%s", round, a.m.Name, w, p.Body)
				}
			}
			if strings.Contains(p.Body, "<script>alert") || strings.Contains(p.Body, "<img src=x") {
				t.Fatalf("round %d: the consent page carries the app's markup unescaped:\n%s", round, p.Body)
			}
		}
	}
}
