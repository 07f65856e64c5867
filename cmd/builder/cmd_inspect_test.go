package main

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestInspectGolden(t *testing.T) {
	repoRoot(t)
	tests := []struct {
		golden string
		args   []string
	}{
		{"inspect_debian.txt", []string{"inspect", "recipes/debian.hcl"}},
		{"inspect_debian_cloud_arm64.txt", []string{"inspect", "recipes/debian.hcl", "--var", "variant=cloud", "--var", "architecture=arm64"}},
		{"inspect_busybox.json", []string{"inspect", "--json", "recipes/busybox.hcl"}},
		{"inspect/types.txt", []string{"inspect", "cmd/builder/testdata/inspect/types.hcl"}},
		{"inspect/types.json", []string{"inspect", "--json", "cmd/builder/testdata/inspect/types.hcl"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "", nil, tt.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			golden(t, tt.golden, stdout)
		})
	}
}

func TestInspectJSON(t *testing.T) {
	repoRoot(t)
	stdout, stderr, code := runCLI(t, "", []string{"BUILDER_VAR_release=trixie"}, "inspect", "--json", "recipes/debian.hcl", "--var", "variant=cloud")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var v struct {
		Variables []struct {
			Name   string          `json:"name"`
			Value  json.RawMessage `json:"value"`
			Source string          `json:"source"`
			Origin string          `json:"origin"`
		} `json:"variables"`
		Steps []struct {
			Kind     string `json:"kind"`
			Stage    string `json:"stage"`
			Enabled  bool   `json:"enabled"`
			Position string `json:"position"`
			Line     int    `json:"line"`
		} `json:"steps"`
		Image struct {
			Name            string `json:"name"`
			LXDArchitecture string `json:"lxd_architecture"`
		} `json:"image"`
	}
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("inspect --json is not JSON: %v\n%s", err, stdout)
	}
	sources := map[string]string{}
	for _, variable := range v.Variables {
		sources[variable.Name] = variable.Source + " " + variable.Origin + " " + string(variable.Value)
	}
	for name, want := range map[string]string{
		"release": `environment BUILDER_VAR_release "trixie"`,
		"variant": `command line --var "cloud"`,
		"mirror":  `default default ""`,
	} {
		if sources[name] != want {
			t.Errorf("variable %s = %q, want %q", name, sources[name], want)
		}
	}
	if v.Image.Name != "debian-trixie-amd64-cloud" || v.Image.LXDArchitecture != "x86_64" {
		t.Errorf("image = %+v", v.Image)
	}
	if len(v.Steps) == 0 || v.Steps[0].Kind != "bootstrap" {
		t.Fatalf("steps = %+v, want the bootstrap first", v.Steps)
	}
	disabled := 0
	for _, s := range v.Steps {
		if !strings.HasPrefix(s.Position, "recipes/debian.hcl:") || s.Line == 0 || s.Position != "recipes/debian.hcl:"+strconv.Itoa(s.Line) {
			t.Errorf("step %+v: want a recipes/debian.hcl:LINE position", s)
		}
		if !s.Enabled {
			disabled++
		}
	}
	// The cloud variant disables no step: both variants configure
	// networking with the same networkd file (cloud-init's own wins).
	if disabled != 0 {
		t.Errorf("%d steps disabled in the cloud variant, want none", disabled)
	}
}

