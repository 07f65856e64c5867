// Package stage builds a plan's root filesystem: bootstrap, every
// enabled step in the chroot, finalize (stage.go), with the stage cache's
// snapshots (stage_cache.go). Each step runs through its step.Action,
// given the step.Runtime of runtime.go. It runs inside the build's own
// namespaces (see isolation.RunIsolated).
package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/emulation"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/recipe"
)

// StepError is a step that failed, with the recipe block it came from.
type StepError struct {
	Kind, Name string
	Range      hcl.Range
	Err        error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s (%s:%d): %v", blockHeader(e.Kind, e.Name), e.Range.Filename, e.Range.Start.Line, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

func blockHeader(kind, name string) string {
	if name == "" {
		return kind
	}
	return fmt.Sprintf("%s %q", kind, name)
}

// Stage builds a plan's root filesystem in Dir: bootstrap, then every
// enabled step in order inside the chroot, then finalize. It must run
// inside the build's own namespaces (see RunIsolated).
type Stage struct {
	Plan *recipe.Plan
	Dir  string
	// Out receives progress lines and every command's output, as text,
	// unless Events is set.
	Out io.Writer
	// Events, when set, receives the steps' start and end and every
	// command's output line instead of Out.
	Events events.Sink
	// HTTP downloads tarball sources; nil means http.DefaultClient.
	HTTP *http.Client
	// WorkDir holds downloads; it must not be inside Dir.
	WorkDir string
	// Environ is builder's environment: proxies and SOURCE_DATE_EPOCH
	// are passed on to the build's commands (see HostEnv).
	Environ []string
	// Cache, when its Dir is set, restores the longest cached prefix of
	// the build, stores snapshots after each group of steps and shares
	// package downloads between builds.
	Cache cache.Policy
	// Recipe names the recipe in the cache's entries and history: its
	// absolute path.
	Recipe string

	sink    events.Sink
	current *events.Step
	// cache is Cache's directory, opened.
	cache *cache.Cache
}

// Run builds the rootfs. Mounts are undone before it returns, whatever
// happened; the directory's contents are left for the caller to keep or
// remove.
func (s *Stage) Run(ctx context.Context) (err error) {
	sink := s.Events
	if sink == nil {
		sink = &events.Text{Out: s.Out}
	}
	s.sink = sink
	runner := &isolation.Runner{Out: s.Out, TailLines: 20, PassEnv: isolation.HostEnv(s.Environ), ReapOrphans: os.Getpid() == 1,
		Lines: func(label, line string) {
			sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Step: s.current, Label: label, Line: line})
		}}
	host := ReadHostIdentity()
	steps := s.Plan.EnabledSteps()
	if len(steps) == 0 || steps[0].Stage != recipe.StageBootstrap {
		return errors.New("the plan has no enabled bootstrap step")
	}
	total := len(steps) + 1 // and finalize
	cr := &cacheRun{snapshotAfter: map[int]cache.Point{}}
	if s.Cache.Dir != "" {
		if s.cache, err = cache.Open(s.Cache.Dir); err != nil {
			return err
		}
		if cr, err = s.prepareCache(steps); err != nil {
			return err
		}
	}
	if cr.restore != nil {
		// Checked first: a machine that cannot run the image's programs
		// is no reason to distrust the snapshot.
		if err := s.checkEmulation(); err != nil {
			return err
		}
		if err := s.restoreSnapshot(ctx, cr, steps, total); err != nil {
			if ctx.Err() != nil {
				return err
			}
			// A damaged snapshot is a miss, not a failed build.
			if err := s.discardSnapshot(cr, err); err != nil {
				return err
			}
		}
	}
	if cr.restore == nil {
		// No sandbox yet: the bootstrap makes the image, on the host.
		rt := &stepRuntime{stage: s, runner: runner}
		if err := s.timed(1, total, steps[0], func() error { return steps[0].Action.Run(ctx, rt) }); err != nil {
			return err
		}
		if p, ok := cr.snapshotAfter[0]; ok {
			s.storeSnapshot(ctx, cr, p, "")
		}
		cr.start = 1
	}

	chroot, err := isolation.SetupChroot(s.Dir, s.Plan.Limits.TmpfsSizes())
	if err != nil {
		return fmt.Errorf("preparing the chroot: %w", err)
	}
	defer func() {
		if chroot != nil {
			err = errors.Join(err, chroot.Teardown())
		}
	}()
	env := envList(s.Plan.Environment)
	for i := cr.start; i < len(steps); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		step := steps[i]
		rt := &stepRuntime{stage: s, runner: runner, chroot: chroot, env: env}
		if err := s.timed(i+1, total, step, func() error { return step.Action.Run(ctx, rt) }); err != nil {
			return err
		}
		p, snapshot := cr.snapshotAfter[i]
		if !snapshot || i == len(steps)-1 {
			continue
		}
		// Snapshots are of the image alone: the chroot's mounts and
		// replaced files are undone around them.
		if err := chroot.Teardown(); err != nil {
			return fmt.Errorf("leaving the chroot: %w", err)
		}
		if err := isolation.UnmountBelow(s.Dir); err != nil {
			return fmt.Errorf("leaving the chroot: %w", err)
		}
		s.storeSnapshot(ctx, cr, p, cr.parentOf(p))
		if chroot, err = isolation.SetupChroot(s.Dir, s.Plan.Limits.TmpfsSizes()); err != nil {
			return fmt.Errorf("preparing the chroot: %w", err)
		}
	}
	teardownErr := chroot.Teardown()
	chroot = nil
	if teardownErr != nil {
		return fmt.Errorf("leaving the chroot: %w", teardownErr)
	}
	// A step may have mounted something of its own; finalize and packing
	// must see only the image.
	if err := isolation.UnmountBelow(s.Dir); err != nil {
		return fmt.Errorf("leaving the chroot: %w", err)
	}
	if p, ok := cr.snapshotAfter[len(steps)-1]; ok && len(steps) > 1 {
		s.storeSnapshot(ctx, cr, p, cr.parentOf(p))
	}
	if s.cache != nil && ctx.Err() == nil {
		if err := s.cache.RecordBuild(cr.history); err != nil {
			s.sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", Line: "not recording the build: " + err.Error()})
		}
	}
	finalize := events.Step{Index: total, Total: total, Kind: "finalize", Stage: "finalize"}
	return s.timedRef(&finalize, hcl.Range{}, func() error {
		if err := Finalize(s.Dir, host); err != nil {
			return fmt.Errorf("finalizing: %w", err)
		}
		return nil
	})
}

