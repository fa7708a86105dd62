// Package appapi is the API apps call about their installations, in Wix's
// shapes where Wix has one:
//
//	POST   /apps/v1/bi-event  (and /v1/bi-event)  {"eventName":"APP_FINISHED_CONFIGURATION"}
//	GET    /apps/v1/instance                      the installation and its tenant
//	DELETE /apps/v1/instance                      the app uninstalls itself
//	GET    /apps/v1/installations?limit=&after=   every installation of the app (HTTP Basic)
//
// The instance endpoints take an access token as Wix sends it (a bare
// Authorization header) or as RFC 6750 does (Bearer), or an app's client
// secret as a Bearer token together with Doorway-Account: <tenant id>, like
// Stripe's secret key and Stripe-Account. Package guard uses GET
// /apps/v1/instance to learn that an installation is still installed.
package appapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/guard"
	"github.com/doorwayhq/doorway/oauth"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// AccountHeader names the tenant an app acts on when it authenticates with
// its secret key.
const AccountHeader = guard.AccountHeader

// API serves the app endpoints.
type API struct {
	Store  store.Store
	OAuth  *oauth.Server
	Now    func() time.Time
	Logger *slog.Logger
}

// Mount adds the endpoints to mux.
func (a *API) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST /apps/v1/bi-event", a.biEvent)
	mux.HandleFunc("POST /v1/bi-event", a.biEvent)
	mux.HandleFunc("GET /apps/v1/instance", a.instance)
	mux.HandleFunc("DELETE /apps/v1/instance", a.uninstall)
	mux.HandleFunc("GET /apps/v1/installations", a.installations)
}

// Caller is who called: an app acting on one installation, with the
// permissions it may use there.
type Caller struct {
	Installation *doorway.Installation
	Permissions  []string
}

type apiError struct {
	status  int
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Message }

func unauthorized(msg string) *apiError { return &apiError{http.StatusUnauthorized, msg} }

// Authenticate identifies the caller of an instance endpoint.
func (a *API) Authenticate(r *http.Request) (*Caller, error) {
	token := guard.Credential(r)
	if token == "" {
		return nil, unauthorized("send an access token in the Authorization header (bare or as Bearer), or a client secret as Bearer with " + AccountHeader)
	}
	if strings.HasPrefix(token, "dwcs_") {
		return a.bySecret(r.Context(), token, r.Header.Get(AccountHeader))
	}
	acc, err := a.OAuth.Authenticate(r.Context(), token)
	if errors.Is(err, oauth.ErrInactive) {
		return nil, unauthorized("the access token is invalid, expired or revoked (an uninstall revokes every token of the installation)")
	} else if err != nil {
		return nil, err
	}
	return &Caller{Installation: acc.Installation, Permissions: acc.Scope()}, nil
}

