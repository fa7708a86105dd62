package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Standard is the default format: Standard Webhooks 1.0. The body is the
// Doorway event (see Body); webhook-id is the event id, the same on every
// retry so receivers can drop duplicates; webhook-signature carries one
// "v1,<base64 HMAC-SHA256>" per valid secret, so a rotation does not break
// receivers that still hold the old secret.
type Standard struct{}

// Encode implements Format.
func (Standard) Encode(m *Message, c Credentials) ([]byte, http.Header, error) {
	secrets, err := c.Secrets()
	if err != nil {
		return nil, nil, err
	}
	body, err := json.Marshal(NewBody(m.Event))
	if err != nil {
		return nil, nil, err
	}
	ts := strconv.FormatInt(m.At.Unix(), 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil {
			return nil, nil, fmt.Errorf("a webhook secret of app %s is not whsec_ + base64: %w", m.Event.AppID, err)
		}
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.", m.Event.ID, ts)
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	h := jsonHeader()
	h.Set("webhook-id", m.Event.ID)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", strings.Join(sigs, " "))
	return body, h, nil
}
