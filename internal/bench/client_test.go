package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is a real loopback server that counts the connections it was
// opened and the POST bodies it was sent.
type server struct {
	*httptest.Server
	conns atomic.Int64
	mu    sync.Mutex
	posts []string
}

func newServer(t *testing.T, idle time.Duration) *server {
	s := &server{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		// Larger than net/http's 2 KB before it chunks: sent chunked.
		io.WriteString(w, strings.Repeat("<p>consent</p>", 500))
	})
	mux.HandleFunc("POST /decision", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.posts = append(s.posts, string(body))
		s.mu.Unlock()
		http.Redirect(w, r, "https://app.example/callback?code=c1&state="+string(body), http.StatusSeeOther)
	})
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.posts = append(s.posts, string(body))
		s.mu.Unlock()
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close() // the connection ends with no answer
	})
	s.Server = httptest.NewUnstartedServer(mux)
	s.Config.IdleTimeout = idle
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *server) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.posts...)
}

func post(u, body string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain")
	return req
}

// TestClientsDriveAnInstallsRequests: both clients read a chunked page
// whole, send a form's body, stop at a redirect (b reads its Location)
// and keep their connections alive.
func TestClientsDriveAnInstallsRequests(t *testing.T) {
	for _, kind := range []string{clientStd, clientMinimal} {
		t.Run(kind, func(t *testing.T) {
			s := newServer(t, time.Minute)
			c := newClient(kind, 2)
			defer c.closeIdle()
			want := strings.Repeat("<p>consent</p>", 500)
			for id := range 2 {
				w := &worker{id: id, c: c}
				for i := range 10 {
					req, _ := http.NewRequest(http.MethodGet, s.URL+"/page", nil)
					_, body, err := w.do(req, http.StatusOK)
					if err != nil {
						t.Fatal(err)
					}
					if string(body) != want {
						t.Fatalf("page: %d bytes, want %d", len(body), len(want))
					}
					state := strings.Repeat("s", i+1)
					resp, _, err := w.do(post(s.URL+"/decision", state), http.StatusSeeOther)
					if err != nil {
						t.Fatal(err)
					}
					if got, want := resp.Header.Get("Location"), "https://app.example/callback?code=c1&state="+state; got != want {
						t.Fatalf("Location %q, want %q (a redirect is not followed)", got, want)
					}
				}
			}
			if got := len(s.sent()); got != 20 {
				t.Errorf("the server was sent %d decisions, want 20", got)
			}
			// Two workers one after the other: the Transport may share
			// one connection, the minimal client keeps one a worker.
			if n := s.conns.Load(); n < 1 || n > 2 || kind == clientMinimal && n != 2 {
				t.Errorf("40 requests from 2 workers opened %d connections, want one a worker at most (keep-alive)", n)
			}
		})
	}
}

// TestMinimalClientSendsAgainOnlyOnAnIdleConnection: a request that finds
// its kept connection closed by the server's idle timeout is sent again
// on a new one, body and all; a connection that ends under a request the
// server has read is an error, and the request is not sent twice (it may
// have installed something).
func TestMinimalClientSendsAgainOnlyOnAnIdleConnection(t *testing.T) {
	s := newServer(t, 30*time.Millisecond)
	c := newClient(clientMinimal, 1)
	defer c.closeIdle()
	c.staleAfter = 10 * time.Millisecond
	w := &worker{c: c}
	if _, _, err := w.do(post(s.URL+"/decision", "one"), http.StatusSeeOther); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server closes the idle connection
	if _, _, err := w.do(post(s.URL+"/decision", "two"), http.StatusSeeOther); err != nil {
		t.Fatalf("after the server closed the idle connection: %v, want the request sent again on a new one", err)
	}
	if got := strings.Join(s.sent(), ","); got != "one,two" {
		t.Errorf("the server was sent %q, want one,two", got)
	}
	if n := s.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the first closed for being idle)", n)
	}

	c.staleAfter = time.Hour // every connection is fresh now
	_, _, err := w.do(post(s.URL+"/drop", "three"), http.StatusOK)
	if err == nil || !strings.Contains(err.Error(), "POST /drop") {
		t.Errorf("a connection that ended under the request: err %v, want an error naming the request", err)
	}
	if got := strings.Join(s.sent(), ","); got != "one,two,three" {
		t.Errorf("the server was sent %q, want one,two,three (three once: it is not sent again)", got)
	}
}
