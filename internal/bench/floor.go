package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// The floor runs as this program with floorEnv set to its address;
// floorSignEnv makes it the signing floor.
const (
	floorEnv     = "DOORWAY_BENCH_FLOOR"
	floorSizeEnv = "DOORWAY_BENCH_FLOOR_SIZE"
	floorSignEnv = "DOORWAY_BENCH_FLOOR_SIGN"
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
//
// With floorSignEnv set it is the signing floor, a reference rather than a
// yardstick: before answering it signs a token's worth of claims with
// Ed25519, as every access token Doorway issues is (DESIGN.md: EdDSA JWTs),
// and with the implementation Doorway signs with (curve25519-voi: see
// keys/ed25519.go).
// What it loses against the floor is the signature's share of scenario a,
// which no store or handler work can win back.
func serveFloor(addr string) {
	size, _ := strconv.Atoi(os.Getenv(floorSizeEnv))
	body := floorBody(size)
	var key ed25519.PrivateKey
	if os.Getenv(floorSignEnv) != "" {
		_, key, _ = ed25519.GenerateKey(nil)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		out := body
		if key != nil {
			out = signedBody(key, len(body))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(out)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// signedBody is floorBody of size bytes whose token is a compact JWS,
// signed now, of claims shaped like an instance token's.
func signedBody(key ed25519.PrivateKey, size int) []byte {
	const header = `eyJhbGciOiJFZERTQSIsImtpZCI6ImZsb29yIiwidHlwIjoiYXQrand0In0`
	now := time.Now()
	claims := fmt.Sprintf(`{"iss":"http://127.0.0.1","sub":"ins_%026d","aud":"app_%026d","client_id":"app_%026d",`+
		`"scope":"site.read site.write","iat":%d,"exp":%d,"jti":"%d"}`, 0, 0, 0, now.Unix(), now.Unix()+300, now.UnixNano())
	signing := header + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	jws := signing + "." + base64.RawURLEncoding.EncodeToString(voi.Sign(voi.PrivateKey(key), []byte(signing)))
	const head, tail = `{"token_type":"Bearer","access_token":"`, `"}`
	b := make([]byte, 0, max(size, len(head)+len(jws)+len(tail)))
	b = append(append(b, head...), jws...)
	for len(b)+len(tail) < size {
		b = append(b, 'x')
	}
	return append(b, tail...)
}
