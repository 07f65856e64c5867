// Package vmagent is builder's own agent for VMs booted outside a daemon
// (package vmrun), and the host's client for it.
//
// The VM images' lxd-agent.service runs /run/lxd_agent/lxd-agent, which
// their setup script copies from a drive labelled config. `builder test`
// puts builder itself there under that name, with a Config (ConfigName)
// holding the image's templates rendered for the instance; builder's
// main() sees its name and runs Main: it writes the files (so
// /etc/hostname holds the instance's name and cloud-init's seed exists
// before cloud-init runs: the unit is ordered before it), tells systemd
// it is ready, then serves the host on the virtio serial port
// org.linuxcontainers.lxd.
//
// The protocol is line-delimited JSON, a Request per line from the host
// and a Response per line back, matched by ID: requests run
// concurrently, so a slow command does not hold up the next one.
package vmagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Operations a Request asks for.
const (
	OpPing     = "ping"     // answers: the agent runs
	OpExec     = "exec"     // runs Argv, returns its output and status
	OpPush     = "push"     // writes Content to Path with Mode, owned by root
	OpPoweroff = "poweroff" // answers, then shuts the guest down cleanly
)

// Request is one line from the host.
type Request struct {
	ID   uint64   `json:"id"`
	Op   string   `json:"op"`
	Argv []string `json:"argv,omitempty"`
	// Env adds to the command's environment (PATH, HOME, USER, LANG
	// are set as the daemons' exec sets them).
	Env map[string]string `json:"env,omitempty"`
	// TimeoutMS, when positive, kills the command after that long: just
	// after the host's deadline, so that a command the host gave up on
	// ends too.
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
	Path      string `json:"path,omitempty"`
	Content   []byte `json:"content,omitempty"`
	Mode      uint32 `json:"mode,omitempty"`
}

// Response is one line from the agent.
type Response struct {
	ID     uint64 `json:"id"`
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	Status int    `json:"status"`
	// Error is set when the request could not be carried out (not when
	// a command ran and failed: that is Status).
	Error string `json:"error,omitempty"`
	// Hello, with ID 0, is what the agent says when it opens the port:
	// after the first, it says the agent started again (systemd restarts
	// it when it dies), and the requests it had not answered are lost.
	Hello bool `json:"hello,omitempty"`
}

// Handler carries out requests.
type Handler interface {
	Handle(ctx context.Context, req Request) Response
}

// Serve reads requests from r until it ends and writes each one's
// response to w, running requests concurrently. It returns r's error
// (io.EOF when it ended cleanly) once r ends; requests still running
// are cancelled.
func Serve(ctx context.Context, r io.Reader, w io.Writer, h Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	dec := json.NewDecoder(r)
	for {
		var req Request
		if err := dec.Decode(&req); err != nil {
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) {
				return fmt.Errorf("vmagent: a request that is not JSON: %w", err)
			}
			return err
		}
		go func() {
			resp := h.Handle(ctx, req)
			resp.ID = req.ID
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(resp) // the host is gone: nothing to tell
		}()
	}
}

// ExecResult is what a command run in the guest gave.
type ExecResult struct {
	Stdout, Stderr string
	ExitStatus     int
}

// Client talks to an agent over a connection (the host's end of the
// VM's serial port). Its methods may be called concurrently.
type Client struct {
	conn    io.ReadWriteCloser
	writeMu sync.Mutex
	enc     *json.Encoder

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*call
	hellos  int
	err     error         // why reading ended; set before done closes
	done    chan struct{} // closed when reading ended
}

// NewClient starts reading conn's responses; Close ends it.
func NewClient(conn io.ReadWriteCloser) *Client {
	c := &Client{conn: conn, enc: json.NewEncoder(conn), pending: map[uint64]*call{}, done: make(chan struct{})}
	go c.read()
	return c
}

func (c *Client) read() {
	dec := json.NewDecoder(c.conn)
	var err error
	for {
		var resp Response
		if err = dec.Decode(&resp); err != nil {
			break
		}
		if resp.Hello {
			c.hello()
			continue
		}
		c.mu.Lock()
		pc := c.pending[resp.ID]
		delete(c.pending, resp.ID)
		c.mu.Unlock()
		if pc != nil { // else an answer to a request the host gave up on
			pc.answer <- resp
		}
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the connection to the agent closed")
	}
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
}

// call is a request waiting for its answer.
type call struct {
	req    Request
	answer chan Response // buffered: the reader never waits
}

// hello handles the agent's greeting: from a restarted agent, the
// requests still waiting are sent again, as the agent that took them is
// gone (a command may then run twice; the checks' are harmless).
func (c *Client) hello() {
	c.mu.Lock()
	c.hellos++
	var again []Request
	if c.hellos > 1 {
		for _, pc := range c.pending {
			again = append(again, pc.req)
		}
	}
	c.mu.Unlock()
	if len(again) > 0 {
		go func() {
			c.writeMu.Lock()
			defer c.writeMu.Unlock()
			for _, req := range again {
				_ = c.enc.Encode(req) // a failed write fails the read too
			}
		}()
	}
}

// Close closes the connection; calls waiting for answers fail.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends req (its ID is set here) and waits for its response, ctx's
// end or the connection's. A positive TimeoutMS is filled in from ctx's
// deadline when the request has none.
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	ch := make(chan Response, 1)
	c.mu.Lock()
	c.nextID++
	req.ID = c.nextID
	c.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok && req.TimeoutMS == 0 {
		// A second more than the host waits: the host's deadline, not
		// the guest's kill, ends the call, so it fails the same way
		// whichever side is slow.
		req.TimeoutMS = max(time.Until(dl).Milliseconds(), 0) + 1000
	}
	c.mu.Lock()
	c.pending[req.ID] = &call{req: req, answer: ch}
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
		wrote <- c.enc.Encode(req)
	}()
	select {
	case err := <-wrote:
		if err != nil {
			return Response{}, fmt.Errorf("agent %s: %w", req.Op, err)
		}
	case <-ctx.Done():
		return Response{}, fmt.Errorf("agent %s: %w", req.Op, ctx.Err())
	}
	select {
	case resp := <-ch:
		if resp.Error != "" {
			return resp, fmt.Errorf("agent %s: %s", req.Op, resp.Error)
		}
		return resp, nil
	case <-c.done:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return Response{}, fmt.Errorf("agent %s: %w", req.Op, err)
	case <-ctx.Done():
		return Response{}, fmt.Errorf("agent %s: no answer: %w", req.Op, ctx.Err())
	}
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
