package cli_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// The request log is batched while serving (internal/logbuf): a line
// still shows within a fraction of a second, and shutting down writes
// every line that waited.
func TestRequestLogReachesTheOutput(t *testing.T) {
	out := &testkit.LogBuffer{}
	s := testkit.Start(t, func(m *cli.Main) { m.Logger, m.LogOutput = nil, out })
	get := func(path string) {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// A new database: its schema is created in one logged step.
	if got := strings.Count(out.String(), `msg="creating the database schema"`); got != 1 || strings.Contains(out.String(), "applying database migration") {
		t.Errorf("start on a new database logged the schema %d times (want once, and no migration one by one):\n%s", got, out.String())
	}
	get("/healthz")
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), "path=/healthz status=200") {
		if time.Now().After(deadline) {
			t.Fatalf("2 s after a request its log line has not been written; the log is %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	const n = 50
	for i := range n {
		get(fmt.Sprintf("/healthz?i=%d", i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "path=/healthz status=200"); got != n+1 {
		t.Fatalf("after shutdown the log has %d request lines, want %d", got, n+1)
	}
}
