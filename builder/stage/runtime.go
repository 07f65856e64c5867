package stage

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/isolation/capability"
	"github.com/builder-images/builder/builder/step"
)

// stepRuntime is what a step may use of the stage while it runs (see
// step.Runtime and bootstrap.Runtime): the image, its sandbox, the
// stage's events and cache.
type stepRuntime struct {
	stage  *Stage
	runner *isolation.Runner
	// chroot is the image's sandbox; nil while the bootstrap creates
	// the image.
	chroot *isolation.Chroot
	// env is the plan's environment block, as NAME=VALUE pairs.
	env []string
}

// errNoSandbox refuses what needs the image's sandbox during the
// bootstrap, which runs on the host: a command run without the chroot
// would run there too.
var errNoSandbox = errors.New("the image has no sandbox before the bootstrap step ends")

func (r *stepRuntime) ImageDir() string { return r.stage.Dir }

func (r *stepRuntime) Exec(ctx context.Context, c step.Command) error {
	if r.chroot == nil {
		return errNoSandbox
	}
	extra, err := capability.Parse(c.Capabilities)
	if err != nil {
		return err
	}
	return r.runner.Run(ctx, isolation.Command{Label: c.Label, Name: c.Name, Argv: c.Argv, Env: isolation.MergeEnv(r.env, c.Env),
		Chroot: r.chroot, ExtraCaps: extra, Timeout: c.Timeout})
}

func (r *stepRuntime) WriteScript(name, script string) ([]string, error) {
	if r.chroot == nil {
		return nil, errNoSandbox
	}
	return r.chroot.WriteScript(name, script)
}

func (r *stepRuntime) Warn(label, line string) {
	r.stage.sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Step: r.stage.current, Label: label, Line: line})
}

// ShareDownloads binds the cache's package archive over dir, holding the
// cache's lock until it is undone.
func (r *stepRuntime) ShareDownloads(ctx context.Context, dir string) (func() error, bool, error) {
	if r.chroot == nil {
		return nil, false, errNoSandbox
	}
	if r.stage.cache == nil {
		return nil, false, nil
	}
	unlock, err := r.stage.cache.AptLock(ctx)
	if err != nil {
		return nil, false, err
	}
	unbind, err := r.chroot.BindHost(r.stage.cache.AptArchives(), strings.TrimPrefix(dir, "/"))
	if err != nil {
		unlock()
		return nil, false, err
	}
	return func() error {
		defer unlock()
		return unbind()
	}, true, nil
}

// BootstrapEnv checks that the image's programs can run here (see
// checkEmulation) and gives the bootstrap backend the image's
// architecture, the host runner, downloads and the plan's limits.
func (r *stepRuntime) BootstrapEnv() (bootstrap.Env, error) {
	s := r.stage
	if err := s.checkEmulation(); err != nil {
		return bootstrap.Env{}, err
	}
	workDir := s.WorkDir
	if workDir == "" {
		workDir = filepath.Dir(s.Dir)
	}
	return bootstrap.Env{Arch: s.Plan.Image.Architecture, Runner: r.runner, HTTP: s.HTTP, WorkDir: workDir, Tmpfs: s.Plan.Limits.TmpfsSizes(),
		Distribution: s.Plan.Image.Distribution, MaxExtract: s.Plan.Limits.Tarball,
		LookupEnv: func(name string) (string, bool) {
			v := lookupEnv(s.Environ, name)
			return v, v != ""
		}}, nil
}

var _ bootstrap.Runtime = (*stepRuntime)(nil)
