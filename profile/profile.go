// Package profile holds what the wire profiles (profile/stripelink,
// profile/wixexternal, profile/wixoauth, profile/oauth2) share: adding
// parameters to a registered redirect URI without touching what it already
// carries, and the Doorway signature over those parameters.
//
// Every success redirect carries a signature, so no app has to trust a bare
// id in a URL. Stripe's install_signature has its own payload (see
// stripelink); the other profiles append doorway_signature, the same
// Stripe-Signature format (t=<unix>,v1=<hex HMAC-SHA256>) over "<t>." and a
// compact JSON object of the parameters before it, in the order they appear
// in the URL. Any Stripe webhook-signature helper verifies it, and so does
// appkit.VerifyRedirect.
package profile

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SignatureParam is the query parameter that carries Doorway's signature.
const SignatureParam = "doorway_signature"

// Param is one query parameter: name and value.
type Param [2]string

// AppendQuery adds params, in order, to a registered redirect URI, keeping
// whatever query it has byte for byte.
func AppendQuery(target string, params []Param) string {
	var b strings.Builder
	b.WriteString(target)
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
		if strings.HasSuffix(target, "?") || strings.HasSuffix(target, "&") {
			sep = ""
		}
	}
	for _, p := range params {
		b.WriteString(sep + url.QueryEscape(p[0]) + "=" + strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
		sep = "&"
	}
	return b.String()
}

// Payload is the JSON object Doorway signs for params: keys in order, no
// HTML escaping.
func Payload(params []Param) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range params {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, p[0])
		b.WriteByte(':')
		writeJSONString(&b, p[1])
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Truncate(b.Len() - 1)
}

// Sign returns a Stripe-Signature value for payload at t, one v1 per secret.
func Sign(payload []byte, secrets []string, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		fmt.Fprintf(m, "%s.%s", ts, payload)
		b.WriteString(",v1=" + hex.EncodeToString(m.Sum(nil)))
	}
	return b.String()
}

// Signed appends params and their doorway_signature to target.
func Signed(target string, params []Param, secrets []string, t time.Time) string {
	sig := Sign(Payload(params), secrets, t)
	return AppendQuery(target, append(params, Param{SignatureParam, sig}))
}
