package vmagent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ExecResult is what a command run in the guest gave.
type ExecResult struct {
	Stdout, Stderr string
	ExitStatus     int
}

// MaxRestarts is how many times the agent may start again during one
// connection before the host gives up on it: a guest whose agent keeps
// dying (or that keeps greeting) will not answer reliably.
const MaxRestarts = 3

// Client talks to an agent over a connection (the host's end of the
// VM's serial port). Its methods may be called concurrently.
type Client struct {
	conn    io.ReadWriteCloser
	writeMu sync.Mutex
	enc     *json.Encoder
	idle    time.Duration // IdleLimit; shorter in tests

	mu        sync.Mutex
	nextID    uint64
	pending   map[uint64]*call
	hellos    int
	lastHello time.Time
	resending bool          // a goroutine sends the unacknowledged requests again
	again     bool          // a greeting came while it did: it goes round once more
	err       error         // why reading ended; set before done closes
	done      chan struct{} // closed when reading ended
	// closed is set by Close before the connection closes: the agent may
	// still answer a call that was running (it kills the command when the
	// host's end closes, and says so), and that answer must not pass for
	// the command's own.
	closed bool
}

// ErrClientClosed is a call's error when Close ended it: whatever the
// agent answered after that is not the command's result.
var ErrClientClosed = errors.New("the connection to the agent was closed")

// NewClient starts reading conn's responses; Close ends it.
func NewClient(conn io.ReadWriteCloser) *Client {
	c := &Client{conn: conn, enc: json.NewEncoder(conn), idle: IdleLimit, pending: map[uint64]*call{}, done: make(chan struct{})}
	go c.read()
	return c
}

func (c *Client) read() {
	br := bufio.NewReaderSize(c.conn, 64<<10)
	var err error
	for {
		var line []byte
		if line, err = readLine(br, MaxLine); err != nil {
			break
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var resp Response
		if err = json.Unmarshal(line, &resp); err != nil {
			err = fmt.Errorf("the agent sent what is not JSON: %w", err)
			break
		}
		if resp.Hello {
			if err = c.hello(); err != nil {
				break
			}
			continue
		}
		c.mu.Lock()
		pc := c.pending[resp.ID]
		if pc != nil { // else an answer to a request the host gave up on
			pc.heard = time.Now()
			if resp.Ack {
				pc.acked = true
			} else {
				delete(c.pending, resp.ID)
				pc.answer <- resp
			}
		}
		c.mu.Unlock()
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the connection to the agent closed")
	}
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
	// Whatever ended reading, the connection is of no more use: close
	// it, so that a guest still sending is cut off.
	c.conn.Close()
}

// call is a request waiting for its answer.
type call struct {
	req    Request
	answer chan Response // buffered: the reader never waits
	sent   bool          // written once
	acked  bool          // the agent said it received it
	failed string        // why the call failed without an answer
	heard  time.Time     // last sign of life about it: sent, greeting, ack
}

// hello handles the agent's greeting. The requests not yet acknowledged
// are sent again (also on the first greeting: one written before the
// port was open may have been lost); those a previous agent had
// acknowledged fail rather than run twice, as it may have run them.
// Past MaxRestarts restarts, the connection fails.
func (c *Client) hello() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hellos++
	c.lastHello = time.Now()
	if restarts := c.hellos - 1; restarts > MaxRestarts {
		return fmt.Errorf("the agent restarted %d times", restarts)
	}
	for id, pc := range c.pending {
		pc.heard = c.lastHello
		if pc.acked && c.hellos > 1 {
			delete(c.pending, id)
			pc.failed = "the agent restarted while carrying it out (not run again: it may have run)"
			pc.answer <- Response{ID: id}
		}
	}
	if c.resending {
		c.again = true
		return nil
	}
	c.resending = true
	go c.resend()
	return nil
}

