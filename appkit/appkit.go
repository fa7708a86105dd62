// Package appkit is for app developers: it verifies what Doorway sends an
// app. This first part checks the redirect at the end of an install-link
// install (Stripe's install_signature), the way Stripe's own libraries do,
// so an app can use either.
package appkit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/doorwayhq/doorway/profile"
	"github.com/doorwayhq/doorway/profile/stripelink"
)

// Install is a verified install redirect.
type Install struct {
	UserID    string
	AccountID string
	State     string
	HasState  bool
	Livemode  bool
}

// ErrDenied is returned when the user cancelled the install.
var ErrDenied = errors.New("appkit: the user denied the install (error=access_denied)")

// DefaultTolerance is how old a signature may be, as in Stripe's libraries.
const DefaultTolerance = 5 * time.Minute

// VerifyInstallLink checks the query of an install-link redirect against the
// app's signing secrets (any may match, for rotation) and returns what it
// proves. now is usually time.Now().
func VerifyInstallLink(q url.Values, secrets []string, now time.Time) (*Install, error) {
	if q.Get("error") != "" {
		if q.Get("error") == "access_denied" {
			return nil, ErrDenied
		}
		return nil, fmt.Errorf("appkit: install failed: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	in := &Install{UserID: q.Get("user_id"), AccountID: q.Get("account_id"), Livemode: q.Get("livemode") != "false"}
	in.State, in.HasState = q.Get("state"), q.Has("state")
	if in.UserID == "" || in.AccountID == "" {
		return nil, errors.New("appkit: the redirect has no user_id or account_id")
	}
	var state *string
	if in.HasState {
		state = &in.State
	}
	payload, err := stripelink.Payload(state, in.UserID, in.AccountID)
	if err != nil {
		return nil, err
	}
	if err := verifySignature("install_signature", payload, q.Get("install_signature"), secrets, now); err != nil {
		return nil, err
	}
	return in, nil
}

// verifySignature checks a Stripe-Signature value given in parameter name.
func verifySignature(name string, payload []byte, header string, secrets []string, now time.Time) error {
	var ts int64 = -1
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if ts < 0 || len(sigs) == 0 {
		return fmt.Errorf("appkit: %s is missing or malformed (want t=…,v1=…)", name)
	}
	if age := now.Sub(time.Unix(ts, 0)); age > DefaultTolerance || age < -DefaultTolerance {
		return fmt.Errorf("appkit: %s is %s old; the limit is %s", name, age.Round(time.Second), DefaultTolerance)
	}
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		fmt.Fprintf(m, "%d.%s", ts, payload)
		want := m.Sum(nil)
		for _, got := range sigs {
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("appkit: %s does not match the signing secret", name)
}

// VerifyRedirect checks the doorway_signature of a redirect from the
// wix-external, wix-oauth or oauth2 profiles: names are the parameters it
// signs, in order (wix-external: appId, tenantId, instanceId; wix-oauth:
// code, instanceId and state when given; oauth2: code, state when given,
// iss, instance_id).
func VerifyRedirect(q url.Values, names []string, secrets []string, now time.Time) error {
	if q.Get("error") == "access_denied" {
		return ErrDenied
	}
	params := make([]profile.Param, 0, len(names))
	for _, n := range names {
		if !q.Has(n) {
			return fmt.Errorf("appkit: the redirect has no %s", n)
		}
		params = append(params, profile.Param{n, q.Get(n)})
	}
	return verifySignature(profile.SignatureParam, profile.Payload(params), q.Get(profile.SignatureParam), secrets, now)
}
