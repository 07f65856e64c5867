package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/lxd"
)

// builderExec runs the built binary from the repository root and returns
// its stdout, stderr and exit status.
func builderExec(t *testing.T, env []string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(builderBinary(t), args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if exitErr, ok := err.(*exec.ExitError); ok {
		return out.String(), errOut.String(), exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("builder %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), 0
}

// importJSON runs `builder import … --json`, which must succeed.
func importJSON(t *testing.T, args ...string) lxd.ImportResult {
	t.Helper()
	stdout, stderr, status := builderExec(t, nil, append([]string{"import", "--json"}, args...)...)
	if status != 0 {
		t.Fatalf("builder import %s: exit %d\n%s", strings.Join(args, " "), status, stderr)
	}
	var res lxd.ImportResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("import --json printed %q: %v", stdout, err)
	}
	return res
}

func uniqueSuffix() string { return fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000) }

// deleteImageLater removes an image from the daemon when the test ends.
func deleteImageLater(t *testing.T, fingerprint string) {
	t.Cleanup(func() { _ = exec.Command("lxc", "image", "delete", fingerprint).Run() })
}

// launchAndCheckHostname launches alias as a container and checks the
// hostname template named /etc/hostname after it.
func launchAndCheckHostname(t *testing.T, alias, name string) {
	t.Helper()
	lxc(t, "launch", alias, name)
	t.Cleanup(func() { _ = exec.Command("lxc", "delete", "--force", name).Run() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		state := strings.TrimSpace(lxc(t, "list", name, "--format", "csv", "--columns", "s"))
		if state == "RUNNING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container state %q after 60 s", state)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got := strings.TrimSpace(lxc(t, "exec", name, "--", "cat", "/etc/hostname")); got != name {
		t.Errorf("/etc/hostname = %q, want the container's name %q (the hostname template)", got, name)
	}
}

// TestBuildImport builds the busybox recipe split and unified with
// --import into the real daemon, which must hold it under the alias with
// image.json's fingerprint and the recipe's properties, and launches it.
func TestBuildImport(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireLXD(t)
	tmp := t.TempDir()
	suffix := uniqueSuffix()
	for _, typ := range []string{"split", "unified"} {
		t.Run(typ, func(t *testing.T) {
			out := filepath.Join(tmp, typ)
			alias := "builder-test-import-" + typ + "-" + suffix
			stdout, stderr, status := builderExec(t, nil, "build", "recipes/busybox.hcl", "--type", typ, "-o", out, "--import="+alias)
			if status != 0 {
				t.Fatalf("build --import: exit %d\n%s", status, stderr)
			}
			j := readImageJSON(t, out)
			deleteImageLater(t, j.Fingerprint)
			if !strings.Contains(stdout, "alias "+alias+" created") || !strings.Contains(stdout, "fingerprint "+j.Fingerprint) {
				t.Errorf("the log does not report the alias and the fingerprint:\n%s", stdout)
			}
			info := lxc(t, "image", "info", alias)
			for _, want := range []string{"Fingerprint: " + j.Fingerprint, "Architecture: x86_64", "os: busybox", "release: static", "serial: " + j.Properties["serial"]} {
				if !strings.Contains(info, want) {
					t.Errorf("lxc image info lacks %q:\n%s", want, info)
				}
			}
			launchAndCheckHostname(t, alias, "bt-imp-"+typ+"-"+suffix)

			// Importing again sends nothing and changes nothing.
			res := importJSON(t, out, "--alias", alias)
			if res.Uploaded || len(res.Aliases) != 1 || res.Aliases[0].Action != "unchanged" || res.Fingerprint != j.Fingerprint {
				t.Errorf("re-import: %+v", res)
			}
		})
	}
}

// TestImportMovesAliases imports two builds of one recipe under one alias:
// the alias moves to the second; --replace deletes the first image unless
// another alias still names it.
func TestImportMovesAliases(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireLXD(t)
	tmp := t.TempDir()
	suffix := uniqueSuffix()
	var outs []string
	var fps []string
	for i, epoch := range []string{"1700000000", "1700000600", "1700001200"} {
		out := filepath.Join(tmp, fmt.Sprint(i))
		runBuilder(t, []string{"SOURCE_DATE_EPOCH=" + epoch}, "build", "recipes/busybox.hcl", "-o", out)
		outs = append(outs, out)
		fps = append(fps, readImageJSON(t, out).Fingerprint)
		deleteImageLater(t, fps[i])
	}
	alias, other := "builder-test-move-"+suffix, "builder-test-keep-"+suffix

	res := importJSON(t, outs[0], "--alias", alias, "--alias", other)
	if !res.Uploaded || len(res.Aliases) != 2 || res.Aliases[0].Action != "created" {
		t.Fatalf("first import: %+v", res)
	}
	t.Cleanup(func() {
		_ = exec.Command("lxc", "image", "alias", "delete", alias).Run()
		_ = exec.Command("lxc", "image", "alias", "delete", other).Run()
	})

	// --replace, but `other` still names the first image: it stays.
	res = importJSON(t, outs[1], "--alias", alias, "--replace")
	if len(res.Aliases) != 1 || res.Aliases[0].Action != "moved" || res.Aliases[0].Previous != fps[0] {
		t.Fatalf("second import aliases: %+v", res.Aliases)
	}
	if len(res.Deleted) != 0 || len(res.Kept) != 1 || res.Kept[0] != fps[0] {
		t.Errorf("second import kept %v, deleted %v; want the first image kept", res.Kept, res.Deleted)
	}
	if got := strings.TrimSpace(lxc(t, "image", "alias", "list", alias, "--format", "csv")); !strings.Contains(got, fps[1][:12]) {
		t.Errorf("alias %s after the move: %q, want image %s", alias, got, fps[1][:12])
	}
	lxc(t, "image", "info", fps[0])

	// Without --replace the image an alias leaves is kept.
	res = importJSON(t, outs[2], "--alias", alias)
	if len(res.Kept) != 1 || res.Kept[0] != fps[1] {
		t.Errorf("third import kept %v, want %s", res.Kept, fps[1])
	}
	// Moving back with --replace deletes the image nothing names any more.
	res = importJSON(t, outs[1], "--alias", alias, "--replace")
	if len(res.Deleted) != 1 || res.Deleted[0] != fps[2] {
		t.Errorf("import with --replace deleted %v, want %s", res.Deleted, fps[2])
	}
	if err := exec.Command("lxc", "image", "info", fps[2]).Run(); err == nil {
		t.Errorf("image %s is still in the daemon after --replace", fps[2][:12])
	}
}

// TestImportErrors: no daemon, a socket the user may not use, and a
// directory that is not an output directory each give a clear error.
func TestImportErrors(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireLXD(t)
	out := filepath.Join(t.TempDir(), "out")
	runBuilder(t, nil, "build", "recipes/busybox.hcl", "-o", out)
	if err := os.Chmod(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}

	_, stderr, status := builderExec(t, []string{"LXD_SOCKET=/nonexistent/unix.socket", "INCUS_SOCKET=/nonexistent/incus.socket"}, "import", out)
	if status != 1 || !strings.Contains(stderr, "no LXD or Incus daemon answers") || !strings.Contains(stderr, "/nonexistent/unix.socket") {
		t.Errorf("no daemon: exit %d\n%s", status, stderr)
	}

	_, stderr, status = builderExec(t, nil, "import", t.TempDir())
	if status != 1 || !strings.Contains(stderr, "image.json") {
		t.Errorf("not an output directory: exit %d\n%s", status, stderr)
	}

	_, stderr, status = builderExec(t, nil, "import", out, "--alias", "has space")
	if status != 2 || !strings.Contains(stderr, "white space") {
		t.Errorf("bad alias: exit %d\n%s", status, stderr)
	}

	cmd := exec.Command(builderBinary(t), "import", out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "permission denied") {
		t.Errorf("as uid 65534: %v\n%s", err, msg)
	}
}
