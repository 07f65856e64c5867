package lock

import (
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
