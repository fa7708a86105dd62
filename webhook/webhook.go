// Package webhook delivers lifecycle events to apps from the outbox.
//
// Events are written by the store in the same transaction as the change
// that causes them, so nothing is installed without its event and no event
// exists for an install that did not commit. A Dispatcher leases due events
// (any number of dispatchers, on any number of nodes, share the outbox),
// signs each in the app version's format (Formats), POSTs it, logs the
// attempt and moves the event on, in one transaction with the attempts
// that finished beside it (recorder): delivered on 2xx;
// retried on the Schedule, with jitter or as Retry-After asks, on anything
// else; the endpoint disabled on 410 Gone. Redirects are not followed,
// answers must come within the timeout, private addresses are refused
// unless the platform allows them, and each endpoint gets a few concurrent
// requests at most.
//
// Delivery is at least once: a dispatcher that crashes between the
// receiver's 2xx and recording it leaves a lease that runs out, and the
// event is sent again, with the same id. An installation's events are sent
// in sequence order: the next is not due until the one before it is
// delivered or given up.
package webhook

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/secret"
	"github.com/doorwayhq/doorway/store"
)

// Secrets gives the dispatcher an app's signing material (package registry).
type Secrets interface {
	WebhookSecrets(ctx context.Context, appID string) ([]string, error)
	WebhookKey(ctx context.Context, appID string) (*rsa.PrivateKey, error)
}

// Dispatcher delivers due events. Set the fields, then Start it, or call
// DeliverDue from a test that moves the clock itself.
type Dispatcher struct {
	Store   store.Store
	Secrets Secrets
	Now     func() time.Time // decides due times and leases; default time.Now
	Logger  *slog.Logger

	Owner       string        // names this dispatcher's leases; default dsp_<random>@<hostname>
	Timeout     time.Duration // for one request; default 15s
	Lease       time.Duration // how long a claimed event is ours; default 2×Timeout + 15s
	PerEndpoint int           // concurrent requests to one webhook URL; default 4
	Batch       int           // events being sent at once (not counting those being recorded); default 32
	Poll        time.Duration // how often to look for due events when not woken; default 1s
	// Recheck is how soon after a delivery finishes the dispatcher claims
	// again when nothing else made it (default 20ms): the event delivered
	// may have held back its installation's next one (events go out in
	// order), and no write announces that. Under load other claims come
	// sooner and see it. (A finished delivery used to wake the dispatcher
	// at once: during a burst of installs more than half of its claims
	// found nothing, and a claim is a write transaction, on PostgreSQL
	// four round trips.)
	Recheck      time.Duration
	AllowPrivate bool // deliver to loopback and private addresses
	// Jitter spreads a retry delay; default the package's Jitter.
	Jitter func(time.Duration) time.Duration

	once      sync.Once
	client    *http.Client
	wake      chan struct{}
	nudge     chan struct{} // a delivery finished: wait no longer than d.Recheck
	stop      chan struct{}
	done      chan struct{}
	hardStop  context.CancelFunc
	inflight  sync.WaitGroup
	mu        sync.Mutex
	endpoints map[string]chan struct{}
	recheck   atomic.Bool          // a delivery finished since the last claim began
	open      map[string]time.Time // app id + "\x00" + URL → when found not disabled (OpenFor)
	records   recorder
}

// OpenFor is how long a dispatcher trusts that an endpoint is not
// disabled, as oauth.ClientCacheFor trusts a client: a delivery reads one
// row fewer. An endpoint this dispatcher disables (it answered 410 Gone)
// is forgotten at once; one disabled by another node can get deliveries
// for up to OpenFor more, each answered 410 and logged as disabled. An
// endpoint found disabled is read again every time, so `doorway webhooks
// enable` takes effect at once.
const OpenFor = time.Second

// ResponseExcerpt is how much of an answer the delivery log keeps.
const ResponseExcerpt = 1024

