package doorway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/doorwayhq/doorway/guard"
)

// A platform protects its own API with package guard; an app calls it with
// an instance token from the standard clientcredentials package, or with
// its secret key and Doorway-Account. Handlers read the caller from the
// context; RequirePermission refuses what the tenant did not grant.
func Example_guard() {
	m, app, stop := platform()
	defer stop()
	back := userInstalls(m.URL(), "/app-installer?appId="+app.App.ID)
	u, _ := url.Parse(back)
	instanceID, tenantID := u.Query().Get("instanceId"), u.Query().Get("tenantId")

	// The platform's API.
	g := &guard.Guard{Issuer: m.Issuer}
	mux := http.NewServeMux()
	mux.Handle("/v1/invoices", guard.RequirePermission("invoice_write", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := guard.FromContext(r.Context())
		fmt.Fprintf(w, "invoices of tenant %v for app %v", c.TenantID == tenantID, c.AppID == app.App.ID)
	})))
	mux.Handle("/v1/payments", guard.RequirePermission("payment_read", http.NotFoundHandler()))
	api := httptest.NewServer(g.Middleware(mux))
	defer api.Close()

	// The app.
	cc := clientcredentials.Config{ClientID: app.App.ID, ClientSecret: app.ClientSecret, TokenURL: m.Issuer + "/oauth2/token",
		EndpointParams: url.Values{"instance_id": {instanceID}}, AuthStyle: oauth2.AuthStyleInHeader}
	client := cc.Client(context.Background())
	show := func(resp *http.Response, err error) {
		must(err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var msg struct{ Message string }
		if json.Unmarshal(b, &msg) == nil {
			b = []byte(msg.Message[:strings.Index(msg.Message, ";")])
		}
		fmt.Println(resp.StatusCode, string(b))
	}
	show(client.Get(api.URL + "/v1/invoices"))
	show(client.Get(api.URL + "/v1/payments"))

	req, _ := http.NewRequest("GET", api.URL+"/v1/invoices", nil)
	req.Header.Set("Authorization", "Bearer "+app.ClientSecret)
	req.Header.Set(guard.AccountHeader, tenantID)
	show(http.DefaultClient.Do(req))
	// Output:
	// 200 invoices of tenant true for app true
	// 403 this request needs the payment_read permission
	// 200 invoices of tenant true for app true
}
