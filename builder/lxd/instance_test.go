package lxd

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
)

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)[:n]
}

// cleanupCtx is for t.Cleanup: the test's own context may be over.
func cleanupCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// busyboxImage writes a unified container image of the host's static
// busybox into dir and returns its path and fingerprint. Its init prints
// a marker on the console and halts on the daemon's SIGPWR, unless
// initScript is given: then /sbin/init is that shell script. A token in
// its properties makes the fingerprint new on every run.
func busyboxImage(t *testing.T, dir, initScript string) (string, string) {
	t.Helper()
	testenv.File(t, "/bin/busybox", "busybox-static")
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "busybox.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	zw := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(zw)
	mtime := time.Unix(1767225600, 0)
	add := func(hdr tar.Header, data string) {
		hdr.ModTime = mtime
		hdr.Size = int64(len(data))
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	metadata := fmt.Sprintf("architecture: x86_64\ncreation_date: 1767225600\nproperties:\n  os: builder-test\n  run: %q\n", randomHex(t, 16))
	add(tar.Header{Name: "metadata.yaml", Mode: 0o644, Typeflag: tar.TypeReg}, metadata)
	for _, d := range []string{"rootfs", "rootfs/bin", "rootfs/sbin", "rootfs/etc", "rootfs/dev", "rootfs/proc", "rootfs/sys", "rootfs/run", "rootfs/tmp", "rootfs/root"} {
		add(tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir}, "")
	}
	add(tar.Header{Name: "rootfs/bin/busybox", Mode: 0o755, Typeflag: tar.TypeReg}, string(bin))
	for _, applet := range []string{"sh", "echo", "cat", "stat", "ip", "ls", "sleep", "true"} {
		add(tar.Header{Name: "rootfs/bin/" + applet, Linkname: "busybox", Typeflag: tar.TypeSymlink, Mode: 0o777}, "")
	}
	if initScript == "" {
		add(tar.Header{Name: "rootfs/sbin/init", Linkname: "../bin/busybox", Typeflag: tar.TypeSymlink, Mode: 0o777}, "")
	} else {
		add(tar.Header{Name: "rootfs/sbin/init", Mode: 0o755, Typeflag: tar.TypeReg}, initScript)
	}
	add(tar.Header{Name: "rootfs/etc/inittab", Mode: 0o644, Typeflag: tar.TypeReg},
		"::sysinit:/bin/echo builder-console-marker\n::shutdown:/bin/true\n")
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return path, hex.EncodeToString(h.Sum(nil))
}

// freeSubnet returns a 10.213.X.1/24 no host interface is on.
func freeSubnet(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for x := 150; x < 250; x++ {
		_, candidate, _ := net.ParseCIDR(fmt.Sprintf("10.213.%d.0/24", x))
		used := false
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (candidate.Contains(ipn.IP) || ipn.Contains(candidate.IP)) {
				used = true
			}
		}
		if !used {
			return fmt.Sprintf("10.213.%d.1/24", x)
		}
	}
	t.Fatal("no free 10.213.X.0/24 subnet")
	return ""
}

// throwawayProject creates a project with its own images and profiles,
// deleted when the test ends, and returns a client working in it.
func throwawayProject(t *testing.T, c *Client) *Client {
	t.Helper()
	ctx := context.Background()
	name := "builder-test-" + randomHex(t, 8)
	config := map[string]string{"features.images": "true", "features.profiles": "true"}
	if err := c.CreateProject(ctx, name, "builder lxd test", config); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.DeleteProject(cleanupCtx(t), name); err != nil {
			t.Errorf("deleting project %s: %v", name, err)
		}
	})
	projects, err := c.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(projects, name) {
		t.Fatalf("Projects() = %v, lacks %s", projects, name)
	}
	return c.WithProject(name)
}

// importBusybox uploads a fresh busybox image into the client's project,
// deleted when the test ends.
func importBusybox(t *testing.T, pc *Client) string {
	t.Helper()
	return importImage(t, pc, "")
}

// importImage is importBusybox with busyboxImage's initScript.
func importImage(t *testing.T, pc *Client, initScript string) string {
	t.Helper()
	ctx := context.Background()
	path, fp := busyboxImage(t, t.TempDir(), initScript)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pc.UploadImage(ctx, Upload{Files: []UploadFile{{Path: path, Size: st.Size()}}, Fingerprint: fp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pc.DeleteImage(cleanupCtx(t), got); err != nil && !IsNotFound(err) {
			t.Errorf("deleting image %s: %v", got, err)
		}
	})
	if got != fp {
		t.Fatalf("the daemon computed fingerprint %s, want %s", got, fp)
	}
	images, err := pc.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(images, fp) {
		t.Fatalf("Images() = %v, lacks %s", images, fp)
	}
	return fp
}

// createInstance creates a stopped busybox container with no profile,
// deleted when the test ends.
func createInstance(t *testing.T, pc *Client, fp string, devices map[string]map[string]string) string {
	t.Helper()
	ctx := context.Background()
	pool, err := pc.DefaultRootPool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if devices == nil {
		devices = map[string]map[string]string{}
	}
	devices["root"] = map[string]string{"type": "disk", "path": "/", "pool": pool}
	name := "builder-test-" + randomHex(t, 6)
	if err := pc.CreateInstance(ctx, InstanceSpec{Name: name, Type: "container", Fingerprint: fp, Devices: devices}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pc.DeleteInstance(cleanupCtx(t), name); err != nil {
			t.Errorf("deleting instance %s: %v", name, err)
		}
	})
	return name
}

