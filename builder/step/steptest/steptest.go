// Package steptest provides a step.Runtime that records what a step asks
// of it, for the kinds' tests.
package steptest

import (
	"context"
	"fmt"
	"strings"

	"github.com/builder-images/builder/builder/step"
)

// Runtime records every call; Dir is its image directory. Fail, when
// set, makes Exec return an error for commands whose argv contains it.
type Runtime struct {
	Dir string
	// Shared makes ShareDownloads bind (and record it); otherwise the
	// build has no cache.
	Shared bool
	Fail   string
	// Calls lists, in order: "exec LABEL: ARGV (env …, caps …)", "script
	// NAME", "warn LABEL: LINE", "share DIR", "unshare DIR".
	Calls    []string
	Commands []step.Command
}

func (r *Runtime) ImageDir() string { return r.Dir }

func (r *Runtime) Exec(_ context.Context, c step.Command) error {
	r.Commands = append(r.Commands, c)
	call := fmt.Sprintf("exec %s: %s", c.Label, strings.Join(c.Argv, " "))
	if len(c.Env) > 0 {
		call += " (env " + strings.Join(c.Env, " ") + ")"
	}
	if len(c.Capabilities) > 0 {
		call += " (caps " + strings.Join(c.Capabilities, ",") + ")"
	}
	r.Calls = append(r.Calls, call)
	if r.Fail != "" && strings.Contains(strings.Join(c.Argv, " "), r.Fail) {
		return fmt.Errorf("%s failed", c.Argv[0])
	}
	return nil
}

func (r *Runtime) WriteScript(name, _ string) ([]string, error) {
	r.Calls = append(r.Calls, "script "+name)
	return []string{"/bin/sh", "/tmp/builder-run-" + name}, nil
}

func (r *Runtime) Warn(label, line string) { r.Calls = append(r.Calls, "warn "+label+": "+line) }

func (r *Runtime) ShareDownloads(_ context.Context, dir string) (func() error, bool, error) {
	if !r.Shared {
		return nil, false, nil
	}
	r.Calls = append(r.Calls, "share "+dir)
	return func() error {
		r.Calls = append(r.Calls, "unshare "+dir)
		return nil
	}, true, nil
}

var _ step.Runtime = (*Runtime)(nil)
