package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/recipe"
)

// selectOptions is --only: which of the recipe's outputs a command
// makes.
type selectOptions struct {
	only []string
}

func (o *selectOptions) AddFlags(fs *pflag.FlagSet, usage string) {
	fs.StringSliceVar(&o.only, "only", nil, usage)
}

// selection is what a building command makes: the outputs selected,
// with the output flags merged in, and the recipe evaluated once for
// each instance type they need.
type selection struct {
	// first is the recipe evaluated for its first output's instance
	// type: its image name names the default output directory, whatever
	// --only selects.
	first *recipe.Plan
	// plans are one per instance type, in order of first appearance
	// among outputs; each plan's Output is its type's first output.
	plans   []*recipe.Plan
	outputs []recipe.Output
}

// root is the output directory: --output, else out/IMAGE-NAME.
func (s selection) root(flag string) string {
	if flag != "" {
		return flag
	}
	return filepath.Join("out", s.first.Image.Name)
}

// planOf is the plan an output is built with.
func (s selection) planOf(out recipe.Output) *recipe.Plan {
	for _, p := range s.plans {
		if p.InstanceType == out.InstanceType() {
			return p
		}
	}
	return s.first
}

// selectOutputs evaluates the recipe, selects the outputs --only names
// (all by default) and merges the output flags into the one selected:
// they apply to one output, or the flags would say one thing of
// several. Each other instance type the recipe builds is evaluated in
// turn (loadTypes). A flag that changes the selected output's instance type needs
// the recipe to build that type (its steps may depend on build.type),
// unless lenient: pack, which runs no step, then packs with the plan
// the recipe's own type gives.
func (pl *planLoader) selectOutputs(only []string, flags *outputOptions, lenient bool) (selection, error) {
	first, err := pl.load("")
	if err != nil {
		return selection{}, err
	}
	sel := selection{first: first}
	if sel.outputs, err = pickOutputs(pl.path, first.Outputs, only); err != nil {
		return selection{}, err
	}
	if flags != nil && flags.given() {
		if len(sel.outputs) != 1 {
			return selection{}, usageError{fmt.Errorf("%s apply to one output, and this makes %d (%s): choose one with --only NAME",
				outputFlags, len(sel.outputs), outputNames(sel.outputs))}
		}
		if sel.outputs[0], err = flags.merge(sel.outputs[0]); err != nil {
			return selection{}, err
		}
	}
	recipePlans, err := pl.loadTypes(first, sel.outputs)
	if err != nil {
		return selection{}, err
	}
	for _, out := range sel.outputs {
		it := out.InstanceType()
		if slices.ContainsFunc(sel.plans, func(p *recipe.Plan) bool { return p.InstanceType == it }) {
			continue
		}
		i := slices.IndexFunc(recipePlans, func(p *recipe.Plan) bool { return p.InstanceType == it })
		var plan *recipe.Plan
		switch {
		case i >= 0:
			plan = recipePlans[i]
		case lenient:
			copied := *first
			plan = &copied
		default:
			return selection{}, usageError{fmt.Errorf("--type %s makes a %s image, and %s has no output of that type (its steps may depend on build.type): declare an output block with type = %q in the recipe instead",
				out.Type, it, pl.path, out.Type)}
		}
		plan.Output = out
		sel.plans = append(sel.plans, plan)
	}
	return sel, nil
}

// loadTypes evaluates the recipe for every instance type its outputs
// build, first being the first's, and marks the steps they share
// (recipe.MarkSharedSteps), as LoadEach does: the snapshot points, and
// so the keys, of a type's stage must not depend on which outputs
// --only selects. A type no selected output needs is evaluated quietly
// (its problems are not this build's) and left out when it has errors.
func (pl *planLoader) loadTypes(first *recipe.Plan, selected []recipe.Output) ([]*recipe.Plan, error) {
	plans := []*recipe.Plan{first}
	for _, out := range first.Outputs {
		it := out.InstanceType()
		if slices.ContainsFunc(plans, func(p *recipe.Plan) bool { return p.InstanceType == it }) {
			continue
		}
		if slices.ContainsFunc(selected, func(o recipe.Output) bool { return o.InstanceType() == it }) {
			plan, err := pl.load(it)
			if err != nil {
				return nil, err
			}
			plans = append(plans, plan)
			continue
		}
		if plan, diags := pl.opts.evaluateAs(pl.a, pl.l, pl.path, it); plan != nil && !diags.HasErrors() {
			plans = append(plans, plan)
		}
	}
	recipe.MarkSharedSteps(plans)
	return plans, nil
}

// pickOutputs returns the outputs only names, in recipe order, or all of
// them when only is empty. An unknown name is a usage error that lists
// the known ones.
func pickOutputs(recipePath string, outs []recipe.Output, only []string) ([]recipe.Output, error) {
	if len(only) == 0 {
		// A copy: the flags are merged into the selection, not into
		// the recipe's outputs.
		return slices.Clone(outs), nil
	}
	var known []string
	for _, o := range outs {
		if o.Name != "" {
			known = append(known, o.Name)
		}
	}
	for _, name := range only {
		if slices.Contains(known, name) {
			continue
		}
		if len(known) == 0 {
			return nil, usageError{fmt.Errorf("--only %q: %s has one output block, unnamed; --only chooses among named ones (output \"NAME\" { … })", name, recipePath)}
		}
		return nil, usageError{fmt.Errorf("--only %q: %s has no output of that name; its outputs: %s", name, recipePath, strings.Join(known, ", "))}
	}
	var picked []recipe.Output
	for _, o := range outs {
		if slices.Contains(only, o.Name) {
			picked = append(picked, o)
		}
	}
	return picked, nil
}

// outputNames lists outputs for messages.
func outputNames(outs []recipe.Output) string {
	names := make([]string, len(outs))
	for i, o := range outs {
		names[i] = o.Name
		if o.Name == "" {
			names[i] = "unnamed"
		}
	}
	return strings.Join(names, ", ")
}
