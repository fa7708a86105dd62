package oauth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkInstanceToken is the load harness's scenario a in-process:
// POST /oauth2/token, client_credentials + instance_id, through the whole
// handler (middleware, client authentication, the installation read on a
// real SQLite, the signature, the JSON answer), without the network.
// BenchmarkHelloForm is its yardstick in the same run: a handler that
// reads the same request and writes a body of the same size. The harness
// (make bench) says what a costs over loopback; this says where a change
// to the handler moves it, with allocations, in seconds.
func BenchmarkInstanceToken(b *testing.B) {
	x := newSetup(b)
	var ids []string
	for _, in := range x.s.Installs(b, x.app.App.ID, 64, 0) {
		ids = append(ids, in.ID)
	}
	auth := basic(x.app)
	h := x.s.Handler()
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, tokenRequest(auth, ids[i%len(ids)]))
		if w.Code != http.StatusOK {
			b.Fatalf("token = %d %s", w.Code, w.Body)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "B/answer")
}

func BenchmarkHelloForm(b *testing.B) {
	body := []byte(`{"token_type":"Bearer","access_token":"` + strings.Repeat("x", 700) + `"}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("instance_id") == "" {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, tokenRequest("Basic eA==", "ins_x"))
		if w.Code != http.StatusOK {
			b.Fatalf("hello = %d", w.Code)
		}
	}
}

func tokenRequest(auth, instance string) *http.Request {
	r := httptest.NewRequest("POST", "/oauth2/token",
		strings.NewReader("grant_type=client_credentials&instance_id="+instance))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", auth)
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}
