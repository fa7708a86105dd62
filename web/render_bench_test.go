package web

import (
	"bytes"
	"strings"
	"testing"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/config"
	"github.com/doorwayhq/doorway/store"
)

// BenchmarkConsentRender renders the consent page every install shows, as
// show does once its data is read: the template, with the parts kept per
// server and per app version (fragments.go).
func BenchmarkConsentRender(b *testing.B) {
	s := &Server{Config: &config.Config{Platform: config.Platform{Name: "Bench Platform", SupportURL: "https://help.example"}}}
	s.pages, s.fragments = parsePages(), newFragments()
	var err error
	if s.chrome, err = s.fragments.chrome(s.Config.Platform); err != nil {
		b.Fatal(err)
	}
	v := &doorway.AppVersion{ID: "ver_1", Manifest: doorway.Manifest{Name: "Bench App", Permissions: []doorway.PermissionRequest{
		{Permission: "site.read", Purpose: "To show your site."}, {Permission: "site.write", Purpose: "To fix your site."}}}}
	tn := doorway.Tenant{ID: "tnt_01JABCDEFGHJKMNPQRSTVWXYZ", Name: "Tenant 1234"}
	p := page{Title: "Install Bench App", Request: &doorway.InstallRequest{Mode: doorway.Test, RedirectURI: "https://app.example/cb"},
		Ref: strings.Repeat("A", 300), App: v, User: &doorway.User{Email: "user1234@example.com"}, CSRF: strings.Repeat("c", 43),
		Tenants: []store.Membership{{Tenant: tn}}, Tenant: &tn, Platform: s.Config.Platform, Chrome: s.chrome}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		if p.Consent, err = s.fragments.consent(v, nil); err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		if err := s.pages["consent"].Execute(&buf, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "B/page")
}