func (d *Dispatcher) init() {
	d.once.Do(func() {
		if d.Now == nil {
			d.Now = time.Now
		}
		if d.Logger == nil {
			d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		if d.Owner == "" {
			// The host name tells an operator which node made an
			// attempt; the random part tells two runs apart.
			host, _ := os.Hostname()
			d.Owner = secret.Token("dsp_")[:12] + "@" + host
		}
		if d.Timeout <= 0 {
			d.Timeout = 15 * time.Second
		}
		if d.Lease <= 0 {
			d.Lease = 2*d.Timeout + 15*time.Second
		}
		if d.PerEndpoint <= 0 {
			d.PerEndpoint = 4
		}
		if d.Batch <= 0 {
			d.Batch = 32
		}
		if d.Poll <= 0 {
			d.Poll = time.Second
		}
		if d.Recheck <= 0 {
			d.Recheck = 20 * time.Millisecond
		}
		if d.Jitter == nil {
			d.Jitter = Jitter
		}
		dialer := &net.Dialer{Timeout: d.Timeout, KeepAlive: 30 * time.Second}
		if !d.AllowPrivate {
			dialer.Control = refusePrivate
		}
		d.client = &http.Client{
			Transport: &http.Transport{
				Proxy:       nil, // a proxy would dial for us, past refusePrivate
				DialContext: dialer.DialContext,
				// A host may serve many endpoints (one vendor's apps, a
				// webhook gateway), so keep a connection for each request
				// that can be in flight, not for one endpoint's share:
				// with fewer, every burst dials again.
				MaxIdleConnsPerHost:   d.Batch,
				IdleConnTimeout:       90 * time.Second,
				TLSHandshakeTimeout:   d.Timeout,
				ResponseHeaderTimeout: d.Timeout,
				ForceAttemptHTTP2:     true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       d.Timeout,
		}
		d.wake = make(chan struct{}, 1)
		d.nudge = make(chan struct{}, 1)
		d.stop = make(chan struct{})
		d.done = make(chan struct{})
		d.endpoints = map[string]chan struct{}{}
	})
}

// Wake makes a started dispatcher look for due events now, rather than at
// its next poll. Watch calls it after every write that adds an event.
func (d *Dispatcher) Wake() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Start runs the dispatcher in the background until Shutdown.
func (d *Dispatcher) Start() {
	d.init()
	ctx, cancel := context.WithCancel(context.Background())
	d.hardStop = cancel
	go d.loop(ctx)
}

// Shutdown stops claiming, lets in-flight deliveries finish until ctx is
// done, then cancels them; a cancelled or not yet started delivery gives
// its lease back, so another dispatcher (or this one, restarted) sends it.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	d.init()
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	if d.hardStop == nil {
		return nil
	}
	<-d.done
	finished := make(chan struct{})
	go func() { d.inflight.Wait(); close(finished) }()
	select {
	case <-finished:
		d.hardStop()
		return nil
	case <-ctx.Done():
		d.hardStop()
		<-finished
		return ctx.Err()
	}
}

func (d *Dispatcher) loop(ctx context.Context) {
	defer close(d.done)
	slots := make(chan struct{}, d.Batch)
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		free := cap(slots) - len(slots)
		if free > 0 {
			// This claim sees what the deliveries finished so far have
			// let go; those finishing from now on ask again.
			d.recheck.Store(false)
			select {
			case <-d.wake: // a wake sent before this claim began: answered by it
			default:
			}
			events, err := d.Store.ClaimEvents(ctx, d.Owner, d.Now(), d.Lease, free)
			if err != nil {
				d.Logger.Error("webhooks: claiming due events", "err", err)
			}
			full := err == nil && len(events) == free
			for _, e := range events {
				slots <- struct{}{}
				d.inflight.Add(1)
				go func() {
					defer d.inflight.Done()
					d.deliver(ctx, &e, func() { <-slots; d.finished(full) })
					// Recorded now: the installation's next event may be due.
					d.finished(false)
				}()
			}
			if full {
				continue // more may be due
			}
		}
		if !d.wait() {
			return
		}
	}
}

// wait waits until it is time to claim again, and reports false if the
// dispatcher is stopping instead.
func (d *Dispatcher) wait() bool {
	poll := time.NewTimer(d.Poll)
	defer poll.Stop()
	var recheck <-chan time.Time
	for {
		if recheck == nil && d.recheck.Load() {
			recheck = time.After(d.Recheck)
		}
		select {
		case <-d.stop:
			return false
		case <-d.wake:
			return true
		case <-recheck:
			return true
		case <-poll.C:
			return true
		case <-d.nudge:
		}
	}
}

