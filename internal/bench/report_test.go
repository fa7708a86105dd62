package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// rate is a result of ops operations (one request each) in one second,
// at cpu of server CPU each.
func rate(ops int, cpu time.Duration) *result {
	return &result{ops: ops, reqs: ops, elapsed: time.Second, cpu: cpu * time.Duration(ops), lat: []time.Duration{time.Millisecond},
		reqLat: []time.Duration{time.Millisecond}}
}

// beside is r with other measured in the slices between its own.
func beside(r, other *result) *result { r.floor = other; return r }

// targetLine is the line of rep's targets that contains part.
func targetLine(t *testing.T, rep *report, part string) string {
	t.Helper()
	for _, l := range rep.targets() {
		if strings.Contains(l, part) {
			return l
		}
	}
	t.Fatalf("no line with %q in:\n%s", part, strings.Join(rep.targets(), "\n"))
	return ""
}

// says checks that line says each of mentions, and not notMention
// (unless it is "").
func says(t *testing.T, line string, mentions []string, notMention string) {
	t.Helper()
	for _, m := range mentions {
		if !strings.Contains(line, m) {
			t.Errorf("line = %q, want it to say %q", line, m)
		}
	}
	if notMention != "" && strings.Contains(line, notMention) {
		t.Errorf("line = %q, should not say %q", line, notMention)
	}
}

// TestGrowthTargetReadsTheSameSeconds: g's target reads each drop from
// the pair measured in the same seconds when there is one, prints the
// figure from minutes apart beside it, and falls back on that figure
// when there is no pair.
func TestGrowthTargetReadsTheSameSeconds(t *testing.T) {
	for _, tc := range []struct {
		name       string
		side       *round
		want       string // the g line's mark
		mentions   []string
		notMention string
	}{
		{
			name: "pairs say met where minutes apart say missed",
			side: &round{installations: 1_000_000,
				token:   beside(rate(9_500, 90*time.Microsecond), rate(10_000, 80*time.Microsecond)),
				install: beside(rate(1_950, 600*time.Microsecond), rate(2_000, 590*time.Microsecond))},
			want:     "met   ",
			mentions: []string{"a -5.0% beside a at 10,000 in the same seconds", "through the floors, minutes apart: -20.0%", "b -2.5% beside b", "by the rates, minutes apart: -25.0%"},
		},
		{
			name: "a pair past the line misses",
			side: &round{installations: 1_000_000,
				token:   beside(rate(8_500, 90*time.Microsecond), rate(10_000, 80*time.Microsecond)),
				install: beside(rate(2_000, 600*time.Microsecond), rate(2_000, 590*time.Microsecond))},
			want:     "MISSED",
			mentions: []string{"a -15.0% beside a at 10,000"},
		},
		{
			name:       "without pairs, the figures minutes apart",
			want:       "MISSED",
			mentions:   []string{"a -20.0% (server CPU per op", "b -25.0% (server CPU per op"},
			notMention: "same seconds",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := rate(30_000, 25*time.Microsecond)
			first := &round{installations: 10_000, token: beside(rate(15_000, 80*time.Microsecond), fl), install: rate(2_000, 600*time.Microsecond)}
			// Minutes apart, g's a is 0.4 of a floor (a was 0.5) and g's b 1,500 installs/s.
			grown := &round{installations: 1_000_000, token: beside(rate(12_000, 95*time.Microsecond), fl), install: rate(1_500, 700*time.Microsecond)}
			rep := &report{o: options{conns: 32}, floor: fl, stores: []*storeResult{{name: "sqlite", first: first, grown: grown,
				refresh: beside(rate(9_000, 130*time.Microsecond), fl), introspect: beside(rate(24_000, 40*time.Microsecond), fl), beside: tc.side}}}
			line := targetLine(t, rep, "g ≤ 10% drop")
			if !strings.HasPrefix(line, tc.want) {
				t.Errorf("g line = %q, want it marked %q", line, tc.want)
			}
			says(t, line, tc.mentions, tc.notMention)
		})
	}
}

