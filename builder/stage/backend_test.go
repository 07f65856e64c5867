package stage

import (
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/recipe"
)

func TestBackendsMatchTheRecipeLanguage(t *testing.T) {
	if got, want := strings.Join(bootstrap.BackendNames(), ","), strings.Join(recipe.BootstrapBackends(), ","); got != want {
		t.Errorf("rootfs backends %s, recipe backends %s", got, want)
	}
	if got, want := strings.Join(packages.ManagerNames(), ","), strings.Join(recipe.PackageManagers(), ","); got != want {
		t.Errorf("rootfs package managers %s, recipe package managers %s", got, want)
	}
}
