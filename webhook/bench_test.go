package webhook_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// benchReceiver acknowledges at once and notes when each instance's
// app.installed arrived.
type benchReceiver struct {
	*httptest.Server
	n    atomic.Int64
	mu   sync.Mutex
	when map[string]time.Time
}

func newBenchReceiver(b *testing.B) *benchReceiver {
	rc := &benchReceiver{when: map[string]time.Time{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body [512]byte
		n, _ := r.Body.Read(body[:])
		now := time.Now()
		if i := strings.Index(string(body[:n]), `"instance_id":"`); i >= 0 {
			id := string(body[i+15 : i+15+30])
			rc.mu.Lock()
			rc.when[id] = now
			rc.mu.Unlock()
		}
		rc.n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(rc.Close)
	return rc
}

// installs writes n approved installs straight through the store (each one
// transaction with its event, as the consent page does) and returns their
// instance ids, each with the time its transaction committed.
func installs(b *testing.B, s *testkit.Server, appID string, n int, every time.Duration) map[string]time.Time {
	committed := map[string]time.Time{}
	for _, in := range s.Installs(b, appID, n, every) {
		committed[in.ID] = in.CommittedAt
	}
	return committed
}

func waitDelivered(b *testing.B, rc *benchReceiver, n int64) {
	for deadline := time.Now().Add(2 * time.Minute); rc.n.Load() < n; {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d delivered after 2 minutes", rc.n.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkDeliveryBacklog drains a backlog of b.N events to one local
// endpoint (at most 4 requests at a time, the default per-endpoint cap):
// claim, sign, POST, record — the full path, on SQLite.
func BenchmarkDeliveryBacklog(b *testing.B) {
	s := testkit.Start(b, func(m *cli.Main) { m.DispatchManually, m.WebhookAllowPrivate = true, true })
	rc := newBenchReceiver(b)
	app := appWith(b, s, rc.URL+"/hooks", "")
	installs(b, s, app.App.ID, b.N, 0)
	b.ResetTimer()
	start := time.Now()
	s.Dispatcher.Start()
	waitDelivered(b, rc, int64(b.N))
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
}

// BenchmarkHelloPOST is the yardstick for BenchmarkDeliveryBacklog: the
// same receiver, plain POSTs from 4 goroutines, nothing else.
func BenchmarkHelloPOST(b *testing.B) {
	rc := newBenchReceiver(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	body := `{"id":"evt_x","type":"app.installed","data":{"instance_id":"ins_aaaaaaaaaaaaaaaaaaaaaaaaaa"}}`
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				resp, err := client.Post(rc.URL, "application/json", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "posts/s")
}

// BenchmarkOutboxLag writes installs at a steady 200 per second while the
// dispatcher runs, and reports how long each event took from its commit
// to the receiver (p50, p99).
func BenchmarkOutboxLag(b *testing.B) {
	s := testkit.Start(b, func(m *cli.Main) { m.WebhookAllowPrivate = true })
	rc := newBenchReceiver(b)
	app := appWith(b, s, rc.URL+"/hooks", "")
	b.ResetTimer()
	committed := installs(b, s, app.App.ID, b.N, 5*time.Millisecond)
	waitDelivered(b, rc, int64(b.N))
	b.StopTimer()
	var lags []time.Duration
	rc.mu.Lock()
	for id, at := range committed {
		lags = append(lags, rc.when[id].Sub(at))
	}
	rc.mu.Unlock()
	slices.Sort(lags)
	pct := func(p float64) float64 { return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "lag-p50-ms")
	b.ReportMetric(pct(0.99), "lag-p99-ms")
}
