package recipe

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/step"
	"github.com/builder-images/builder/builder/steps"
)

// A plan crosses a process boundary once: builder loads the recipe and
// sends the plan to the isolated rootfs stage, which must not load the
// recipe again (the files may have changed, and the values came from
// builder's command line and environment). MarshalPlan and UnmarshalPlan
// carry what the stage and the stage cache read: the image, the
// environment, the limits, every step with its action, the variables
// (for the cache's history), the instance type, the shared steps and outputs (the plan's
// Output with the flags merged in, as the child packs or checks for it)
// and the texts to mask. Locals, templates and the matrix stay behind:
// the stage does not read them, and the secrets locals hold travel in
// the list of texts to mask.

// planJSON is a plan on the wire.
type planJSON struct {
	File        string         `json:"file"`
	Dir         string         `json:"dir"`
	Variables   []variableJSON `json:"variables,omitempty"`
	Image       Image          `json:"image"`
	Environment []envVarJSON   `json:"environment,omitempty"`
	Steps       []stepJSON     `json:"steps"`
	Limits      Limits         `json:"limits"`
	// InstanceType, SharedSteps, Outputs and Output are the plan's.
	InstanceType string       `json:"instance_type,omitempty"`
	SharedSteps  int          `json:"shared_steps,omitempty"`
	Outputs      []outputJSON `json:"outputs,omitempty"`
	Output       *outputJSON  `json:"output,omitempty"`
	// Secrets is Plan.Secrets of the sender.
	Secrets []string `json:"secrets,omitempty"`
}

// outputJSON is an Output with its compression spelt as the recipe
// does, which ParseCompression reads back.
type outputJSON struct {
	Name         string     `json:"name,omitempty"`
	Type         string     `json:"type"`
	Compression  string     `json:"compression"`
	RootfsFormat string     `json:"rootfs_format,omitempty"`
	VM           VMSettings `json:"vm"`
	Range        hcl.Range  `json:"range"`
}

func newOutputJSON(o Output) outputJSON {
	return outputJSON{Name: o.Name, Type: o.Type, Compression: o.Compression.String(), RootfsFormat: o.RootfsFormat, VM: o.VM, Range: o.Range}
}

func (o outputJSON) output() (Output, error) {
	c, err := pack.ParseCompression(o.Compression)
	if err != nil {
		return Output{}, fmt.Errorf("decoding output %q: %w", o.Name, err)
	}
	return Output{Name: o.Name, Type: o.Type, Compression: c, RootfsFormat: o.RootfsFormat, VM: o.VM, Range: o.Range}, nil
}

type variableJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Type        json.RawMessage `json:"type"`
	Value       json.RawMessage `json:"value"`
	Sensitive   bool            `json:"sensitive,omitempty"`
	Source      ValueSource     `json:"source"`
	Origin      string          `json:"origin,omitempty"`
	Range       hcl.Range       `json:"range"`
}

type envVarJSON struct {
	Name      string    `json:"name"`
	Value     string    `json:"value"`
	Sensitive bool      `json:"sensitive,omitempty"`
	Range     hcl.Range `json:"range"`
}

type stepJSON struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name,omitempty"`
	Stage     Stage           `json:"stage"`
	Enabled   bool            `json:"enabled"`
	Range     hcl.Range       `json:"range"`
	Sensitive []string        `json:"sensitive,omitempty"`
	Action    json.RawMessage `json:"action"`
}

// actionTypes makes the empty action a step kind decodes into: the one
// table from a kind to its Go type.
var actionTypes = map[string]func() step.Action{
	"bootstrap":  func() step.Action { return &bootstrap.Config{} },
	"repository": func() step.Action { return &packages.Repository{} },
	"packages":   func() step.Action { return &packages.Config{} },
	"file":       func() step.Action { return &steps.File{} },
	"copy":       func() step.Action { return &steps.Copy{} },
	"remove":     func() step.Action { return &steps.Remove{} },
	"run":        func() step.Action { return &steps.Run{} },
}

