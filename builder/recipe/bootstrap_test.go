package recipe

import (
	"os"
	"testing"
)

// TestBootstrapHostPathsStayPaths: a keyring or busybox binary next to a
// recipe loaded from the current directory stays a path in the plan. A
// bare "busybox" would otherwise be looked up in $PATH, and "./--list"
// (the way validate tells users to name such a file) would lose its "./"
// and reach the command line as an option.
func TestBootstrapHostPathsStayPaths(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, name := range []string{"--list", "busybox", "--keyring"} {
		if err := os.WriteFile(name, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct{ bootstrap, want string }{
		{`bootstrap "busybox" { binary = "./--list" }`, "./--list"},
		{`bootstrap "busybox" { binary = "busybox" }`, "./busybox"},
		{`bootstrap "debootstrap" { keyring = "./--keyring" }`, "./--keyring"},
	}
	for _, tt := range tests {
		src := "image {\n  distribution = \"debian\"\n  release = \"bookworm\"\n}\n" + tt.bootstrap + "\n"
		if err := os.WriteFile("r.hcl", []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		plan := mustLoad(t, "r.hcl", Options{})
		b := plan.Steps[0].Action.(*Bootstrap)
		if got := b.Binary + b.Keyring; got != tt.want {
			t.Errorf("%s: the plan has %q, want %q", tt.bootstrap, got, tt.want)
		}
	}
}