// finished is called as each delivery ends. If the claim that took it
// filled every free slot, more may be due now that a slot is free: claim
// at once. Otherwise only an event it held back may be, and a claim
// within d.Recheck will see it.
func (d *Dispatcher) finished(full bool) {
	if full {
		d.Wake()
		return
	}
	if !d.recheck.Swap(true) {
		// The loop may be waiting already, with no recheck to wait for.
		select {
		case d.nudge <- struct{}{}:
		default:
		}
	}
}

// DeliverDue claims every event due now and delivers it, concurrently as
// the dispatcher would, and returns how many it claimed. Tests call it
// instead of Start, moving the clock between calls.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	d.init()
	total := 0
	for {
		events, err := d.Store.ClaimEvents(ctx, d.Owner, d.Now(), d.Lease, d.Batch)
		if err != nil || len(events) == 0 {
			return total, err
		}
		var wg sync.WaitGroup
		for _, e := range events {
			wg.Go(func() { d.deliver(ctx, &e, func() {}) })
		}
		wg.Wait()
		total += len(events)
	}
}

// deliver makes one attempt at e, which this dispatcher has leased, and
// calls made once the attempt is made (or not to be), before it is
// recorded: the slot made frees is for requests, and an attempt waiting
// for its record must not keep the next from going out. (Recording
// attempts together with the slot held until the record, on PostgreSQL
// under the load benchmark's installs, the webhooks fell behind: 22–32 %
// still to come at b's end, against 0–7 % with a record of each; with
// the slot freed first, none.)
func (d *Dispatcher) deliver(ctx context.Context, e *doorway.Event, made func()) {
	made = sync.OnceFunc(made)
	defer made()
	a := &doorway.Attempt{EventID: e.ID, EventType: e.Type, AppID: e.AppID, Number: e.Attempts + 1}
	v, err := d.version(ctx, e)
	if err != nil {
		d.Logger.Error("webhooks: loading the app version", "event", e.ID, "app", e.AppID, "err", err)
		d.release(e, d.Now().Add(d.Poll))
		return
	}
	a.URL = v.WebhookURL
	if a.URL == "" {
		a.At, a.Outcome = d.Now(), doorway.Skipped
		a.Error = fmt.Sprintf("version %s of the app has no webhook_url, so the event was not sent "+
			"(add one in a new version, then: doorway webhooks replay %s)", v.Version, e.ID)
		made()
		d.record(ctx, a)
		return
	}
	if at, err := d.disabledAt(ctx, e.AppID, a.URL); err != nil {
		d.Logger.Error("webhooks: reading the endpoint", "event", e.ID, "app", e.AppID, "err", err)
		d.release(e, d.Now().Add(d.Poll))
		return
	} else if !at.IsZero() {
		a.At, a.Outcome = d.Now(), doorway.Disabled
		a.Error = fmt.Sprintf("the endpoint was disabled at %s after it answered 410 Gone; re-enable it with: doorway webhooks enable %s",
			at.Format(time.RFC3339), e.AppID)
		made()
		d.record(ctx, a)
		return
	}

	done, ok := d.acquire(ctx, a.URL)
	if !ok {
		// The endpoint is busy (a slow one must not hold this node's other
		// deliveries up) or we are stopping: hand the event back for later.
		d.release(e, d.Now().Add(d.Poll))
		return
	}

	a.At = d.Now()
	m := &Message{Event: e, Version: v, At: a.At}
	format := Formats[v.Webhook()]
	body, header, err := format.Encode(m, credentials{ctx, d.Secrets, e.AppID})
	var resp *http.Response
	start := time.Now()
	if err == nil {
		resp, a.Response, err = d.send(ctx, a.URL, body, header)
	}
	a.Latency = time.Since(start)
	// The slot bounds the endpoint's requests: the next may start while
	// this one's attempt is recorded.
	done()
	if ctx.Err() != nil {
		d.release(e, a.At) // shut down mid-request: not the endpoint's fault, due at once
		return
	}
	d.judge(a, resp, err)
	made()
	d.record(ctx, a)
}

