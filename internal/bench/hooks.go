package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// receiver is the apps' webhook endpoint: it answers 204 at once and notes
// when each installation's app.installed arrived, for the outbox lag
// (commit to arrival) and the drain rate.
type receiver struct {
	url string
	srv *http.Server

	mu        sync.Mutex
	committed map[string]time.Time // instance id → when its install's decision answered
	early     map[string]time.Time // instance id → arrival before the decision's answer was read
	lags      []time.Duration
	count     int
	last      time.Time
}

func newReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc := &receiver{url: "http://" + ln.Addr().String(), committed: map[string]time.Time{}, early: map[string]time.Time{}}
	rc.srv = &http.Server{Handler: rc, ReadHeaderTimeout: 10 * time.Second}
	go rc.srv.Serve(ln)
	return rc, nil
}

var instancePrefix = []byte(`"ins_`)

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	var id string
	if i := bytes.Index(body, instancePrefix); i >= 0 {
		if j := bytes.IndexByte(body[i+1:], '"'); j > 0 {
			id = string(body[i+1 : i+1+j])
		}
	}
	rc.mu.Lock()
	rc.count++
	rc.last = now
	if at, ok := rc.committed[id]; ok {
		rc.lags = append(rc.lags, now.Sub(at))
		delete(rc.committed, id)
	} else if id != "" {
		rc.early[id] = now
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// committedAt notes that id's install committed, as its browser learnt at
// t. A webhook can beat the browser's redirect; its lag counts as zero.
func (rc *receiver) committedAt(id string, t time.Time) {
	rc.mu.Lock()
	if _, ok := rc.early[id]; ok {
		rc.lags = append(rc.lags, 0)
		delete(rc.early, id)
	} else {
		rc.committed[id] = t
	}
	rc.mu.Unlock()
}

// received returns how many deliveries arrived and when the last did.
func (rc *receiver) received() (int, time.Time) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.count, rc.last
}

// pending is how many committed installs have not had their webhook.
func (rc *receiver) pending() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.committed)
}

// takeLags returns the lags measured since the last call, sorted, and how
// many committed installs have not been delivered yet.
func (rc *receiver) takeLags() ([]time.Duration, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	l := rc.lags
	rc.lags = nil
	slices.Sort(l)
	return l, len(rc.committed)
}

func (rc *receiver) close() { rc.srv.Close() }
