package builder

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress reports the bytes a packing pass has archived: on a terminal
// as one line updated in place, otherwise (CI logs) as a plain line every
// few seconds, so long packs show they are alive without flooding logs.
type progress struct {
	out   io.Writer
	tty   bool
	label string
	n     atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startProgress(out io.Writer, tty bool, label string) *progress {
	every := 5 * time.Second
	if tty {
		every = 250 * time.Millisecond
	}
	return startProgressEvery(out, tty, label, every)
}

func startProgressEvery(out io.Writer, tty bool, label string, every time.Duration) *progress {
	p := &progress{out: out, tty: tty, label: label, start: time.Now(), stop: make(chan struct{})}
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

func (p *progress) report() {
	n := p.n.Load()
	elapsed := time.Since(p.start)
	rate := float64(n) / elapsed.Seconds()
	if p.tty {
		fmt.Fprintf(p.out, "\r    %s: %s archived, %s/s   ", p.label, humanSize(n), humanSize(int64(rate)))
		return
	}
	fmt.Fprintf(p.out, "    %s: %s archived, %s/s, %s\n", p.label, humanSize(n), humanSize(int64(rate)), elapsed.Round(time.Second))
}

// Stop ends the reports; on a terminal it clears the line.
func (p *progress) Stop() {
	close(p.stop)
	p.wg.Wait()
	if p.out != nil && p.tty {
		fmt.Fprint(p.out, "\r\033[K")
	}
}

// Wrap counts what is written through w.
func (p *progress) Wrap(w io.Writer) io.Writer { return countingWriter{w: w, n: &p.n} }

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}
