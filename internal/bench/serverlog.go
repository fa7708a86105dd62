package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// What the server says its requests took.
//
// b's p99 is read by the client, from a request's writing to its answer's
// end, on the two cores the client shares with the server: it holds the
// time the request waited for a core and for the client's own goroutines,
// as well as the server's work (the floor, which does nothing, has a p99
// of 8–13 ms at 32 connections). The server's request log says, for each
// request, how long its handler took (took=, from the handler's start to
// its answer written). Read over b's measured seconds, it splits the tail
// in two: the time in the handlers (the work, the waits for the writer,
// and the waits for a core while in them), and the time outside them
// (the request read and queued before its handler, and the client).

// installStepOf is the place in an install (installSteps) of the request
// a log line names, or -1: b's requests are the only ones in its seconds,
// and the decision's path is cut short in the log (maxLoggedPath), so the
// method and the path's start tell them apart.
func installStepOf(method, path string) int {
	switch {
	case method == "GET" && path == "/oauth2/authorize":
		return 0
	case method == "POST" && strings.HasPrefix(path, "/install/"):
		return 1
	case method == "POST" && path == "/oauth2/token":
		return 2
	}
	return -1
}

// installStepsInLog reads the request log at path from offset (its size
// when b began) and returns, for each of an install's requests, what the
// server took on each it finished from from to to, sorted.
func installStepsInLog(path string, offset int64, from, to time.Time) ([][]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return nil, err
	}
	steps := make([][]time.Duration, len(installSteps))
	lines := bufio.NewScanner(f)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		at, method, p, took, ok := requestLine(lines.Text())
		if !ok || at.Before(from) || at.After(to) {
			continue
		}
		if i := installStepOf(method, p); i >= 0 {
			steps[i] = append(steps[i], took)
		}
	}
	if err := lines.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, s := range steps {
		slices.Sort(s)
	}
	return steps, nil
}

// requestLine reads a request's line of the server's log (log/slog's
// text: time=… level=INFO msg=http method=… path=… status=… took=…); ok
// is false for any other line.
func requestLine(line string) (at time.Time, method, path string, took time.Duration, ok bool) {
	var isHTTP bool
	var err error
	for _, field := range strings.Fields(line) {
		k, v, found := strings.Cut(field, "=")
		if !found {
			continue
		}
		switch k {
		case "time":
			if at, err = time.Parse(time.RFC3339, v); err != nil {
				return
			}
		case "msg":
			isHTTP = v == "http"
		case "method":
			method = v
		case "path":
			path = v
		case "took":
			if took, err = time.ParseDuration(v); err != nil {
				return
			}
		}
	}
	return at, method, path, took, isHTTP && !at.IsZero() && method != "" && took > 0
}
