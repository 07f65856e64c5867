package stage

import (
	"context"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/isolation/capability"
	"github.com/builder-images/builder/builder/step"
)

// stepRuntime is what a step may use of the stage while it runs (see
// step.Runtime): the image, its sandbox, the stage's events and cache.
type stepRuntime struct {
	stage  *Stage
	runner *isolation.Runner
	chroot *isolation.Chroot
	// env is the plan's environment block, as NAME=VALUE pairs.
	env []string
}

func (r *stepRuntime) ImageDir() string { return r.stage.Dir }

func (r *stepRuntime) Exec(ctx context.Context, c step.Command) error {
	extra, err := capability.Parse(c.Capabilities)
	if err != nil {
		return err
	}
	return r.runner.Run(ctx, isolation.Command{Label: c.Label, Name: c.Name, Argv: c.Argv, Env: isolation.MergeEnv(r.env, c.Env),
		Chroot: r.chroot, ExtraCaps: extra, Timeout: c.Timeout})
}

func (r *stepRuntime) WriteScript(name, script string) ([]string, error) {
	return r.chroot.WriteScript(name, script)
}

func (r *stepRuntime) Warn(label, line string) {
	r.stage.sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Step: r.stage.current, Label: label, Line: line})
}

// ShareDownloads binds the cache's package archive over dir, holding the
// cache's lock until it is undone.
func (r *stepRuntime) ShareDownloads(ctx context.Context, dir string) (func() error, bool, error) {
	if r.stage.Cache == nil {
		return nil, false, nil
	}
	unlock, err := r.stage.Cache.Cache.AptLock(ctx)
	if err != nil {
		return nil, false, err
	}
	unbind, err := r.chroot.BindHost(r.stage.Cache.Cache.AptArchives(), strings.TrimPrefix(dir, "/"))
	if err != nil {
		unlock()
		return nil, false, err
	}
	return func() error {
		defer unlock()
		return unbind()
	}, true, nil
}

var _ step.Runtime = (*stepRuntime)(nil)
