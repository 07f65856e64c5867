package lock

import (
	"fmt"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/recipe"
)

// Pin gives the plan's bootstrap and packages blocks the block's pins,
// on copies of their actions: the plans of a recipe's instance types
// may share them, and each type has its own block.
func Pin(plan *recipe.Plan, b *Block) {
	pins := b.Pins()
	for i, s := range plan.Steps {
		switch a := s.Action.(type) {
		case *bootstrap.Config:
			c := *a
			c.Pins = pins
			plan.Steps[i].Action = &c
		case *packages.Config:
			c := *a
			c.Pins = pins
			plan.Steps[i].Action = &c
		}
	}
}

// CheckLocksSomething fails when b locks no package although the plan
// installs Debian packages (a debootstrap or mmdebstrap bootstrap, or a
// packages block): its image has no dpkg status (a step removed
// /var/lib/dpkg, or a hand-edited lock lost its package blocks), and an
// empty lock would let build --locked pass whatever versions it
// installed, the comparison after the stage having nothing to compare.
func CheckLocksSomething(plan *recipe.Plan, b *Block) error {
	if len(b.Packages) > 0 {
		return nil
	}
	for _, s := range plan.EnabledSteps() {
		what := ""
		switch a := s.Action.(type) {
		case *bootstrap.Config:
			if a.Backend == "debootstrap" || a.Backend == "mmdebstrap" {
				what = a.Backend
			}
		case *packages.Config:
			what = "a packages block"
		}
		if what != "" {
			return fmt.Errorf("%s locks no package although %s installs some: the image has no dpkg status to lock (does a step remove /var/lib/dpkg?)", b.Key, what)
		}
	}
	return nil
}