func (a *API) bySecret(ctx context.Context, sec, tenantID string) (*Caller, error) {
	if tenantID == "" {
		return nil, &apiError{http.StatusBadRequest, "a client secret acts for a tenant: add the header " + AccountHeader + ": <tenant id>"}
	}
	row, err := a.Store.AppSecretByHash(ctx, secret.Hash(sec))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (row.Kind != doorway.ClientSecret || !row.ValidAt(a.Now()))) {
		return nil, unauthorized("the client secret is unknown or has expired")
	} else if err != nil {
		return nil, err
	}
	for _, mode := range []doorway.Mode{doorway.Live, doorway.Test} {
		inst, err := a.Store.InstallationFor(ctx, row.AppID, tenantID, mode)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		if inst.Status != doorway.Uninstalled {
			return &Caller{Installation: inst, Permissions: inst.Permissions}, nil
		}
	}
	return nil, &apiError{http.StatusForbidden, fmt.Sprintf("app %s is not installed in tenant %q", row.AppID, clip(tenantID))}
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *apiError
	switch {
	case errors.As(err, &e):
	case store.Unavailable(err):
		a.Logger.Warn("app api: database unavailable", "error", err)
		e = &apiError{http.StatusServiceUnavailable, "the database is unavailable for a moment; retry shortly"}
		w.Header().Set("Retry-After", "1")
	default:
		if !store.Abandoned(r.Context(), err) {
			a.Logger.Error("app api", "error", err)
		}
		e = &apiError{http.StatusInternalServerError, "internal error"}
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="doorway", error="invalid_token"`)
	}
	writeJSON(w, e.status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// biEvent moves a setup_incomplete installation to active.
func (a *API) biEvent(w http.ResponseWriter, r *http.Request) {
	c, err := a.Authenticate(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body struct {
		EventName string `json:"eventName"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		a.fail(w, r, &apiError{http.StatusBadRequest, `the body must be JSON such as {"eventName":"APP_FINISHED_CONFIGURATION"}: ` + err.Error()})
		return
	}
	if body.EventName != "APP_FINISHED_CONFIGURATION" {
		a.fail(w, r, &apiError{http.StatusBadRequest, fmt.Sprintf("eventName %q is not supported; send APP_FINISHED_CONFIGURATION when the app's setup is done", clip(body.EventName))})
		return
	}
	_, err = a.Store.CompleteSetup(r.Context(), c.Installation.ID, secret.ID("evt_"), a.Now())
	if errors.Is(err, store.ErrConflict) {
		err = unauthorized("the installation was uninstalled")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// instance answers Wix's GET /apps/v1/instance shape.
func (a *API) instance(w http.ResponseWriter, r *http.Request) {
	c, err := a.Authenticate(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	inst := c.Installation
	v, err := a.Store.AppVersion(r.Context(), inst.VersionID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	t, err := a.Store.Tenant(r.Context(), inst.TenantID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"instance": map[string]any{
			"instanceId": inst.ID, "appId": inst.AppID, "appName": v.Name, "appVersion": v.Version,
			"permissions": c.Permissions, "isFree": true, "status": inst.Status, "livemode": inst.Mode == doorway.Live,
		},
		"site": map[string]any{"siteId": t.ID, "siteDisplayName": t.Name, "locale": "en"},
	})
}

// uninstall lets an app remove itself from a tenant.
func (a *API) uninstall(w http.ResponseWriter, r *http.Request) {
	c, err := a.Authenticate(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	_, err = a.Store.Uninstall(r.Context(), c.Installation.ID, "", secret.ID("evt_"), a.Now())
	if errors.Is(err, store.ErrConflict) {
		err = unauthorized("the installation was uninstalled already")
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// installationView is one row of GET /apps/v1/installations.
type installationView struct {
	InstanceID  string   `json:"instanceId"`
	TenantID    string   `json:"tenantId"`
	Status      string   `json:"status"`
	Livemode    bool     `json:"livemode"`
	Permissions []string `json:"permissions"`
	CreatedAt   string   `json:"createdAt"`
	UpdatedAt   string   `json:"updatedAt"`
}

const maxPage = 100

// installations lists the calling app's installations, a page at a time.
func (a *API) installations(w http.ResponseWriter, r *http.Request) {
	app, e := a.OAuth.BasicClient(r)
	if e != nil {
		oauth.WriteError(w, e)
		return
	}
	q := r.URL.Query()
	limit := 50
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			a.fail(w, r, &apiError{http.StatusBadRequest, fmt.Sprintf("limit %q must be a number from 1 to %d", clip(s), maxPage)})
			return
		}
		limit = n
	}
	rows, err := a.Store.Installations(r.Context(), app.ID, q.Get("after"), limit+1)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := struct {
		Installations []installationView `json:"installations"`
		Next          string             `json:"next,omitempty"` // pass as after= for the next page
	}{Installations: []installationView{}}
	if len(rows) > limit {
		rows = rows[:limit]
		out.Next = rows[limit-1].ID
	}
	for _, i := range rows {
		out.Installations = append(out.Installations, installationView{InstanceID: i.ID, TenantID: i.TenantID,
			Status: string(i.Status), Livemode: i.Mode == doorway.Live, Permissions: i.Permissions,
			CreatedAt: i.CreatedAt.Format(time.RFC3339), UpdatedAt: i.UpdatedAt.Format(time.RFC3339)})
	}
	writeJSON(w, http.StatusOK, out)
}
