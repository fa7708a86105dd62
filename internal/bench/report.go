package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// report is a whole run's results.
type report struct {
	o         options
	machine   string
	date      time.Time
	floor     *result
	floorEnd  *result // the floor again after every store, when it ran
	floorSign *result // the signing floor: a reference, not a yardstick
	floorSize int
	stores    []*storeResult
}

// storeResult is one backend's results.
type storeResult struct {
	name             string
	startup, restart time.Duration // exec → healthy: empty database, seeded one
	idleRSS          int64
	first, grown     *round
	// beside is g's a and b at the grown size, each in slices alternating
	// with the same at the first round's size, on a copy of the database
	// made before the growth (their floor fields); nil when g did not run.
	beside *round
	// against is a and b in slices alternating with the same on the
	// -against build (their floor fields); nil without -against.
	against *round
	// grownAgainst is against at the grown size, after g; nil without
	// -against or g.
	grownAgainst *round
	// besideSQLite is PostgreSQL's b in slices alternating with SQLite's,
	// on a copy of SQLite's database after its first round (its floor
	// field); nil when SQLite's b did not run first.
	besideSQLite *round
	refresh      *result
	introspect   *result
	guard        testing.BenchmarkResult
	guardRefused int64
	drain        float64 // f: deliveries/s
}

// peakUnderLoad is the highest peak RSS of s's servers in any scenario
// that loaded them, g's at a million installations included, and which
// scenario it was.
func (s *storeResult) peakUnderLoad() (int64, string) {
	var peak int64
	var where string
	see := func(r *result, name string) {
		if r != nil && r.peakRSS > peak {
			peak, where = r.peakRSS, name
		}
	}
	size := func(r *round) string { return thousands(float64(r.installations)) }
	if r := s.first; r != nil {
		see(r.token, "a")
		see(r.install, "b")
	}
	see(s.refresh, "c")
	see(s.introspect, "d")
	if r := s.grown; r != nil {
		see(r.token, "g a at "+size(r))
		see(r.install, "g b at "+size(r))
	}
	if r := s.against; r != nil {
		see(r.token, "a beside -against")
		see(r.install, "b beside -against")
	}
	if r := s.grownAgainst; r != nil {
		see(r.token, "g a at "+size(r)+" beside -against")
		see(r.install, "g b at "+size(r)+" beside -against")
	}
	if r := s.beside; r != nil {
		see(r.token, "g a at "+size(r)+", beside")
		see(r.install, "g b at "+size(r)+", beside")
		if r.token != nil {
			see(r.token.floor, "g a's twin on the database before the growth")
		}
		if r.install != nil {
			see(r.install.floor, "g b's twin on the database before the growth")
		}
	}
	return peak, where
}

// round is a and b at one fleet size.
type round struct {
	installations int
	token         *result
	install       *result
	// paced is b again at o.paced of install's rate, its installs arriving
	// at a steady pace (drivePaced); nil when it did not run.
	paced       *result
	lags        []time.Duration // b's installs: commit → webhook arrival
	undelivered int
	// owed is how many of b's installs (its warm-up's too) still awaited
	// their webhook when b's measured seconds ended: work of b's that its
	// server CPU per install leaves out.
	owed int
}

// owedAtEnd says how many of b's webhooks were still to come when its
// measured seconds ended, as a share of the webhooks its installs caused.
func owedAtEnd(r *round) string {
	all := len(r.lags) + r.undelivered
	if all == 0 {
		return ""
	}
	return fmt.Sprintf("%s of %s webhooks still to come at b's end (%.0f%%)", thousands(float64(r.owed)), thousands(float64(all)),
		100*float64(r.owed)/float64(all))
}

func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 100*time.Microsecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