// timed announces a step, runs it and wraps its error with the step's
// recipe position.
func (s *Stage) timed(n, total int, step recipe.Step, do func() error) error {
	return s.timedRef(StepRef(n, total, step), step.Range, do)
}

// StepRef is how events name a plan step: its position among total.
func StepRef(n, total int, step recipe.Step) *events.Step {
	return &events.Step{Index: n, Total: total, Kind: step.Kind, Name: step.Name, Stage: step.Stage.String(),
		File: step.Range.Filename, Line: step.Range.Start.Line}
}

func (s *Stage) timedRef(ref *events.Step, rng hcl.Range, do func() error) error {
	start := time.Now()
	s.current = ref
	defer func() { s.current = nil }()
	s.sink.Emit(events.Event{Time: start, Type: events.StepStart, Step: ref})
	err := do()
	end := events.Event{Time: time.Now(), Type: events.StepEnd, Step: ref, Status: events.StatusOK, Duration: time.Since(start).Seconds()}
	if err == nil {
		s.sink.Emit(end)
		return nil
	}
	if ref.Kind == "finalize" {
		end.Status = events.StatusFailed
		end.Error = &events.Failure{Message: err.Error()}
		s.sink.Emit(end)
		return err
	}
	stepErr := &StepError{Kind: ref.Kind, Name: ref.Name, Range: rng, Err: err}
	end.Status = events.StatusFailed
	if errors.Is(err, context.Canceled) {
		end.Status = events.StatusInterrupted
	}
	end.Error = describeFailure(stepErr)
	s.sink.Emit(end)
	return stepErr
}

// describeFailure turns a step's error into the event's failure: the
// message, the recipe position and, for a command, its status and last
// output lines.
func describeFailure(e *StepError) *events.Failure {
	f := &events.Failure{Message: e.Err.Error(), File: e.Range.Filename, Line: e.Range.Start.Line}
	var exitErr *isolation.ExitError
	if errors.As(e.Err, &exitErr) {
		f.Command = exitErr.Command
		status := exitErr.Status
		f.ExitStatus = &status
		f.TimedOut = exitErr.TimedOut > 0
		f.Tail = exitErr.Tail
	}
	return f
}

// checkEmulation makes sure the image's programs can run here: natively
// or through a qemu binfmt handler with the F flag.
func (s *Stage) checkEmulation() error {
	support, err := emulation.Emulation{}.Check(s.Plan.Image.Architecture, runtime.GOARCH)
	if err != nil {
		return err
	}
	// Without the F flag the kernel looks the emulator up inside the
	// chroot, where it is not: every foreign program would fail there.
	if h := support.Handler; h != nil && !h.FixBinary() {
		return fmt.Errorf("the binfmt handler %s lacks the F (fix binary) flag, so %s programs cannot run in the chroot; reinstall Debian's qemu-user-static, whose handlers have it", h.Name, s.Plan.Image.Architecture.Distribution)
	}
	return nil
}

func envList(vars []recipe.EnvVar) []string {
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.Name + "=" + v.Value
	}
	return out
}