// TestPeakRSSCoversEveryScenarioUnderLoad: the peak RSS target reads the
// servers' peaks in every scenario that loaded them, g's at a million
// installations and its twin's included, and names the one it read.
func TestPeakRSSCoversEveryScenarioUnderLoad(t *testing.T) {
	const mib = 1 << 20
	withPeak := func(r *result, peak int64) *result { r.peakRSS = peak; return r }
	for _, tc := range []struct {
		name           string
		grownB, twinA  int64 // peaks, MiB
		want, mentions string
	}{
		{"every peak under the line", 140, 120, "met   ", "140 MB (g b at 1,000,000, beside)"},
		{"g's b past it, a–d under it", 151, 120, "MISSED", "151 MB (g b at 1,000,000, beside)"},
		{"the twin past it", 140, 152, "MISSED", "152 MB (g a's twin on the database before the growth)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := rate(30_000, 25*time.Microsecond)
			first := &round{installations: 10_000, token: withPeak(beside(rate(15_000, 80*time.Microsecond), fl), 60*mib),
				install: withPeak(rate(2_000, 600*time.Microsecond), 110*mib)}
			side := &round{installations: 1_000_000,
				token:   withPeak(beside(rate(9_500, 90*time.Microsecond), withPeak(rate(10_000, 80*time.Microsecond), tc.twinA*mib)), 130*mib),
				install: withPeak(beside(rate(1_950, 600*time.Microsecond), withPeak(rate(2_000, 590*time.Microsecond), 100*mib)), tc.grownB*mib)}
			rep := &report{o: options{conns: 32}, floor: fl, stores: []*storeResult{{name: "sqlite", first: first, beside: side,
				introspect: withPeak(beside(rate(24_000, 40*time.Microsecond), fl), 125*mib)}}}
			var line string
			for _, l := range rep.targets() {
				if strings.Contains(l, "peak RSS under load") {
					line = l
				}
			}
			if !strings.HasPrefix(line, tc.want) || !strings.Contains(line, tc.mentions) {
				t.Errorf("peak line = %q, want it marked %q and saying %q", line, tc.want, tc.mentions)
			}
		})
	}
}

// TestLagRowSaysWhatBLeftOwing: the outbox lag row says how many of b's
// webhooks were still to come when b's seconds ended, since their
// delivery is work b's server CPU per install does not count.
func TestLagRowSaysWhatBLeftOwing(t *testing.T) {
	fl := rate(30_000, 25*time.Microsecond)
	lags := make([]time.Duration, 900)
	for i := range lags {
		lags[i] = time.Duration(i) * time.Millisecond
	}
	rep := &report{o: options{conns: 32}, floor: fl, stores: []*storeResult{{name: "sqlite",
		first: &round{installations: 10_000, install: rate(1_000, 600*time.Microsecond), lags: lags, undelivered: 100, owed: 250}}}}
	var row []string
	for _, r := range rep.rows() {
		if strings.Contains(r[0], "outbox lag during b") {
			row = r
		}
	}
	if row == nil {
		t.Fatal("no outbox lag row")
	}
	if want := "250 of 1,000 webhooks still to come at b's end (25%)"; row[1] != want {
		t.Errorf("lag row's second column = %q, want %q", row[1], want)
	}
	if row[5] != "100 lost" {
		t.Errorf("lag row's errors = %q, want 100 lost", row[5])
	}
}

