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
	// Ack, with a request's ID, says the agent received it: sent before
	// the agent starts on it, then every KeepaliveInterval while it
	// runs. The host sends again only requests never acknowledged (a
	// restarted agent never started them), and fails a request it has
	// heard nothing about for a while instead of waiting its whole
	// deadline.
	Ack bool `json:"ack,omitempty"`
}

// KeepaliveInterval is how often the agent acknowledges again a request
// it is still running; the host gives up on one after IdleLimit of
// silence, a few intervals.
const (
	KeepaliveInterval = 15 * time.Second
	IdleLimit         = 60 * time.Second
)

// MaxLine bounds one line of the protocol, either way: a peer sending
// longer ones is dropped rather than let grow the reader's memory. An
// answer holds two outputs of at most maxOutput (4 MiB) each, which JSON
// escaping can make up to 6 times longer (\u00XX for control bytes,
// \ufffd for invalid UTF-8).
const MaxLine = 2*6*maxOutput + 1<<20

// errLineTooLong is how readLine refuses a line over its limit.
var errLineTooLong = fmt.Errorf("a line longer than %d MiB: the peer is dropped", MaxLine>>20)

// readLine reads one line of at most limit bytes (newline excluded),
// never holding more than that in memory.
func readLine(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > limit+1 {
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
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
	return serve(ctx, r, w, h, KeepaliveInterval)
}

func serve(ctx context.Context, r io.Reader, w io.Writer, h Handler, keepalive time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	send := func(resp Response) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(resp) // the host is gone: nothing to tell
	}
	// The host may send a request twice (it resends the unacknowledged
	// ones when an agent greets it, and one may have crossed the
	// greeting): each ID runs once in this agent.
	seen := map[uint64]bool{}
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br, MaxLine)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var req Request
		if err := json.Unmarshal(line, &req); err != nil {
			return fmt.Errorf("vmagent: a request that is not JSON: %w", err)
		}
		// Acknowledged before it starts: a request the host saw no
		// acknowledgement for was never started, and may be sent again.
		send(Response{ID: req.ID, Ack: true})
		if seen[req.ID] {
			continue
		}
		seen[req.ID] = true
		go func() {
			done := make(chan struct{})
			go func() {
				t := time.NewTicker(keepalive)
				defer t.Stop()
				for {
					select {
					case <-done:
						return
					case <-t.C:
						send(Response{ID: req.ID, Ack: true})
					}
				}
			}()
			resp := h.Handle(ctx, req)
			close(done)
			resp.ID = req.ID
			resp.Ack, resp.Hello = false, false
			send(resp)
		}()
	}
}
