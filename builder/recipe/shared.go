package recipe

import (
	"bytes"
	"encoding/json"
	"slices"
)

// MarkSharedSteps sets the SharedSteps of each of a recipe's plans, one
// per instance type: the number of leading enabled steps that are the
// same in all of them. The stage cache keeps a snapshot after the last
// of them, so that the second type restores them instead of running
// them again. With one plan it is 0, which keeps a single-type recipe's
// snapshot points (and keys) what they always were.
func MarkSharedSteps(plans []*Plan) {
	n := 0
	if len(plans) > 1 {
		n = commonSteps(plans)
	}
	for _, p := range plans {
		p.SharedSteps = n
	}
}

// commonSteps counts the leading enabled steps of plans that are one
// block evaluated alike. Plans whose environment or architecture differ
// share none: every cache key hashes both, so no snapshot of one could
// serve another.
func commonSteps(plans []*Plan) int {
	first := plans[0]
	each := make([][]Step, len(plans))
	for i, p := range plans {
		if p.Image.Architecture != first.Image.Architecture || !sameEnvironment(p.Environment, first.Environment) {
			return 0
		}
		each[i] = p.EnabledSteps()
	}
	for n := 0; ; n++ {
		for _, steps := range each {
			if n >= len(steps) || !sameStep(steps[n], each[0][n]) {
				return n
			}
		}
	}
}

func sameEnvironment(a, b []EnvVar) bool {
	return slices.EqualFunc(a, b, func(x, y EnvVar) bool {
		return x.Name == y.Name && x.Value == y.Value && x.Sensitive == y.Sensitive
	})
}

// sameStep reports whether two steps are one block (the same range)
// evaluated to the same action: the action's encoding is what the
// isolated stage runs from, so equal encodings do the same thing.
func sameStep(a, b Step) bool {
	if a.Kind != b.Kind || a.Name != b.Name || a.Stage != b.Stage || a.Range != b.Range || !slices.Equal(a.Sensitive, b.Sensitive) {
		return false
	}
	ja, errA := json.Marshal(a.Action)
	jb, errB := json.Marshal(b.Action)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