// TestP99LineNamesEachOfBsRequests: the p99 target is read for each of
// b's requests apart, and its line says each one's p99, since one
// request's tail hides in the p99 of all: here the decision's 1 % slowest
// are a third of a percent of b's requests, whose p99 together is 3 ms.
func TestP99LineNamesEachOfBsRequests(t *testing.T) {
	b := rate(1_000, 600*time.Microsecond)
	// 100 requests of each step; the p99 of each is its 99th.
	steps := [][]time.Duration{make([]time.Duration, 100), make([]time.Duration, 100), make([]time.Duration, 100)}
	for i := range 100 {
		steps[0][i], steps[1][i], steps[2][i] = time.Millisecond, 2*time.Millisecond, 3*time.Millisecond
	}
	steps[1][99], steps[2][99] = 30*time.Millisecond, 12*time.Millisecond
	steps[1][98] = 25 * time.Millisecond
	b.byStep = steps
	b.reqLat = append(append(append([]time.Duration{}, steps[0]...), steps[1]...), steps[2]...)
	slices.Sort(b.reqLat)
	rep := &report{o: options{conns: 32}, floor: rate(30_000, 25*time.Microsecond), stores: []*storeResult{{name: "sqlite",
		first: &round{installations: 10_000, install: b}}}}
	var line string
	for _, l := range rep.targets() {
		if strings.Contains(l, "p99 < 20 ms") {
			line = l
		}
	}
	want := "MISSED sqlite p99 < 20 ms per request, b (b: each of its 3 requests) at 32 connections: worst 25.0 ms " +
		"(the consent page 1.00 ms, the decision 25.0 ms, the code exchange 3.00 ms)"
	if line != want {
		t.Errorf("p99 line:\n got %q\nwant %q", line, want)
	}
}

// rowWant is a row of the report, by its name, with its × floor and its
// server CPU/op columns.
type rowWant struct{ row, ratio, cpu string }

// checkRows fails t for each of want that rep's table lacks or shows
// otherwise.
func checkRows(t *testing.T, rep *report, want []rowWant) {
	t.Helper()
	rows := map[string][]string{}
	for _, r := range rep.rows() {
		rows[r[0]] = r
	}
	for _, w := range want {
		r, ok := rows[w.row]
		if !ok {
			t.Errorf("no row %q", w.row)
			continue
		}
		if r[2] != w.ratio || r[6] != w.cpu {
			t.Errorf("%s: ratio %q, CPU %q; want %q, %q", w.row, r[2], r[6], w.ratio, w.cpu)
		}
	}
}

// TestAgainstRowsCompareTheSameSeconds: with -against, a and b beside the
// other build are rows of their own, read as the ratio of the two rates
// in the same seconds with both builds' CPU per operation, and b's line
// gives both builds' p99, request by request.
func TestAgainstRowsCompareTheSameSeconds(t *testing.T) {
	withSteps := func(r *result, consent, decision, code time.Duration) *result {
		r.byStep = [][]time.Duration{{consent}, {decision}, {code}}
		r.reqLat = []time.Duration{consent, code, decision}
		return r
	}
	b := withSteps(rate(1_100, 700*time.Microsecond), 10*time.Millisecond, 20*time.Millisecond, 15*time.Millisecond)
	old := withSteps(rate(1_000, 800*time.Microsecond), 12*time.Millisecond, 30*time.Millisecond, 18*time.Millisecond)
	rep := &report{o: options{conns: 32}, floor: rate(30_000, 25*time.Microsecond), stores: []*storeResult{{name: "sqlite",
		first:   &round{installations: 10_000, install: rate(1_050, 750*time.Microsecond)},
		against: &round{installations: 10_000, token: beside(rate(9_000, 90*time.Microsecond), rate(10_000, 100*time.Microsecond)), install: beside(b, old)}}}}
	checkRows(t, rep, []rowWant{
		{"sqlite a beside a of -against, same seconds", "0.900 of 10,000", "90 µs (-10%; -against: 100 µs)"},
		{"sqlite b beside b of -against, same seconds", "1.100 of 1,000", "700 µs (-12%; -against: 800 µs)"},
	})
	want := "       (b beside -against, the same seconds: p99 20.0 ms (the consent page 10.0 ms, the decision 20.0 ms, the code exchange 15.0 ms), " +
		"against 30.0 ms (the consent page 12.0 ms, the decision 30.0 ms, the code exchange 18.0 ms))"
	var found bool
	for _, l := range rep.targets() {
		found = found || l == want
	}
	if !found {
		t.Errorf("no line %q in:\n%s", want, strings.Join(rep.targets(), "\n"))
	}
}

