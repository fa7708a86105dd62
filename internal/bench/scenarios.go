package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/guard"
	"github.com/doorwayhq/doorway/secret"
)

// scenarios drives one doorway server with one fleet.
type scenarios struct {
	url   string
	f     *fleet
	rc    *receiver
	pairs *atomic.Int64 // b's (app, tenant) pairs used so far

	mu       sync.Mutex
	tokens   []token  // access tokens from a, for d and e
	refresh  []token  // one refresh token per worker, from b, for c
	browsers []string // one browser-binding cookie per worker
	bodySize atomic.Int64
}

// token is a credential with the index of its app in the fleet (a, d) or
// among the install apps (c).
type token struct {
	value string
	app   app
}

const (
	redirectURI = "https://bench.example/callback"
	keepTokens  = 1000
)

func newScenarios(url string, f *fleet, rc *receiver, pairs *atomic.Int64, conns int) *scenarios {
	s := &scenarios{url: url, f: f, rc: rc, pairs: pairs, refresh: make([]token, conns), browsers: make([]string, conns)}
	for i := range s.browsers {
		s.browsers[i] = secret.Token("")
	}
	return s
}

func form(method, u string, v url.Values) *http.Request {
	req, _ := http.NewRequest(method, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func readToken(body []byte, refresh bool) (tokenResponse, error) {
	var t tokenResponse
	if err := json.Unmarshal(body, &t); err != nil {
		return t, fmt.Errorf("token response is not JSON: %v: %.200s", err, body)
	}
	if t.AccessToken == "" || refresh && t.RefreshToken == "" {
		return t, fmt.Errorf("token response lacks a token: %.200s", body)
	}
	return t, nil
}

// instanceToken is scenario a: POST /oauth2/token, client_credentials with
// instance_id, for a random installation of the fleet.
func (s *scenarios) instanceToken(w *worker) error {
	in := s.f.sample[w.rand.IntN(len(s.f.sample))]
	a := s.f.fleetApp[in.app]
	req := form(http.MethodPost, s.url+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "instance_id": {in.id}})
	req.SetBasicAuth(a.id, a.secret)
	_, body, err := w.do(req, http.StatusOK)
	if err != nil {
		return err
	}
	t, err := readToken(body, false)
	if err != nil {
		return err
	}
	s.bodySize.Store(int64(len(body)))
	s.mu.Lock()
	if len(s.tokens) < keepTokens {
		s.tokens = append(s.tokens, token{t.AccessToken, a})
	}
	s.mu.Unlock()
	return nil
}

// floorRequest is scenario a's request sent to the floor, whose answer is
// read as a's is: the client's work is the same, only the server differs.
func floorRequest(base string) func(*worker) error {
	return func(w *worker) error {
		req := form(http.MethodPost, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
			"instance_id": {"ins_" + strings.Repeat("x", 26)}})
		req.SetBasicAuth("app_"+strings.Repeat("x", 26), "dwcs_"+strings.Repeat("x", 26))
		_, body, err := w.do(req, http.StatusOK)
		if err == nil {
			_, err = readToken(body, false)
		}
		return err
	}
}

// between returns what follows the first before in page up to the next
// end, or "" when either is missing: how the harness reads the consent
// page's form. A regular expression with a capture group did the same at
// ~36 µs an install, a tenth of the harness's CPU in b, all of it taken
// from the machine the server shares.
func between(page []byte, before, end string) string {
	i := bytes.Index(page, []byte(before))
	if i < 0 {
		return ""
	}
	rest := page[i+len(before):]
	j := bytes.IndexAny(rest, end)
	if j <= 0 {
		return ""
	}
	return string(rest[:j])
}

