package output

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Progress reports the bytes a pass has archived or sent: on a terminal
// as one line updated in place, otherwise (CI logs) as a plain line every
// few seconds, so long packs show they are alive without flooding logs.
type Progress struct {
	out   io.Writer
	tty   bool
	label string
	// verb says what happened to the bytes: "archived", "sent".
	verb  string
	n     atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

// StartProgress starts reporting on out (nil: no reports) every quarter
// second on a terminal, every five seconds otherwise.
func StartProgress(out io.Writer, tty bool, label, verb string) *Progress {
	every := 5 * time.Second
	if tty {
		every = 250 * time.Millisecond
	}
	return startProgressEvery(out, tty, label, verb, every)
}

func startProgressEvery(out io.Writer, tty bool, label, verb string, every time.Duration) *Progress {
	p := &Progress{out: out, tty: tty, label: label, verb: verb, start: time.Now(), stop: make(chan struct{})}
	if out == nil {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.report()
			}
		}
	}()
	return p
}

func (p *Progress) report() {
	n := p.n.Load()
	elapsed := time.Since(p.start)
	rate := float64(n) / elapsed.Seconds()
	if p.tty {
		fmt.Fprintf(p.out, "\r    %s: %s %s, %s/s   ", p.label, HumanSize(n), p.verb, HumanSize(int64(rate)))
		return
	}
	fmt.Fprintf(p.out, "    %s: %s %s, %s/s, %s\n", p.label, HumanSize(n), p.verb, HumanSize(int64(rate)), elapsed.Round(time.Second))
}

// Stop ends the reports; on a terminal it clears the line.
func (p *Progress) Stop() {
	close(p.stop)
	p.wg.Wait()
	if p.out != nil && p.tty {
		fmt.Fprint(p.out, "\r\033[K")
	}
}

// Wrap counts what is written through w.
func (p *Progress) Wrap(w io.Writer) io.Writer { return countingWriter{w: w, n: &p.n} }

// Set records that n bytes are done so far.
func (p *Progress) Set(n int64) { p.n.Store(n) }

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

// Space forwards the compressor's buffer, if it lends one, so that pack
// still reads files straight into it through this wrapper.
func (c countingWriter) Space() []byte {
	if l, ok := c.w.(interface{ Space() []byte }); ok {
		return l.Space()
	}
	return nil
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}
