package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestInstallStepsInLogReadsBsSeconds: from a request log as the server
// writes it, the times of b's three requests finished in b's seconds, each
// by its place in an install; lines before the offset, outside the
// seconds, of other requests or not of requests are left out.
func TestInstallStepsInLogReadsBsSeconds(t *testing.T) {
	from := time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)
	at := func(ms int) string {
		return from.Add(time.Duration(ms) * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
	}
	before := "time=" + at(100) + " level=INFO msg=http method=POST path=/oauth2/token status=200 took=99ms\n"
	log := strings.Join([]string{
		"time=" + at(-5) + " level=INFO msg=http method=POST path=/oauth2/token status=200 took=50ms", // before b's seconds
		"time=" + at(10) + " level=INFO msg=http method=GET path=/oauth2/authorize status=200 took=1.5ms",
		"time=" + at(20) + " level=INFO msg=http method=POST path=/install/ireq_0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefgh… status=303 took=12.25ms",
		"time=" + at(30) + " level=INFO msg=http method=POST path=/oauth2/token status=200 took=850µs",
		"time=" + at(40) + " level=INFO msg=http method=GET path=/install/ireq_0123 status=200 took=3ms", // a page, not the decision
		"time=" + at(50) + " level=INFO msg=http method=GET path=/healthz status=200 took=20µs",
		"time=" + at(60) + ` level=WARN msg="webhook delivery failed" app=app_1 took=5ms`,
		"time=" + at(70) + " level=INFO msg=http method=POST path=/oauth2/token status=400 took=2ms",
		"not a line of slog's",
		"time=" + at(1500) + " level=INFO msg=http method=POST path=/oauth2/token status=200 took=40ms", // after them
	}, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "sqlite.log")
	if err := os.WriteFile(path, []byte(before+log), 0o644); err != nil {
		t.Fatal(err)
	}
	steps, err := installStepsInLog(path, int64(len(before)), from, from.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]time.Duration{
		{1500 * time.Microsecond},
		{12250 * time.Microsecond},
		{850 * time.Microsecond, 2 * time.Millisecond},
	}
	if len(steps) != len(want) {
		t.Fatalf("steps = %v, want %v", steps, want)
	}
	for i := range want {
		if !slices.Equal(steps[i], want[i]) {
			t.Errorf("%s: %v, want %v", installSteps[i], steps[i], want[i])
		}
	}
	if _, err := installStepsInLog(filepath.Join(t.TempDir(), "none.log"), 0, from, from); err == nil {
		t.Error("a log that is not there: no error")
	}
}
