package vmagent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeGuest joins a Client to guest, a function playing the guest's
// side of the port (it reads requests from r and writes lines to w).
func fakeGuest(t *testing.T, guest func(r io.Reader, w io.WriteCloser)) *Client {
	t.Helper()
	hostR, guestW := io.Pipe()
	guestR, hostW := io.Pipe()
	c := NewClient(struct {
		io.Reader
		io.Writer
		io.Closer
	}{hostR, hostW, closers{hostW, hostR}})
	t.Cleanup(func() { c.Close() })
	go func() {
		defer guestW.Close()
		guest(guestR, guestW)
	}()
	return c
}

// TestEndlessLine: a guest streaming one line without end is dropped
// once the line passes MaxLine, having had no more than that read.
func TestEndlessLine(t *testing.T) {
	var sent atomic.Int64
	c := fakeGuest(t, func(r io.Reader, w io.WriteCloser) {
		go io.Copy(io.Discard, r)
		chunk := []byte(`{"id":1,"stdout":"` + strings.Repeat("x", 1<<20))
		for {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
			chunk = chunk[len(chunk)-1<<20:]
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Exec(ctx, []string{"true"}, nil)
	if err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("exec against an endless line: %v; want the line refused", err)
	}
	if n := sent.Load(); n > MaxLine+2<<20 {
		t.Errorf("the host read %d bytes of one line; the limit is %d", n, MaxLine)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > 3*MaxLine {
		t.Errorf("heap %d MiB after the line was refused", ms.HeapAlloc>>20)
	}
}

// TestHelloFlood: a guest greeting without end fails the connection
// after MaxRestarts restarts, without a goroutine per greeting.
func TestHelloFlood(t *testing.T) {
	before := runtime.NumGoroutine()
	var hellos atomic.Int64
	c := fakeGuest(t, func(r io.Reader, w io.WriteCloser) {
		go io.Copy(io.Discard, r)
		enc := json.NewEncoder(w)
		for i := 0; i < 100000; i++ {
			if enc.Encode(Response{Hello: true}) != nil {
				return
			}
			hellos.Add(1)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Exec(ctx, []string{"sleep", "100"}, nil)
	if err == nil || !strings.Contains(err.Error(), "the agent restarted 4 times") {
		t.Fatalf("exec against a greeting flood: %v", err)
	}
	if n := hellos.Load(); n > MaxRestarts+2 {
		t.Errorf("the host read %d greetings", n)
	}
	if n := runtime.NumGoroutine(); n > before+10 {
		t.Errorf("%d goroutines, %d before", n, before)
	}
}

// TestAckedRequestNotRunAgain: a request the agent acknowledged and then
// died with fails when the next agent greets; it is not sent again.
func TestAckedRequestNotRunAgain(t *testing.T) {
	var got atomic.Int64
	restarted := make(chan struct{})
	c := fakeGuest(t, func(r io.Reader, w io.WriteCloser) {
		enc, dec := json.NewEncoder(w), json.NewDecoder(r)
		reqs := make(chan Request, 16)
		go func() {
			var req Request
			for dec.Decode(&req) == nil {
				reqs <- req
			}
		}()
		_ = enc.Encode(Response{Hello: true})
		req := <-reqs
		_ = enc.Encode(Response{ID: req.ID, Ack: true})
		// A copy sent again on the first greeting may still come (the
		// agent runs an ID once): let it, then count only what the
		// restarted agent is sent.
		time.Sleep(100 * time.Millisecond)
		for len(reqs) > 0 {
			<-reqs
		}
		_ = enc.Encode(Response{Hello: true})
		close(restarted)
		for range reqs {
			got.Add(1)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Exec(ctx, []string{"run-once"}, nil)
	if err == nil || !strings.Contains(err.Error(), "restarted while carrying it out") {
		t.Fatalf("exec across a restart after the ack: %v", err)
	}
	<-restarted
	time.Sleep(100 * time.Millisecond)
	if n := got.Load(); n != 0 {
		t.Errorf("the restarted agent received the request %d times", n)
	}
}

// TestLostBeforeGreeting: a request lost before the agent opened its
// port (no acknowledgement) is sent again on the first greeting.
func TestLostBeforeGreeting(t *testing.T) {
	c := fakeGuest(t, func(r io.Reader, w io.WriteCloser) {
		dec := json.NewDecoder(r)
		var lost Request
		if dec.Decode(&lost) != nil {
			return
		}
		_ = json.NewEncoder(w).Encode(Response{Hello: true})
		_ = serve(context.Background(), io.MultiReader(dec.Buffered(), r), w, &guest{}, time.Second)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Exec(ctx, []string{"echo", "again"}, nil)
	if err != nil || res.Stdout != "again\n" {
		t.Errorf("exec: %+v, %v", res, err)
	}
}

// TestSilentAgent: an agent that acknowledges a request and then says
// nothing fails the call after the idle limit, long before ctx ends;
// one that keeps acknowledging a long command does not.
func TestSilentAgent(t *testing.T) {
	c := fakeGuest(t, func(r io.Reader, w io.WriteCloser) {
		enc, dec := json.NewEncoder(w), json.NewDecoder(r)
		var req Request
		for dec.Decode(&req) == nil {
			_ = enc.Encode(Response{ID: req.ID, Ack: true})
		}
	})
	c.idle = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Exec(ctx, []string{"true"}, nil)
	if err == nil || !strings.Contains(err.Error(), "said nothing about it") || time.Since(start) > 5*time.Second {
		t.Fatalf("exec against a silent agent: %v after %v", err, time.Since(start))
	}

	hostR, guestW := io.Pipe()
	guestR, hostW := io.Pipe()
	go serve(context.Background(), guestR, guestW, &guest{}, 50*time.Millisecond)
	c = NewClient(struct {
		io.Reader
		io.Writer
		io.Closer
	}{hostR, hostW, closers{hostW, hostR}})
	defer c.Close()
	c.idle = 300 * time.Millisecond
	res, err := c.Exec(ctx, []string{"sh", "-c", "sleep 1; echo done"}, nil)
	if err != nil || res.Stdout != "done\n" {
		t.Errorf("a command longer than the idle limit, with keepalives: %+v, %v", res, err)
	}
}

// TestServeRunsAnIDOnce: a request that arrives twice (sent again across
// a greeting) runs once, and is acknowledged both times.
func TestServeRunsAnIDOnce(t *testing.T) {
	var runs atomic.Int64
	h := handlerFunc(func(ctx context.Context, req Request) Response { runs.Add(1); return Response{} })
	in := `{"id":7,"op":"ping"}` + "\n" + `{"id":7,"op":"ping"}` + "\n"
	pr, pw := io.Pipe()
	go func() {
		_ = serve(context.Background(), strings.NewReader(in), pw, h, time.Second)
		time.Sleep(200 * time.Millisecond)
		pw.Close()
	}()
	var acks, answers int
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		var resp Response
		if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Ack {
			acks++
		} else {
			answers++
		}
	}
	if runs.Load() != 1 || acks != 2 || answers != 1 {
		t.Errorf("runs %d, acks %d, answers %d; want 1, 2, 1", runs.Load(), acks, answers)
	}
}

type handlerFunc func(context.Context, Request) Response

func (f handlerFunc) Handle(ctx context.Context, req Request) Response { return f(ctx, req) }

// TestServeRefusesEndlessRequest: the agent's side has the same limit.
func TestServeRefusesEndlessRequest(t *testing.T) {
	r := io.MultiReader(strings.NewReader(`{"id":1,"op":"push","content":"`), endless{})
	err := serve(context.Background(), r, io.Discard, &guest{}, time.Second)
	if !errors.Is(err, errLineTooLong) {
		t.Errorf("serve: %v", err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'A'
	}
	return len(p), nil
}
