package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// TestManyConcurrentWriters: 200 clients at once, each on its own
// connection, each making writes (an install request per link opened, a
// rate-limit row per failed client authentication). SQLite has one writer,
// so they queue in Doorway; none may see "database is locked" or any 5xx.
func TestManyConcurrentWriters(t *testing.T) {
	s := testkit.Start(t)
	app := s.App(t, appCallback)
	link := s.Link(t, app.App.ID, doorway.Live)

	const writers = 200
	var mu sync.Mutex
	statuses := map[int]int{}
	var bad []string
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			c := &http.Client{
				Transport:     &http.Transport{}, // a connection of its own
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
			defer c.CloseIdleConnections()
			for i := range 3 {
				var resp *http.Response
				var err error
				if i == 1 {
					form := url.Values{"grant_type": {"client_credentials"}, "client_id": {app.App.ID},
						"client_secret": {fmt.Sprintf("dwcs_wrong%d", w)}, "instance_id": {"x"}}
					resp, err = c.Post(s.URL()+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
				} else {
					resp, err = c.Get(link + fmt.Sprintf("?state=w%d-%d", w, i))
				}
				if err != nil {
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				if resp.StatusCode >= 500 || strings.Contains(string(body), "locked") {
					bad = append(bad, fmt.Sprintf("%d %s", resp.StatusCode, body))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d of %d requests failed, e.g. %v (statuses %v)", len(bad), 3*writers, bad[:min(3, len(bad))], statuses)
	}
	// Every link opened became an install request (its first page, 200);
	// every wrong secret was refused (401, then 429 as the limit every
	// node shares fills up).
	if statuses[http.StatusOK] != 2*writers || statuses[401]+statuses[429] != writers || statuses[429] == 0 {
		t.Fatalf("statuses = %v, want %d install pages and %d refusals, some of them 429", statuses, 2*writers, writers)
	}
}
