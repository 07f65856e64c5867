package imagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/builder-images/builder/builder/events"
)

// CleanupTimeout bounds the removal of what a test created. Cleanup
// runs on a fresh context, so that a run cut short by Ctrl-C or its
// timeout still removes everything.
const CleanupTimeout = 60 * time.Second

// runner is one Run: the image, the backend and what has been seen.
type runner struct {
	b    Backend
	img  *Image
	opts Options
	res  *Result
	// settle is how long after the start a non-systemd init must still
	// be running: initSettle, shorter in tests.
	settle time.Duration
}

// initSettle is how long after its start an init that is not systemd
// must still run, with its console quiet: long enough for rc scripts
// to fail, short enough not to slow the test.
const initSettle = 3 * time.Second

// Run tests img on b: the properties check, then each configuration's
// checks, then the removal of everything b created (unless
// KeepOnFailure and a check failed). A failed check is in the Result,
// not an error; the error says the test could not run (the image could
// not be imported, say) or was interrupted (it wraps ctx.Err()). The
// Result is valid in every case.
func Run(ctx context.Context, b Backend, img *Image, opts Options) (Result, error) {
	return run(ctx, &runner{b: b, img: img, opts: opts, settle: initSettle})
}

func run(ctx context.Context, r *runner) (res Result, err error) {
	b, img := r.b, r.img
	opts := &r.opts
	if opts.Sink == nil {
		opts.Sink = events.Discard{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	start := time.Now()
	res = Result{Image: img.Name(), Dir: img.Dir, Fingerprint: img.JSON.Fingerprint, Backend: b.Name(), Status: events.StatusOK}
	configs, err := Configurations(img.InstanceType(), opts.Configs)
	if err != nil {
		res.Status = events.StatusFailed
		return res, err
	}
	r.res = &res
	names := make([]string, len(configs))
	for i, c := range configs {
		names[i] = c.Name
	}
	r.emit(events.Event{Type: events.TestStart, Output: img.Dir, Fingerprint: img.JSON.Fingerprint,
		Daemon: b.Name(), Configurations: names})

	defer func() {
		if ctx.Err() != nil {
			res.Status = events.StatusInterrupted
		}
		ferr := r.finish(ctx)
		err = errors.Join(err, ferr)
		res.Duration = time.Since(start)
		end := events.Event{Type: events.TestEnd, Status: res.Status, Duration: res.Duration.Seconds(),
			Passed: &res.Passed, Failed: &res.Failed, Fingerprint: img.JSON.Fingerprint, Output: img.Dir}
		// An interrupted test's status says it was interrupted: its
		// error is only worth giving for what cleanup could not remove.
		if ctx.Err() != nil {
			if ferr != nil {
				end.Error = &events.Failure{Message: ferr.Error()}
			}
		} else if err != nil {
			end.Error = &events.Failure{Message: err.Error()}
		}
		r.emit(end)
	}()

	if err := b.Prepare(ctx, img); err != nil {
		res.Status = events.StatusFailed
		return res, fmt.Errorf("preparing %s on %s: %w", img.Dir, b.Name(), err)
	}
	r.check(ctx, "", CheckProperties, func(ctx context.Context) (string, error) { return r.properties(ctx) })
	for _, c := range configs {
		if ctx.Err() != nil {
			break
		}
		r.runConfig(ctx, c)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("testing %s: %w", img.Dir, ctx.Err())
	}
	return res, nil
}

// finish removes what the backend created, or with KeepOnFailure after
// a failed check leaves it and records what is left. (An image that
// could not even be prepared leaves nothing worth a look.)
func (r *runner) finish(ctx context.Context) error {
	if r.opts.KeepOnFailure && r.res.Failed > 0 && ctx.Err() == nil {
		r.res.Kept = r.b.Kept()
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
	defer cancel()
	if err := r.b.Cleanup(cctx); err != nil {
		return fmt.Errorf("removing what the test created: %w", err)
	}
	return nil
}

func (r *runner) emit(e events.Event) {
	e.Time = time.Now()
	e.Image = r.img.Name()
	r.opts.Sink.Emit(e)
}

// checkError is a failed check that has more to say than its message: a
// test block's failure, with the block's place and output.
type checkError struct {
	detail  string
	failure *events.Failure
}

func (e *checkError) Error() string { return e.detail }

// check runs one check and reports it; it returns whether it passed.
func (r *runner) check(ctx context.Context, config, name string, fn func(context.Context) (string, error)) bool {
	start := time.Now()
	detail, err := fn(ctx)
	e := events.Event{Type: events.Check, Configuration: config, Check: name, Status: events.StatusOK,
		Duration: time.Since(start).Seconds(), Detail: detail}
	if err != nil {
		e.Status, e.Detail = events.StatusFailed, err.Error()
		var ce *checkError
		if errors.As(err, &ce) {
			e.Error = ce.failure
		}
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Interrupted, not failed: the check did not finish.
			e.Status = events.StatusInterrupted
		}
	}
	r.emit(e)
	switch e.Status {
	case events.StatusOK:
		r.res.Passed++
		return true
	case events.StatusFailed:
		r.res.Failed++
		r.res.Status = events.StatusFailed
		r.res.Failures = append(r.res.Failures, CheckFailure{Configuration: config, Check: name, Detail: e.Detail})
	}
	return false
}

// token returns n random bytes in hex: instance names, bridge names and
// the values the checks look for.
func token(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails (it panics rather than return short).
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// InstanceName is the name of a configuration's instance: a valid
// hostname (63 characters at most, letters, digits and dashes).
func InstanceName(config string) string {
	return "builder-test-" + config + "-" + token(3)
}
