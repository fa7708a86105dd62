// Package admin is the platform operator's JSON API, at /admin/v1/, and the
// operations behind it, which the CLI runs too, so that both answer alike.
// It is off unless the operator sets a token (--admin-token); every request
// carries it as a bearer token.
//
// Today it covers webhooks: the delivery log of an app, replaying an event,
// and re-enabling an app's endpoints after a 410.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/store"
)

// API is the admin API.
type API struct {
	Store  store.Store
	Token  string // "" turns the HTTP API off
	Now    func() time.Time
	Logger *slog.Logger
}

// MaxPage is the most delivery-log rows one call returns.
const MaxPage = 200

// Attempt is one delivery-log row as the API and `doorway webhooks
// deliveries --json` show it.
type Attempt struct {
	ID            int64  `json:"id"`
	EventID       string `json:"event_id"`
	EventType     string `json:"event_type"`
	Attempt       int    `json:"attempt"`
	URL           string `json:"url"`
	Status        int    `json:"status"` // HTTP status; 0 when none came back
	Outcome       string `json:"outcome"`
	Error         string `json:"error,omitempty"`
	Response      string `json:"response,omitempty"`
	LatencyMS     int64  `json:"latency_ms"`
	At            string `json:"at"`
	NextAttemptAt string `json:"next_attempt_at,omitempty"`
	Dispatcher    string `json:"dispatcher"` // which node's dispatcher made the attempt
}

// Deliveries is a page of an app's delivery log, newest first.
type Deliveries struct {
	Deliveries []Attempt `json:"deliveries"`
	Next       int64     `json:"next,omitempty"` // pass as before= for older rows
}

// Event is an event's delivery state.
type Event struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	AppID         string `json:"app_id"`
	InstanceID    string `json:"instance_id"`
	Sequence      int64  `json:"sequence"`
	Delivery      string `json:"delivery"`
	Attempts      int    `json:"attempts"`
	NextAttemptAt string `json:"next_attempt_at"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Deliveries returns an app's delivery log, newest first: at most limit
// rows with an id below before (0: from the newest).
func (a *API) Deliveries(ctx context.Context, appID string, before int64, limit int) (*Deliveries, error) {
	if limit < 1 || limit > MaxPage {
		return nil, doorway.Errorf(doorway.EInvalid, "limit %d must be from 1 to %d", limit, MaxPage)
	}
	if _, err := a.Store.App(ctx, appID); errors.Is(err, store.ErrNotFound) {
		return nil, doorway.Errorf(doorway.ENotFound, "app %q does not exist (app ids look like app_…)", appID)
	} else if err != nil {
		return nil, err
	}
	rows, err := a.Store.Attempts(ctx, appID, before, limit+1)
	if err != nil {
		return nil, err
	}
	out := &Deliveries{Deliveries: []Attempt{}}
	if len(rows) > limit {
		rows = rows[:limit]
		out.Next = rows[limit-1].ID
	}
	for _, r := range rows {
		v := Attempt{ID: r.ID, EventID: r.EventID, EventType: r.EventType, Attempt: r.Number, URL: r.URL,
			Status: r.StatusCode, Outcome: string(r.Outcome), Error: r.Error, Response: r.Response,
			LatencyMS: r.Latency.Milliseconds(), At: stamp(r.At), Dispatcher: r.Dispatcher}
		if r.Outcome == doorway.Pending {
			v.NextAttemptAt = stamp(r.NextAt)
		}
		out.Deliveries = append(out.Deliveries, v)
	}
	return out, nil
}

// Replay makes an event due now, whatever happened to it before; it is
// sent with its original id, so receivers that saw it drop it.
func (a *API) Replay(ctx context.Context, eventID string) (*Event, error) {
	e, err := a.Store.ReplayEvent(ctx, eventID, a.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, doorway.Errorf(doorway.ENotFound, "event %q does not exist (event ids look like evt_…; see doorway webhooks deliveries APP)", eventID)
	}
	if err != nil {
		return nil, err
	}
	return &Event{ID: e.ID, Type: e.Type, AppID: e.AppID, InstanceID: e.InstallationID, Sequence: e.Sequence,
		Delivery: string(e.Delivery), Attempts: e.Attempts, NextAttemptAt: stamp(e.NextAttemptAt)}, nil
}

// Enable re-enables an app's endpoints disabled by 410 Gone and queues
// the events held back meanwhile; it returns how many.
func (a *API) Enable(ctx context.Context, appID string) (int, error) {
	if _, err := a.Store.App(ctx, appID); errors.Is(err, store.ErrNotFound) {
		return 0, doorway.Errorf(doorway.ENotFound, "app %q does not exist (app ids look like app_…)", appID)
	} else if err != nil {
		return 0, err
	}
	return a.Store.EnableWebhooks(ctx, appID, a.Now())
}

// Mount implements web.Mounter.
func (a *API) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/v1/apps/{app}/deliveries", a.auth(a.deliveries))
	mux.HandleFunc("POST /admin/v1/events/{event}/replay", a.auth(a.replay))
	mux.HandleFunc("POST /admin/v1/apps/{app}/webhooks/enable", a.auth(a.enable))
}

func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.Token == "" {
			a.fail(w, r, doorway.Errorf(doorway.ENotFound, "the admin API is off; start doorway serve with --admin-token (or DOORWAY_ADMIN_TOKEN)"))
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		want := sha256.Sum256([]byte(a.Token))
		have := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="doorway-admin"`)
			a.fail(w, r, doorway.Errorf(doorway.EUnauthorized, "send the admin token as Authorization: Bearer <token>"))
			return
		}
		h(w, r)
	}
}

func (a *API) deliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, before := 50, int64(0)
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			a.fail(w, r, doorway.Errorf(doorway.EInvalid, "limit %q must be a number from 1 to %d", clip(s), MaxPage))
			return
		}
		limit = n
	}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			a.fail(w, r, doorway.Errorf(doorway.EInvalid, "before %q must be a delivery id (the next of the previous page)", clip(s)))
			return
		}
		before = n
	}
	out, err := a.Deliveries(r.Context(), r.PathValue("app"), before, limit)
	a.reply(w, r, out, err)
}

func (a *API) replay(w http.ResponseWriter, r *http.Request) {
	out, err := a.Replay(r.Context(), r.PathValue("event"))
	a.reply(w, r, out, err)
}

func (a *API) enable(w http.ResponseWriter, r *http.Request) {
	n, err := a.Enable(r.Context(), r.PathValue("app"))
	a.reply(w, r, map[string]int{"requeued": n}, err)
}

func (a *API) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

var statuses = map[string]int{
	doorway.EInvalid: http.StatusBadRequest, doorway.ENotFound: http.StatusNotFound,
	doorway.EUnauthorized: http.StatusUnauthorized, doorway.EConflict: http.StatusConflict,
	doorway.EUnavailable: http.StatusServiceUnavailable,
	doorway.ELimited:     http.StatusTooManyRequests,
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := store.Code(err)
	status, ok := statuses[code]
	if !ok {
		if !store.Abandoned(r.Context(), err) {
			a.Logger.Error("admin api", "err", err)
		}
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, map[string]string{"error": code, "message": doorway.ErrorMessage(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
