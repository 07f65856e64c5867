package emulation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/internal/testenv"
)

func binfmtArch(t *testing.T, name string) image.Architecture {
	t.Helper()
	a, err := image.LookupArchitecture(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// fakeBinfmt builds a binfmt_misc directory: status holds status (none
// when empty), and each handler is written as the kernel shows it, with
// its interpreter created unless the name is in missing.
type fakeHandler struct {
	name, state, flags string
	interpreterMissing bool
}

func fakeBinfmt(t *testing.T, status string, handlers ...fakeHandler) string {
	t.Helper()
	dir := t.TempDir()
	bin := t.TempDir()
	if status != "" {
		writeBinfmtFile(t, filepath.Join(dir, "status"), status+"\n")
		writeBinfmtFile(t, filepath.Join(dir, "register"), "")
	}
	for _, h := range handlers {
		interp := filepath.Join(bin, h.name+"-static")
		if !h.interpreterMissing {
			writeBinfmtFile(t, interp, "")
		}
		flags := h.flags
		if flags == "" {
			flags = "POF"
		}
		writeBinfmtFile(t, filepath.Join(dir, h.name), h.state+"\ninterpreter "+interp+"\nflags: "+flags+
			"\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n")
	}
	return dir
}

func writeBinfmtFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// noCompat fails every compat probe; compatOK passes it.
func noCompat(image.Architecture) error { return errors.New("exec format error") }
func compatOK(image.Architecture) error { return nil }

func TestCheckArchitecture(t *testing.T) {
	enabledArm64 := fakeHandler{name: "qemu-aarch64", state: "enabled"}
	tests := []struct {
		name       string
		host       string
		target     string
		dir        string // "" means a directory without binfmt_misc
		compat     func(image.Architecture) error
		native     bool
		handler    string
		problem    EmulatorProblem
		nativeErr  bool
		wantInText []string
	}{
		{name: "same architecture", host: "amd64", target: "amd64", native: true},
		{name: "GOARCH spelling", host: "arm", target: "armhf", native: true},
		{name: "i386 on amd64 when the kernel runs it", host: "amd64", target: "i386", compat: compatOK, native: true},
		{name: "armhf on arm64 when the kernel runs it", host: "arm64", target: "armhf", compat: compatOK, native: true},
		{name: "armel on arm64 when the kernel runs it", host: "arm64", target: "armel", compat: compatOK, native: true},
		{name: "i386 on amd64 without compat, no handler", host: "amd64", target: "i386", compat: noCompat,
			dir: fakeBinfmt(t, "enabled"), problem: NotRegistered, nativeErr: true,
			wantInText: []string{"the kernel does not run them itself (exec format error)", "registers no qemu-i386 on amd64 hosts"}},
		{name: "armhf on arm64 without AArch32, but qemu-arm registered", host: "arm64", target: "armhf", compat: noCompat,
			dir: fakeBinfmt(t, "enabled", fakeHandler{name: "qemu-arm", state: "enabled"}), handler: "qemu-arm"},
		{name: "compat is not asked for other pairs", host: "amd64", target: "arm64",
			compat: func(image.Architecture) error { panic("probed") },
			dir:    fakeBinfmt(t, "enabled", enabledArm64), handler: "qemu-aarch64"},
		{name: "amd64 on arm64 runs under qemu-x86_64", host: "arm64", target: "amd64",
			dir: fakeBinfmt(t, "enabled", fakeHandler{name: "qemu-x86_64", state: "enabled"}), handler: "qemu-x86_64"},
		{name: "binfmt_misc not mounted", host: "amd64", target: "arm64", problem: NotMounted,
			wantInText: []string{"binfmt_misc is not mounted at", "mount -t binfmt_misc binfmt_misc", "apt-get install qemu-user-static binfmt-support"}},
		{name: "binfmt_misc disabled", host: "amd64", target: "arm64", dir: fakeBinfmt(t, "disabled", enabledArm64), problem: Disabled,
			wantInText: []string{"binfmt_misc is disabled", "echo 1 >"}},
		{name: "handler not registered", host: "amd64", target: "riscv64", dir: fakeBinfmt(t, "enabled", enabledArm64), problem: NotRegistered,
			wantInText: []string{"cannot run riscv64 programs on this amd64 machine", "no binfmt_misc handler qemu-riscv64 is registered", "apt-get install qemu-user-static binfmt-support"}},
		{name: "handler disabled", host: "amd64", target: "arm64",
			dir: fakeBinfmt(t, "enabled", fakeHandler{name: "qemu-aarch64", state: "disabled"}), problem: HandlerDisabled,
			wantInText: []string{"qemu-aarch64 is disabled", "update-binfmts --enable qemu-aarch64"}},
		{name: "interpreter missing", host: "amd64", target: "ppc64el",
			dir: fakeBinfmt(t, "enabled", fakeHandler{name: "qemu-ppc64le", state: "enabled", interpreterMissing: true}), problem: InterpreterMissing,
			wantInText: []string{"qemu-ppc64le-static of binfmt_misc handler qemu-ppc64le does not exist", "apt-get install --reinstall qemu-user-static binfmt-support"}},
		{name: "unknown host architecture", host: "mips64", target: "s390x",
			dir: fakeBinfmt(t, "enabled", fakeHandler{name: "qemu-s390x", state: "enabled"}), handler: "qemu-s390x"},
		{name: "no handler known", host: "amd64", target: "", problem: NoKnownHandler,
			wantInText: []string{"builder knows no qemu handler"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "binfmt_misc")
			}
			target := image.Architecture{Distribution: "vax", LXD: "vax"}
			if tt.target != "" {
				target = binfmtArch(t, tt.target)
			}
			e := Emulation{BinfmtDir: dir, RunCompat: tt.compat}
			if e.RunCompat == nil {
				e.RunCompat = func(image.Architecture) error { t.Fatal("compat probe run"); return nil }
			}
			sup, err := e.Check(target, tt.host)
			if tt.problem != 0 {
				var me *MissingEmulatorError
				if !errors.As(err, &me) {
					t.Fatalf("err = %v, want a *MissingEmulatorError", err)
				}
				if me.Problem != tt.problem || me.Arch != target || (me.NativeErr != nil) != tt.nativeErr {
					t.Errorf("got problem %d, arch %v, native error %v; want %d, %v, %v", me.Problem, me.Arch, me.NativeErr, tt.problem, target, tt.nativeErr)
				}
				for _, want := range tt.wantInText {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("message lacks %q:\n%s", want, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sup.Native != tt.native {
				t.Errorf("native = %v, want %v", sup.Native, tt.native)
			}
			switch {
			case tt.handler == "" && sup.Handler != nil:
				t.Errorf("handler %+v, want none", sup.Handler)
			case tt.handler != "" && (sup.Handler == nil || sup.Handler.Name != tt.handler || !sup.Handler.Enabled):
				t.Errorf("handler %+v, want %s enabled", sup.Handler, tt.handler)
			}
		})
	}
}

func TestQemuHandlers(t *testing.T) {
	dir := fakeBinfmt(t, "enabled",
		fakeHandler{name: "qemu-riscv64", state: "enabled", flags: "PF"},
		fakeHandler{name: "qemu-aarch64", state: "disabled"})
	writeBinfmtFile(t, filepath.Join(dir, "python3.11"), "enabled\ninterpreter /usr/bin/python3.11\nflags: \n")
	hs, err := Emulation{BinfmtDir: dir}.QemuHandlers()
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[0].Name != "qemu-aarch64" || hs[0].Enabled || hs[1].Name != "qemu-riscv64" || !hs[1].Enabled || hs[1].Flags != "PF" || !hs[1].FixBinary() {
		t.Errorf("handlers: %+v", hs)
	}
	_, err = Emulation{BinfmtDir: t.TempDir()}.QemuHandlers()
	var me *MissingEmulatorError
	if !errors.As(err, &me) || me.Problem != NotMounted || !strings.HasPrefix(err.Error(), "binfmt_misc is not mounted") {
		t.Errorf("unmounted: %v", err)
	}
}

func TestParseHandlerErrors(t *testing.T) {
	for _, bad := range []string{"", "interpreter /x\n", "enabled\nflags: F\n"} {
		if _, err := ParseHandler("qemu-x", strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestHandlerNames(t *testing.T) {
	for _, name := range image.ArchitectureNames() {
		a := binfmtArch(t, name)
		h := HandlerName(a)
		if !strings.HasPrefix(h, "qemu-") {
			t.Errorf("%s has no handler", name)
			continue
		}
		found := false
		for _, b := range HandlerArchitectures(h) {
			found = found || b == a
		}
		if !found {
			t.Errorf("HandlerArchitectures(%s) lacks %s", h, name)
		}
	}
	if got := HandlerArchitectures("qemu-arm"); len(got) != 2 || got[0].Distribution != "armel" || got[1].Distribution != "armhf" {
		t.Errorf("qemu-arm runs %v", got)
	}
	if got := HandlerArchitectures("qemu-armeb"); got != nil {
		t.Errorf("qemu-armeb runs %v", got)
	}
}

// TestHostArchitectureAccepted checks the real machine, with its real
// /proc: its own architecture needs no emulator.
func TestHostArchitectureAccepted(t *testing.T) {
	host, err := image.HostArchitecture(runtime.GOARCH)
	if err != nil {
		t.Skipf("builder does not build for %s", runtime.GOARCH)
	}
	if err := CheckArchitecture(host, runtime.GOARCH); err != nil {
		t.Fatal(err)
	}
}

// TestProbeCompat runs the real probe program for the 32-bit relative of
// this host: Debian's amd64 kernels run i386, so there it proves the
// hand-made ELF file is right (the ARM one was checked under
// qemu-arm-static). A kernel without compat support skips, unless
// BUILDER_TEST_REQUIRE=1.
func TestProbeCompat(t *testing.T) {
	var target string
	switch runtime.GOARCH {
	case "amd64":
		target = "i386"
	case "arm64":
		target = "armhf"
	default:
		t.Skipf("no 32-bit relative of %s", runtime.GOARCH)
	}
	err := ProbeCompat(binfmtArch(t, target))
	testenv.Need(t, err == nil, fmt.Sprintf("this kernel or CPU does not run %s: %v", target, err))
	if _, err := compatProgram(binfmtArch(t, "s390x")); err == nil {
		t.Error("a probe program for s390x")
	}
}