// install is scenario b: one user's whole install, as a browser and the
// app's backend make it.
func (s *scenarios) install(w *worker) error {
	// The k-th install goes to tenant k mod n, of the app next in turn
	// (shifted by one every n installs, so a tenant gets each of the eight
	// once before any comes again): b's webhooks go to the eight apps'
	// endpoints in turn, as a platform's go to many. (One app at a time,
	// every webhook went to one endpoint, whose cap of four requests at
	// once set the pace.)
	k := int(s.pairs.Add(1) - 1)
	n := len(s.f.tenants)
	tenant := k % n
	a := s.f.install[(tenant+k/n)%len(s.f.install)]
	cookies := "dw_browser=" + s.browsers[w.id]
	verifier := secret.Token("") + secret.Token("")
	sum := sha256.Sum256([]byte(verifier))
	state := fmt.Sprint("st-", k)

	// 1. The app sends the signed-in browser to the authorization
	// endpoint, which answers with the consent page (their one tenant is
	// shown).
	q := url.Values{"response_type": {"code"}, "client_id": {a.id}, "redirect_uri": {redirectURI}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	cookies += "; dw_session=" + s.f.sessions[tenant]
	req, _ := http.NewRequest(http.MethodGet, s.url+"/oauth2/authorize?"+q.Encode(), nil)
	req.Header.Set("Cookie", cookies)
	_, body, err := w.do(req, http.StatusOK)
	if err != nil {
		return err
	}
	page := between(body, `<form method="post" action="/install/`, `/"?`)
	csrf, shown := between(body, `name="csrf" value="`, `"`), between(body, `name="tenant" value="`, `"`)
	if page == "" || csrf == "" || shown == "" || !bytes.Contains(body, []byte(`value="approve"`)) {
		return fmt.Errorf("authorize did not answer with the consent page: %.300s", body)
	}
	page = "/install/" + page

	// 3. They press Install (the form carries the tenant shown).
	req = form(http.MethodPost, s.url+page+"/decision", url.Values{"csrf": {csrf}, "tenant": {shown}, "decision": {"approve"}})
	req.Header.Set("Cookie", cookies)
	req.Header.Set("Origin", s.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, _, err := w.do(req, http.StatusSeeOther)
	if err != nil {
		return err
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), redirectURI+"?") {
		return fmt.Errorf("the decision redirected to %q, want %s?…", resp.Header.Get("Location"), redirectURI)
	}
	bq := back.Query()
	if bq.Get("state") != state || bq.Get("code") == "" || bq.Get("instance_id") == "" {
		return fmt.Errorf("the redirect back lacks code, instance_id or state %s: %s", state, back)
	}
	s.rc.committedAt(bq.Get("instance_id"), time.Now())

	// 4. The app's backend exchanges the code, with its PKCE verifier.
	req = form(http.MethodPost, s.url+"/oauth2/token", url.Values{"grant_type": {"authorization_code"},
		"code": {bq.Get("code")}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	req.SetBasicAuth(a.id, a.secret)
	if _, body, err = w.do(req, http.StatusOK); err != nil {
		return err
	}
	t, err := readToken(body, true)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.refresh[w.id] = token{t.RefreshToken, a}
	s.mu.Unlock()
	return nil
}

// refreshRotation is scenario c: each worker refreshes its own grant over
// and over, keeping the rotated refresh token.
func (s *scenarios) refreshRotation(w *worker) error {
	s.mu.Lock()
	rt := s.refresh[w.id]
	s.mu.Unlock()
	if rt.value == "" {
		return errors.New("no refresh token for this worker: scenario b completed no install on it")
	}
	req := form(http.MethodPost, s.url+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.value}})
	req.SetBasicAuth(rt.app.id, rt.app.secret)
	_, body, err := w.do(req, http.StatusOK)
	if err != nil {
		return err
	}
	t, err := readToken(body, true)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.refresh[w.id] = token{t.RefreshToken, rt.app}
	s.mu.Unlock()
	return nil
}

// introspection is scenario d: POST /oauth2/introspect of an instance
// token from a, by the app it was issued to.
func (s *scenarios) introspection(w *worker) error {
	s.mu.Lock()
	n := len(s.tokens)
	var t token
	if n > 0 {
		t = s.tokens[w.rand.IntN(n)]
	}
	s.mu.Unlock()
	if n == 0 {
		return errors.New("no access token to introspect: scenario a issued none")
	}
	req := form(http.MethodPost, s.url+"/oauth2/introspect", url.Values{"token": {t.value}})
	req.SetBasicAuth(t.app.id, t.app.secret)
	_, body, err := w.do(req, http.StatusOK)
	if err != nil {
		return err
	}
	if !bytes.Contains(body, []byte(`"active":true`)) {
		return fmt.Errorf("introspection says the token is not active: %.200s", body)
	}
	return nil
}

// guardBenchmark is scenario e: the guard middleware verifying access
// tokens in-process, as a Go benchmark on every core. Its revocation check
// goes to the server once per grant per RevocationDelay, as in production.
func (s *scenarios) guardBenchmark() (testing.BenchmarkResult, int64, error) {
	s.mu.Lock()
	tokens := append([]token(nil), s.tokens[:min(64, len(s.tokens))]...)
	s.mu.Unlock()
	if len(tokens) == 0 {
		return testing.BenchmarkResult{}, 0, errors.New("no access token to verify: scenario a issued none")
	}
	g := &guard.Guard{Issuer: s.url}
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	call := func(t token) int {
		req := httptest.NewRequest(http.MethodGet, "/v1/customers", nil)
		req.Header.Set("Authorization", "Bearer "+t.value)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, t := range tokens { // the first check of each grant asks the server
		if code := call(t); code != http.StatusNoContent {
			return testing.BenchmarkResult{}, 0, fmt.Errorf("the guard refused a fresh token with %d", code)
		}
	}
	var refused atomic.Int64
	var next atomic.Int64
	res := testing.Benchmark(func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if call(tokens[int(next.Add(1))%len(tokens)]) != http.StatusNoContent {
					refused.Add(1)
				}
			}
		})
	})
	return res, refused.Load(), nil
}