// disabledAt is when the app's endpoint url was disabled, or zero; a zero
// answer is reused for OpenFor.
func (d *Dispatcher) disabledAt(ctx context.Context, appID, url string) (time.Time, error) {
	key, now := appID+"\x00"+url, d.Now()
	d.mu.Lock()
	seen, ok := d.open[key]
	d.mu.Unlock()
	if ok && now.Sub(seen) >= 0 && now.Sub(seen) < OpenFor {
		return time.Time{}, nil
	}
	at, err := d.Store.WebhookDisabled(ctx, appID, url)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil && at.IsZero() {
		if d.open == nil || len(d.open) >= 10_000 {
			d.open = map[string]time.Time{} // a rare reset beats tracking age
		}
		d.open[key] = now
	} else {
		delete(d.open, key)
	}
	return at, err
}

func (d *Dispatcher) version(ctx context.Context, e *doorway.Event) (*doorway.AppVersion, error) {
	app, err := d.Store.App(ctx, e.AppID)
	if err != nil {
		return nil, err
	}
	id := app.VersionID(e.Mode)
	if id == "" { // the mode has no version any more: use the other mode's
		id = app.LiveVersionID
		if e.Mode == doorway.Live {
			id = app.TestVersionID
		}
	}
	return d.Store.AppVersion(ctx, id)
}

// EndpointWait is how long a claimed event waits for a free request slot
// of its endpoint before it is handed back, due again a poll later.
const EndpointWait = time.Second

// acquire waits up to EndpointWait for one of the endpoint's request slots.
func (d *Dispatcher) acquire(ctx context.Context, url string) (release func(), ok bool) {
	d.mu.Lock()
	sem, found := d.endpoints[url]
	if !found {
		sem = make(chan struct{}, d.PerEndpoint)
		d.endpoints[url] = sem
	}
	d.mu.Unlock()
	wait := time.NewTimer(EndpointWait)
	defer wait.Stop()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, true
	case <-wait.C:
	case <-d.stop:
	case <-ctx.Done():
	}
	return nil, false
}

func (d *Dispatcher) send(ctx context.Context, url string, body []byte, h http.Header) (*http.Response, string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, "", fmt.Errorf("webhook_url %q: %w", url, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "Doorway-Webhooks/1")
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	excerpt, err := io.ReadAll(io.LimitReader(resp.Body, ResponseExcerpt))
	if err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	}
	return resp, strings.ToValidUTF8(string(excerpt), "\uFFFD"), nil
}

// judge sets the attempt's outcome, error and next time from the answer.
func (d *Dispatcher) judge(a *doorway.Attempt, resp *http.Response, err error) {
	var header http.Header
	switch {
	case err != nil:
		a.Error = describe(err, d.Timeout)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		a.StatusCode, a.Outcome, a.NextAt = resp.StatusCode, doorway.Delivered, a.At
		return
	case resp.StatusCode == http.StatusGone:
		a.StatusCode, a.Outcome, a.NextAt = resp.StatusCode, doorway.Disabled, a.At
		a.Error = fmt.Sprintf("the endpoint answered 410 Gone, so Doorway stopped sending to it; re-enable it with: doorway webhooks enable %s", a.AppID)
		return
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.StatusCode, header = resp.StatusCode, resp.Header
		a.Error = fmt.Sprintf("the endpoint redirected (%d to %q); redirects are not followed: set webhook_url to the final URL",
			resp.StatusCode, resp.Header.Get("Location"))
	default:
		a.StatusCode, header = resp.StatusCode, resp.Header
		a.Error = fmt.Sprintf("the endpoint answered %d; only 2xx counts as delivered", resp.StatusCode)
	}
	if a.Number > len(Schedule) {
		a.Outcome, a.NextAt = doorway.Failed, a.At
		a.Error += fmt.Sprintf(" (gave up after %d attempts; resend with: doorway webhooks replay %s)", a.Number, a.EventID)
		return
	}
	a.Outcome = doorway.Pending
	if wait, ok := retryAfter(header, a.At); ok {
		a.NextAt = a.At.Add(wait)
		return
	}
	a.NextAt = a.At.Add(d.Jitter(Schedule[a.Number-1]))
}

