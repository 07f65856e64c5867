package qemu

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
)

// agentGrace is how long after the guest's login prompt its agent may
// still be silent before the exec check gives up on it: the images'
// udev rule starts the agent well before the getty, so a guest at its
// login prompt without an agent will not get one (an image without the
// agent's units, say), and waiting out the whole timeout would tell
// nothing more.
const agentGrace = 2 * time.Minute

var loginPrompt = regexp.MustCompile(`(?m)^\S+ login: `)

// NoAgentError says the guest booted to its login prompt and no agent
// answered within the grace after it.
type NoAgentError struct{ Grace time.Duration }

func (e *NoAgentError) Error() string {
	return fmt.Sprintf("the guest reached its login prompt and no agent answered within %v of it: "+
		"a VM image needs the agent's units (lxd-agent.service, its udev rule and vm-agent-setup: see recipes/files/vm)", e.Grace)
}

// agentWatch ends the calls still waiting for the agent's first answer
// with a NoAgentError once the guest is at its login prompt and the
// grace has passed.
type agentWatch struct {
	answeredOnce sync.Once
	answered     chan struct{} // closed on the agent's first answer
	silent       context.Context
	giveUp       context.CancelCauseFunc
}

func newAgentWatch() *agentWatch {
	silent, giveUp := context.WithCancelCause(context.Background())
	return &agentWatch{answered: make(chan struct{}), silent: silent, giveUp: giveUp}
}

// watch waits for the login prompt (waitPrompt returns nil once it
// came), then the grace; it returns early when ctx ends or the agent
// answered.
func (w *agentWatch) watch(ctx context.Context, waitPrompt func(context.Context) error, grace time.Duration) {
	if waitPrompt(ctx) != nil {
		return
	}
	select {
	case <-w.answered:
	case <-ctx.Done():
	case <-time.After(grace):
		w.giveUp(&NoAgentError{Grace: grace})
	}
}

// call runs f with ctx, ended early by the watch while the agent has
// never answered; an answer (f's nil error) ends the watch for good.
func (w *agentWatch) call(ctx context.Context, f func(context.Context) error) error {
	select {
	case <-w.answered:
		return f(ctx)
	default:
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(w.silent, func() { cancel(context.Cause(w.silent)) })
	defer func() {
		stop()
		cancel(nil)
	}()
	err := f(ctx)
	if err == nil {
		w.answeredOnce.Do(func() { close(w.answered) })
		return nil
	}
	var none *NoAgentError
	if cause := context.Cause(ctx); errors.As(cause, &none) {
		return cause
	}
	return err
}
