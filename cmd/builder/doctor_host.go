package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/stage"
)

// checkTool reports one of stage.HostTools: found, or missing with the
// package to install; missing is a failure only when the recipe (or,
// without one, any native build) runs the tool.
func (e doctorEnv) checkTool(n doctorNeeds, t stage.HostTool) checkResult {
	needed := n.host == nil && !t.Foreign || n.host != nil && t.Needed(*n.host)
	program := t.Name
	if t.PerArchitecture() {
		if !needed || n.host == nil {
			return e.checkEmulators(n, t)
		}
		if program = t.Program(n.host.Arch); program == "" {
			// No emulator exists for it; the binfmt check says so.
			return checkResult{Name: t.Package, Status: statusFail,
				Detail: "no qemu emulator runs " + n.host.Arch.Distribution, Fix: "build it on a machine of that architecture"}
		}
	}
	name := program
	if t.IsFile() {
		name = t.Package
	}
	r := checkResult{Name: name}
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
	r.Status, r.Fix = statusFail, "apt-get install "+t.Package
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
	case n.host != nil:
		r.Status = statusWarn
		r.Detail += " (" + n.recipe + " does not need it)"
	default:
		r.Status = statusWarn
		r.Detail += " (only " + t.For + " needs it)"
	}
	return r
}

// checkEmulators reports a per-architecture tool (qemu-ARCH-static) when
// no one architecture is asked for: which foreign architectures it
// covers here.
func (e doctorEnv) checkEmulators(n doctorNeeds, t stage.HostTool) checkResult {
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
	r := checkResult{Name: t.Package}
	if len(found) > 0 {
		r.Detail = strings.Join(found, ", ")
		return r
	}
	r.Status, r.Fix = statusWarn, "apt-get install "+t.Package
	r.Detail = "no qemu-*-static emulator found"
	if n.host != nil {
		r.Detail += " (" + n.recipe + " does not need one)"
	} else {
		r.Detail += " (only " + t.For + " needs one)"
	}
	return r
}

// checkScript says how debootstrap will run the recipe's suite: with its
// own script, with its family's (a suite newer than this debootstrap),
// or not at all.
func (e doctorEnv) checkScript(n doctorNeeds) checkResult {
	r := checkResult{Name: "script"}
	suite := n.host.Bootstrap.Suite
	s, err := bootstrap.FindSuiteScript(e.scriptsDir, n.host.Distribution, suite)
	var none *bootstrap.NoSuiteScriptError
	switch {
	case errors.As(err, &none):
		r.Status, r.Detail = statusFail, err.Error()
		r.Fix = `use bootstrap "mmdebstrap", which needs no script, or a debootstrap that knows the suite`
	case err != nil:
		r.Status, r.Detail, r.Fix = statusFail, err.Error(), "apt-get install debootstrap"
	case s.Family != "":
		r.Detail = fmt.Sprintf("this debootstrap has no script for %s; builder runs it with %s, as debootstrap does every %s suite since %s",
			suite, s.Path, n.host.Distribution, s.Family)
	default:
		r.Detail = s.Path
	}
	return r
}

// checkKeyring checks the keyring the bootstrap tool will check the
// archive with: the recipe's file, its URL (fetched at build time), or
// the tool's default for the suite.
func (e doctorEnv) checkKeyring(n doctorNeeds) checkResult {
	r := checkResult{Name: "keyring"}
	b := n.host.Bootstrap
	pinned := ""
	if k := len(b.KeyringFingerprints); k > 0 {
		pinned = ", pinned to " + plural(k, "key", "keys")
	}
	path, whose := b.Keyring, "the recipe's keyring"
	switch {
	case strings.HasPrefix(b.Keyring, "https://"):
		r.Detail = "fetched from " + b.Keyring + " at build time" + pinned
		return r
	case path == "" && b.Backend == "debootstrap":
		s, err := bootstrap.FindSuiteScript(e.scriptsDir, n.host.Distribution, b.Suite)
		if err != nil {
			r.Status, r.Detail, r.Fix = statusFail, "without a script, no default keyring: "+err.Error(), "see the script check"
			return r
		}
		if path, err = s.DefaultKeyring(); err != nil {
			r.Status, r.Detail, r.Fix = statusFail, err.Error(), "apt-get install --reinstall debootstrap"
			return r
		}
		whose = "debootstrap's default keyring for " + b.Suite
	case path == "":
		path, whose = bootstrap.VendorKeyring(n.host.Distribution), "mmdebstrap's default keyring for "+n.host.Distribution
	}
	if path == "" {
		r.Status = statusWarn
		r.Detail = "the recipe names no keyring and builder does not know which one " + b.Backend + " uses for " + b.Suite
		r.Fix = "set keyring (a file, or an https URL with keyring_fingerprints)"
		return r
	}
	if _, err := e.stat(path); err == nil {
		r.Detail = path + pinned
		if b.Keyring == "" {
			r.Detail += " (" + whose + ")"
		}
		return r
	}
	r.Status = statusFail
	r.Detail = fmt.Sprintf("%s, %s, does not exist", whose, path)
	switch {
	case b.Keyring == "" && b.Backend == "debootstrap":
		r.Detail += ": debootstrap would bootstrap without checking the archive's signatures"
	case b.Keyring == "":
		r.Detail += ": apt would refuse the archive"
	}
	r.Fix = keyringFix(n.host.Distribution, path)
	return r
}

// keyringFix says where a missing archive keyring comes from.
func keyringFix(distribution, path string) string {
	const pin = "point the recipe's keyring at an https URL of it with keyring_fingerprints"
	switch {
	case strings.EqualFold(distribution, "debian"):
		return "apt-get install debian-archive-keyring, or " + pin
	case strings.EqualFold(distribution, "ubuntu"):
		return "Debian does not package Ubuntu's archive keyring: " + pin +
			" (recipes/ubuntu.hcl: --var keyring=https://…/ubuntu-archive-keyring.gpg), or install ubuntu-keyring on Ubuntu"
	}
	return "install the package that provides " + path + ", or " + pin
}
