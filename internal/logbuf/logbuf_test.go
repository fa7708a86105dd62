package logbuf_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/internal/logbuf"
)

// output is what a terminal or log collector receives: the bytes, and how
// many write calls brought them.
type output struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writes++
	return o.b.Write(p)
}

func (o *output) get() (string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String(), o.writes
}

func (o *output) waitFor(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, _ := o.get()
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the output lacks %q; it is %q", within, want, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWritesThroughUntilStartAndAfterStop(t *testing.T) {
	out := &output{}
	w := logbuf.New(out)
	fmt.Fprintln(w, "before start")
	if got, _ := out.get(); got != "before start\n" {
		t.Fatalf("before Start a line must be written at once (a command may exit next); output %q", got)
	}
	w.Start()
	w.Stop()
	fmt.Fprintln(w, "after stop")
	if got, _ := out.get(); got != "before start\nafter stop\n" {
		t.Fatalf("after Stop a line must be written at once; output %q", got)
	}
}

func TestBufferedLinesArriveWithinFlushEvery(t *testing.T) {
	out := &output{}
	w := logbuf.New(out)
	w.Start()
	defer w.Stop()
	fmt.Fprintln(w, "GET /healthz 200")
	if got, _ := out.get(); got != "" {
		t.Fatalf("while buffering a line must wait for the flush; output %q", got)
	}
	out.waitFor(t, "GET /healthz 200\n", 10*logbuf.FlushEvery)
}

func TestManyLinesFewWrites(t *testing.T) {
	out := &output{}
	w := logbuf.New(out)
	w.Start()
	var wg sync.WaitGroup
	const writers, lines = 8, 500
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(w, "writer=%d line=%d %s\n", g, i, strings.Repeat("x", 60))
			}
		})
	}
	wg.Wait()
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	got, writes := out.get()
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if !strings.HasSuffix(l, strings.Repeat("x", 60)) || seen[l] {
			t.Fatalf("a line came out cut, mixed or twice: %q", l)
		}
		seen[l] = true
	}
	if len(seen) != writers*lines {
		t.Fatalf("%d lines came out, want %d: Stop must write what waits", len(seen), writers*lines)
	}
	// 4,000 lines of ~80 bytes are ~320 KB: about ten full buffers.
	if max := 2 * writers * lines * 80 / logbuf.MaxBuffered; writes > max {
		t.Fatalf("%d lines took %d writes, want at most %d", writers*lines, writes, max)
	}
}

func TestWarningsAreWrittenAtOnce(t *testing.T) {
	out := &output{}
	w := logbuf.New(out)
	log := slog.New(logbuf.Handler(slog.NewTextHandler(w, nil), w)).With("node", "a")
	w.Start()
	defer w.Stop()
	log.Info("http", "path", "/oauth2/token")
	if got, _ := out.get(); got != "" {
		t.Fatalf("an info line must wait for the flush; output %q", got)
	}
	log.Warn("webhooks: endpoint disabled")
	got, _ := out.get()
	info, warn := strings.Index(got, "msg=http"), strings.Index(got, "level=WARN")
	if info < 0 || warn < info || !strings.Contains(got, "node=a") {
		t.Fatalf("a warning must be written at once, after the lines before it, with the logger's attributes; output %q", got)
	}
	log.WithGroup("g").Error("boom")
	if got, _ := out.get(); !strings.Contains(got, "level=ERROR") {
		t.Fatalf("an error must be written at once (through WithGroup too); output %q", got)
	}
}

// BenchmarkRequestLine logs the server's request line to a file, as
// `doorway serve 2>file` does, straight and through a Writer.
func BenchmarkRequestLine(b *testing.B) {
	for _, buffered := range []bool{false, true} {
		b.Run(fmt.Sprintf("buffered=%v", buffered), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			w := logbuf.New(f)
			if buffered {
				w.Start()
				defer w.Stop()
			}
			log := slog.New(logbuf.Handler(slog.NewTextHandler(w, nil), w))
			ctx := context.Background()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					log.LogAttrs(ctx, slog.LevelInfo, "http", slog.String("method", "POST"),
						slog.String("path", "/oauth2/token"), slog.Int("status", 200), slog.Duration("took", 81*time.Microsecond))
				}
			})
		})
	}
}