// TestTargetsSayHowFarTheSlicesRead: a ratio pooled from pairs of
// one-second slices comes with the lowest and highest of its pairs, in
// its row and in its target's line, so that a figure near its line reads
// as on it.
func TestTargetsSayHowFarTheSlicesRead(t *testing.T) {
	fl := rate(30_000, 25*time.Microsecond)
	a := beside(rate(15_600, 80*time.Microsecond), rate(30_000, 25*time.Microsecond))
	a.pairs = []float64{0.55, 0.48, 0.53}
	g := beside(rate(9_000, 90*time.Microsecond), rate(10_000, 80*time.Microsecond))
	g.pairs = []float64{0.84, 0.97, 0.91}
	rep := &report{o: options{conns: 32}, floor: fl, stores: []*storeResult{{name: "sqlite",
		first:  &round{installations: 10_000, token: a, install: rate(2_000, 600*time.Microsecond)},
		grown:  &round{installations: 1_000_000, token: beside(rate(15_000, 95*time.Microsecond), fl), install: rate(2_000, 600*time.Microsecond)},
		beside: &round{installations: 1_000_000, token: g}}}}
	lines := strings.Join(rep.targets(), "\n")
	for _, want := range []string{
		"sqlite a ≥ 0.5× floor: 0.520× (its one-second slices beside the floor: 0.480–0.550)",
		"a -10.0% beside a at 10,000 in the same seconds (its slices -16.0% to -3.0%; ",
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("targets do not say %q:\n%s", want, lines)
		}
	}
	var rows []string
	for _, r := range rep.rows() {
		rows = append(rows, strings.Join(r, " | "))
	}
	table := strings.Join(rows, "\n")
	for _, want := range []string{"0.52 of 30,000 (0.48–0.55)", "0.90 of 10,000 (0.84–0.97)"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table does not say %q:\n%s", want, table)
		}
	}
}

// TestP99LineSaysWhatTheServerTook: under b's p99 target, the p99 of what
// the server's request log says it took on each of b's requests; and a
// log with no line for one of them fails the run, naming it (its format
// has changed, or the log is not the server's).
func TestP99LineSaysWhatTheServerTook(t *testing.T) {
	fl := rate(30_000, 25*time.Microsecond)
	b := rate(2_000, 600*time.Microsecond)
	b.byStep = [][]time.Duration{{5 * time.Millisecond}, {30 * time.Millisecond}, {25 * time.Millisecond}}
	b.inServer = [][]time.Duration{{time.Millisecond, 2 * time.Millisecond}, {12 * time.Millisecond, 14 * time.Millisecond}, {9 * time.Millisecond, 11 * time.Millisecond}}
	rep := &report{o: options{conns: 32}, floor: fl, stores: []*storeResult{{name: "sqlite", first: &round{installations: 10_000, install: b}}}}
	lines := strings.Join(rep.targets(), "\n")
	want := "(b in the server's handlers, by its request log's lines of b's seconds (2 installs): the consent page 2.00 ms, the decision 14.0 ms, the code exchange 11.0 ms;"
	if !strings.Contains(lines, want) {
		t.Errorf("targets do not say %q:\n%s", want, lines)
	}
	if f := rep.failures(); len(f) != 0 {
		t.Errorf("failures with every request in the log: %v", f)
	}
	b.inServer[1] = nil
	f := strings.Join(rep.failures(), "\n")
	if !strings.Contains(f, "sqlite b: the server's request log has no line for the decision in b's seconds") {
		t.Errorf("failures = %q, want one naming the decision", f)
	}
}

