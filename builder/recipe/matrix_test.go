package recipe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMatrixJobs(t *testing.T) {
	plan, diags := NewLoader().Load("../../recipes/debian.hcl", Options{HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var names []string
	for _, j := range plan.Jobs() {
		names = append(names, j.Name+":"+strings.Join(j.Vars, ","))
	}
	want := []string{
		"debian-amd64-default:architecture=amd64,variant=default",
		"debian-amd64-cloud:architecture=amd64,variant=cloud",
		"debian-arm64-default:architecture=arm64,variant=default",
		"debian-arm64-cloud:architecture=arm64,variant=cloud",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("jobs:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
}

func TestMatrixExcludeAndTypes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.hcl")
	src := `
variable "size" {
  type    = number
  default = 1
}
variable "flavour" { default = "a" }
image {
  distribution = "busybox"
  release      = "x"
}
bootstrap "busybox" {}
matrix {
  flavour = ["a", "b c"]
  size    = [1, 2]
  exclude {
    flavour = "b c"
    size    = 2
  }
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, diags := NewLoader().Load(path, Options{HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	var got []string
	for _, j := range plan.Jobs() {
		got = append(got, j.Name+":"+strings.Join(j.Vars, ",")+":"+j.Values["size"])
	}
	want := "m-a-1:flavour=a,size=1:1 m-a-2:flavour=a,size=2:2 m-b_c-1:flavour=b c,size=1:1"
	if strings.Join(got, " ") != want {
		t.Errorf("jobs %q, want %q", strings.Join(got, " "), want)
	}
	// Each job's variables load as the recipe's own values.
	for _, j := range plan.Jobs() {
		if _, diags := NewLoader().Load(path, Options{HostArch: "amd64", Vars: j.Vars}); diags.HasErrors() {
			t.Errorf("job %s: %s", j.Name, diags.Error())
		}
	}

	noMatrix := filepath.Join(dir, "plain.hcl")
	if err := os.WriteFile(noMatrix, []byte("image {\n  distribution = \"busybox\"\n  release = \"x\"\n}\nbootstrap \"busybox\" {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plain, _ := NewLoader().Load(noMatrix, Options{HostArch: "amd64"})
	if jobs := plain.Jobs(); len(jobs) != 1 || jobs[0].Name != "plain" || len(jobs[0].Vars) != 0 {
		t.Errorf("a recipe without a matrix: %+v", jobs)
	}
}