// forDaemons runs test once per daemon on this machine (testenv.Daemons
// decides which must answer).
func forDaemons(t *testing.T, test func(t *testing.T, c *Client)) {
	for _, d := range testenv.Daemons(t) {
		t.Run(d.Name, func(t *testing.T) {
			c := NewUnixClient(Socket{Daemon: Daemon(d.Name), Path: d.Socket})
			if _, err := c.Connect(context.Background()); err != nil {
				t.Fatal(err)
			}
			test(t, c)
		})
	}
}

// A busybox container goes through its life on the real daemons: it is
// created without profiles on the default root pool, starts, takes a
// file, shows its console, stops cleanly and is deleted, twice without
// error.
func TestInstanceLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("boots containers")
	}
	forDaemons(t, func(t *testing.T, c *Client) {
		ctx := context.Background()
		pc := throwawayProject(t, c)
		fp := importBusybox(t, pc)
		name := createInstance(t, pc, fp, nil)

		names, err := pc.Instances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, []string{name}) {
			t.Errorf("Instances() = %v, want [%s]", names, name)
		}
		if st, err := pc.InstanceState(ctx, name); err != nil || st.Status != "Stopped" {
			t.Fatalf("state after create = %+v, %v; want Stopped", st, err)
		}
		if err := pc.SetInstanceState(ctx, name, "start", 0, false); err != nil {
			t.Fatal(err)
		}
		st, err := pc.InstanceState(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != "Running" || st.StatusCode != 103 || st.Pid <= 0 {
			t.Errorf("state after start = %+v, want Running (103) with a pid", st)
		}

		script := []byte("#!/bin/sh\necho pushed\n")
		if err := pc.PushFile(ctx, name, "/run/builder-test/deep/check", script, 0o700); err != nil {
			t.Fatal(err)
		}
		res, err := pc.Exec(ctx, name, []string{"/bin/sh", "-c", "stat -c '%a %u %g' /run/builder-test/deep/check /run/builder-test; /run/builder-test/deep/check"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := "700 0 0\n755 0 0\npushed\n"; res.Stdout != want || res.ExitStatus != 0 {
			t.Errorf("pushed file: %+v, want stdout %q", res, want)
		}
		// A second push replaces the file.
		if err := pc.PushFile(ctx, name, "/run/builder-test/deep/check", []byte("again"), 0o644); err != nil {
			t.Fatal(err)
		}
		if res, err := pc.Exec(ctx, name, []string{"cat", "/run/builder-test/deep/check"}, nil); err != nil || res.Stdout != "again" {
			t.Errorf("after a second push: %+v, %v", res, err)
		}
		if err := pc.PushFile(ctx, name, "relative", nil, 0o644); err == nil {
			t.Error("PushFile took a relative path")
		}

		console, err := pc.ConsoleLog(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(console, "builder-console-marker") {
			t.Errorf("console log %q lacks the marker init printed", console)
		}

		if err := pc.SetInstanceState(ctx, name, "stop", 30*time.Second, false); err != nil {
			t.Fatalf("clean stop: %v", err)
		}
		if st, err := pc.InstanceState(ctx, name); err != nil || st.Status != "Stopped" {
			t.Fatalf("state after stop = %+v, %v; want Stopped", st, err)
		}
		if err := pc.SetInstanceState(ctx, name, "start", 0, false); err != nil {
			t.Fatal(err)
		}
		// DeleteInstance kills a running instance first.
		if err := pc.DeleteInstance(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := pc.DeleteInstance(ctx, name); err != nil {
			t.Errorf("deleting a deleted instance: %v", err)
		}
		if names, err := pc.Instances(ctx); err != nil || len(names) != 0 {
			t.Errorf("Instances() after delete = %v, %v", names, err)
		}
		if _, err := pc.InstanceState(ctx, name); !IsNotFound(err) {
			t.Errorf("state of a deleted instance: %v, want not found", err)
		}
	})
}

// A clean stop the init ignores fails once its timeout is over, leaving
// the instance running; a forced stop then ends it.
func TestStopTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("boots containers")
	}
	forDaemons(t, func(t *testing.T, c *Client) {
		ctx := context.Background()
		pc := throwawayProject(t, c)
		// PID 1 of a container ignores signals it has no handler for.
		fp := importImage(t, pc, "#!/bin/sh\nwhile :; do sleep 1; done\n")
		name := createInstance(t, pc, fp, nil)
		if err := pc.SetInstanceState(ctx, name, "start", 0, false); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := pc.SetInstanceState(ctx, name, "stop", 2*time.Second, false)
		took := time.Since(start)
		if err == nil {
			t.Fatal("a stop the init ignores succeeded")
		}
		if took < 2*time.Second || took > 20*time.Second {
			t.Errorf("the failing stop took %v, want about 2s", took)
		}
		if !strings.Contains(err.Error(), "/1.0/instances/"+name+"/state") {
			t.Errorf("error %q does not name the request", err)
		}
		if st, err := pc.InstanceState(ctx, name); err != nil || st.Status != "Running" {
			t.Errorf("after the failed stop: %+v, %v; want Running", st, err)
		}
		if err := pc.SetInstanceState(ctx, name, "stop", 0, true); err != nil {
			t.Fatal(err)
		}
		if st, err := pc.InstanceState(ctx, name); err != nil || st.Status != "Stopped" {
			t.Errorf("after a forced stop: %+v, %v; want Stopped", st, err)
		}
		t.Logf("took %v: %v", took, err)
	})
}
