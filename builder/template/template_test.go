package template_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/builder-images/builder/builder/template"
)

// shipped reads one of the repository's templates/*.tpl as a recipe
// would declare it.
func shipped(t *testing.T, name string, props map[string]string) template.Template {
	t.Helper()
	src := filepath.Join("..", "..", "templates", name)
	body, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return template.Template{
		Path: "/etc/" + strings.TrimSuffix(name, ".tpl"), Name: name, Content: string(body), Source: src,
		When: []string{"create", "copy"}, Properties: props, Enabled: true,
	}
}

var cloudDefault = map[string]string{"default": "#cloud-config\n{}\n"}

// sample returns Check's container and VM with extra config.
func sample(config map[string]string) (container, vm template.Instance) {
	insts := template.SampleInstances("x86_64", map[string]string{"os": "debian"})
	for _, inst := range insts {
		for k, v := range config {
			inst.Config[k] = v
		}
	}
	return insts[0], insts[1]
}

func render(t *testing.T, tpl template.Template, inst template.Instance) string {
	t.Helper()
	out, err := template.Render(tpl, inst, "create")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestShippedTemplatesRender: every templates/*.tpl parses and renders for
// a container and a VM on every trigger.
func TestShippedTemplatesRender(t *testing.T) {
	files, err := filepath.Glob("../../templates/*.tpl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped templates: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			tpl := shipped(t, filepath.Base(f), cloudDefault)
			tpl.When = []string{"create", "copy", "start", "rename"}
			if err := template.Check(tpl); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestHostnameTemplate(t *testing.T) {
	tpl := shipped(t, "hostname.tpl", nil)
	c, vm := sample(nil)
	for _, inst := range []template.Instance{c, vm} {
		if got := render(t, tpl, inst); got != inst.Name+"\n" {
			t.Errorf("%s: hostname renders %q, want the instance name", inst.Type, got)
		}
	}
	if got := render(t, shipped(t, "hosts.tpl", nil), c); !strings.Contains(got, "127.0.1.1\t"+c.Name+"\n") {
		t.Errorf("hosts: %q", got)
	}
	if got := render(t, shipped(t, "cloud-init-meta-data.tpl", nil), vm); !strings.HasPrefix(got, "instance-id: sample-vm\nlocal-hostname: sample-vm\n") {
		t.Errorf("meta-data: %q", got)
	}
}

func TestNetworkConfigTemplate(t *testing.T) {
	tpl := shipped(t, "cloud-init-network-config.tpl", nil)
	c, vm := sample(nil)
	if got := render(t, tpl, c); !strings.Contains(got, "name: eth0\n") || strings.Contains(got, "enp5s0") {
		t.Errorf("container network-config:\n%s", got)
	}
	if got := render(t, tpl, vm); !strings.Contains(got, "name: enp5s0\n") || strings.Contains(got, "eth0") {
		t.Errorf("VM network-config:\n%s", got)
	}
	// The instance's own network config replaces the default.
	c, _ = sample(map[string]string{"cloud-init.network-config": "version: 2\n"})
	if got := render(t, tpl, c); got != "version: 2\n" {
		t.Errorf("with cloud-init.network-config: %q", got)
	}
}

// TestUserDataTemplate: cloud-init.user-data first, then user.user-data,
// then the template's properties.default; config_get trims the value's
// trailing CR/LF as LXD does, and the template adds its own final newline.
func TestUserDataTemplate(t *testing.T) {
	for _, name := range []string{"cloud-init-user-data.tpl", "cloud-init-vendor-data.tpl"} {
		key := strings.TrimSuffix(strings.TrimPrefix(name, "cloud-init-"), ".tpl")
		tests := []struct {
			name   string
			config map[string]string
			want   string
		}{
			{"both", map[string]string{"cloud-init." + key: "#cloud-config\nnew: 1\n", "user." + key: "#cloud-config\nold: 1\n"}, "#cloud-config\nnew: 1\n"},
			{"legacy key", map[string]string{"user." + key: "#cloud-config\nold: 1\r\n"}, "#cloud-config\nold: 1\n"},
			{"empty new key falls back", map[string]string{"cloud-init." + key: "", "user." + key: "#cloud-config\nold: 1"}, "#cloud-config\nold: 1\n"},
			{"neither", nil, "#cloud-config\n{}\n\n"},
		}
		for _, tt := range tests {
			t.Run(key+"/"+tt.name, func(t *testing.T) {
				c, vm := sample(tt.config)
				for _, inst := range []template.Instance{c, vm} {
					if got := render(t, shipped(t, name, cloudDefault), inst); got != tt.want {
						t.Errorf("%s: %q, want %q", inst.Type, got, tt.want)
					}
				}
			})
		}
	}
}

// TestTemplateContext: the names LXD and Incus put in the context.
func TestTemplateContext(t *testing.T) {
	tpl := template.Template{
		Path: "/etc/ctx", Name: "ctx.tpl", Enabled: true, Properties: map[string]string{"p": "prop"},
		Content: `{{ trigger }}|{{ path }}|{{ instance.name }}|{{ container.type }}|{{ instance.architecture }}|` +
			`{{ instance.ephemeral }}|{{ instance.privileged }}|{{ config["image.os"] }}|{{ config_get("user.comment", "none") }}|` +
			`{{ config_get("user.missing", "fallback") }}|{{ devices.eth0.type }}|{{ properties.p }}|<&>`,
	}
	c, vm := sample(nil)
	out, err := template.Render(tpl, c, "start")
	if err != nil {
		t.Fatal(err)
	}
	want := "start|/etc/ctx|sample-container|container|x86_64|false|false|debian|sample instance of builder's template check|fallback|nic|prop|<&>"
	if out != want {
		t.Errorf("container:\n got %s\nwant %s", out, want)
	}
	// VMs get no privileged key.
	out, _ = template.Render(tpl, vm, "start")
	if !strings.Contains(out, "|virtual-machine|x86_64|false||debian|") {
		t.Errorf("vm: %s", out)
	}
}

// TestBrokenTemplates: each error names the template's path, its file and
// the recipe block, and positions the error in the template.
func TestBrokenTemplates(t *testing.T) {
	tests := []struct {
		name, content string
		render        bool // fails only when rendered, not when parsed
		line, column  int
		want          string
	}{
		{"undefined filter", "{{ container.name|shout }}\n", false, 1, 19, "shout"},
		{"banned include", "Welcome\n{% include \"motd-extra.tpl\" %}\n", false, 2, 4, "'include' is not allowed"},
		{"banned import", "{% import \"macros.tpl\" greeting %}\n", false, 1, 4, "'import' is not allowed"},
		{"banned extends", "{% extends \"base.tpl\" %}\n", false, 1, 4, "'extends' is not allowed"},
		{"banned ssi", "{% ssi \"/etc/shadow\" %}\n", false, 1, 4, "'ssi' is not allowed"},
		{"syntax error", "Hostname: {{ container.name }\n", false, 1, 0, ""},
		{"unclosed block", "{% if container.name %}x\n", false, 0, 0, "not closed"},
		{"config_get with one argument", "a\n{{ config_get(\"user.x\") }}\n", true, 2, 0, "config_get"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := template.Template{
				Path: "/etc/motd", Name: "motd.tpl", Source: "/recipes/motd.tpl", Content: tt.content,
				When: []string{"create"}, Enabled: true,
				Range: hcl.Range{Filename: "recipes/web.hcl", Start: hcl.Pos{Line: 42, Column: 1}},
			}
			err := template.Check(tpl)
			var te *template.Error
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T), want a *Error", err, err)
			}
			msg := err.Error()
			for _, part := range []string{"/etc/motd", "templates/motd.tpl", "/recipes/motd.tpl", "recipes/web.hcl:42", tt.want} {
				if !strings.Contains(msg, part) {
					t.Errorf("error %q does not mention %q", msg, part)
				}
			}
			if tt.render != (te.InstanceType != "") {
				t.Errorf("error %q: failed when rendering: %v, want %v", msg, te.InstanceType != "", tt.render)
			}
			if te.Line != tt.line || (tt.column != 0 && te.Column != tt.column) {
				t.Errorf("error at %d:%d, want %d:%d (%s)", te.Line, te.Column, tt.line, tt.column, msg)
			}
		})
	}
}

// TestCheckTemplateScope: disabled templates are not checked; a template
// name must be bare.
func TestCheckTemplateScope(t *testing.T) {
	broken := template.Template{Path: "/etc/x", Name: "x.tpl", Content: "{% include \"y\" %}", Enabled: false}
	if err := template.Check(broken); err != nil {
		t.Errorf("disabled template checked: %v", err)
	}
	bad := template.Template{Path: "/etc/x", Name: "sub/x.tpl", Content: "x", Enabled: true}
	if err := template.Check(bad); err == nil || !strings.Contains(err.Error(), "not a bare file name") {
		t.Errorf("error %v", err)
	}
}
