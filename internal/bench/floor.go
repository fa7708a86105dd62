package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// The floor runs as this program with floorEnv set to its address.
const (
	floorEnv     = "DOORWAY_BENCH_FLOOR"
	floorSizeEnv = "DOORWAY_BENCH_FLOOR_SIZE"
)

// floorBody is a JSON object of exactly size bytes (at least 40), shaped
// like a token response.
func floorBody(size int) []byte {
	const head, tail = `{"token_type":"Bearer","access_token":"`, `"}`
	pad := max(0, size-len(head)-len(tail))
	return []byte(head + strings.Repeat("x", pad) + tail)
}

// serveFloor is the floor: the least a Go HTTP server can do for a token
// request, which is to read the body and answer a JSON body of the same
// size with the headers a token response has. It has the server timeouts
// doorway has.
func serveFloor(addr string) {
	size, _ := strconv.Atoi(os.Getenv(floorSizeEnv))
	body := floorBody(size)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}