func TestInspectMasksSensitiveValues(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/secret.hcl"
	src := `variable "token" {
  default   = "hunter2"
  sensitive = true
}
image {
  distribution = "busybox"
  release      = "static"
  architecture = "amd64"
  description  = nonsensitive("built with ${var.token}")
  properties   = { token = nonsensitive(var.token) }
}
bootstrap "tarball" {
  source = "https://images.example.org/${var.token}/rootfs.tar.xz"
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
}
run "use-token" {
  script      = "#!/bin/sh\necho using token\n"
  environment = { TOKEN = var.token }
}
file "/etc/token" {
  content = "token=${var.token}\n"
}
repository "private" {
  url = "https://user:${upper(var.token)}@apt.example.org/debian"
}
template "/etc/motd" {
  content    = "{{ properties.token }}"
  properties = { token = nonsensitive(var.token) }
}
environment {
  API_TOKEN = var.token
}
`
	writeFile(t, path, src)
	// The text shows the variable, the image description and property,
	// the bootstrap source, the repository URL, the file content and the
	// environment block; JSON adds the run environment and the template
	// property. The published ones are nonsensitive() (anything else is an
	// error), and masked all the same, by their text.
	for _, tt := range []struct {
		args   []string
		masked int
	}{
		{[]string{"inspect", path}, 7},
		{[]string{"inspect", "--json", path}, 9},
		{[]string{"inspect", path, "--var", "token=s3cret"}, 7},
	} {
		args := tt.args
		stdout, stderr, code := runCLI(t, "", nil, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		for _, secret := range []string{"hunter2", "HUNTER2", "s3cret", "S3CRET"} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("%v printed the sensitive value %s:\n%s", args, secret, stdout)
			}
		}
		if n := strings.Count(stdout, "(sensitive value)"); n != tt.masked {
			t.Errorf("%v: %d values masked, want %d:\n%s", args, n, tt.masked, stdout)
		}
	}
}

// TestValidateMasksSensitiveValues makes errors about sensitive values:
// in a validation condition, a check on a derived value, a function error
// and a --var that does not parse. None may print the value.
func TestValidateMasksSensitiveValues(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/secret.hcl"
	src := `variable "pin" {
  type      = string
  default   = "hunter2"
  sensitive = true
  validation {
    condition     = parseint(var.pin, 10) > 999
    error_message = "The pin must be a number over 999."
  }
}
variable "secret" {
  default   = "hunter2-secret"
  sensitive = true
}
variable "port" {
  type      = number
  default   = 1
  sensitive = true
}
image {
  distribution = "busybox"
  release      = "static"
  architecture = "amd64"
  serial       = var.secret
}
bootstrap "debootstrap" {
  mirror = "ftp://user:${var.secret}@mirror.example.org/debian"
}
file "/etc/pin" {
  content = file(var.secret)
}
`
	writeFile(t, path, src)
	for _, args := range [][]string{{"validate", path}, {"validate", "--json", path}, {"validate", path, "--var", "port=hunter2-port"}} {
		stdout, stderr, code := runCLI(t, "", nil, args...)
		if code != exitFailure {
			t.Fatalf("%v: exit %d, want 1:\n%s", args, code, stderr)
		}
		out := stdout + stderr
		if strings.Contains(out, "hunter2") {
			t.Errorf("%v printed the sensitive value:\n%s", args, out)
		}
		for _, want := range []string{"parseint", "serial", "mirror", "file whose path is sensitive"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: the error about %s is missing:\n%s", args, want, out)
			}
		}
	}
}

// TestInspectShowsCapabilities: a run step that keeps more capabilities
// than the sandbox's says so in inspect's text and JSON.
func TestInspectShowsCapabilities(t *testing.T) {
	path := t.TempDir() + "/caps.hcl"
	src := `image {
  distribution = "busybox"
  release      = "static"
  architecture = "amd64"
}
bootstrap "busybox" {}
run "mounts" {
  script       = "mount -t tmpfs tmpfs /mnt\n"
  capabilities = ["cap_sys_admin", "NET_ADMIN"]
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, "", nil, "inspect", path)
	if code != exitOK || !strings.Contains(stdout, "capabilities=NET_ADMIN,SYS_ADMIN (dangerous)") {
		t.Errorf("inspect exit %d:\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = runCLI(t, "", nil, "inspect", "--json", path)
	if code != exitOK || !strings.Contains(stdout, `"capabilities": [`) || !strings.Contains(stdout, `"SYS_ADMIN"`) {
		t.Errorf("inspect --json exit %d:\n%s%s", code, stdout, stderr)
	}
}
