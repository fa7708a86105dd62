package webhook

import (
	"crypto/rsa"
	"net/http"
	"time"

	"github.com/doorwayhq/doorway"
)

// Format turns an event into a signed HTTP request body and headers, in
// one wire dialect. Like the install profiles, each is a small adapter; the
// dispatcher around them is the same.
type Format interface {
	Encode(m *Message, c Credentials) (body []byte, h http.Header, err error)
}

// Message is what a format encodes: the event, the app version it goes to,
// and the time of this attempt (signatures carry it).
type Message struct {
	Event   *doorway.Event
	Version *doorway.AppVersion
	At      time.Time
}

// Credentials load what signs an app's webhooks, only when a format asks.
type Credentials interface {
	// Secrets are the app's whsec_ secrets valid now, newest first.
	Secrets() ([]string, error)
	// Key is the app's RSA key for wix-format webhooks.
	Key() (*rsa.PrivateKey, error)
}

// Formats maps each webhook_format to its adapter.
var Formats = map[doorway.WebhookFormat]Format{
	doorway.WebhookStandard: Standard{},
	doorway.WebhookStripe:   Stripe{},
	doorway.WebhookWix:      Wix{},
}

// Data is the data of a Doorway event, as in DESIGN.md §4.
type Data struct {
	AppID       string   `json:"app_id"`
	InstanceID  string   `json:"instance_id"`
	TenantID    string   `json:"tenant_id"`
	UserID      string   `json:"user_id"`
	Livemode    bool     `json:"livemode"`
	Permissions []string `json:"permissions"`
	Sequence    int64    `json:"sequence"`
	State       string   `json:"state"`
}

// Body is a Doorway event as the standard format sends it.
type Body struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"` // Unix seconds
	Data    Data   `json:"data"`
}

// NewBody returns the event's standard body.
func NewBody(e *doorway.Event) Body {
	perms := e.Permissions
	if perms == nil {
		perms = []string{}
	}
	return Body{ID: e.ID, Type: e.Type, Created: e.CreatedAt.Unix(), Data: Data{
		AppID: e.AppID, InstanceID: e.InstallationID, TenantID: e.TenantID, UserID: e.UserID,
		Livemode: e.Mode == doorway.Live, Permissions: perms, Sequence: e.Sequence, State: e.State}}
}

func jsonHeader() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return h
}
