package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

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
	// Out receives progress lines and every command's output.
	Out io.Writer
	// HTTP downloads tarball sources; nil means http.DefaultClient.
	HTTP *http.Client
	// WorkDir holds downloads; it must not be inside Dir.
	WorkDir string
	// Environ is builder's environment: proxies and SOURCE_DATE_EPOCH
	// are passed on to the build's commands (see HostEnv).
	Environ []string
}

// Run builds the rootfs. Mounts are undone before it returns, whatever
// happened; the directory's contents are left for the caller to keep or
// remove.
func (s *Stage) Run(ctx context.Context) (err error) {
	runner := &Runner{Out: s.Out, TailLines: 20, PassEnv: HostEnv(s.Environ), ReapOrphans: os.Getpid() == 1}
	host := ReadHostIdentity()
	steps := s.Plan.EnabledSteps()
	if len(steps) == 0 || steps[0].Stage != recipe.StageBootstrap {
		return errors.New("the plan has no enabled bootstrap step")
	}
	total := len(steps) + 1 // and finalize
	if err := s.timed(1, total, steps[0], func() error { return s.bootstrap(ctx, runner, steps[0]) }); err != nil {
		return err
	}

	chroot, err := SetupChroot(s.Dir)
	if err != nil {
		return fmt.Errorf("preparing the chroot: %w", err)
	}
	defer func() {
		if chroot != nil {
			err = errors.Join(err, chroot.Teardown())
		}
	}()
	env := envList(s.Plan.Environment)
	for i, step := range steps[1:] {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.timed(i+2, total, step, func() error { return s.step(ctx, runner, chroot, env, step) }); err != nil {
			return err
		}
	}
	teardownErr := chroot.Teardown()
	chroot = nil
	if teardownErr != nil {
		return fmt.Errorf("leaving the chroot: %w", teardownErr)
	}
	// A step may have mounted something of its own; finalize and packing
	// must see only the image.
	if err := UnmountBelow(s.Dir); err != nil {
		return fmt.Errorf("leaving the chroot: %w", err)
	}
	start := time.Now()
	s.printf("==> [%d/%d] finalize\n", total, total)
	if err := Finalize(s.Dir, host); err != nil {
		return fmt.Errorf("finalizing: %w", err)
	}
	s.printf("<== finalize done in %s\n", since(start))
	return nil
}

func (s *Stage) printf(format string, args ...any) {
	if s.Out != nil {
		fmt.Fprintf(s.Out, format, args...)
	}
}

// timed announces a step, runs it and wraps its error with the step's
// recipe position.
func (s *Stage) timed(n, total int, step recipe.Step, do func() error) error {
	start := time.Now()
	stage := step.Stage.String() + " "
	if stage == step.Kind+" " {
		stage = ""
	}
	s.printf("==> [%d/%d] %s%s (%s:%d)\n", n, total, stage, blockHeader(step.Kind, step.Name), step.Range.Filename, step.Range.Start.Line)
	if err := do(); err != nil {
		s.printf("<== %s failed after %s\n", blockHeader(step.Kind, step.Name), since(start))
		return &StepError{Kind: step.Kind, Name: step.Name, Range: step.Range, Err: err}
	}
	s.printf("<== %s done in %s\n", blockHeader(step.Kind, step.Name), since(start))
	return nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }

func (s *Stage) bootstrap(ctx context.Context, runner *Runner, step recipe.Step) error {
	b := step.Action.(*recipe.Bootstrap)
	backend, err := lookupBackend(b.Backend)
	if err != nil {
		return err
	}
	support, err := Emulation{}.Check(s.Plan.Image.Architecture, runtime.GOARCH)
	if err != nil {
		return err
	}
	// Without the F flag the kernel looks the emulator up inside the
	// chroot, where it is not: every foreign program would fail there.
	if h := support.Handler; h != nil && !h.FixBinary() {
		return fmt.Errorf("the binfmt handler %s lacks the F (fix binary) flag, so %s programs cannot run in the chroot; reinstall Debian's qemu-user-static, whose handlers have it", h.Name, s.Plan.Image.Architecture.Distribution)
	}
	workDir := s.WorkDir
	if workDir == "" {
		workDir = filepath.Dir(s.Dir)
	}
	env := BootstrapEnv{Arch: s.Plan.Image.Architecture, Runner: runner, HTTP: s.HTTP, WorkDir: workDir}
	return backend.Bootstrap(ctx, env, b, s.Dir)
}

func (s *Stage) step(ctx context.Context, runner *Runner, chroot *Chroot, env []string, step recipe.Step) error {
	inChroot := func(label string) run {
		return func(ctx context.Context, argv ...string) error {
			return runner.Run(ctx, Command{Label: label, Argv: argv, Env: env, Chroot: chroot})
		}
	}
	switch a := step.Action.(type) {
	case *recipe.Run:
		argv, err := chroot.WriteScript(a.Name, a.Script)
		if err != nil {
			return err
		}
		return runner.Run(ctx, Command{Label: a.Name, Name: "the script", Argv: argv, Env: mergeEnv(env, envList(a.Environment)), Chroot: chroot, Timeout: a.Timeout})
	case *recipe.Repository:
		return writeRepository(s.Dir, a)
	case *recipe.Packages:
		newPM, ok := packageManagers[a.Manager]
		if !ok {
			return fmt.Errorf("no package manager %q; known: %s", a.Manager, strings.Join(PackageManagerNames(), ", "))
		}
		return applyPackages(ctx, newPM(inChroot(a.Manager)), a)
	case *recipe.File:
		return WriteFile(s.Dir, a)
	case *recipe.Copy:
		return CopyIn(s.Dir, a)
	case *recipe.Remove:
		return Remove(s.Dir, a)
	}
	return fmt.Errorf("unexpected step %T", step.Action)
}

func envList(vars []recipe.EnvVar) []string {
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v.Name + "=" + v.Value
	}
	return out
}

// writeRepository writes the repository's key and its deb822 sources
// file, both through the rootfs-confined file writer.
func writeRepository(dir string, r *recipe.Repository) error {
	keyPath := ""
	key := []byte(r.Key)
	if r.KeyFile != "" {
		var err error
		if key, err = os.ReadFile(r.KeyFile); err != nil {
			return fmt.Errorf("reading the key of repository %s: %w", r.Name, err)
		}
	}
	if len(key) > 0 {
		// apt tells armored keys from binary ones by the extension.
		ext := ".gpg"
		if strings.Contains(string(key), "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
			ext = ".asc"
		}
		keyPath = "/etc/apt/keyrings/" + r.Name + ext
		if err := WriteFile(dir, &recipe.File{Path: keyPath, Content: string(key), Ownership: rootOwned(0o644)}); err != nil {
			return err
		}
	}
	return WriteFile(dir, &recipe.File{
		Path:      "/etc/apt/sources.list.d/" + r.Name + ".sources",
		Content:   sourcesFile(r, keyPath),
		Ownership: rootOwned(0o644),
	})
}

func rootOwned(mode uint32) recipe.Ownership {
	return recipe.Ownership{Mode: mode, Owner: "0", Group: "0"}
}
