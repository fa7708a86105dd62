package appkit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Event is a verified Doorway webhook in the standard format.
type Event struct {
	ID      string `json:"id"` // the same on every retry: drop ones you have seen
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		AppID       string   `json:"app_id"`
		InstanceID  string   `json:"instance_id"`
		TenantID    string   `json:"tenant_id"`
		UserID      string   `json:"user_id"`
		Livemode    bool     `json:"livemode"`
		Permissions []string `json:"permissions"`
		Sequence    int64    `json:"sequence"` // grows per installation
		State       string   `json:"state"`    // the state of the install request
	} `json:"data"`
}

// VerifyWebhook checks a standard-format webhook (Standard Webhooks 1.0:
// webhook-id, webhook-timestamp, webhook-signature) against the app's
// whsec_ secrets (any may match, for rotation) and returns the event. The
// timestamp must be within DefaultTolerance of now.
func VerifyWebhook(body []byte, h http.Header, secrets []string, now time.Time) (*Event, error) {
	id, ts, sig := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sig == "" {
		return nil, errors.New("appkit: the webhook-id, webhook-timestamp or webhook-signature header is missing")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("appkit: webhook-timestamp %q is not Unix seconds", ts)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > DefaultTolerance || age < -DefaultTolerance {
		return nil, fmt.Errorf("appkit: the webhook is %s old; the limit is %s (check the clock, or a replayed request)", age.Round(time.Second), DefaultTolerance)
	}
	ok := false
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil {
			return nil, errors.New("appkit: a webhook secret is not whsec_ followed by base64")
		}
		m := hmac.New(sha256.New, key)
		fmt.Fprintf(m, "%s.%s.", id, ts)
		m.Write(body)
		want := m.Sum(nil)
		for _, part := range strings.Fields(sig) {
			v, b64, _ := strings.Cut(part, ",")
			got, err := base64.StdEncoding.DecodeString(b64)
			if v == "v1" && err == nil && hmac.Equal(got, want) {
				ok = true
			}
		}
	}
	if !ok {
		return nil, errors.New("appkit: webhook-signature does not match the webhook secret")
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("appkit: the webhook body: %w", err)
	}
	if e.ID != id {
		return nil, errors.New("appkit: the body's id differs from webhook-id")
	}
	return &e, nil
}
