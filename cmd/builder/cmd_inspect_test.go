package main

import (
	"encoding/json"
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
	for _, s := range v.Steps {
		if !strings.HasPrefix(s.Position, "recipes/debian.hcl:") || s.Line == 0 || !s.Enabled {
			t.Errorf("step %+v: want an enabled step with a recipes/debian.hcl:LINE position", s)
		}
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
}
bootstrap "busybox" {}
run "use-token" {
  script      = "#!/bin/sh\necho using token\n"
  environment = { TOKEN = var.token }
}
file "/etc/token" {
  content = "token=${var.token}\n"
}
environment {
  API_TOKEN = var.token
}
`
	writeFile(t, path, src)
	for _, args := range [][]string{{"inspect", path}, {"inspect", "--json", path}, {"inspect", path, "--var", "token=s3cret"}} {
		stdout, stderr, code := runCLI(t, "", nil, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if strings.Contains(stdout, "hunter2") || strings.Contains(stdout, "s3cret") {
			t.Errorf("%v printed the sensitive value:\n%s", args, stdout)
		}
		if strings.Count(stdout, "(sensitive value)") < 3 {
			t.Errorf("%v: want the variable, the environment and the step values masked:\n%s", args, stdout)
		}
	}
}
