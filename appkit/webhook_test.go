package appkit_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/doorwayhq/doorway/appkit"
)

// TestVerifyWebhook checks appkit against the Standard Webhooks reference
// library's signatures.
func TestVerifyWebhook(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"id":"evt_1","type":"app.installed","created":1,"data":{"instance_id":"ins_1","sequence":1,"state":"s"}}`)
	now := time.Now()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign("evt_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	header := func(id string, at time.Time, sig string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
		h.Set("webhook-signature", sig)
		return h
	}
	e, err := appkit.VerifyWebhook(body, header("evt_1", now, "v1,bogus "+sig), []string{"whsec_b3RoZXI=", secret}, now)
	if err != nil || e.Type != "app.installed" || e.Data.InstanceID != "ins_1" || e.Data.State != "s" {
		t.Fatalf("VerifyWebhook = %+v, %v", e, err)
	}
	bad := []struct {
		name string
		body []byte
		h    http.Header
		says string
	}{
		{"forged body", []byte(strings.Replace(string(body), "ins_1", "ins_2", 1)), header("evt_1", now, sig), "does not match"},
		{"other id", body, header("evt_2", now, sig), "does not match"},
		{"six minutes old", body, header("evt_1", now.Add(-6*time.Minute), sig), "old"},
		{"no signature", body, header("evt_1", now, ""), "missing"},
	}
	for _, b := range bad {
		if _, err := appkit.VerifyWebhook(b.body, b.h, []string{secret}, now); err == nil || !strings.Contains(err.Error(), b.says) {
			t.Errorf("%s: %v, want an error saying %q", b.name, err, b.says)
		}
	}
}
