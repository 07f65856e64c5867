package bootstrap_test

import (
	"slices"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/recipe"
)

// TestDebootstrapCommandForUbuntu is the command recipes/ubuntu.hcl runs
// on a Debian 12 host, whose debootstrap has no noble script: the
// empty mirror (debootstrap's default) and gutsy's script follow the
// target, the keyring is builder's pinned copy in the work directory.
func TestDebootstrapCommandForUbuntu(t *testing.T) {
	plan, diags := recipe.NewLoader().Load("../../recipes/ubuntu.hcl", recipe.Options{HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	b := plan.Bootstrap()
	env := bootstrap.Env{Arch: plan.Image.Architecture, Distribution: plan.Image.Distribution, ScriptsDir: bootstrap.FakeScripts(t)}
	d := bootstrap.Debootstrap("debootstrap")
	script, err := d.Script(env, b)
	if err != nil {
		t.Fatal(err)
	}
	argv, err := d.Argv(env.Arch, b, "/work/keyrings/k.gpg", script, isolation.ToolViewImage)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"debootstrap", "--arch=amd64", "--foreign", "--variant=minbase", "--components=main,universe",
		"--include=systemd-sysv,systemd-resolved,iproute2,ca-certificates", "--keyring=/work/keyrings/k.gpg",
		"noble", "/target", "", "gutsy"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv\n got %q\nwant %q", argv, want)
	}
	if in := d.ViewPaths(b, "/work/keyrings/k.gpg"); !slices.Equal(in, []string{"/work/keyrings/k.gpg"}) {
		t.Errorf("the tool's view gets %v, want the pinned keyring", in)
	}

	// With a mirror, and for a suite debootstrap knows, nothing changes.
	b.Mirror = "http://mirror.example/ubuntu"
	argv, _ = d.Argv(env.Arch, b, "", script, isolation.ToolViewImage)
	if got := argv[len(argv)-2:]; !slices.Equal(got, []string{"http://mirror.example/ubuntu", "gutsy"}) {
		t.Errorf("with a mirror, argv ends %q", got)
	}
	b.Suite = "jammy"
	if script, err = d.Script(env, b); err != nil || script.Family != "" {
		t.Errorf("jammy: %+v %v", script, err)
	}
	argv, _ = d.Argv(env.Arch, b, "", script, isolation.ToolViewImage)
	if got := argv[len(argv)-3:]; !slices.Equal(got, []string{"jammy", "/target", "http://mirror.example/ubuntu"}) {
		t.Errorf("jammy argv ends %q", got)
	}
	// mmdebstrap needs no script.
	if s, err := bootstrap.Debootstrap("mmdebstrap").Script(env, &bootstrap.Config{Suite: "noble"}); err != nil || s != (bootstrap.SuiteScript{}) {
		t.Errorf("mmdebstrap: %+v %v", s, err)
	}
}