// TestPacedInstallsHaveARowAndALine: b paced has a row of its own, saying
// the rate its installs arrived at and what share of b's that is, and a
// line under the p99 target giving each request's p99 counted from the
// arrival; its errors fail the run like b's.
func TestPacedInstallsHaveARowAndALine(t *testing.T) {
	fl := rate(30_000, 25*time.Microsecond)
	b := rate(2_000, 600*time.Microsecond)
	b.byStep = [][]time.Duration{{5 * time.Millisecond}, {30 * time.Millisecond}, {25 * time.Millisecond}}
	paced := rate(1_000, 0)
	paced.offered = 1_000
	paced.byStep = [][]time.Duration{{4 * time.Millisecond}, {9 * time.Millisecond}, {7 * time.Millisecond}}
	rep := &report{o: options{conns: 32}, floor: fl, stores: []*storeResult{{name: "sqlite",
		first: &round{installations: 10_000, install: b, paced: paced}}}}
	var row []string
	for _, r := range rep.rows() {
		if strings.Contains(r[0], "paced") {
			row = r
		}
	}
	if want := "sqlite b paced: installs arriving at 1,000/s, half of b's rate"; row == nil || row[0] != want || row[1] != "1,000 installs/s (1,000 req/s)" {
		t.Errorf("paced row = %q, want %q at 1,000 installs/s", row, want)
	}
	lines := strings.Join(rep.targets(), "\n")
	want := "(b paced, its installs arriving at a steady 1,000/s, half of its rate, on the same 32 connections, each latency from the install's arrival: " +
		"worst 9.00 ms (the consent page 4.00 ms, the decision 9.00 ms, the code exchange 7.00 ms))"
	if !strings.Contains(lines, want) {
		t.Errorf("targets do not say %q:\n%s", want, lines)
	}
	paced.errs, paced.firstErr = 2, "POST /oauth2/token: 500"
	if f := strings.Join(rep.failures(), "\n"); !strings.Contains(f, "sqlite b paced: 2 errors; the first: POST /oauth2/token: 500") {
		t.Errorf("failures = %q, want b paced's errors", f)
	}
}

