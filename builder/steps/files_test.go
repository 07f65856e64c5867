package steps

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/builder-images/builder/builder/step"
	"github.com/builder-images/builder/builder/step/steptest"
	"github.com/builder-images/builder/internal/testenv"
)

// TestFileCopyRemoveRun: the file kinds change the image rt names, and
// only it (builder/confined's tests cover the operations themselves).
func TestFileCopyRemoveRun(t *testing.T) {
	testenv.Root(t)
	image, host := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "motd"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := Ownership{Mode: 0o600, Owner: "0", Group: "0"}
	rt := &steptest.Runtime{Dir: image}
	for _, a := range []step.Action{
		&File{Path: "/etc/written", Content: "x\n", Ownership: root},
		&Copy{Path: "/etc/motd", Source: filepath.Join(host, "motd")},
		&File{Path: "/etc/gone", Content: "y\n", Ownership: root},
		&Remove{Path: "/etc/gone"},
		&Remove{Path: "/etc/never-there", MissingOK: true},
	} {
		if err := a.Run(context.Background(), rt); err != nil {
			t.Fatalf("%s: %v", a.Kind(), err)
		}
	}
	for name, want := range map[string]string{"etc/written": "x\n", "etc/motd": "hello\n"} {
		if got, err := os.ReadFile(filepath.Join(image, name)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(image, "etc/written")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("etc/written: %v, %v; want mode 0600", st.Mode(), err)
	}
	if _, err := os.Lstat(filepath.Join(image, "etc/gone")); !os.IsNotExist(err) {
		t.Errorf("etc/gone is still there: %v", err)
	}
	if len(rt.Calls) > 0 {
		t.Errorf("file steps ran commands: %v", rt.Calls)
	}
}
