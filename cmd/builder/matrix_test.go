package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// matrixJobs are the jobs builder matrix --json lists for recipes.
func matrixJobs(t *testing.T, recipes ...string) []matrixJob {
	t.Helper()
	out, errOut, code := runCLI(t, "", nil, append([]string{"matrix", "--json"}, recipes...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var m struct {
		Include []matrixJob `json:"include"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return m.Include
}

// TestMatrixCommand: the debian recipe's jobs as a GitHub Actions
// matrix, as text and as a GitLab child pipeline; --job picks one.
func TestMatrixCommand(t *testing.T) {
	var got []string
	for _, j := range matrixJobs(t, "../../recipes/debian.hcl") {
		got = append(got, j.Name+"/"+j.Architecture+"/"+j.LXDArchitecture+"/"+j.Variables["variant"]+"/"+j.Image)
	}
	want := "debian-amd64-default/amd64/x86_64/default/debian-bookworm-amd64-default " +
		"debian-amd64-cloud/amd64/x86_64/cloud/debian-bookworm-amd64-cloud " +
		"debian-arm64-default/arm64/aarch64/default/debian-bookworm-arm64-default " +
		"debian-arm64-cloud/arm64/aarch64/cloud/debian-bookworm-arm64-cloud"
	if strings.Join(got, " ") != want {
		t.Errorf("jobs:\n%s\nwant:\n%s", strings.Join(got, " "), want)
	}

	out, errOut, code := runCLI(t, "", nil, "matrix", "../../recipes/debian.hcl", "../../recipes/busybox.hcl", "--format", "gitlab")
	for _, want := range []string{"build debian-arm64-cloud:", "extends: .builder-build", "BUILDER_JOB: busybox", "local: ci/gitlab/build-job.yml"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("gitlab pipeline lacks %q:\n%s", want, out)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.hcl")
	recipe := `
variable "variant" {
  default = "default"
  validation {
    condition     = contains(["default", "cloud"], var.variant)
    error_message = "The variant must be default or cloud."
  }
}
image {
  distribution = "busybox"
  release      = "x"
  variant      = var.variant
}
bootstrap "busybox" {}
matrix {
  variant = ["default", "clod"]
}
`
	if err := os.WriteFile(bad, []byte(recipe), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runCLI(t, "", nil, "matrix", bad)
	if code != exitUsage || !strings.Contains(errOut, "job bad-clod (variant=clod)") || !strings.Contains(errOut, "The variant must be default or cloud.") {
		t.Errorf("a job the recipe refuses: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runCLI(t, "", nil, "build", "../../recipes/debian.hcl", "--job", "debian-riscv")
	if code != exitUsage || !strings.Contains(errOut, "its jobs: debian-amd64-default, debian-amd64-cloud") {
		t.Errorf("--job of an unknown job: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runCLI(t, "", nil, "build", "../../recipes/debian.hcl", "--job", "debian-arm64-cloud", "--var", "architecture=amd64")
	if code != exitUsage || !strings.Contains(errOut, "--var architecture sets an axis of job debian-arm64-cloud") {
		t.Errorf("--var on an axis: exit %d\n%s", code, errOut)
	}
}

// TestGitLabFiles: the GitLab files parse, and the generated child
// pipeline's jobs extend the template build-job.yml defines.
func TestGitLabFiles(t *testing.T) {
	parse := func(path string) map[string]any {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return doc
	}
	parent := parse("../../ci/gitlab/gitlab-ci.yml")
	if _, ok := parent["generate"]; !ok {
		t.Error("gitlab-ci.yml has no generate job")
	}
	jobs := parse("../../ci/gitlab/build-job.yml")
	for _, name := range []string{".builder-build", "publish"} {
		if _, ok := jobs[name]; !ok {
			t.Errorf("build-job.yml has no %s", name)
		}
	}
	out, _, code := runCLI(t, "", nil, "matrix", "../../recipes/debian.hcl", "--format", "gitlab")
	var child map[string]any
	if err := yaml.Unmarshal([]byte(out), &child); code != 0 || err != nil {
		t.Fatalf("generated pipeline: %v\n%s", err, out)
	}
	for name, job := range child {
		if name == "include" {
			continue
		}
		if m, ok := job.(map[string]any); !ok || m["extends"] != ".builder-build" {
			t.Errorf("job %s: %v", name, job)
		}
	}
}