// resend writes the unacknowledged requests again, going round once more
// if another greeting came meanwhile: one such goroutine at a time.
func (c *Client) resend() {
	for {
		c.mu.Lock()
		var again []Request
		for _, pc := range c.pending {
			if !pc.acked && pc.sent {
				again = append(again, pc.req)
			}
		}
		c.again = false
		c.mu.Unlock()
		c.writeMu.Lock()
		for _, req := range again {
			// Acknowledged meanwhile: the agent has it.
			c.mu.Lock()
			pc := c.pending[req.ID]
			skip := pc == nil || pc.acked
			c.mu.Unlock()
			if skip {
				continue
			}
			if c.enc.Encode(req) != nil {
				break // a failed write fails the read too
			}
		}
		c.writeMu.Unlock()
		c.mu.Lock()
		if !c.again {
			c.resending = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// Close closes the connection; calls waiting for answers fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.conn.Close()
}

// Do sends req (its ID is set here) and waits for its response, ctx's
// end or the connection's. A positive TimeoutMS is filled in from ctx's
// deadline when the request has none. Once the agent is known to run
// (it greeted the host or acknowledged the request), the call fails
// when nothing about it came for IdleLimit: the agent acknowledges a
// running request every KeepaliveInterval.
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	ch := make(chan Response, 1)
	if dl, ok := ctx.Deadline(); ok && req.TimeoutMS == 0 {
		// A second more than the host waits: the host's deadline, not
		// the guest's kill, ends the call, so it fails the same way
		// whichever side is slow.
		req.TimeoutMS = max(time.Until(dl).Milliseconds(), 0) + 1000
	}
	c.mu.Lock()
	c.nextID++
	req.ID = c.nextID
	pc := &call{req: req, answer: ch}
	c.pending[req.ID] = pc
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
	}()
	// The write may wait for a guest that has not opened its port yet:
	// do it aside, so ctx still bounds the call.
	wrote := make(chan error, 1)
	go func() {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		// Marked sent before the write ends: a greeting that comes once
		// the agent has read it, but before this goroutine runs on, must
		// send it again (the agent runs an ID once, so a copy is harmless).
		c.mu.Lock()
		pc.sent = true
		c.mu.Unlock()
		err := c.enc.Encode(req)
		c.mu.Lock()
		pc.heard = time.Now()
		c.mu.Unlock()
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			return Response{}, fmt.Errorf("agent %s: %w", req.Op, err)
		}
	case <-c.done:
		return Response{}, c.ended(req.Op)
	case <-ctx.Done():
		return Response{}, fmt.Errorf("agent %s: %w", req.Op, ctx.Err())
	}
	tick := time.NewTicker(c.idle / 6)
	defer tick.Stop()
	for {
		select {
		case resp := <-ch:
			c.mu.Lock()
			failed, closed := pc.failed, c.closed
			c.mu.Unlock()
			if closed {
				return Response{}, fmt.Errorf("agent %s: %w", req.Op, ErrClientClosed)
			}
			if failed != "" {
				return Response{}, fmt.Errorf("agent %s: %s", req.Op, failed)
			}
			if resp.Error != "" {
				return resp, fmt.Errorf("agent %s: %s", req.Op, resp.Error)
			}
			return resp, nil
		case <-c.done:
			return Response{}, c.ended(req.Op)
		case <-ctx.Done():
			return Response{}, fmt.Errorf("agent %s: no answer: %w", req.Op, ctx.Err())
		case now := <-tick.C:
			c.mu.Lock()
			alive := pc.acked || c.hellos > 0
			silent := now.Sub(pc.heard)
			acked := pc.acked
			c.mu.Unlock()
			if !alive || silent < c.idle {
				continue // before the agent's greeting: the guest boots
			}
			if acked {
				return Response{}, fmt.Errorf("agent %s: the agent took it and then said nothing about it for %v", req.Op, silent.Round(time.Second))
			}
			return Response{}, fmt.Errorf("agent %s: the agent runs but did not acknowledge it within %v", req.Op, silent.Round(time.Second))
		}
	}
}

// ended is why a call fails once reading ended.
func (c *Client) ended(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Errorf("agent %s: %w", op, c.err)
}

// Ping returns once the agent answers.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Do(ctx, Request{Op: OpPing})
	return err
}

// Exec runs argv in the guest. An error means it could not be run or
// no answer came; a command that ran and failed has its status.
func (c *Client) Exec(ctx context.Context, argv []string, env map[string]string) (ExecResult, error) {
	resp, err := c.Do(ctx, Request{Op: OpExec, Argv: argv, Env: env})
	if err != nil {
		return ExecResult{}, err
	}
	return ExecResult{Stdout: resp.Stdout, Stderr: resp.Stderr, ExitStatus: resp.Status}, nil
}

// Push writes content to path in the guest with mode, owned by root.
func (c *Client) Push(ctx context.Context, path string, content []byte, mode uint32) error {
	_, err := c.Do(ctx, Request{Op: OpPush, Path: path, Content: content, Mode: mode})
	return err
}

// Poweroff asks the guest to shut down cleanly; it returns once the
// agent took the request, not once the guest is off.
func (c *Client) Poweroff(ctx context.Context) error {
	_, err := c.Do(ctx, Request{Op: OpPoweroff})
	return err
}
