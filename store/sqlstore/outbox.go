package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/doorwayhq/doorway"
)

const eventCols = `id, type, app_id, installation_id, tenant_id, user_id, mode, permissions,
	sequence, state, created_at, delivery, attempts, next_attempt_at`

func scanEvent(row Row) (*doorway.Event, error) {
	var e doorway.Event
	var perms string
	var created, next int64
	if err := row.Scan(&e.ID, &e.Type, &e.AppID, &e.InstallationID, &e.TenantID, &e.UserID, &e.Mode, &perms,
		&e.Sequence, &e.State, &created, &e.Delivery, &e.Attempts, &next); err != nil {
		return nil, err
	}
	var err error
	if e.Permissions, err = parseList(perms, "event "+e.ID); err != nil {
		return nil, err
	}
	e.CreatedAt, e.NextAttemptAt = fromMS(created), fromMS(next)
	return &e, nil
}

func (db *DB) events(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (Rows, error)
}, query string, args ...any) ([]doorway.Event, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	return collect(rows, err, scanEvent)
}

func (db *DB) Events(ctx context.Context, installationID string) ([]doorway.Event, error) {
	return db.events(ctx, db.r, `SELECT `+eventCols+` FROM events WHERE installation_id = $1 ORDER BY sequence`, installationID)
}

