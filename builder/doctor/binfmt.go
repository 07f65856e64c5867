package doctor

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/doctor/check"
	"github.com/builder-images/builder/builder/emulation"
	"github.com/builder-images/builder/builder/image"
)

// checkBinfmt checks the recipe's architecture runs here, natively or
// under a qemu binfmt_misc handler; for any recipe, it lists which
// architectures can be built, and why not others.
func (e Env) checkBinfmt(n Needs) check.Result {
	r := check.Result{Name: "binfmt"}
	if n.arch != nil {
		sup, err := e.emulation.Check(*n.arch, e.hostGOARCH)
		var missing *emulation.MissingEmulatorError
		switch {
		case errors.As(err, &missing):
			r.Status, r.Detail, r.Fix = check.Fail, missing.Reason(), missing.Fix()
		case err != nil:
			r.Status, r.Detail, r.Fix = check.Fail, err.Error(), "apt-get install qemu-user-static binfmt-support"
		case sup.Native:
			r.Detail = n.arch.Distribution + " runs natively"
		case !sup.Handler.FixBinary():
			r.Status = check.Warn
			r.Detail = fmt.Sprintf("%s runs under %s, registered without the F flag: its interpreter %s would have to exist inside the rootfs", n.arch.Distribution, sup.Handler.Name, sup.Handler.Interpreter)
			r.Fix = "apt-get install qemu-user-static binfmt-support, whose handlers have it"
		default:
			r.Detail = fmt.Sprintf("%s runs under %s (%s)", n.arch.Distribution, sup.Handler.Name, sup.Handler.Interpreter)
		}
		return r
	}
	var native, emulated, broken, fixes []string
	for _, name := range image.ArchitectureNames() {
		arch, _ := image.LookupArchitecture(name)
		sup, err := e.emulation.Check(arch, e.hostGOARCH)
		var missing *emulation.MissingEmulatorError
		switch {
		case err == nil && sup.Native:
			native = append(native, name)
		case err == nil:
			emulated = append(emulated, fmt.Sprintf("%s (%s)", name, sup.Handler.Name))
		case errors.As(err, &missing) && (missing.Problem == emulation.NotMounted || missing.Problem == emulation.Disabled || missing.Problem == emulation.NotRegistered):
			// Reported once below, or simply not available.
		case errors.As(err, &missing):
			broken = append(broken, missing.Reason())
			if !slices.Contains(fixes, missing.Fix()) {
				fixes = append(fixes, missing.Fix())
			}
		default:
			broken = append(broken, err.Error())
		}
	}
	nativeOnly := "only " + strings.Join(native, " and ") + " (native) can be built"
	var off *emulation.MissingEmulatorError
	if err := e.emulation.Enabled(); errors.As(err, &off) {
		r.Status, r.Detail, r.Fix = check.Warn, off.Reason()+": "+nativeOnly, off.Fix()
		return r
	} else if err != nil {
		r.Status, r.Detail, r.Fix = check.Warn, err.Error()+": "+nativeOnly, "apt-get install qemu-user-static binfmt-support"
		return r
	}
	r.Detail = "native: " + strings.Join(native, ", ")
	if len(emulated) > 0 {
		r.Detail += "; under qemu: " + strings.Join(emulated, ", ")
	}
	switch {
	case len(broken) > 0:
		r.Status = check.Warn
		r.Detail += "; " + strings.Join(broken, "; ")
		r.Fix = strings.Join(fixes, "; ")
	case len(emulated) == 0:
		r.Status = check.Warn
		r.Detail += "; no qemu handler is registered, so no foreign architecture can be built"
		r.Fix = "apt-get install qemu-user-static binfmt-support"
	}
	return r
}
