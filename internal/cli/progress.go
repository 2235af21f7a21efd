//go:build !berth_core

package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/registry"
)

// progress renders the blob updates of a pull or push: on a terminal one line
// per layer, redrawn in place (ANSI cursor-up and erase-line) with a bar, bytes
// and speed; elsewhere one plain line per layer when it completes.
type progress struct {
	w     io.Writer
	tty   bool
	verb  string // "Downloading", "Pushing"
	done  string // "Pull complete", "Pushed"
	skip  string // "Already exists", "Layer already exists"
	mu    sync.Mutex
	order []string
	rows  map[string]*progressRow
	drawn int // lines on screen from the last draw
	last  time.Time
	now   func() time.Time
}

type progressRow struct {
	id              string
	status          registry.Status
	cur, total      int64
	start, finished time.Time
}

func newProgress(w io.Writer, push bool) *progress {
	p := &progress{w: w, tty: isTerminal(w), verb: "Downloading", done: "Pull complete", skip: "Already exists",
		rows: map[string]*progressRow{}, now: time.Now}
	if push {
		p.verb, p.done, p.skip = "Pushing", "Pushed", "Layer already exists"
	}
	return p
}

// shortID is docker's layer ID: the first 12 hex digits.
func shortID(h string) string {
	if _, hex, ok := strings.Cut(h, ":"); ok && len(hex) >= 12 {
		return hex[:12]
	}
	return h
}

// update takes one blob update.
func (p *progress) update(u registry.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := u.Digest.String()
	r, ok := p.rows[key]
	if !ok {
		r = &progressRow{id: shortID(key), start: p.now()}
		p.rows[key] = r
		p.order = append(p.order, key)
	}
	if r.status == registry.Waiting && u.Status == registry.Moving {
		r.start = p.now()
	}
	if r.status == registry.Done || r.status == registry.Present {
		return
	}
	r.status, r.cur, r.total = u.Status, u.Current, u.Total
	final := u.Status == registry.Done || u.Status == registry.Present
	if final {
		r.finished = p.now()
	}
	if !p.tty {
		if final {
			fmt.Fprintln(p.w, p.plain(r))
		}
		return
	}
	if final || p.now().Sub(p.last) >= 100*time.Millisecond {
		p.draw()
	}
}

// finish draws the last state (on a terminal).
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && len(p.order) > 0 {
		p.draw()
	}
}

// plain is the line of a completed blob off a terminal, e.g.
// "abcd12345678: done 10MB in 0.4 s (25MB/s)". A blob done in less than
// minRateSpan gets no speed: over microseconds it says nothing ("18GB/s").
func (p *progress) plain(r *progressRow) string {
	if r.status == registry.Present {
		return fmt.Sprintf("%s: %s", r.id, strings.ToLower(p.skip[:1])+p.skip[1:])
	}
	d := r.finished.Sub(r.start)
	if d < minRateSpan {
		return fmt.Sprintf("%s: done %s in %.1f s", r.id, humanSize(r.total), d.Seconds())
	}
	return fmt.Sprintf("%s: done %s in %.1f s (%s/s)", r.id, humanSize(r.total), d.Seconds(), humanSize(rate(r.total, d)))
}

// minRateSpan is the shortest transfer plain gives a speed for.
const minRateSpan = 100 * time.Millisecond

func rate(n int64, d time.Duration) int64 {
	if d <= 0 {
		return n
	}
	return int64(float64(n) / d.Seconds())
}

// draw redraws every row in place.
func (p *progress) draw() {
	p.last = p.now()
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, k := range p.order {
		r := p.rows[k]
		b.WriteString("\x1b[2K")
		b.WriteString(p.line(r))
		b.WriteByte('\n')
	}
	p.drawn = len(p.order)
	io.WriteString(p.w, b.String())
}

func (p *progress) line(r *progressRow) string {
	switch r.status {
	case registry.Waiting:
		return r.id + ": Waiting"
	case registry.Present:
		return r.id + ": " + p.skip
	case registry.Done:
		return fmt.Sprintf("%s: %s  %s in %.1fs", r.id, p.done, humanSize(r.total), r.finished.Sub(r.start).Seconds())
	}
	const width = 30
	fill := 0
	if r.total > 0 {
		fill = int(min(r.cur*width/r.total, width))
	}
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	speed := rate(r.cur, p.now().Sub(r.start))
	return fmt.Sprintf("%s: %s [%s] %s/%s  %s/s", r.id, p.verb, bar, humanSize(r.cur), humanSize(r.total), humanSize(speed))
}
