package cli

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/doorwayhq/doorway/demo"
)

// RunDemo runs the server with the demo's sample app mounted and seeds the
// demo platform. The sample app's redirect URI names the server's address,
// which is known only once it listens, so the app is seeded after Run and the
// mount answers 503 for the few milliseconds before. Webhooks may go to
// private addresses: the sample app is on this machine.
func (m *Main) RunDemo(ctx context.Context) (*demo.App, error) {
	m.WebhookAllowPrivate = true // the sample app receives its webhooks on this machine
	if m.Store == nil {
		if err := m.Open(ctx); err != nil {
			return nil, err
		}
	}
	mount := &demoMount{}
	m.Mounts = append(m.Mounts, mount)
	if err := m.Run(ctx); err != nil {
		return nil, err
	}
	a, err := demo.Seed(ctx, m.Store, m.Identity, m.Registry, m.Issuer)
	if err != nil {
		m.Close()
		return nil, err
	}
	inner := http.NewServeMux()
	a.Mount(inner)
	mount.mux.Store(inner)
	return a, nil
}

type demoMount struct{ mux atomic.Pointer[http.ServeMux] }

func (d *demoMount) Mount(mux *http.ServeMux) {
	mux.HandleFunc("/demo-app/", func(w http.ResponseWriter, r *http.Request) {
		inner := d.mux.Load()
		if inner == nil {
			http.Error(w, "The demo is still starting; reload in a moment.", http.StatusServiceUnavailable)
			return
		}
		inner.ServeHTTP(w, r)
	})
}
