package imagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
)

// session is one configuration's run: its instance and what the checks
// share.
type session struct {
	r      *runner
	config Configuration
	name   string
	inst   Instance
	// started is when the instance was started: the non-systemd running
	// check looks 3 s after it.
	started time.Time
	// token is what the exec and cloud-init checks look for.
	token string
}

// namedCheck is a check of a configuration.
type namedCheck struct {
	name string
	fn   func(s *session, ctx context.Context) (string, error)
}

// checks are the checks of config for the image, in order.
func (r *runner) checks(config Configuration) []namedCheck {
	list := []namedCheck{
		{CheckStart, (*session).start},
		{CheckExec, (*session).exec},
		{CheckRunning, (*session).running},
		{CheckHostname, (*session).hostname},
	}
	if config.NIC {
		list = append(list, namedCheck{CheckNetwork, (*session).network})
	}
	if r.img.Cloud() {
		list = append(list, namedCheck{CheckCloudInit, (*session).cloudInit})
	}
	for _, t := range r.img.Tests {
		if !t.RunsOn(config.InstanceType) {
			continue
		}
		list = append(list, namedCheck{TestCheckPrefix + t.Name, func(s *session, ctx context.Context) (string, error) {
			return s.testBlock(ctx, t)
		}})
	}
	return append(list, namedCheck{CheckStop, (*session).stop})
}

// runConfig launches the image in one configuration and runs its checks
// until one fails; the rest are reported skipped. The instance is
// deleted after, unless the configuration failed and KeepOnFailure
// keeps it.
func (r *runner) runConfig(ctx context.Context, config Configuration) {
	start := time.Now()
	s := &session{r: r, config: config, name: InstanceName(config.Name), token: token(8)}
	// Events spell instance types as build's do: "container", "vm".
	instanceType := image.TestOnContainer
	if config.InstanceType == image.InstanceVM {
		instanceType = image.TestOnVM
	}
	r.emit(events.Event{Type: events.ConfigStart, Configuration: config.Name, InstanceType: instanceType, Instance: s.name})
	cctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()

	status := events.StatusOK
	for _, c := range r.checks(config) {
		if status != events.StatusOK {
			r.emit(events.Event{Type: events.Check, Configuration: config.Name, Check: c.name, Status: events.StatusSkipped})
			continue
		}
		fn := c.fn
		ok := r.check(cctx, config.Name, c.name, func(ctx context.Context) (string, error) {
			detail, err := fn(s, ctx)
			return detail, s.explainTimeout(ctx, err)
		})
		switch {
		case ctx.Err() != nil:
			status = events.StatusInterrupted
		case !ok:
			status = events.StatusFailed
		}
		if status == events.StatusInterrupted {
			break
		}
	}
	if s.inst != nil && !(status == events.StatusFailed && r.opts.KeepOnFailure) {
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
		// A failed delete is not the image's fault: Cleanup tries again
		// and reports it.
		_ = r.b.Delete(dctx, s.inst)
		dcancel()
	}
	r.emit(events.Event{Type: events.ConfigEnd, Configuration: config.Name, Status: status, Duration: time.Since(start).Seconds()})
}

// explainTimeout turns the configuration's deadline into what it means
// to the user: the check did not finish within --timeout.
func (s *session) explainTimeout(ctx context.Context, err error) error {
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	var ce *checkError
	if errors.As(err, &ce) {
		return err
	}
	msg := strings.Replace(err.Error(), ": "+context.DeadlineExceeded.Error(), "", 1)
	return fmt.Errorf("timed out after %s (--timeout): %s", s.r.opts.Timeout, msg)
}
