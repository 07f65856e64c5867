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
	"github.com/builder-images/builder/internal/testenv"
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

// TestBuildImport builds the busybox recipe split and unified with
// --import into each real daemon (--daemon lxd, --daemon incus), which
// must hold it under the alias with image.json's fingerprint and the
// recipe's properties, and launches it.
func TestBuildImport(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	daemons := testenv.Daemons(t)
	tmp := t.TempDir()
	suffix := uniqueSuffix()
	for _, d := range daemons {
		for _, typ := range []string{"split", "unified"} {
			t.Run(d.Name+"/"+typ, func(t *testing.T) {
				out := filepath.Join(tmp, d.Name+"-"+typ)
				alias := "builder-test-import-" + typ + "-" + suffix
				stdout, stderr, status := builderExec(t, nil, append([]string{"build", "recipes/busybox.hcl", "--type", typ, "-o", out, "--import=" + alias}, d.Args()...)...)
				if status != 0 {
					t.Fatalf("build --import: exit %d\n%s", status, stderr)
				}
				j := readImageJSON(t, out)
				deleteImageLaterOn(t, d, j.Fingerprint)
				if !strings.Contains(stdout, "alias "+alias+" created") || !strings.Contains(stdout, "fingerprint "+j.Fingerprint) {
					t.Errorf("the log does not report the alias and the fingerprint:\n%s", stdout)
				}
				info := cli(t, d, "image", "info", alias)
				for _, want := range []string{"Fingerprint: " + j.Fingerprint, "Architecture: x86_64", "os: busybox", "release: static", "serial: " + j.Properties["serial"]} {
					if !strings.Contains(info, want) {
						t.Errorf("%s image info lacks %q:\n%s", d.CLI, want, info)
					}
				}
				launchAndCheckHostnameOn(t, d, alias, "bt-imp-"+typ+"-"+suffix)

				// Importing again sends nothing and changes nothing.
				res := importJSON(t, append([]string{out, "--alias", alias}, d.Args()...)...)
				if res.Uploaded || len(res.Aliases) != 1 || res.Aliases[0].Action != "unchanged" || res.Fingerprint != j.Fingerprint {
					t.Errorf("re-import: %+v", res)
				}
			})
		}
	}
}

// TestImportMovesAliases imports two builds of one recipe under one alias,
// into each daemon: the alias moves to the second; --replace deletes the
// first image unless another alias still names it.
func TestImportMovesAliases(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	daemons := testenv.Daemons(t)
	tmp := t.TempDir()
	var outs []string
	var fps []string
	for i, epoch := range []string{"1700000000", "1700000600", "1700001200"} {
		out := filepath.Join(tmp, fmt.Sprint(i))
		runBuilder(t, []string{"SOURCE_DATE_EPOCH=" + epoch}, "build", "recipes/busybox.hcl", "-o", out)
		outs = append(outs, out)
		fps = append(fps, readImageJSON(t, out).Fingerprint)
	}
	for _, d := range daemons {
		t.Run(d.Name, func(t *testing.T) {
			testImportMovesAliases(t, d, outs, fps)
		})
	}
}

func testImportMovesAliases(t *testing.T, d testenv.Daemon, outs, fps []string) {
	suffix := uniqueSuffix()
	for _, fp := range fps {
		deleteImageLaterOn(t, d, fp)
	}
	imp := func(args ...string) lxd.ImportResult {
		t.Helper()
		return importJSON(t, append(args, d.Args()...)...)
	}
	alias, other := "builder-test-move-"+suffix, "builder-test-keep-"+suffix

	res := imp(outs[0], "--alias", alias, "--alias", other)
	if !res.Uploaded || len(res.Aliases) != 2 || res.Aliases[0].Action != "created" {
		t.Fatalf("first import: %+v", res)
	}
	cliLater(t, d, "image", "alias", "delete", alias)
	cliLater(t, d, "image", "alias", "delete", other)

	// --replace, but `other` still names the first image: it stays.
	res = imp(outs[1], "--alias", alias, "--replace")
	if len(res.Aliases) != 1 || res.Aliases[0].Action != "moved" || res.Aliases[0].Previous != fps[0] {
		t.Fatalf("second import aliases: %+v", res.Aliases)
	}
	if len(res.Deleted) != 0 || len(res.Kept) != 1 || res.Kept[0] != fps[0] {
		t.Errorf("second import kept %v, deleted %v; want the first image kept", res.Kept, res.Deleted)
	}
	if got := strings.TrimSpace(cli(t, d, "image", "alias", "list", alias, "--format", "csv")); !strings.Contains(got, fps[1][:12]) {
		t.Errorf("alias %s after the move: %q, want image %s", alias, got, fps[1][:12])
	}
	cli(t, d, "image", "info", fps[0])

	// Without --replace the image an alias leaves is kept.
	res = imp(outs[2], "--alias", alias)
	if len(res.Kept) != 1 || res.Kept[0] != fps[1] {
		t.Errorf("third import kept %v, want %s", res.Kept, fps[1])
	}
	// Moving back with --replace deletes the image nothing names any more.
	res = imp(outs[1], "--alias", alias, "--replace")
	if len(res.Deleted) != 1 || res.Deleted[0] != fps[2] {
		t.Errorf("import with --replace deleted %v, want %s", res.Deleted, fps[2])
	}
	if err := exec.Command(d.CLI, "image", "info", fps[2]).Run(); err == nil {
		t.Errorf("image %s is still in %s after --replace", fps[2][:12], d.Name)
	}
}

// TestImportErrors: no daemon, a socket the user may not use, and a
// directory that is not an output directory each give a clear error.
func TestImportErrors(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
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

	// Each daemon's socket refuses a user outside its group.
	for _, d := range testenv.Daemons(t) {
		cmd := exec.Command(builderBinary(t), append([]string{"import", out}, d.Args()...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
		msg, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(msg), "permission denied") {
			t.Errorf("%s as uid 65534: %v\n%s", d.Name, err, msg)
		}
	}
}
