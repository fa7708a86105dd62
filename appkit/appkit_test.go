package appkit_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/appkit"
	"github.com/doorwayhq/doorway/profile"
	"github.com/doorwayhq/doorway/profile/stripelink"
)

func signed(state *string, user, account, secret string, at time.Time) url.Values {
	payload, _ := stripelink.Payload(state, user, account)
	q := url.Values{"user_id": {user}, "account_id": {account}, "install_signature": {stripelink.Sign(payload, []string{secret}, at)}}
	if state != nil {
		q.Set("state", *state)
	}
	return q
}

func TestVerifyInstallLink(t *testing.T) {
	now := time.Now()
	st := "s-1"
	good := signed(&st, "usr_1", "tnt_1", "dwss_a", now)
	in, err := appkit.VerifyInstallLink(good, []string{"dwss_old", "dwss_a"}, now)
	if err != nil || in.AccountID != "tnt_1" || in.State != "s-1" || !in.Livemode {
		t.Fatalf("VerifyInstallLink = %+v, %v", in, err)
	}
	tests := []struct {
		name string
		q    url.Values
		want string
	}{
		{"other account", with(good, "account_id", "tnt_2"), "does not match"},
		{"other state", with(good, "state", "s-2"), "does not match"},
		{"state dropped", without(good, "state"), "does not match"},
		{"wrong secret", signed(&st, "usr_1", "tnt_1", "dwss_b", now), "does not match"},
		{"too old", signed(&st, "usr_1", "tnt_1", "dwss_a", now.Add(-6*time.Minute)), "old"},
		{"no signature", without(good, "install_signature"), "missing or malformed"},
		{"no account", without(good, "account_id"), "no user_id or account_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := appkit.VerifyInstallLink(tc.q, []string{"dwss_a"}, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	if _, err := appkit.VerifyInstallLink(url.Values{"error": {"access_denied"}}, nil, now); !errors.Is(err, appkit.ErrDenied) {
		t.Fatalf("denial = %v, want ErrDenied", err)
	}
}

func with(q url.Values, k, v string) url.Values {
	c := url.Values{}
	for key, vs := range q {
		c[key] = append([]string(nil), vs...)
	}
	c.Set(k, v)
	return c
}

func without(q url.Values, k string) url.Values {
	c := with(q, "_", "")
	c.Del("_")
	c.Del(k)
	return c
}

func TestVerifyRedirect(t *testing.T) {
	now := time.Now()
	names := []string{"appId", "tenantId", "instanceId"}
	target := profile.Signed("https://app.example/cb?mine=1",
		[]profile.Param{{"appId", "app_1"}, {"tenantId", "tnt_1"}, {"instanceId", "ins_1"}}, []string{"dwss_a"}, now)
	u, _ := url.Parse(target)
	q := u.Query()
	if err := appkit.VerifyRedirect(q, names, []string{"dwss_a"}, now); err != nil {
		t.Fatalf("genuine redirect: %v", err)
	}
	cases := map[string]func(url.Values){
		"forged tenant":     func(q url.Values) { q.Set("tenantId", "tnt_2") },
		"missing instance":  func(q url.Values) { q.Del("instanceId") },
		"missing signature": func(q url.Values) { q.Del("doorway_signature") },
	}
	for name, mutate := range cases {
		bad, _ := url.ParseQuery(q.Encode())
		mutate(bad)
		if err := appkit.VerifyRedirect(bad, names, []string{"dwss_a"}, now); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if err := appkit.VerifyRedirect(q, names, []string{"dwss_other"}, now); err == nil || !strings.Contains(err.Error(), "doorway_signature") {
		t.Errorf("wrong secret: %v, want an error naming doorway_signature", err)
	}
	if err := appkit.VerifyRedirect(q, names, []string{"dwss_a"}, now.Add(6*time.Minute)); err == nil {
		t.Error("a 6-minute-old signature verified")
	}
}