// us formats a CPU time per operation in microseconds; "" when unknown.
func us(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// cpuChange is how much more (or less) server CPU an operation of g took
// than the same operation of the first round.
func cpuChange(g, first *result) string {
	if g.cpuPerOp() <= 0 || first.cpuPerOp() <= 0 {
		return ""
	}
	return fmt.Sprintf("%+.0f%%", (float64(g.cpuPerOp())/float64(first.cpuPerOp())-1)*100)
}

// pairsOf is r's spread, the lowest and highest of its pairs of slices,
// with digits decimals, in parentheses after what (say which slices);
// "" when it has none.
func pairsOf(r *result, digits int, what string) string {
	lo, hi, ok := r.spread()
	if !ok {
		return ""
	}
	return fmt.Sprintf(" (%s%.*f–%.*f)", what, digits, lo, digits, hi)
}

// beside1s names the pairs in a target's line.
const beside1s = "its one-second slices beside the floor: "

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// share names a fraction: "half", else a percentage.
func share(f float64) string {
	if f > 0.495 && f < 0.505 {
		return "half"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

// installSteps names b's requests in their order.
var installSteps = []string{"the consent page", "the decision", "the code exchange"}

// stepsP99 says the p99 of each of b's requests, where its tail is.
func stepsP99(b *result) string {
	if len(b.byStep) != len(installSteps) {
		return ""
	}
	parts := make([]string, len(installSteps))
	for i, name := range installSteps {
		parts[i] = name + " " + ms(pctOf(b.byStep[i], 99))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// serverStepsP99 says the p99 of what the server took on each of b's
// requests, by its request log.
func serverStepsP99(b *result) string {
	parts := make([]string, len(b.inServer))
	for i, l := range b.inServer {
		parts[i] = installSteps[i] + " " + ms(pctOf(l, 99))
	}
	return strings.Join(parts, ", ")
}

// loggedInstalls is how many installs b's lines in the request log
// cover: the fewest of any of its requests.
func loggedInstalls(b *result) int {
	n := -1
	for _, l := range b.inServer {
		if n < 0 || len(l) < n {
			n = len(l)
		}
	}
	return max(n, 0)
}

// worstStepP99 is the highest p99 of b's requests, each read apart: the
// p99 of all of them together hid a request's tail (the decision's 1 %
// slowest are a third of a percent of b's requests), and the target is
// for every request an app or a browser makes.
func worstStepP99(b *result) time.Duration {
	if len(b.byStep) != len(installSteps) {
		return pctOf(b.reqLat, 99)
	}
	var worst time.Duration
	for _, l := range b.byStep {
		worst = max(worst, pctOf(l, 99))
	}
	return worst
}

func pctOf(l []time.Duration, p float64) time.Duration {
	r := result{lat: l}
	return r.pct(p)
}

// rows returns the table: a heading row, then one row per figure.
func (rep *report) rows() [][]string {
	rows := [][]string{{"scenario", "rate", "× floor", "p50", "p99", "errors", "server CPU/op", "server peak RSS"}}
	if rep.floor == nil {
		return rows
	}
	fl := rep.floorRate()
	ratio := func(v float64) string { return fmt.Sprintf("%.2f", v/fl) }
	load := func(name, unit string, r *result, perReq bool) []string {
		rate := thousands(r.rate()) + " " + unit
		x := ratio(r.rate())
		if perReq {
			rate += fmt.Sprintf(" (%s req/s)", thousands(r.reqRate()))
			x = ratio(r.reqRate())
		}
		if r.floor != nil {
			x = fmt.Sprintf("%.2f of %s", r.ratio(), thousands(r.floor.reqRate())) + pairsOf(r, 2, "")
		}
		cpu := us(r.cpuPerOp())
		if db := r.dbCPUPerOp(); db > 0 {
			cpu += " + database " + us(db)
		}
		return []string{name, rate, x, ms(r.pct(50)), ms(r.pct(99)), fmt.Sprint(r.errs), cpu, mb(r.peakRSS)}
	}
	rows = append(rows, load("floor: net/http handler, same client", "req/s", rep.floor, false))
	if rep.floorEnd != nil {
		rows = append(rows, load("floor again, after every store", "req/s", rep.floorEnd, false))
	}
	if rep.floorSign != nil {
		rows = append(rows, load("signing floor: the floor + one Ed25519 signature", "req/s", rep.floorSign, false))
	}
	for _, s := range rep.stores {
		add := func(row []string) { rows = append(rows, append([]string{s.name + " " + row[0]}, row[1:]...)) }
		// besideRows adds a row for a and for b of rd, each measured in
		// slices alternating with a twin server (its floor field): its
		// rate as a ratio to the twin's, with digits decimals, and both
		// servers' CPU per operation, the twin's named twin.
		besideRows := func(rd *round, name func(scenario string) string, digits int, twin string) {
			for _, x := range []struct {
				name, unit string
				r          *result
			}{{"a", "req/s", rd.token}, {"b", "installs/s", rd.install}} {
				if x.r == nil || x.r.floor == nil {
					continue
				}
				row := load(name(x.name), x.unit, x.r, false)
				row[2] = fmt.Sprintf("%.*f of %s", digits, x.r.ratio(), thousands(x.r.floor.rate())) + pairsOf(x.r, digits, "")
				row[6] += fmt.Sprintf(" (%s; %s: %s)", cpuChange(x.r, x.r.floor), twin, us(x.r.floor.cpuPerOp()))
				add(row)
			}
		}
		r := s.first
		if r == nil {
			continue
		}
		n := thousands(float64(r.installations))
		if r.token != nil {
			add(load("a instance token ("+n+" installations)", "req/s", r.token, false))
		}
		if r.install != nil {
			add(load("b full install ("+n+" installations)", "installs/s", r.install, true))
		}
		if pc := r.paced; pc != nil && r.install != nil {
			row := load(fmt.Sprintf("b paced: installs arriving at %s/s, %s of b's rate", thousands(pc.offered), share(pc.offered/r.install.rate())),
				"installs/s", pc, true)
			row[6], row[7] = "", "" // not measured apart from b's
			add(row)
		}
		if ag := s.against; ag != nil {
			besideRows(ag, func(x string) string { return fmt.Sprintf("%s beside %s of -against, same seconds", x, x) }, 3, "-against")
		}
		if bs := s.besideSQLite; bs != nil && bs.install != nil && bs.install.floor != nil {
			x := bs.install
			row := load("b beside sqlite's b, same seconds", "installs/s", x, false)
			row[2] = fmt.Sprintf("%.3f of %s", x.ratio(), thousands(x.floor.rate())) + pairsOf(x, 3, "")
			// The database's CPU in SQLite's slices is what PostgreSQL
			// left behind to run in them (besideSQLite), 0 as often as not.
			row[6] += fmt.Sprintf(" (sqlite: %s; %s's database in sqlite's seconds: %.0f µs an install)",
				us(x.floor.cpuPerOp()), s.name, float64(x.floor.dbCPUPerOp())/float64(time.Microsecond))
			add(row)
		}
		if s.refresh != nil {
			add(load("c refresh with rotation", "req/s", s.refresh, false))
		}
		if s.introspect != nil {
			add(load("d introspection", "req/s", s.introspect, false))
		}
		if s.guard.N > 0 {
			per := time.Duration(s.guard.NsPerOp())
			v := 1e9 / float64(max(s.guard.NsPerOp(), 1))
			add([]string{"e guard verifications (in-process, all cores)", thousands(v) + " /s", ratio(v), per.String() + "/op", "", fmt.Sprint(s.guardRefused), "", ""})
		}
		if s.drain > 0 {
			add([]string{"f webhook backlog drain", thousands(s.drain) + " deliveries/s", ratio(s.drain), "", "", "", "", ""})
		}
		if len(r.lags) > 0 {
			add([]string{"f outbox lag during b (commit → receiver)", owedAtEnd(r), "", ms(pctOf(r.lags, 50)), ms(pctOf(r.lags, 99)),
				fmt.Sprintf("%d lost", r.undelivered), "", ""})
		}
		if g := s.grown; g != nil && g.token != nil && g.install != nil {
			gn := thousands(float64(g.installations))
			row := load("g a with "+gn+" installations", "req/s", g.token, false)
			row[1] += fmt.Sprintf(", %.2f× of a", relative(g.token, r.token))
			row[6] += paren(cpuChange(g.token, r.token))
			add(row)
			row = load("g b with "+gn+" installations", "installs/s", g.install, true)
			row[1] += fmt.Sprintf(", %.2f× of b", relative(g.install, r.install))
			row[6] += paren(cpuChange(g.install, r.install))
			add(row)
		}
		if bs := s.beside; bs != nil {
			small, grown := thousands(float64(r.installations)), thousands(float64(bs.installations))
			besideRows(bs, func(x string) string {
				return fmt.Sprintf("g %s with %s beside %s with %s, same seconds", x, grown, x, small)
			}, 2, "at "+small)
		}
		if ag := s.grownAgainst; ag != nil {
			grown := thousands(float64(ag.installations))
			besideRows(ag, func(x string) string {
				return fmt.Sprintf("g %s with %s beside %s of -against, same seconds", x, grown, x)
			}, 3, "-against")
		}
		if s.restart > 0 {
			add([]string{"start → healthy (seeded db; restart with backlog)", ms(s.startup) + "; " + ms(s.restart), "", "", "", "", "", "idle " + mb(s.idleRSS)})
		} else {
			add([]string{"start → healthy (seeded db)", ms(s.startup), "", "", "", "", "", "idle " + mb(s.idleRSS)})
		}
	}
	return rows
}

// relative is x's speed against y's: the ratio of their ratios to the
// floor beside each when both have one, so that the machine's speed in the
// minutes between them cancels out; else the ratio of their rates.
func relative(x, y *result) float64 {
	if x.floor != nil && y.floor != nil && y.ratio() > 0 {
		return x.ratio() / y.ratio()
	}
	if y.rate() == 0 {
		return 0
	}
	return x.rate() / y.rate()
}

// toFloor is r's ratio to the floor beside it when it has one (drivePaired),
// else to fl.
func toFloor(r *result, fl float64) float64 {
	if r.floor != nil {
		return r.ratio()
	}
	return r.reqRate() / fl
}

// floorRate is what the ratios of figures without a floor of their own
// divide by: the floor, or the mean of the floor measured first and last,
// so that the machine drifting during the run moves them less.
func (rep *report) floorRate() float64 {
	if rep.floorEnd == nil {
		return rep.floor.reqRate()
	}
	return (rep.floor.reqRate() + rep.floorEnd.reqRate()) / 2
}

func (rep *report) heading() string {
	o := rep.o
	h := fmt.Sprintf("Doorway load benchmark, %s\nmachine: %s\nload: %d connections (%s), closed loop, %s per scenario after %s warm-up; "+
		"the floor answers a %d-byte JSON body (the size of a's token response)",
		rep.date.Format("2006-01-02 15:04 MST"), rep.machine, o.conns, clientName(o.client), o.duration, o.warmup, rep.floorSize)
	paired := ""
	for _, s := range rep.stores {
		if s.first != nil && s.first.token != nil && s.first.token.floor != nil {
			paired = fmt.Sprintf("; the signing floor, a, c, d and g's a alternate with the floor in %s slices, and their × floor is to the floor beside each (its rate follows 'of')", pairSlice)
		}
	}
	h += paired
	for _, s := range rep.stores {
		if s.beside != nil {
			h += "; g's a and b also alternate with the same on a copy of the database made before the growth, and their × is to that (the rows 'beside')"
			break
		}
	}
	for _, s := range rep.stores {
		if s.besideSQLite != nil {
			h += "; " + s.name + " b also alternates with sqlite b, on a copy of SQLite's database as its first round left it, and its × is to that (the row 'beside sqlite's b')"
			break
		}
	}
	for _, s := range rep.stores {
		if s.first != nil && s.first.paced != nil {
			h += "; b paced runs b's installs again arriving at a steady rate, open loop, each latency counted from the install's arrival"
			break
		}
	}
	if rep.floorEnd != nil {
		other := "× floor"
		if paired != "" {
			other = "the other ratios are"
		}
		h += fmt.Sprintf("; %s to the mean of the floor measured first and last (%s req/s)", other, thousands(rep.floorRate()))
	}
	return h
}

func (rep *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s\n\n", rep.heading())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rep.rows() {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, t := range rep.targets() {
		fmt.Fprintln(w, t)
	}
}

func (rep *report) markdown() string {
	var b strings.Builder
	for _, line := range strings.Split(rep.heading(), "\n") {
		fmt.Fprintf(&b, "%s  \n", line)
	}
	b.WriteString("\n")
	for i, r := range rep.rows() {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(r, " | "))
		if i == 0 {
			b.WriteString(strings.Repeat("|---", len(r)) + "|\n")
		}
	}
	b.WriteString("\n")
	for _, t := range rep.targets() {
		fmt.Fprintf(&b, "- %s\n", t)
	}
	return b.String()
}

// targets checks the targets; they are reported, not enforced.
func (rep *report) targets() []string {
	if rep.floor == nil {
		return nil
	}
	fl := rep.floorRate()
	var out []string
	check := func(ok bool, format string, args ...any) {
		mark := "met   "
		if !ok {
			mark = "MISSED"
		}
		out = append(out, mark+" "+fmt.Sprintf(format, args...))
	}
	var sqlite, pg *storeResult
	for _, s := range rep.stores {
		switch s.name {
		case "sqlite":
			sqlite = s
		case "postgres":
			pg = s
		}
	}
	s := sqlite
	if s == nil || s.first == nil {
		return out
	}
	// A run of some scenarios (-scenarios) checks the targets of those.
	a, b, c, d := s.first.token, s.first.install, s.refresh, s.introspect
	if a != nil {
		// Three decimals where a target is a ratio: 0.496 is a miss, and
		// "0.50" would not say so.
		check(toFloor(a, fl) >= 0.5, "sqlite a ≥ 0.5× floor: %.3f×%s", toFloor(a, fl), pairsOf(a, 3, beside1s))
		if sf := rep.floorSign; sf != nil && sf.reqRate() > 0 {
			sign := toFloor(sf, fl)
			out = append(out, fmt.Sprintf("       (a is %.2f× of the signing floor, which is %.2f× of the floor: the signature every token carries)",
				toFloor(a, fl)/sign, sign))
		}
	}
	if d != nil {
		check(toFloor(d, fl) >= 0.4, "sqlite d ≥ 0.4× floor: %.3f×%s", toFloor(d, fl), pairsOf(d, 3, beside1s))
	}
	if b != nil {
		check(b.rate() >= 1500, "sqlite b ≥ 1,500 installs/s: %s", thousands(b.rate()))
	}
	var worst time.Duration
	var ran []string
	for _, x := range []struct {
		name string
		r    *result
	}{{"a", a}, {"b", b}, {"c", c}, {"d", d}} {
		if x.r == nil {
			continue
		}
		p99 := x.r.pct(99)
		if x.r == b {
			p99 = worstStepP99(b) // each of its requests, not the install
		}
		worst, ran = max(worst, p99), append(ran, x.name)
	}
	if len(ran) > 0 {
		which := strings.Join(ran, ", ")
		if len(ran) == 4 {
			which = "a–d"
		}
		steps := ""
		if b != nil {
			which += " (b: each of its 3 requests)"
			steps = stepsP99(b)
		}
		check(worst < 20*time.Millisecond, "sqlite p99 < 20 ms per request, %s at %d connections: worst %s%s", which, rep.o.conns, ms(worst), steps)
		if b != nil && b.inServer != nil {
			out = append(out, fmt.Sprintf("       (b in the server's handlers, by its request log's lines of b's seconds (%s installs): %s; the rest was spent outside them, in the queues for a core and in the client)",
				thousands(float64(loggedInstalls(b))), serverStepsP99(b)))
		}
	}
	if pc := s.first.paced; pc != nil && b != nil {
		out = append(out, fmt.Sprintf("       (b paced, its installs arriving at a steady %s/s, %s of its rate, on the same %d connections, each latency from the install's arrival: worst %s%s)",
			thousands(pc.offered), share(pc.offered/b.rate()), rep.o.conns, ms(worstStepP99(pc)), stepsP99(pc)))
	}
	if ag := s.against; ag != nil && ag.install != nil && ag.install.floor != nil {
		out = append(out, fmt.Sprintf("       (b beside -against, the same seconds: p99 %s%s, against %s%s)",
			ms(worstStepP99(ag.install)), stepsP99(ag.install), ms(worstStepP99(ag.install.floor)), stepsP99(ag.install.floor)))
	}
	check(s.idleRSS < 40<<20, "idle RSS < 40 MB: %s", mb(s.idleRSS))
	if peak, where := s.peakUnderLoad(); peak > 0 {
		check(peak < 150<<20, "peak RSS under load < 150 MB: %s (%s)", mb(peak), where)
	}
	restart := ""
	if s.restart > 0 {
		restart = fmt.Sprintf(" (seeded database: %s)", ms(s.restart))
	}
	check(s.startup < 100*time.Millisecond, "start to healthy < 100 ms: %s%s", ms(s.startup), restart)
	if g := s.grown; g != nil && g.token != nil && g.install != nil {
		small := thousands(float64(s.first.installations))
		// Each drop is read from the same seconds when it can be (the rows
		// "beside"): a's ratio through the floors carries the noise of two
		// floors, b's rates minutes apart the machine's drift.
		drop := func(name string, g, first, beside *result, apart string) (float64, string) {
			d := 1 - relative(g, first)
			if beside == nil || beside.floor == nil || beside.ratio() <= 0 {
				return d, fmt.Sprintf("%s %+.1f%% (server CPU per op %s)", name, -100*d, cpuChange(g, first))
			}
			same := 1 - beside.ratio()
			sp := ""
			if lo, hi, ok := beside.spread(); ok {
				sp = fmt.Sprintf("its slices %+.1f%% to %+.1f%%; ", 100*(lo-1), 100*(hi-1))
			}
			return same, fmt.Sprintf("%s %+.1f%% beside %s at %s in the same seconds (%sserver CPU per op %s; %s: %+.1f%%)",
				name, -100*same, name, small, sp, cpuChange(beside, beside.floor), apart, -100*d)
		}
		var ba, bb *result
		if bs := s.beside; bs != nil {
			ba, bb = bs.token, bs.install
		}
		da, howA := drop("a", g.token, a, ba, "through the floors, minutes apart")
		db, howB := drop("b", g.install, b, bb, "by the rates, minutes apart")
		check(da <= 0.10 && db <= 0.10, "g ≤ 10%% drop from %s to %s installations: %s; %s",
			small, thousands(float64(g.installations)), howA, howB)
	}
	if p := pg; p != nil && p.first != nil && a != nil && b != nil && p.first.token != nil && p.first.install != nil {
		// a through the floor beside each; b, whose slices cannot
		// alternate with the floor's, beside SQLite's in the same seconds
		// when it could be (besideSQLite), else by the rates minutes apart.
		ra, rb := relative(a, p.first.token), relative(b, p.first.install)
		howA, howB := "through the floor beside each", ""
		if a.floor == nil || p.first.token.floor == nil {
			howA = "by the rates, minutes apart"
		}
		if bs := p.besideSQLite; bs != nil && bs.install != nil && bs.install.floor != nil && bs.install.ratio() > 0 {
			apart := rb
			rb = 1 / bs.install.ratio()
			sp := ""
			if lo, hi, ok := bs.install.spread(); ok && lo > 0 {
				sp = fmt.Sprintf("its slices %.2f–%.2f×; ", 1/hi, 1/lo)
			}
			howB = fmt.Sprintf(", beside it in the same seconds (%sby the rates, minutes apart: %.3f×)", sp, apart)
		} else {
			howB = ", by the rates, minutes apart"
		}
		check(ra <= 2 && rb <= 2, "postgres a and b within 2× of sqlite: sqlite is %.3f× (a, %s) and %.3f× (b%s) of postgres", ra, howA, rb, howB)
	}
	return out
}

// failures lists what makes the run fail: errors, lost webhooks, refused
// tokens. Speed never does.
func (rep *report) failures() []string {
	var out []string
	bad := func(name string, r *result) {
		if r != nil && r.errs > 0 {
			out = append(out, fmt.Sprintf("%s: %d errors; the first: %s", name, r.errs, r.firstErr))
		}
	}
	bad("floor", rep.floor)
	bad("floor again", rep.floorEnd)
	bad("signing floor", rep.floorSign)
	for _, s := range rep.stores {
		for _, r := range []*round{s.first, s.grown} {
			if r == nil {
				continue
			}
			bad(s.name+" a", r.token)
			bad(s.name+" b", r.install)
			bad(s.name+" b paced", r.paced)
			if in := r.install; in != nil && in.inServer != nil && in.ops > 0 {
				for i, l := range in.inServer {
					if len(l) == 0 {
						out = append(out, fmt.Sprintf("%s b: the server's request log has no line for %s in b's seconds; "+
							"has its format changed? (internal/bench/serverlog.go reads it)", s.name, installSteps[i]))
					}
				}
			}
			if r.undelivered > 0 {
				out = append(out, fmt.Sprintf("%s b: %d installs' webhooks did not arrive within 30 s", s.name, r.undelivered))
			}
		}
		bad(s.name+" c", s.refresh)
		bad(s.name+" d", s.introspect)
		if s.guardRefused > 0 {
			out = append(out, fmt.Sprintf("%s e: the guard refused %d valid tokens", s.name, s.guardRefused))
		}
	}
	return out
}
