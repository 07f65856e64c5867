package qemu

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAgentWatchGivesUp: a call waiting for an agent that never answers
// ends with NoAgentError once the prompt came and the grace passed.
func TestAgentWatchGivesUp(t *testing.T) {
	w := newAgentWatch()
	go w.watch(context.Background(), func(context.Context) error { return nil }, 50*time.Millisecond)
	start := time.Now()
	err := w.call(context.Background(), func(ctx context.Context) error {
		<-ctx.Done() // an agent that never answers
		return ctx.Err()
	})
	var none *NoAgentError
	if !errors.As(err, &none) || time.Since(start) > 5*time.Second {
		t.Errorf("after %v: %v, want a NoAgentError", time.Since(start), err)
	}
}

// TestAgentWatchAnswered: once the agent answered, the watch ends no
// call, however long they take; and without a login prompt it never
// gives up.
func TestAgentWatchAnswered(t *testing.T) {
	w := newAgentWatch()
	if err := w.call(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	go w.watch(context.Background(), func(context.Context) error { return nil }, time.Millisecond)
	err := w.call(context.Background(), func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
			return nil
		}
	})
	if err != nil {
		t.Errorf("a call after the first answer: %v", err)
	}

	noPrompt := newAgentWatch()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go noPrompt.watch(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, time.Millisecond)
	callCtx, callCancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer callCancel()
	err = noPrompt.call(callCtx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("without a login prompt: %v, want the caller's deadline", err)
	}
}

// TestAgentGraceOption: Options.AgentGrace sets the grace; 0 keeps the
// default, 2 minutes.
func TestAgentGraceOption(t *testing.T) {
	if g := New(Options{}).agentGrace; g != 2*time.Minute {
		t.Errorf("the default grace is %v, want 2m", g)
	}
	if g := New(Options{AgentGrace: 5 * time.Second}).agentGrace; g != 5*time.Second {
		t.Errorf("AgentGrace 5s gives %v", g)
	}
}
