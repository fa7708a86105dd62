// Package stripelink is the Stripe Apps install-link profile:
//
//	GET /apps/install/link/{linkID}?redirect_uri=…&state=…
//
// On approval the browser goes to redirect_uri with user_id, account_id,
// state (when given), install_signature and, for test links, livemode=false.
// On cancel it gets error=access_denied and Stripe's error_description.
//
// install_signature is the Stripe-Signature format, t=<unix>,v1=<hex>, an
// HMAC-SHA256 with the app's signing secret over "<t>." followed by the
// compact JSON {"state":…,"user_id":…,"account_id":…} in exactly that key
// order, with "state":null when no state was given. That is what Stripe's
// documented verifier rebuilds, so stripe-go's webhook.ValidatePayload (and
// the other official libraries) accept it. During secret rotation there is one
// v1= per valid secret.
package stripelink

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/install"
	"github.com/doorwayhq/doorway/profile"
)

// Profile renders install-link redirects.
type Profile struct{}

// Parse reads an install-link entry request. Duplicate parameters are
// refused: which one counts would otherwise depend on the parser.
func Parse(r *http.Request) (install.Start, error) {
	q := r.URL.Query()
	for _, k := range []string{"redirect_uri", "state"} {
		if n := len(q[k]); n > 1 {
			return install.Start{}, doorway.Errorf(doorway.EInvalid, "%s is given %d times in the install link; give it once.", k, n)
		}
	}
	_, hasRedirect := q["redirect_uri"]
	_, hasState := q["state"]
	return install.Start{
		Profile:     doorway.ProfileStripeLink,
		LinkID:      r.PathValue("linkID"),
		RedirectURI: q.Get("redirect_uri"),
		HasRedirect: hasRedirect,
		State:       q.Get("state"),
		HasState:    hasState,
	}, nil
}

// Approved implements install.Profile.
func (Profile) Approved(a install.Approval) (string, error) {
	r := a.Request
	var state *string
	if r.HasState {
		state = &r.State
	}
	payload, err := Payload(state, r.UserID, r.TenantID)
	if err != nil {
		return "", err
	}
	params := []profile.Param{{"user_id", r.UserID}, {"account_id", r.TenantID}}
	if r.HasState {
		params = append(params, profile.Param{"state", r.State})
	}
	params = append(params, profile.Param{"install_signature", Sign(payload, a.SigningSecrets, a.Now)})
	if r.Mode == doorway.Test {
		params = append(params, profile.Param{"livemode", "false"})
	}
	return profile.AppendQuery(r.RedirectURI, params), nil
}

// Denied implements install.Profile.
func (Profile) Denied(r *doorway.InstallRequest) string {
	params := []profile.Param{{"error", "access_denied"}, {"error_description", "The user denied your request"}}
	if r.HasState {
		params = append(params, profile.Param{"state", r.State})
	}
	return profile.AppendQuery(r.RedirectURI, params)
}

// Payload is the signed JSON: keys in Stripe's order, no HTML escaping
// (Ruby's JSON.dump, which Stripe's verifier example uses, does none).
func Payload(state *string, userID, accountID string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		State     *string `json:"state"`
		UserID    string  `json:"user_id"`
		AccountID string  `json:"account_id"`
	}{state, userID, accountID})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), err
}

// Sign returns a Stripe-Signature value for payload at t, with one v1 entry
// per secret.
func Sign(payload []byte, secrets []string, t time.Time) string {
	return profile.Sign(payload, secrets, t)
}
