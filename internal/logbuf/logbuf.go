// Package logbuf batches a server's log lines into few write system calls.
//
// Doorway logs a line per request. Written straight to stderr, each line is
// one write(2): about 3 % of the server's CPU for an instance token
// (BENCHMARKS.md), the price of a system call, not of the bytes. A Writer
// keeps the lines in memory and writes them together when FlushEvery has
// passed or MaxBuffered bytes are waiting: the trade nginx makes with
// `access_log ... buffer= flush=`.
//
// What that costs, and how it is bounded:
//   - a line reaches the terminal or the log collector up to FlushEvery late;
//   - a process killed outright (SIGKILL, the OOM killer) loses at most the
//     last FlushEvery of lines. A signal's shutdown and Stop write them all;
//   - warnings and errors are written at once (Handler), so the line that
//     explains a crash is never the one held back.
//
// Until Start, and again after Stop, a Writer writes through: a command
// that logs and exits never leaves a line behind.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

const (
	// FlushEvery is the longest a line waits while buffering.
	FlushEvery = 100 * time.Millisecond
	// MaxBuffered is how many bytes wait before they are written at once.
	MaxBuffered = 32 << 10
)

// Writer is an io.Writer for a slog handler: safe for concurrent use, and
// each Write (one record, for slog's handlers) reaches the output whole.
type Writer struct {
	mu        sync.Mutex
	out       io.Writer
	buf       []byte
	buffering bool
	stop      chan struct{}
	done      chan struct{}
}

// New returns a Writer that writes through to out until Start.
func New(out io.Writer) *Writer { return &Writer{out: out} }

// Start begins buffering, and writing what waits every FlushEvery.
// Starting a Writer that buffers already does nothing.
func (w *Writer) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buffering {
		return
	}
	w.buffering = true
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go w.flusher(w.stop, w.done)
}

func (w *Writer) flusher(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.Flush()
		case <-stop:
			return
		}
	}
}

// Stop writes what waits and goes back to writing through.
func (w *Writer) Stop() error {
	w.mu.Lock()
	if !w.buffering {
		w.mu.Unlock()
		return nil
	}
	w.buffering = false
	stop, done := w.stop, w.done
	err := w.flushLocked()
	w.mu.Unlock()
	close(stop)
	<-done
	return err
}

// Write keeps p to be written with the next flush, or writes it through
// when the Writer is not buffering.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.buffering {
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= MaxBuffered {
		if err := w.flushLocked(); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// Flush writes what waits.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	if cap(w.buf) > 4*MaxBuffered { // one burst should not pin its memory
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
	return err
}

// Handler returns h, which writes to w, made to flush w after every record
// at slog.LevelWarn or above.
func Handler(h slog.Handler, w *Writer) slog.Handler { return flushing{h, w} }

type flushing struct {
	slog.Handler
	w *Writer
}

func (h flushing) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushing) WithAttrs(as []slog.Attr) slog.Handler {
	return flushing{h.Handler.WithAttrs(as), h.w}
}

func (h flushing) WithGroup(name string) slog.Handler {
	return flushing{h.Handler.WithGroup(name), h.w}
}