// MarshalPlan encodes the part of a valid plan the rootfs stage runs
// (see UnmarshalPlan). The encoding holds sensitive values in clear: it
// must travel only to a process of builder's own, never to disk others
// can read or onto a command line.
func MarshalPlan(p *Plan) ([]byte, error) {
	w := planJSON{File: p.File, Dir: p.Dir, Image: p.Image, Limits: p.Limits, Secrets: p.Secrets(), InstanceType: p.InstanceType,
		SharedSteps: p.SharedSteps}
	for _, o := range p.Outputs {
		w.Outputs = append(w.Outputs, newOutputJSON(o))
	}
	if p.Output.Type != "" {
		out := newOutputJSON(p.Output)
		w.Output = &out
	}
	for _, v := range p.Variables {
		if !v.Value.IsWhollyKnown() {
			return nil, fmt.Errorf("variable %s has no known value", v.Name)
		}
		value, _ := v.Value.UnmarkDeep()
		typ, err := ctyjson.MarshalType(v.Type)
		if err != nil {
			return nil, fmt.Errorf("encoding the type of variable %s: %w", v.Name, err)
		}
		// The value with its own type: a variable of type any keeps
		// the type it was given.
		val, err := ctyjson.Marshal(value, cty.DynamicPseudoType)
		if err != nil {
			return nil, fmt.Errorf("encoding variable %s: %w", v.Name, err)
		}
		w.Variables = append(w.Variables, variableJSON{Name: v.Name, Description: v.Description, Type: typ, Value: val,
			Sensitive: v.Sensitive, Source: v.Source, Origin: v.Origin, Range: v.Range})
	}
	for _, e := range p.Environment {
		w.Environment = append(w.Environment, envVarJSON(e))
	}
	for _, s := range p.Steps {
		if _, ok := actionTypes[s.Kind]; !ok {
			return nil, fmt.Errorf("encoding step %s: unknown kind", s.Kind)
		}
		action, err := json.Marshal(s.Action)
		if err != nil {
			return nil, fmt.Errorf("encoding step %s %q: %w", s.Kind, s.Name, err)
		}
		w.Steps = append(w.Steps, stepJSON{Kind: s.Kind, Name: s.Name, Stage: s.Stage, Enabled: s.Enabled,
			Range: s.Range, Sensitive: s.Sensitive, Action: action})
	}
	return json.Marshal(w)
}

// UnmarshalPlan decodes what MarshalPlan encoded. The plan it returns
// gives the same cache points and the same Secrets as the one encoded.
func UnmarshalPlan(data []byte) (*Plan, error) {
	var w planJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("decoding the plan: %w", err)
	}
	p := &Plan{File: w.File, Dir: w.Dir, Image: w.Image, Limits: w.Limits, carriedSecrets: w.Secrets, InstanceType: w.InstanceType,
		SharedSteps: w.SharedSteps}
	for _, o := range w.Outputs {
		out, err := o.output()
		if err != nil {
			return nil, err
		}
		p.Outputs = append(p.Outputs, out)
	}
	if w.Output != nil {
		out, err := w.Output.output()
		if err != nil {
			return nil, err
		}
		p.Output = out
	}
	for _, v := range w.Variables {
		typ, err := ctyjson.UnmarshalType(v.Type)
		if err != nil {
			return nil, fmt.Errorf("decoding the type of variable %s: %w", v.Name, err)
		}
		val, err := ctyjson.Unmarshal(v.Value, cty.DynamicPseudoType)
		if err != nil {
			return nil, fmt.Errorf("decoding variable %s: %w", v.Name, err)
		}
		if v.Sensitive {
			val = val.Mark(sensitiveMark)
		}
		p.Variables = append(p.Variables, Variable{Name: v.Name, Description: v.Description, Type: typ, Value: val,
			Sensitive: v.Sensitive, Source: v.Source, Origin: v.Origin, Range: v.Range})
	}
	for _, e := range w.Environment {
		p.Environment = append(p.Environment, EnvVar(e))
	}
	for _, s := range w.Steps {
		newAction, ok := actionTypes[s.Kind]
		if !ok {
			return nil, fmt.Errorf("decoding the plan: unknown step kind %q", s.Kind)
		}
		action := newAction()
		if err := json.Unmarshal(s.Action, action); err != nil {
			return nil, fmt.Errorf("decoding step %s %q: %w", s.Kind, s.Name, err)
		}
		p.Steps = append(p.Steps, Step{Kind: s.Kind, Name: s.Name, Stage: s.Stage, Enabled: s.Enabled,
			Range: s.Range, Sensitive: s.Sensitive, Action: action})
	}
	return p, nil
}
