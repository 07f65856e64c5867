package streams

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of ServeOptions. An image server's clients are daemons
// downloading files of hundreds of megabytes, so no deadline bounds a
// whole response: a client is dropped when it stops reading, not when it
// reads slowly.
const (
	DefaultMaxConns    = 256
	DefaultReadTimeout = 30 * time.Second
	DefaultWriteStall  = 60 * time.Second
	DefaultIdleTimeout = 2 * time.Minute
)

// ServeOptions bound what clients may hold of the server; zero fields
// take the defaults above.
type ServeOptions struct {
	// MaxConns caps the open connections: past it, new ones wait in the
	// kernel's backlog until one closes.
	MaxConns int
	// ReadTimeout bounds the TLS handshake and reading a request.
	ReadTimeout time.Duration
	// WriteStall bounds each write of a response: a client that reads
	// nothing for that long is dropped, one that keeps reading never is.
	WriteStall time.Duration
	// IdleTimeout closes a kept-alive connection no request came on.
	IdleTimeout time.Duration
	// ErrorLog receives the server's own errors (failed handshakes …),
	// one line each; nil discards them.
	ErrorLog io.Writer
}

func (o ServeOptions) withDefaults() ServeOptions {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteStall <= 0 {
		o.WriteStall = DefaultWriteStall
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.ErrorLog == nil {
		o.ErrorLog = io.Discard
	}
	return o
}

// Serve serves h over HTTPS on ln until ctx ends, then shuts down
// gracefully: requests in flight get shutdownGrace to finish. Clients
// are bounded by opts.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, cert tls.Certificate, opts ServeOptions) error {
	const shutdownGrace = 10 * time.Second
	opts = opts.withDefaults()
	addr := ln.Addr()
	srv := &http.Server{
		Handler:   stallGuard{h: h, stall: opts.WriteStall},
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		// ReadTimeout also sets the deadline of the TLS handshake; no
		// WriteTimeout, which would cut a long download: stallGuard
		// bounds each write instead.
		ReadTimeout:       opts.ReadTimeout,
		ReadHeaderTimeout: opts.ReadTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(lineEscaper{w: opts.ErrorLog}, "", log.LstdFlags),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(newLimitListener(ln, opts.MaxConns), "", "") }()
	select {
	case err := <-done:
		return fmt.Errorf("serving on %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Responses still being written after the grace are cut.
		err = srv.Close()
	}
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("shutting down the server on %s: %w", addr, err)
	}
	return nil
}

// stallGuard gives every write of a response its own deadline, stall
// from its start: a client that stops reading is dropped within stall,
// however large the file, and one that reads at any pace is served to
// the end, however long that takes.
type stallGuard struct {
	h     http.Handler
	stall time.Duration
}

func (g stallGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.h.ServeHTTP(&stallWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: g.stall}, r)
}

// maxWrite splits large writes so that each part's deadline measures
// progress, not the size of what a handler wrote at once.
const maxWrite = 64 << 10

// stallWriter is a ResponseWriter without ReadFrom, so that a file is
// copied through Write in parts (with TLS there is no sendfile to lose).
type stallWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
}

func (s *stallWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		part := p[:min(len(p), maxWrite)]
		if err := s.rc.SetWriteDeadline(time.Now().Add(s.stall)); err != nil {
			return written, err
		}
		n, err := s.ResponseWriter.Write(part)
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(part):]
	}
	return written, nil
}

func (s *stallWriter) WriteHeader(code int) {
	// The header goes out with the first write or the handler's end;
	// either way under a deadline.
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.stall))
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// limitListener accepts at most n connections at a time, as
// golang.org/x/net/netutil.LimitListener: Accept waits for a free slot,
// so excess clients wait in the kernel's backlog rather than each
// holding a goroutine, buffers and a TLS state.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), closed: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.slots })}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitConn frees its slot when closed, once.
type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// lineEscaper writes each line with its control characters escaped, so
// that nothing a client sent can start a line of its own.
type lineEscaper struct{ w io.Writer }

func (e lineEscaper) Write(p []byte) (int, error) {
	line := bytes.TrimSuffix(p, []byte("\n"))
	q := strconv.Quote(string(line))
	if _, err := fmt.Fprintln(e.w, q[1:len(q)-1]); err != nil {
		return 0, err
	}
	return len(p), nil
}
