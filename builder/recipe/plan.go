package recipe

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/step"
	"github.com/builder-images/builder/builder/template"
)

// Plan is a recipe with every expression evaluated: what the rootfs and
// image stages execute. Every step keeps the range of the block it came
// from so a failure at run time can point at the recipe.
type Plan struct {
	// File is the recipe's path as given; Dir is its directory, against
	// which every relative path in the recipe was resolved.
	File, Dir   string
	Variables   []Variable
	Locals      []Local
	Image       Image
	Environment []EnvVar
	Steps       []Step
	Templates   []Template
	// Tests are the recipe's test blocks in recipe order, disabled ones
	// included (see ImageTests).
	Tests []TestBlock
	// Outputs are the recipe's output blocks in recipe order; one
	// unnamed DefaultOutput when it has none.
	Outputs []Output
	// InstanceType is the build.type this plan was evaluated with.
	InstanceType string
	// SharedSteps is how many of its leading enabled steps every
	// instance type's plan of the recipe has alike (MarkSharedSteps):
	// the stage cache keeps a snapshot after them for the other types
	// to start from. 0 for a recipe that builds one type.
	SharedSteps int
	// Output is the output this plan is built and packed as: the first
	// of Outputs for InstanceType (flags merge into it).
	Output Output
	Limits Limits
	// Matrix is the recipe's matrix block; nil when it has none.
	Matrix *Matrix
	// carriedSecrets are the texts to mask a plan decoded by
	// UnmarshalPlan was sent with: its locals stayed behind.
	carriedSecrets []string
}

// ValueSource says where a variable's value came from, in precedence order.
type ValueSource int

// Value sources, lowest precedence first.
const (
	SourceUnset ValueSource = iota
	SourceDefault
	SourceEnvironment
	SourceVarFile
	SourceCommandLine
)

var valueSourceNames = [...]string{"unset", "default", "environment", "var-file", "command line"}

func (s ValueSource) String() string { return valueSourceNames[s] }

// Variable is one declared variable with its final value.
type Variable struct {
	Name        string
	Description string
	Type        cty.Type
	Value       cty.Value
	Sensitive   bool
	Source      ValueSource
	// Origin names the source precisely: "BUILDER_VAR_release",
	// "prod.vars.hcl:3", "--var".
	Origin string
	Range  hcl.Range
	// secrets are the texts of a sensitive value, kept even when the
	// value is invalid, for masking diagnostics.
	secrets []string
}

// Local is one evaluated `locals` entry.
type Local struct {
	Name      string
	Value     cty.Value
	Sensitive bool
	Range     hcl.Range
}

// Image holds the `image` block: the image's identity and properties.
type Image struct {
	Name         string
	Distribution string
	Release      string
	Variant      string
	Description  string
	// Architecture carries both spellings: the distribution's for the
	// bootstrap and properties, LXD's for metadata.yaml.
	Architecture image.Architecture
	// Expiry is how long after creation the image expires; 0 means never.
	Expiry time.Duration
	// Serial is empty unless the recipe fixes it; the build then derives
	// it from SOURCE_DATE_EPOCH.
	Serial string
	// Aliases are the recipe's own aliases, added to the ones delivery
	// derives (the image name on import, os/release/variant in a tree).
	Aliases    []string
	Properties map[string]string
	// Sensitive lists attributes computed from sensitive values.
	Sensitive []string
	Range     hcl.Range
}

// EnvVar is one variable of the `environment` block.
type EnvVar struct {
	Name      string    `json:"name"`
	Value     string    `json:"value"`
	Sensitive bool      `json:"-"`
	Range     hcl.Range `json:"-"`
}

// Stage orders steps: every step runs in its stage, stages run in order.
type Stage int

// Stages in execution order.
const (
	StageBootstrap Stage = iota
	StagePostBootstrap
	StageRepositories
	StagePackages
	StagePostPackages
	StageFiles
	StagePostFiles
)

var stageNames = [...]string{"bootstrap", "post-bootstrap", "repositories", "packages", "post-packages", "files", "post-files"}

func (s Stage) String() string { return stageNames[s] }

// runStages are the stages a `run` block may name.
var runStages = map[string]Stage{
	"post-bootstrap": StagePostBootstrap,
	"post-packages":  StagePostPackages,
	"post-files":     StagePostFiles,
}

// Step is one block that changes the rootfs.
type Step struct {
	// Kind is the block type ("bootstrap", "file", …), Name its label.
	Kind, Name string
	Stage      Stage
	Enabled    bool
	Range      hcl.Range
	// Sensitive lists attributes whose values derive from sensitive
	// variables; anything printing the step masks them.
	Sensitive []string
	// Action is what the step does: one of the kinds' config types
	// (*bootstrap.Config, *packages.Repository, *packages.Config,
	// *steps.File, *steps.Copy, *steps.Remove, *steps.Run).
	Action step.Action
	// enabledFailed is set when enabled was in error or depends on a
	// value in error: Enabled is then only a guess, and the checks
	// across blocks leave the step out rather than report a cascade.
	enabledFailed bool
}

// Template is a template block: the template itself, as package
// template checks it and the image ships it, and what only the recipe
// knows about the block.
type Template struct {
	template.Template
	// Sensitive lists attributes computed from sensitive values.
	Sensitive     []string
	enabledFailed bool // as for Step
}

// EnabledSteps returns the steps that will run, in order.
func (p *Plan) EnabledSteps() []Step {
	var out []Step
	for _, s := range p.Steps {
		if s.Enabled {
			out = append(out, s)
		}
	}
	return out
}

// Bootstrap returns the enabled bootstrap step; a valid plan has exactly one.
func (p *Plan) Bootstrap() *bootstrap.Config {
	for _, s := range p.Steps {
		if b, ok := s.Action.(*bootstrap.Config); ok && s.Enabled {
			return b
		}
	}
	return nil
}
