package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

// templateOwnerRecipe renders /etc/owned with a template that sets its
// owner and mode.
const templateOwnerRecipe = `image {
  distribution = "busybox"
  release      = "owner"
  architecture = "amd64"
}

bootstrap "busybox" {}

template "/etc/owned" {
  content = "owned by {{ instance.name }}\n"
  uid     = "1234"
  gid     = "2345"
  mode    = "0600"
}

output {
  type        = "unified"
  compression = "gzip"
}
`

// TestTemplateOwnerAndMode checks what the README says of a template's
// uid, gid and mode: Incus applies them to the rendered file, LXD
// ignores them (the file is root's, 0644). Both render the template.
func TestTemplateOwnerAndMode(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	daemons := testenv.Daemons(t)
	dir := t.TempDir()
	recipe := filepath.Join(dir, "owner.hcl")
	writeFile(t, recipe, templateOwnerRecipe)
	out := filepath.Join(dir, "out")
	runBuilder(t, nil, "build", recipe, "-o", out)
	j := readImageJSON(t, out)
	want := map[string]string{"incus": "1234:2345:600", "lxd": "0:0:644"}
	for _, d := range daemons {
		t.Run(d.Name, func(t *testing.T) {
			suffix := uniqueSuffix()
			alias := "builder-test-owner-" + suffix
			importJSON(t, append([]string{out, "--alias", alias}, d.Args()...)...)
			deleteImageLaterOn(t, d, j.Fingerprint)
			name := "bt-owner-" + suffix
			cli(t, d, "launch", alias, name)
			cliLater(t, d, "delete", "--force", name)
			waitRunningOn(t, d, name)
			if got := strings.TrimSpace(cli(t, d, "exec", name, "--", "cat", "/etc/owned")); got != "owned by "+name {
				t.Errorf("/etc/owned = %q, want the rendered template", got)
			}
			if got := strings.TrimSpace(cli(t, d, "exec", name, "--", "stat", "-c", "%u:%g:%a", "/etc/owned")); got != want[d.Name] {
				t.Errorf("%s: /etc/owned is uid:gid:mode %s, want %s", d.Name, got, want[d.Name])
			}
		})
	}
}