// describe turns a transport error into a sentence for the delivery log.
func describe(err error, timeout time.Duration) string {
	var private *privateError
	var ne net.Error
	switch {
	case errors.As(err, &private):
		return private.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("no answer within %s: answer webhooks at once and do the work afterwards", timeout)
	default:
		return err.Error()
	}
}

// record logs the attempt and moves its event on, with the attempts that
// finish beside it (recorder). While the database is away (a restart, a
// failover) it keeps trying for a while, since the request was made: an
// attempt that cannot be recorded is sent again when the lease runs out.
func (d *Dispatcher) record(ctx context.Context, a *doorway.Attempt) {
	r := &recording{a: a, done: make(chan struct{})}
	d.records.add(r, func(batch []*recording) { d.write(ctx, batch) })
	<-r.done
	if r.err != nil {
		d.Logger.Warn("webhooks: recording an attempt (the event is sent again when its lease runs out)", "event", a.EventID, "err", r.err)
		return
	}
	if a.Outcome == doorway.Disabled {
		d.mu.Lock()
		delete(d.open, a.AppID+"\x00"+a.URL)
		d.mu.Unlock()
	}
	log := d.Logger.Debug
	if a.Outcome != doorway.Delivered {
		log = d.Logger.Warn
	}
	log("webhook", "event", a.EventID, "type", a.EventType, "app", a.AppID, "attempt", a.Number, "url", a.URL,
		"status", a.StatusCode, "outcome", a.Outcome, "latency", a.Latency, "error", a.Error)
}

// A recorder gathers the attempts that finish while others are being
// recorded, so that they are recorded together: one transaction, and on
// PostgreSQL one statement and one commit, for all of them. The first
// attempt to finish while none is being recorded records, and goes on
// recording whatever finished meanwhile until none waits; the others wait
// for theirs. Nothing waits on a timer: a lone delivery is recorded at
// once. (Each attempt was a transaction of its own: on PostgreSQL a
// commit, and the database's CPU, for every webhook.)
type recorder struct {
	mu      sync.Mutex
	waiting []*recording
	busy    bool
}

// recording is one attempt waiting to be recorded.
type recording struct {
	a    *doorway.Attempt
	err  error // set before done closes; store.ErrConflict: the lease was lost
	done chan struct{}
}

// maxRecorded bounds the attempts recorded together.
const maxRecorded = 128

// add queues r, and records with write, r's batch and the ones after it,
// unless another caller is recording already.
func (rc *recorder) add(r *recording, write func([]*recording)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.waiting = append(rc.waiting, r)
	if rc.busy {
		return
	}
	rc.busy = true
	for len(rc.waiting) > 0 {
		n := min(len(rc.waiting), maxRecorded)
		batch := slices.Clone(rc.waiting[:n])
		rc.waiting = slices.Delete(rc.waiting, 0, n)
		rc.mu.Unlock()
		write(batch)
		rc.mu.Lock()
	}
	rc.busy = false
}

// write records batch, trying again while the database is away, and
// closes each one's done.
func (d *Dispatcher) write(ctx context.Context, batch []*recording) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	as := make([]*doorway.Attempt, len(batch))
	for i, r := range batch {
		as[i] = r.a
	}
	var lost []string
	var err error
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		lost, err = d.Store.RecordAttempts(ctx, d.Owner, as)
		if err == nil || !store.Unavailable(err) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	for _, r := range batch {
		switch {
		case err != nil:
			r.err = err
		case slices.Contains(lost, r.a.EventID):
			r.err = fmt.Errorf("event %s: the lease of %s was lost: %w", r.a.EventID, d.Owner, store.ErrConflict)
		}
		close(r.done)
	}
}

// release gives e's lease back; it is due again at due.
func (d *Dispatcher) release(e *doorway.Event, due time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Store.ReleaseEvents(ctx, d.Owner, due, []string{e.ID}); err != nil {
		d.Logger.Warn("webhooks: releasing a lease (it will run out instead)", "event", e.ID, "err", err)
	}
}

type credentials struct {
	ctx     context.Context
	secrets Secrets
	appID   string
}

func (c credentials) Secrets() ([]string, error) { return c.secrets.WebhookSecrets(c.ctx, c.appID) }
func (c credentials) Key() (*rsa.PrivateKey, error) {
	return c.secrets.WebhookKey(c.ctx, c.appID)
}
