package doctor

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/doctor/check"
	"github.com/builder-images/builder/builder/image"
)

// checkTool reports one of HostTools: found, or missing with the
// package to install; missing is a failure only when the recipe (or,
// without one, any native build) runs the tool.
func (e Env) checkTool(n Needs, t HostTool) check.Result {
	needed := n.host == nil && !t.Foreign && !t.TestOnly && !t.NoBuild || n.host != nil && t.Needed(*n.host)
	program := t.Name
	if t.PerArchitecture() {
		if !needed || n.host == nil {
			return e.checkEmulators(n, t)
		}
		if program = t.Program(n.host.Arch); program == "" {
			// No emulator exists for it; the binfmt check says so.
			return check.Result{Name: t.Package, Status: check.Fail,
				Detail: "no qemu emulator runs " + n.host.Arch.Distribution, Fix: "build it on a machine of that architecture"}
		}
	}
	name := program
	if t.IsFile() {
		name = t.Package
	}
	r := check.Result{Name: name}
	var err error
	if t.IsFile() {
		if _, err = e.stat(program); err == nil {
			r.Detail = program
			return r
		}
		r.Detail = program + " does not exist"
	} else {
		var path string
		if path, err = e.lookPath(program); err == nil {
			r.Detail = path
			return r
		}
		r.Detail = "not found on PATH"
	}
	r.Status, r.Fix = check.Fail, "apt-get install "+t.Package
	if !t.IsFile() {
		// debootstrap lives in /usr/sbin, which users' PATH often lacks.
		for _, dir := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
			if path, err := e.lookPath(filepath.Join(dir, program)); err == nil {
				r.Detail = "not on PATH, but installed as " + path
				r.Fix = "add " + dir + " to PATH (builds run as root, whose PATH has it)"
				break
			}
		}
	}
	switch {
	case needed:
		r.Detail += " (needed for " + t.For + ")"
	case t.TestOnly || t.NoBuild:
		r.Status = check.Warn
		r.Detail += " (" + t.For + ")"
	case n.host != nil:
		r.Status = check.Warn
		r.Detail += " (" + n.recipe + " does not need it)"
	default:
		r.Status = check.Warn
		r.Detail += " (only " + t.For + " needs it)"
	}
	return r
}

// checkEmulators reports a per-architecture tool (qemu-ARCH-static) when
// no one architecture is asked for: which foreign architectures it
// covers here.
func (e Env) checkEmulators(n Needs, t HostTool) check.Result {
	host, _ := image.HostArchitecture(e.hostGOARCH)
	var found []string
	for _, name := range image.ArchitectureNames() {
		a, err := image.LookupArchitecture(name)
		if err != nil || a.Distribution == host.Distribution {
			continue
		}
		p := t.Program(a)
		if p == "" || slices.Contains(found, p) {
			continue
		}
		if _, err := e.lookPath(p); err == nil {
			found = append(found, p)
		}
	}
	r := check.Result{Name: t.Package}
	if len(found) > 0 {
		r.Detail = strings.Join(found, ", ")
		return r
	}
	r.Status, r.Fix = check.Warn, "apt-get install "+t.Package
	r.Detail = "no qemu-*-static emulator found"
	if n.host != nil {
		r.Detail += " (" + n.recipe + " does not need one)"
	} else {
		r.Detail += " (only " + t.For + " needs one)"
	}
	return r
}