func (db *DB) Event(ctx context.Context, id string) (*doorway.Event, error) {
	e, err := scanEvent(db.r.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE id = $1`, id))
	return e, db.notFound(err, "event", id)
}

// ClaimEvents runs the backend's claim statement in a write transaction,
// after its ClaimSetup. (A claim leases a batch, so the transaction's
// round trips are paid once per batch, not per event.)
func (db *DB) ClaimEvents(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]doorway.Event, error) {
	var out []doorway.Event
	err := db.tx(ctx, func(tx txn) error {
		if db.d.ClaimSetup != "" {
			if _, err := tx.ExecContext(ctx, db.d.ClaimSetup); err != nil {
				return err
			}
		}
		var err error
		out, err = db.events(ctx, tx, db.d.ClaimEvents, owner, ms(now.Add(lease)), ms(now), limit)
		return err
	})
	// RETURNING keeps no order on either backend.
	slices.SortFunc(out, func(a, b doorway.Event) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), strings.Compare(a.ID, b.ID))
	})
	return out, err
}

// writeAttempt writes a delivery-log row from attemptArgs ($11 is the
// outcome, $12 the next attempt, $13 the dispatcher); insertAttempt also
// returns its id.
const (
	writeAttempt = `INSERT INTO webhook_attempts (event_id, event_type, app_id, number, url, status_code,
	error, response, latency_us, at, outcome, next_at, dispatcher)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
	insertAttempt = writeAttempt + ` RETURNING id`
)

// RecordInOneTrip is RecordAttempts as one statement (Dialect.OneTrip),
// from recordArgs: the events leave the queue and their attempts are
// logged. It returns each attempt's id, its event's id, and whether its
// event was updated (false: the lease was lost). The attempts come as
// arrays, one an attempt field, so that one prepared statement records
// any number of them: the deliveries that finish while one record is
// written are recorded together, in one commit. Exported for the
// PostgreSQL test of its plan.
//
// The events are found by their key. The condition on their state is
// written
//
//	delivery || '' = 'pending'
//
// so that it does not match events_due's predicate: PostgreSQL otherwise
// may walk that index (every pending event) for the ids, because the
// statistics it last took, between bursts, say the queue is nearly empty.
// Measured under load with thousands pending: 39 pages and 126 µs a
// delivery, against 3 pages by the key.
const RecordInOneTrip = `WITH i AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::integer[], $7::text[],
			$8::text[], $9::bigint[], $10::bigint[], $11::text[], $12::bigint[])
			AS i (event_id, event_type, app_id, number, url, status_code, error, response, latency_us, at, outcome, next_at)),
	e AS (
		UPDATE events SET delivery = i.outcome, attempts = attempts + 1, next_attempt_at = i.next_at, lease_owner = '', lease_until = 0
		FROM i WHERE events.id = i.event_id AND events.lease_owner = $13 AND events.delivery || '' = 'pending'
		RETURNING events.id),
	a AS (
		INSERT INTO webhook_attempts (event_id, event_type, app_id, number, url, status_code, error, response, latency_us,
			at, outcome, next_at, dispatcher)
		SELECT event_id, event_type, app_id, number, url, status_code, error, response, latency_us, at, outcome, next_at, $13
		FROM i RETURNING id, event_id)
	SELECT a.id, a.event_id, e.id IS NOT NULL FROM a LEFT JOIN e ON e.id = a.event_id`

// recordArgs are RecordInOneTrip's arguments for as.
func recordArgs(owner string, as []*doorway.Attempt) []any {
	n := len(as)
	events, types, apps, urls, errs, resps, outcomes := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	numbers, codes, latencies, ats, nexts := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, a := range as {
		events[i], types[i], apps[i], numbers[i], urls[i], codes[i] = a.EventID, string(a.EventType), a.AppID, int64(a.Number), a.URL, int64(a.StatusCode)
		errs[i], resps[i], latencies[i], ats[i], outcomes[i], nexts[i] = a.Error, a.Response, a.Latency.Microseconds(), ms(a.At), string(a.Outcome), ms(a.NextAt)
	}
	return []any{events, types, apps, numbers, urls, codes, errs, resps, latencies, ats, outcomes, nexts, owner}
}

func attemptArgs(a *doorway.Attempt) []any {
	return []any{a.EventID, a.EventType, a.AppID, a.Number, a.URL, a.StatusCode, a.Error, a.Response,
		a.Latency.Microseconds(), ms(a.At), a.Outcome, ms(a.NextAt), a.Dispatcher}
}

func (db *DB) RecordAttempts(ctx context.Context, owner string, as []*doorway.Attempt) ([]string, error) {
	if len(as) == 0 {
		return nil, nil
	}
	for _, a := range as {
		a.Dispatcher = owner
	}
	// The one statement reads its answers back by event, so it takes
	// attempts of distinct events; a Disabled outcome writes one more row.
	events := make(map[string]bool, len(as))
	oneTrip := db.d.OneTrip
	for _, a := range as {
		oneTrip = oneTrip && a.Outcome != doorway.Disabled && !events[a.EventID]
		events[a.EventID] = true
	}
	if oneTrip {
		return db.recordInOneTrip(ctx, owner, as)
	}
	var lost []string
	err := db.tx(ctx, func(tx txn) error {
		lost = nil
		for _, a := range as {
			if db.d.LastInsertID {
				res, err := tx.ExecContext(ctx, writeAttempt, attemptArgs(a)...)
				if err != nil {
					return err
				}
				if a.ID, err = res.LastInsertId(); err != nil {
					return err
				}
			} else if err := tx.QueryRowContext(ctx, insertAttempt, attemptArgs(a)...).Scan(&a.ID); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE events SET delivery = $1, attempts = attempts + 1, next_attempt_at = $2,
				lease_owner = '', lease_until = 0 WHERE id = $3 AND lease_owner = $4 AND delivery || '' = 'pending'`,
				a.Outcome, ms(a.NextAt), a.EventID, owner)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				lost = append(lost, a.EventID)
				continue
			}
			if a.Outcome == doorway.Disabled {
				if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_disabled (app_id, url, disabled_at) VALUES ($1, $2, $3)
					ON CONFLICT (app_id, url) DO NOTHING`, a.AppID, a.URL, ms(a.At)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}

// recordInOneTrip is RecordAttempts without a Disabled outcome, as
// RecordInOneTrip.
func (db *DB) recordInOneTrip(ctx context.Context, owner string, as []*doorway.Attempt) ([]string, error) {
	rows, err := db.w.QueryContext(ctx, RecordInOneTrip, recordArgs(owner, as)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type result struct {
		id      int64
		updated bool
	}
	got := make(map[string]result, len(as))
	for rows.Next() {
		var r result
		var event string
		if err := rows.Scan(&r.id, &event, &r.updated); err != nil {
			return nil, err
		}
		got[event] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var lost []string
	for _, a := range as {
		r, ok := got[a.EventID]
		if !ok {
			return nil, fmt.Errorf("recording the attempts: no row came back for event %s", a.EventID)
		}
		a.ID = r.id
		if !r.updated {
			lost = append(lost, a.EventID)
		}
	}
	return lost, nil
}

func (db *DB) ReleaseEvents(ctx context.Context, owner string, due time.Time, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{ms(due), owner}
	in := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		in[i] = fmt.Sprintf("$%d", i+3)
	}
	// Unprepared: the text differs with len(ids).
	q := `UPDATE events SET lease_owner = '', lease_until = 0, next_attempt_at = CASE WHEN next_attempt_at > $1 THEN next_attempt_at ELSE $1 END
		WHERE lease_owner = $2 AND id IN (` + strings.Join(in, ", ") + `)`
	if db.batch == nil {
		_, err := db.w.DB.ExecContext(ctx, q, args...)
		return err
	}
	return db.tx(ctx, func(t txn) error {
		_, err := t.once.ExecContext(ctx, q, args...)
		return err
	})
}

func (db *DB) ReplayEvent(ctx context.Context, id string, now time.Time) (*doorway.Event, error) {
	var e *doorway.Event
	err := db.writeRow(ctx, func(c Conn) (err error) {
		e, err = scanEvent(c.QueryRowContext(ctx, `UPDATE events SET delivery = 'pending', next_attempt_at = $1
			WHERE id = $2 RETURNING `+eventCols, ms(now), id))
		return err
	})
	return e, db.notFound(err, "event", id)
}

func (db *DB) Attempts(ctx context.Context, appID string, before int64, limit int) ([]doorway.Attempt, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, event_id, event_type, app_id, number, url, status_code, error, response,
		latency_us, at, outcome, next_at, dispatcher FROM webhook_attempts WHERE app_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
		appID, before, limit)
	return collect(rows, err, scanAttempt)
}

func scanAttempt(row Row) (*doorway.Attempt, error) {
	var a doorway.Attempt
	var latency, at, next int64
	if err := row.Scan(&a.ID, &a.EventID, &a.EventType, &a.AppID, &a.Number, &a.URL, &a.StatusCode, &a.Error,
		&a.Response, &latency, &at, &a.Outcome, &next, &a.Dispatcher); err != nil {
		return nil, err
	}
	a.Latency, a.At, a.NextAt = time.Duration(latency)*time.Microsecond, fromMS(at), fromMS(next)
	return &a, nil
}

func (db *DB) WebhookDisabled(ctx context.Context, appID, url string) (time.Time, error) {
	var at int64
	err := db.r.QueryRowContext(ctx, `SELECT disabled_at FROM webhook_disabled WHERE app_id = $1 AND url = $2`, appID, url).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return fromMS(at), nil
}

func (db *DB) EnableWebhooks(ctx context.Context, appID string, now time.Time) (int, error) {
	var n int64
	err := db.tx(ctx, func(tx txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_disabled WHERE app_id = $1`, appID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE events SET delivery = 'pending', next_attempt_at = $1
			WHERE app_id = $2 AND delivery = 'disabled'`, ms(now), appID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

func (db *DB) Sweep(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	err := db.tx(ctx, func(tx txn) error {
		for _, q := range []string{
			`DELETE FROM sessions WHERE expires_at < $1`,
			`DELETE FROM install_requests WHERE expires_at < $1`,
			`DELETE FROM auth_codes WHERE expires_at < $1`,
			`DELETE FROM install_tokens WHERE expires_at < $1`,
			`DELETE FROM rate_limits WHERE tat < $1`,
		} {
			res, err := tx.ExecContext(ctx, q, ms(before))
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			total += n
		}
		return nil
	})
	return total, err
}

func (db *DB) Throttle(ctx context.Context, key string, now time.Time, every time.Duration) (time.Time, error) {
	var tat int64
	err := db.writeRow(ctx, func(c Conn) error {
		return c.QueryRowContext(ctx, `INSERT INTO rate_limits (key, tat) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET tat = CASE WHEN rate_limits.tat > $3 THEN rate_limits.tat ELSE $3 END + $4
			RETURNING tat`, key, ms(now.Add(every)), ms(now), every.Milliseconds()).Scan(&tat)
	})
	return fromMS(tat), err
}

func (db *DB) Throttled(ctx context.Context, key string) (time.Time, error) {
	var tat int64
	err := db.r.QueryRowContext(ctx, `SELECT tat FROM rate_limits WHERE key = $1`, key).Scan(&tat)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return fromMS(tat), err
}
