package doorway

import (
	"fmt"
	"time"
)

// WebhookFormat is the wire dialect of an app's webhooks, chosen per app
// version like an install profile is chosen per entry URL.
type WebhookFormat string

const (
	// WebhookStandard: Standard Webhooks headers, whsec_ secrets (default).
	WebhookStandard WebhookFormat = "standard"
	// WebhookStripe: a Stripe event object with a Stripe-Signature header.
	WebhookStripe WebhookFormat = "stripe"
	// WebhookWix: the body is a JWT signed RS256 with the app's own key.
	WebhookWix WebhookFormat = "wix"
)

// WebhookFormats lists the formats a manifest may name.
var WebhookFormats = []WebhookFormat{WebhookStandard, WebhookStripe, WebhookWix}

func (f WebhookFormat) valid() bool {
	for _, k := range WebhookFormats {
		if f == k {
			return true
		}
	}
	return false
}

// Delivery is where an event is on its way to the app's webhook endpoint.
type Delivery string

const (
	Pending   Delivery = "pending"   // due at NextAttemptAt (or leased by a dispatcher)
	Delivered Delivery = "delivered" // the endpoint answered 2xx
	Failed    Delivery = "failed"    // every retry of the schedule failed
	Disabled  Delivery = "disabled"  // the endpoint answered 410 Gone
	Skipped   Delivery = "skipped"   // the app version has no webhook_url
)

// Attempt is one try at delivering an event: a row of the delivery log.
type Attempt struct {
	ID         int64
	EventID    string
	EventType  string
	AppID      string
	Number     int // 1 for the first try of an event (replays continue counting)
	URL        string
	StatusCode int    // 0 when no HTTP answer came back
	Error      string // why the attempt failed, for the developer; "" on success
	Response   string // the first bytes of the answer
	Latency    time.Duration
	At         time.Time
	Outcome    Delivery // the event's state after this attempt
	NextAt     time.Time
	Dispatcher string // the lease owner that made the attempt: which node
}

// webhookProblems returns what is wrong with the manifest's webhook fields.
func (m *Manifest) webhookProblems() []string {
	var out []string
	if m.WebhookFormat != "" && !m.WebhookFormat.valid() {
		out = append(out, fmt.Sprintf(`"webhook_format" %q must be one of standard, stripe, wix`, m.WebhookFormat))
	}
	return out
}

// Webhook returns the manifest's webhook format, standard when unset.
func (m *Manifest) Webhook() WebhookFormat {
	if m.WebhookFormat == "" {
		return WebhookStandard
	}
	return m.WebhookFormat
}
