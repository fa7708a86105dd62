package doorway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/doorwayhq/doorway/appkit"
)

// postJSON is how a Wix app talks to the platform: JSON bodies, and the
// access token as a bare Authorization header.
func postJSON(url, auth string, body, out any) int {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	must(err)
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(out)
	return resp.StatusCode
}

// An app written against Wix's external install flow, pointed at Doorway:
// build the install URL (with the app's own state in postInstallationUrl),
// verify the redirect, get an instance token with the instanceId, read the
// instance and mark its setup finished.
func Example_wixExternalInstall() {
	m, app, stop := platform()
	defer stop()
	base := m.URL()

	post := url.QueryEscape("https://app.example/installed?customer=42")
	back := userInstalls(base, "/app-installer?appId="+app.App.ID+"&postInstallationUrl="+post)

	u, _ := url.Parse(back)
	q := u.Query()
	err := appkit.VerifyRedirect(q, []string{"appId", "tenantId", "instanceId"}, []string{app.SigningSecret}, time.Now())
	fmt.Println("signature:", err == nil, "· our state:", q.Get("customer"))

	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	postJSON(base+"/oauth2/token", "", map[string]string{"grant_type": "client_credentials",
		"client_id": app.App.ID, "client_secret": app.ClientSecret, "instance_id": q.Get("instanceId")}, &tok)
	fmt.Println("instance token lasts", time.Duration(tok.ExpiresIn)*time.Second)

	instance := func() string {
		req, _ := http.NewRequest("GET", base+"/apps/v1/instance", nil)
		req.Header.Set("Authorization", tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		must(err)
		defer resp.Body.Close()
		var v struct {
			Instance struct{ Status string } `json:"instance"`
			Site     struct{ SiteDisplayName string }
		}
		json.NewDecoder(resp.Body).Decode(&v)
		return v.Site.SiteDisplayName + ": " + v.Instance.Status
	}
	fmt.Println(instance())
	var empty struct{}
	postJSON(base+"/apps/v1/bi-event", tok.AccessToken, map[string]string{"eventName": "APP_FINISHED_CONFIGURATION"}, &empty)
	fmt.Println(instance())
	// Output:
	// signature: true · our state: 42
	// instance token lasts 4h0m0s
	// Acme Bakery: setup_incomplete
	// Acme Bakery: active
}

// Wix's advanced OAuth: the app sends the user to /installer/install with
// its state, exchanges the code at /oauth/access, and refreshes with a
// refresh token that does not change.
func Example_wixAdvancedOAuth() {
	m, app, stop := platform()
	defer stop()
	base := m.URL()

	back := userInstalls(base, "/installer/install?appId="+app.App.ID+
		"&redirectUrl="+url.QueryEscape("https://app.example/installed")+"&state=session-7")
	q, _ := url.ParseQuery(back[len("https://app.example/installed?"):])
	fmt.Println("state matches:", q.Get("state") == "session-7")

	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
	}
	postJSON(base+"/oauth/access", "", map[string]string{"grant_type": "authorization_code",
		"client_id": app.App.ID, "client_secret": app.ClientSecret, "code": q.Get("code")}, &tok)
	fmt.Println("access token lasts", time.Duration(tok.ExpiresIn)*time.Second)

	refresh := tok.RefreshToken
	postJSON(base+"/oauth/access", "", map[string]string{"grant_type": "refresh_token",
		"client_id": app.App.ID, "client_secret": app.ClientSecret, "refresh_token": refresh}, &tok)
	fmt.Println("same refresh token:", tok.RefreshToken == refresh)
	// Output:
	// state matches: true
	// access token lasts 5m0s
	// same refresh token: true
}