// TestPostgresTargetReadsBBesideSQLite: PostgreSQL's b is held to 2× of
// SQLite's by the pair measured in the same seconds when there is one,
// with the rates minutes apart beside it, and by those rates when there
// is none; the pair has a row of its own.
func TestPostgresTargetReadsBBesideSQLite(t *testing.T) {
	for _, tc := range []struct {
		name       string
		side       *result // PostgreSQL's b, SQLite's in its floor field
		want       string  // the line's mark
		mentions   []string
		notMention string
	}{
		{
			name:     "the same seconds say met where minutes apart say missed",
			side:     beside(rate(800, 900*time.Microsecond), rate(1_500, 700*time.Microsecond)),
			want:     "met   ",
			mentions: []string{"1.875× (b, beside it in the same seconds (by the rates, minutes apart: 2.500×))"},
		},
		{
			name:     "a pair past the line misses, with its slices",
			side:     &result{ops: 700, reqs: 700, elapsed: time.Second, floor: rate(1_500, 700*time.Microsecond), pairs: []float64{0.4, 0.5}},
			want:     "MISSED",
			mentions: []string{"2.143× (b, beside it in the same seconds (its slices 2.00–2.50×; by the rates, minutes apart: 2.500×))"},
		},
		{
			name:       "without a pair, the rates minutes apart",
			want:       "MISSED",
			mentions:   []string{"2.500× (b, by the rates, minutes apart)"},
			notMention: "same seconds",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := rate(30_000, 25*time.Microsecond)
			sqlite := &storeResult{name: "sqlite", first: &round{installations: 10_000,
				token: beside(rate(15_000, 80*time.Microsecond), fl), install: rate(2_000, 600*time.Microsecond)}}
			pg := &storeResult{name: "postgres", first: &round{installations: 10_000,
				token: beside(rate(10_000, 110*time.Microsecond), fl), install: rate(800, 900*time.Microsecond)}}
			if tc.side != nil {
				pg.besideSQLite = &round{installations: 10_000, install: tc.side}
			}
			rep := &report{o: options{conns: 32}, floor: fl, stores: []*storeResult{sqlite, pg}}
			line := targetLine(t, rep, "postgres a and b within 2×")
			if !strings.HasPrefix(line, tc.want) || !strings.Contains(line, "1.500× (a, through the floor beside each)") {
				t.Errorf("line = %q, want it marked %q, with a's 1.500× through the floors", line, tc.want)
			}
			says(t, line, tc.mentions, tc.notMention)
		})
	}

	side := beside(rate(700, 900*time.Microsecond), rate(1_400, 700*time.Microsecond))
	side.dbCPU, side.floor.dbCPU = 700*1200*time.Microsecond, 1_400*50*time.Microsecond
	rep := &report{o: options{conns: 32}, floor: rate(30_000, 25*time.Microsecond), stores: []*storeResult{
		{name: "sqlite", first: &round{installations: 10_000, install: rate(1_500, 700*time.Microsecond)}},
		{name: "postgres", first: &round{installations: 10_000, install: rate(800, 900*time.Microsecond)},
			besideSQLite: &round{installations: 10_000, install: side}}}}
	var row []string
	for _, r := range rep.rows() {
		if r[0] == "postgres b beside sqlite's b, same seconds" {
			row = r
		}
	}
	if row == nil {
		t.Fatalf("no row for PostgreSQL's b beside SQLite's in %q", rep.rows())
	}
	if row[1] != "700 installs/s" || row[2] != "0.500 of 1,400" || row[6] != "900 µs + database 1200 µs (sqlite: 700 µs; postgres's database in sqlite's seconds: 50 µs an install)" {
		t.Errorf("row %q: want 700 installs/s, 0.500 of 1,400, both servers' CPU (PostgreSQL's with its database's) and what PostgreSQL's database did in SQLite's seconds", row)
	}
	if h := rep.heading(); !strings.Contains(h, "postgres b also alternates with sqlite b") {
		t.Errorf("the heading does not say PostgreSQL's b alternates with SQLite's: %s", h)
	}
}

// TestGrownAgainstRowsCompareTheSameSeconds: with -against and g, a and b
// beside the other build at the grown size are rows of their own, and
// this build's server's peak RSS there counts in the target's reading
// (the other build's does not: it is not the one measured).
func TestGrownAgainstRowsCompareTheSameSeconds(t *testing.T) {
	grownA := beside(rate(8_000, 120*time.Microsecond), rate(10_000, 150*time.Microsecond))
	grownA.peakRSS, grownA.floor.peakRSS = 140<<20, 200<<20
	rep := &report{o: options{conns: 32}, floor: rate(30_000, 25*time.Microsecond), stores: []*storeResult{{name: "sqlite",
		first:        &round{installations: 10_000, token: rate(9_000, 100*time.Microsecond), install: rate(1_050, 750*time.Microsecond)},
		grownAgainst: &round{installations: 1_000_000, token: grownA, install: beside(rate(900, 1100*time.Microsecond), rate(1_000, 1000*time.Microsecond))}}}}
	checkRows(t, rep, []rowWant{
		{"sqlite g a with 1,000,000 beside a of -against, same seconds", "0.800 of 10,000", "120 µs (-20%; -against: 150 µs)"},
		{"sqlite g b with 1,000,000 beside b of -against, same seconds", "0.900 of 1,000", "1100 µs (+10%; -against: 1000 µs)"},
	})
	if peak, where := rep.stores[0].peakUnderLoad(); peak != 140<<20 || where != "g a at 1,000,000 beside -against" {
		t.Errorf("peak RSS under load %d MB (%s); want 140 MB, g a at 1,000,000 beside -against", peak>>20, where)
	}
}
