package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/isolation/capability"
	"github.com/builder-images/builder/builder/step"
)

// Run executes a script inside the rootfs.
type Run struct {
	Name        string   `json:"name"`
	Script      string   `json:"script"`
	Environment []EnvVar `json:"environment,omitempty"`
	// Capabilities are kept beyond the sandbox's own set, canonical
	// names (SYS_ADMIN), sorted: the recipe's explicit, dangerous choice.
	Capabilities []string `json:"capabilities,omitempty"`
	// Timeout 0 means no limit beyond the build's own.
	Timeout time.Duration `json:"-"`
}

// EnvVar is one variable of a run step's environment.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Sensitive is set when the value was computed from a sensitive one.
	Sensitive bool `json:"-"`
}

// envList is the step's environment as NAME=VALUE pairs.
func (r *Run) envList() []string {
	out := make([]string, len(r.Environment))
	for i, v := range r.Environment {
		out[i] = v.Name + "=" + v.Value
	}
	return out
}

// Kind is the block type.
func (*Run) Kind() string { return "run" }

// Fields are the name, the script (from script or source), the
// environment, the capabilities and the timeout.
func (r *Run) Fields() step.Fields {
	var env step.List
	for _, e := range r.Environment {
		env = append(env, step.Object(step.Fields{}.With("name", step.Text(e.Name)).With("value", step.Text(e.Value))))
	}
	fields := step.Fields{}.
		With("name", step.Text(r.Name)).
		With("script", step.Text(r.Script)).
		WithSet("environment", env).
		WithSet("capabilities", step.Texts(r.Capabilities))
	if r.Timeout > 0 {
		fields = fields.With("timeout", step.Text(r.Timeout.String()))
	}
	return fields
}

// HostInputs: the script's source file, if any, was read into Script.
func (*Run) HostInputs() []string { return nil }

// Tools: the script runs the image's programs, not the host's.
func (*Run) Tools() []string { return nil }

// Summary: the script's length, its timeout and, whatever else is, the
// capabilities it keeps, which can reach the host.
func (r *Run) Summary(masked step.Fields) string {
	var parts []string
	if masked.Masked("script") {
		parts = append(parts, "script "+masked.Text("script"))
	} else {
		parts = append(parts, fmt.Sprintf("%d lines", strings.Count(strings.TrimRight(masked.Text("script"), "\n"), "\n")+1))
	}
	if t := masked.Text("timeout"); t != "" {
		parts = append(parts, "timeout="+t)
	}
	if caps := masked.Text("capabilities"); caps != "" {
		parts = append(parts, "capabilities="+caps+" (dangerous)")
	}
	return joinParts(parts)
}

// Run writes the script into the image and runs it in the sandbox, with
// the step's environment over the build's and the capabilities it keeps,
// which it first warns about when they can reach the host.
func (r *Run) Run(ctx context.Context, rt step.Runtime) error {
	argv, err := rt.WriteScript(r.Name, r.Script)
	if err != nil {
		return err
	}
	extra, err := capability.Parse(r.Capabilities)
	if err != nil {
		return err
	}
	if extra&^capability.Build != 0 {
		rt.Warn(r.Name, "builder: this step keeps the capabilities "+(extra&^capability.Build).String()+", which can reach the build host")
	}
	return rt.Exec(ctx, step.Command{Label: r.Name, Name: "the script", Argv: argv, Env: r.envList(),
		Capabilities: r.Capabilities, Timeout: r.Timeout})
}

// MarshalJSON writes the timeout as a duration string.
func (r Run) MarshalJSON() ([]byte, error) {
	type plain Run
	var timeout string
	if r.Timeout > 0 {
		timeout = r.Timeout.String()
	}
	return json.Marshal(struct {
		plain
		Timeout string `json:"timeout,omitempty"`
	}{plain(r), timeout})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Run) UnmarshalJSON(data []byte) error {
	type plain Run
	var w struct {
		plain
		Timeout string `json:"timeout"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*r = Run(w.plain)
	if w.Timeout != "" {
		d, err := time.ParseDuration(w.Timeout)
		if err != nil {
			return fmt.Errorf("timeout %q: %w", w.Timeout, err)
		}
		r.Timeout = d
	}
	return nil
}
