package recipe

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/builder-images/builder/builder/packages"
)

// checkVMBoot reports each vm output of a plan evaluated for vm whose
// image would not boot: no enabled packages step installs a kernel, the
// bootloader or, with secure boot, the signed shim. Which packages
// provide them is the package manager's knowledge (packages.MissingVMBoot).
func checkVMBoot(p *Plan) hcl.Diagnostics {
	arch := p.Image.Architecture.Distribution
	if p.InstanceType != InstanceVM || arch == "" {
		return nil
	}
	installed := map[string][]string{}
	var managers []string
	for _, s := range p.Steps {
		pkgs, ok := s.Action.(*packages.Config)
		switch {
		case !ok:
			continue
		case s.enabledFailed:
			return nil // its enabled was reported; what it installs is a guess
		case !s.Enabled:
			continue
		}
		if _, seen := installed[pkgs.Manager]; !seen {
			managers = append(managers, pkgs.Manager)
		}
		installed[pkgs.Manager] = append(installed[pkgs.Manager], pkgs.Install...)
	}
	if len(managers) == 0 {
		managers = []string{defaultManager}
	}
	var diags hcl.Diagnostics
	for _, out := range p.Outputs {
		if out.Type != OutputVM {
			continue
		}
		missing, err := missingBootParts(managers, installed, arch, out.VM.SecureBoot)
		rng := out.Range
		switch {
		case err != nil:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No boot chain for this architecture",
				Detail: fmt.Sprintf("%s: %s.", outputWhat(out), err), Subject: &rng})
		case len(missing) > 0:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "VM image without kernel or bootloader",
				Detail: bootDetail(out, missing), Subject: &rng})
		}
	}
	return diags
}

// defaultManager is a packages block's manager when it names none.
const defaultManager = "apt"

// missingBootParts are the boot parts no manager's packages provide,
// as the first manager names them.
func missingBootParts(managers []string, installed map[string][]string, arch string, secureBoot bool) ([]packages.BootPart, error) {
	var missing []packages.BootPart
	for i, m := range managers {
		parts, err := packages.MissingVMBoot(m, arch, secureBoot, installed[m])
		if err != nil {
			return nil, err
		}
		if i == 0 {
			missing = parts
			continue
		}
		// A part another manager provides is not missing.
		var still []packages.BootPart
		for _, part := range missing {
			for _, q := range parts {
				if q.Role == part.Role {
					still = append(still, part)
				}
			}
		}
		missing = still
	}
	return missing, nil
}

func outputWhat(out Output) string {
	if out.Name == "" {
		return "The vm output"
	}
	return fmt.Sprintf("The vm output %q", out.Name)
}

// bootDetail says what is missing and what to install.
func bootDetail(out Output, missing []packages.BootPart) string {
	var what, install []string
	shim := false
	for _, part := range missing {
		switch part.Role {
		case packages.RoleKernel:
			what = append(what, "a kernel")
			install = append(install, "a kernel ("+orList(part.Install)+")")
		case packages.RoleBootloader:
			what = append(what, "the bootloader")
			install = append(install, orList(part.Install))
		case packages.RoleShim:
			what = append(what, "the signed shim of secure boot")
			install = append(install, orList(part.Install))
			shim = true
		}
	}
	pronoun := "them"
	if len(what) == 1 {
		pronoun = "it"
	}
	text := fmt.Sprintf("%s boots only with %s in the image, and no packages step enabled for build.type = \"vm\" installs %s: "+
		"install %s in a packages block with enabled = build.type == \"vm\".",
		outputWhat(out), andList(what), pronoun, andList(install))
	if shim {
		text += " Or set secure_boot = false for an image that boots without secure boot."
	}
	return text
}

// andList joins words as "a, b and c".
func andList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
