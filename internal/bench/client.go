package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// The clients the harness can drive its servers with (-client).
const (
	clientStd     = "std"
	clientMinimal = "minimal"
)

func clientName(kind string) string {
	if kind == clientMinimal {
		return "a minimal HTTP/1.1 client, one goroutine a connection"
	}
	return "net/http's Transport"
}

// client is the one HTTP client every scenario, and the floor, is driven
// with: HTTP/1.1 over keep-alive connections, as many to each server as
// there are workers, kept across scenarios and slices; no redirects
// followed (the install flow reads its Location headers).
//
// By default (std) that is net/http's Transport, as an app's backend
// calls Doorway, and as the targets were set. It passes every request
// through two goroutines of its connection besides the caller's
// (writeLoop and readLoop), and their hand-offs (channels, select, futex
// wake-ups) were about a third of the harness's CPU in b: CPU that the
// servers then lack on the two cores they share, paid for the floor's
// requests and Doorway's alike, so that it pulls every ratio towards 1,
// and a wait for a goroutine to be scheduled at each hand-off, counted in
// every latency. The minimal client has the worker's own goroutine write
// the request (the standard library's Request.Write, as the Transport
// does: the same bytes on the wire) and read the answer (http.ReadResponse):
// one goroutine a connection, as a load generator's event loop has. With
// it the floor answered 40 % more requests a second (BENCHMARKS.md).
type client struct {
	timeout time.Duration // for the whole of one request and its answer
	std     *http.Client  // the Transport; nil for the minimal client
	// staleAfter is how long a connection must have been idle before a
	// request that found it closed is sent again on a new one: only then
	// can the server have closed it for being idle. A connection in use
	// that ends mid-request is an error to report: the request may have
	// been processed, and a second one could make a second install.
	staleAfter time.Duration
	mu         sync.Mutex        // guards idle
	idle       map[connKey]*conn // the minimal client's connections, between requests
}

type connKey struct {
	worker int
	host   string
}

// conn is one keep-alive connection and its buffers.
type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	used time.Time // when its last answer was read
}

// newClient returns the client of that kind (clientStd or clientMinimal)
// for conns workers.
func newClient(kind string, conns int) *client {
	c := &client{timeout: 30 * time.Second, staleAfter: time.Second, idle: map[connKey]*conn{}}
	if kind != clientMinimal {
		c.std = &http.Client{
			Timeout: c.timeout,
			Transport: &http.Transport{
				// No cap on idle connections in all: the floor's stay open
				// while a scenario alternates with it (drivePaired).
				MaxIdleConns: 0, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
				IdleConnTimeout: 90 * time.Second, DisableCompression: true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return c
}

// do sends req on worker's connection to req's host (dialled when it has
// none) and reads the whole answer.
func (c *client) do(worker int, req *http.Request) (*http.Response, []byte, error) {
	if c.std != nil {
		resp, err := c.std.Do(req)
		if err != nil {
			return nil, nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Path, err)
		}
		return resp, body, nil
	}
	key := connKey{worker, req.URL.Host}
	cn := c.take(key)
	stale := cn != nil && time.Since(cn.used) >= c.staleAfter
	if cn == nil {
		var err error
		if cn, err = c.dial(req.URL.Host); err != nil {
			return nil, nil, err
		}
	}
	resp, body, err := cn.roundTrip(req, c.timeout)
	if err != nil && stale && errors.Is(err, errClosedIdle) {
		// The server closed the connection while it was idle (its idle
		// timeout): send the request again on a new one, as the
		// Transport does.
		cn.nc.Close()
		if err = rewind(req); err != nil {
			return nil, nil, err
		}
		if cn, err = c.dial(req.URL.Host); err != nil {
			return nil, nil, err
		}
		resp, body, err = cn.roundTrip(req, c.timeout)
	}
	if err != nil {
		cn.nc.Close()
		return nil, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.Close {
		cn.nc.Close()
	} else {
		cn.used = time.Now()
		c.put(key, cn)
	}
	return resp, body, nil
}

// rewind gives req its body again, to be sent a second time.
func rewind(req *http.Request) error {
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	if req.GetBody == nil {
		return fmt.Errorf("%s %s: the connection closed, and the request's body cannot be sent again", req.Method, req.URL.Path)
	}
	var err error
	req.Body, err = req.GetBody()
	return err
}

// errClosedIdle marks a kept-alive connection that ended before any of
// the answer was read.
var errClosedIdle = errors.New("the server closed the kept-alive connection before answering")

func (cn *conn) roundTrip(req *http.Request, timeout time.Duration) (*http.Response, []byte, error) {
	if err := cn.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, nil, err
	}
	if err := req.Write(cn.bw); err != nil {
		return nil, nil, closedIdle(err)
	}
	if err := cn.bw.Flush(); err != nil {
		return nil, nil, closedIdle(err)
	}
	if _, err := cn.br.Peek(1); err != nil {
		return nil, nil, closedIdle(err)
	}
	resp, err := http.ReadResponse(cn.br, req)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer's body: %w", err)
	}
	return resp, body, nil
}

// closedIdle marks err as errClosedIdle when it says that the peer had
// closed the connection.
func closedIdle(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w: %w", errClosedIdle, err)
	}
	return err
}

func (c *client) dial(host string) (*conn, error) {
	nc, err := net.DialTimeout("tcp", host, c.timeout)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, nil
}

// take returns worker's idle connection to host, or nil.
func (c *client) take(key connKey) *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn := c.idle[key]
	delete(c.idle, key)
	return cn
}

// put keeps cn for worker's next request to its host.
func (c *client) put(key connKey, cn *conn) {
	c.mu.Lock()
	old := c.idle[key]
	c.idle[key] = cn
	c.mu.Unlock()
	if old != nil {
		old.nc.Close()
	}
}

// closeIdle closes every kept connection (the harness is done with its
// servers).
func (c *client) closeIdle() {
	if c.std != nil {
		c.std.CloseIdleConnections()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, cn := range c.idle {
		cn.nc.Close()
		delete(c.idle, k)
	}
}
