package webhook

import (
	"encoding/json"
	"net/http"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/profile"
)

// Stripe sends Stripe event objects with a Stripe-Signature header (one
// v1= per valid secret, keyed with the whsec_ secret as it is), so an app
// written against Stripe verifies them with its own library. Installs are
// account.application.authorized and uninstalls
// account.application.deauthorized, as on Stripe; the events Stripe has no
// name for keep Doorway's (app.setup_completed, app.permissions_changed).
// data.object is the application, plus Doorway's event data.
type Stripe struct{}

// StripeAPIVersion is the api_version the events carry.
const StripeAPIVersion = "2025-10-29.clover"

var stripeTypes = map[string]string{
	doorway.EventInstalled:   "account.application.authorized",
	doorway.EventUninstalled: "account.application.deauthorized",
}

type stripeEvent struct {
	ID              string        `json:"id"`
	Object          string        `json:"object"`
	APIVersion      string        `json:"api_version"`
	Created         int64         `json:"created"`
	Type            string        `json:"type"`
	Account         string        `json:"account"`
	Livemode        bool          `json:"livemode"`
	PendingWebhooks int           `json:"pending_webhooks"`
	Request         stripeRequest `json:"request"`
	Data            struct {
		Object stripeApplication `json:"object"`
	} `json:"data"`
}

type stripeRequest struct {
	ID             *string `json:"id"`
	IdempotencyKey *string `json:"idempotency_key"`
}

type stripeApplication struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	Name   string `json:"name"`
	Data
}

// Encode implements Format.
func (Stripe) Encode(m *Message, c Credentials) ([]byte, http.Header, error) {
	secrets, err := c.Secrets()
	if err != nil {
		return nil, nil, err
	}
	b := NewBody(m.Event)
	ev := stripeEvent{ID: b.ID, Object: "event", APIVersion: StripeAPIVersion, Created: b.Created, Type: b.Type,
		Account: b.Data.TenantID, Livemode: b.Data.Livemode, PendingWebhooks: 1}
	if t, ok := stripeTypes[b.Type]; ok {
		ev.Type = t
	}
	ev.Data.Object = stripeApplication{ID: b.Data.AppID, Object: "application", Name: m.Version.Name, Data: b.Data}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, nil, err
	}
	h := jsonHeader()
	h.Set("Stripe-Signature", profile.Sign(body, secrets, m.At))
	return body, h, nil
}
