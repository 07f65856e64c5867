package bootstrap

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/internal/testenv"
)

func TestBusyboxBootstrap(t *testing.T) {
	binary := "/bin/busybox"
	testenv.File(t, binary, "busybox-static")
	dir := t.TempDir()
	amd64, _ := image.LookupArchitecture("amd64")
	arm64, _ := image.LookupArchitecture("arm64")
	err := busyboxBackend{}.Bootstrap(context.Background(), Env{Arch: amd64}, &Config{Binary: binary}, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"bin/sh", "sbin/init", "bin/ls"} {
		target, err := os.Readlink(filepath.Join(dir, applet))
		if err != nil || target != "/bin/busybox" {
			t.Errorf("/%s -> %q (%v), want a link to /bin/busybox", applet, target, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "tmp")); err != nil || st.Mode().Perm() != 0o777 || st.Mode()&os.ModeSticky == 0 {
		t.Errorf("/tmp mode: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/passwd")); !strings.HasPrefix(string(b), "root:x:0:0:") {
		t.Errorf("/etc/passwd = %q", b)
	}

	// A binary of another architecture would not run in the image.
	err = busyboxBackend{}.Bootstrap(context.Background(), Env{Arch: arm64}, &Config{Binary: binary}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "built for EM_X86_64, but the image is arm64") {
		t.Errorf("foreign binary: %v", err)
	}
	// A dynamically linked binary would not run in the image.
	err = busyboxBackend{}.Bootstrap(context.Background(), Env{Arch: amd64}, &Config{Binary: "/bin/ls"}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("dynamic binary: %v", err)
	}
}
