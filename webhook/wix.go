package webhook

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/doorwayhq/doorway"
)

// Wix sends what Wix sends: the body is a JWT signed RS256 with the app's
// own key (its public half is printed by `doorway apps create` and `doorway
// webhooks key`), whose claim "data" is a JSON string holding eventType,
// instanceId and, again as a JSON string, the event's data. Installs are
// AppInstalled and uninstalls AppRemoved, as on Wix; the events Wix has no
// name for keep Doorway's.
type Wix struct{}

var wixTypes = map[string]string{
	doorway.EventInstalled:   "AppInstalled",
	doorway.EventUninstalled: "AppRemoved",
}

// WixEnvelope is the JSON inside the JWT's data claim.
type WixEnvelope struct {
	EventType  string `json:"eventType"`
	InstanceID string `json:"instanceId"`
	Data       string `json:"data"` // JSON of WixData
}

// WixData is the event's data, in Wix's names plus Doorway's.
type WixData struct {
	EventID     string   `json:"eventId"`
	AppID       string   `json:"appId"`
	TenantID    string   `json:"tenantId"`
	UserID      string   `json:"userId"`
	Livemode    bool     `json:"livemode"`
	Permissions []string `json:"permissions"`
	Sequence    int64    `json:"sequence"`
	State       string   `json:"state"`
}

// Encode implements Format.
func (Wix) Encode(m *Message, c Credentials) ([]byte, http.Header, error) {
	key, err := c.Key()
	if err != nil {
		return nil, nil, err
	}
	b := NewBody(m.Event)
	inner, err := json.Marshal(WixData{EventID: b.ID, AppID: b.Data.AppID, TenantID: b.Data.TenantID, UserID: b.Data.UserID,
		Livemode: b.Data.Livemode, Permissions: b.Data.Permissions, Sequence: b.Data.Sequence, State: b.Data.State})
	if err != nil {
		return nil, nil, err
	}
	env := WixEnvelope{EventType: b.Type, InstanceID: b.Data.InstanceID, Data: string(inner)}
	if t, ok := wixTypes[b.Type]; ok {
		env.EventType = t
	}
	outer, err := json.Marshal(env)
	if err != nil {
		return nil, nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, nil, err
	}
	claims := struct {
		Data string `json:"data"`
		jwt.Claims
	}{Data: string(outer), Claims: jwt.Claims{IssuedAt: jwt.NewNumericDate(m.At), Expiry: jwt.NewNumericDate(m.At.Add(time.Hour))}}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return nil, nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	return []byte(tok), h, nil
}
