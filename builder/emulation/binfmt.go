// Package emulation says whether this host can run an image's programs:
// natively, or through a qemu binfmt_misc handler, and why not.
package emulation

// Foreign architectures. A rootfs for another architecture is built by
// running its programs (maintainer scripts, apt, recipe run steps) under
// qemu-user, which the kernel starts by itself through a binfmt_misc
// handler. This file decides whether this machine can do that for a
// target, and when it cannot, says what to install.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/image"
)

// DefaultBinfmtDir is where systemd and binfmt-support mount binfmt_misc.
const DefaultBinfmtDir = "/proc/sys/fs/binfmt_misc"

// emulatorPackages is the fix for every missing handler: Debian's
// statically linked qemu-user and the package that registers it with the
// kernel (with the F flag, so the interpreter works inside a chroot).
const emulatorPackages = "apt-get install qemu-user-static binfmt-support"

// Emulation checks whether this machine can run programs of a target
// architecture. Its zero value checks the running machine.
type Emulation struct {
	// BinfmtDir is where binfmt_misc is mounted; empty means
	// DefaultBinfmtDir. Tests point it at a fake directory.
	BinfmtDir string
	// RunCompat tries to run a tiny static program of target on this
	// machine and returns nil when the kernel ran it. It is asked only for
	// the 32-bit relatives of the host (see CompatibleOn). Nil means
	// ProbeCompat.
	RunCompat func(target image.Architecture) error
}

// Support says how a target's programs run here.
type Support struct {
	// Native is true when the kernel runs them without an emulator.
	Native bool
	// Handler is the binfmt_misc handler that runs them otherwise.
	Handler *Handler
}

// CheckArchitecture returns nil when this machine, whose Go architecture
// is hostGOARCH, can run target's programs: natively, or through an
// enabled qemu binfmt_misc handler whose interpreter exists. Otherwise it
// returns a *MissingEmulatorError naming the fix.
func CheckArchitecture(target image.Architecture, hostGOARCH string) error {
	_, err := Emulation{}.Check(target, hostGOARCH)
	return err
}

// Check is CheckArchitecture, also saying how the target runs.
//
// A target runs natively when it is the host's architecture, or one of
// its 32-bit relatives — i386 on amd64, armhf and armel on arm64 — and
// the kernel really runs that code. That is not a given, so it is tried
// (RunCompat) rather than assumed: amd64 kernels run i386 programs only
// with CONFIG_IA32_EMULATION, and since Linux 6.7 not when booted with
// ia32_emulation=0; arm64 kernels run 32-bit ARM only with CONFIG_COMPAT
// on a CPU that implements AArch32 at EL0, which many recent ones
// (Apple M1 and later, Neoverse N2/V2, AmpereOne) do not. Debian's
// qemu-user-static registers no handler for the host's own family
// (neither qemu-i386 on amd64 nor qemu-arm on arm64), so on such machines
// these targets cannot be built until one is registered by hand. (Where
// one is, the probe runs through it and the target counts as native: a
// build cannot tell the difference.) The probe runs on this machine
// whatever hostGOARCH says; tests replace it with RunCompat.
//
// An interpreter that no longer exists is reported even when the handler
// has the F flag and the kernel still holds the file open: the package
// that provided it is gone or broken, and the next registration fails.
func (e Emulation) Check(target image.Architecture, hostGOARCH string) (Support, error) {
	host, hostErr := image.HostArchitecture(hostGOARCH)
	hostName := hostGOARCH
	if hostErr == nil {
		hostName = host.Distribution
		if host.Distribution == target.Distribution {
			return Support{Native: true}, nil
		}
	}
	var compatErr error
	if hostErr == nil && CompatibleOn(host, target) {
		run := e.RunCompat
		if run == nil {
			run = ProbeCompat
		}
		if compatErr = run(target); compatErr == nil {
			return Support{Native: true}, nil
		}
	}
	missing := &MissingEmulatorError{
		Arch: target, Host: hostName, Handler: HandlerName(target),
		Dir: e.dir(), NativeErr: compatErr,
	}
	if missing.Handler == "" {
		missing.Problem = NoKnownHandler
		return Support{}, missing
	}
	if err := e.Enabled(); err != nil {
		var me *MissingEmulatorError
		if !errors.As(err, &me) {
			return Support{}, err
		}
		missing.Problem = me.Problem
		return Support{}, missing
	}
	h, err := e.Handler(missing.Handler)
	switch {
	case errors.Is(err, os.ErrNotExist):
		missing.Problem = NotRegistered
		return Support{}, missing
	case err != nil:
		return Support{}, err
	case !h.Enabled:
		missing.Problem = HandlerDisabled
		return Support{}, missing
	}
	if _, err := os.Stat(h.Interpreter); err != nil {
		missing.Problem = InterpreterMissing
		missing.Interpreter = h.Interpreter
		return Support{}, missing
	}
	return Support{Handler: &h}, nil
}

func (e Emulation) dir() string {
	if e.BinfmtDir == "" {
		return DefaultBinfmtDir
	}
	return e.BinfmtDir
}

// CompatibleOn lists the targets a host kernel may run as its 32-bit
// compat ABI.
func CompatibleOn(host, target image.Architecture) bool {
	switch host.Distribution {
	case "amd64":
		return target.Distribution == "i386"
	case "arm64":
		return target.Distribution == "armhf" || target.Distribution == "armel"
	}
	return false
}

// HandlerName is the binfmt_misc entry Debian's qemu-user-static
// registers for an architecture ("qemu-aarch64"), or "" for none.
// (Debian also registers qemu-armeb, for big-endian ARM, which no Debian
// architecture uses.)
func HandlerName(a image.Architecture) string {
	switch a.Distribution {
	case "amd64":
		return "qemu-x86_64"
	case "arm64":
		return "qemu-aarch64"
	case "armhf", "armel":
		return "qemu-arm"
	case "i386":
		return "qemu-i386"
	case "ppc64el":
		return "qemu-ppc64le"
	case "s390x":
		return "qemu-s390x"
	case "riscv64":
		return "qemu-riscv64"
	case "loong64":
		return "qemu-loongarch64"
	}
	return ""
}

// HandlerArchitectures is the reverse of HandlerName: the architectures a
// handler runs, sorted, or none for a handler builder has no use for.
func HandlerArchitectures(handler string) []image.Architecture {
	var out []image.Architecture
	for _, name := range image.ArchitectureNames() {
		a, err := image.LookupArchitecture(name)
		if err == nil && HandlerName(a) == handler {
			out = append(out, a)
		}
	}
	return out
}

// Handler is one registered binfmt_misc entry, as the kernel shows it in
// <binfmt_misc>/<name>.
type Handler struct {
	Name        string
	Enabled     bool
	Interpreter string
	// Flags are the kernel's letters: P (preserve argv[0]), O (open the
	// binary), C (credentials), F (the interpreter was opened at
	// registration, so it works inside a chroot without a copy there).
	Flags string
}

// FixBinary reports the F flag: without it, the interpreter's path is
// looked up inside the chroot, where it does not exist.
func (h Handler) FixBinary() bool { return strings.Contains(h.Flags, "F") }

// ParseHandler reads a handler file:
//
//	enabled
//	interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
//	flags: POF
//	offset 0
//	magic 7f454c46…
func ParseHandler(name string, r io.Reader) (Handler, error) {
	h := Handler{Name: name}
	sc := bufio.NewScanner(r)
	for first := true; sc.Scan(); first = false {
		line := sc.Text()
		key, value, _ := strings.Cut(line, " ")
		switch {
		case first && (line == "enabled" || line == "disabled"):
			h.Enabled = line == "enabled"
		case first:
			return Handler{}, fmt.Errorf("binfmt_misc handler %s: first line %q is neither enabled nor disabled", name, line)
		case key == "interpreter":
			h.Interpreter = value
		case key == "flags:":
			h.Flags = value
		}
	}
	if err := sc.Err(); err != nil {
		return Handler{}, fmt.Errorf("reading binfmt_misc handler %s: %w", name, err)
	}
	if h.Interpreter == "" {
		return Handler{}, fmt.Errorf("binfmt_misc handler %s names no interpreter", name)
	}
	return h, nil
}

// Enabled returns nil when binfmt_misc is mounted and enabled, and a
// *MissingEmulatorError (NotMounted or Disabled) otherwise.
func (e Emulation) Enabled() error {
	b, err := os.ReadFile(filepath.Join(e.dir(), "status"))
	if errors.Is(err, os.ErrNotExist) {
		return &MissingEmulatorError{Problem: NotMounted, Dir: e.dir()}
	}
	if err != nil {
		return fmt.Errorf("reading binfmt_misc status: %w", err)
	}
	if strings.TrimSpace(string(b)) != "enabled" {
		return &MissingEmulatorError{Problem: Disabled, Dir: e.dir()}
	}
	return nil
}

// Handler reads one registered handler; an unregistered one is an error
// satisfying errors.Is(err, os.ErrNotExist).
func (e Emulation) Handler(name string) (Handler, error) {
	f, err := os.Open(filepath.Join(e.dir(), name))
	if err != nil {
		return Handler{}, fmt.Errorf("reading binfmt_misc handler: %w", err)
	}
	defer f.Close()
	return ParseHandler(name, f)
}

// QemuHandlers returns the registered qemu-* handlers, sorted by name,
// after checking that binfmt_misc is mounted and enabled (see Enabled).
func (e Emulation) QemuHandlers() ([]Handler, error) {
	if err := e.Enabled(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(e.dir())
	if err != nil {
		return nil, fmt.Errorf("listing binfmt_misc handlers: %w", err)
	}
	var out []Handler
	for _, ent := range entries {
		if !strings.HasPrefix(ent.Name(), "qemu-") {
			continue
		}
		h, err := e.Handler(ent.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// EmulatorProblem says why a foreign architecture cannot run.
type EmulatorProblem int

// Problems, each with its own fix (see MissingEmulatorError.Fix).
const (
	NotMounted         EmulatorProblem = iota + 1 // no binfmt_misc at Dir
	Disabled                                      // binfmt_misc status is "disabled"
	NotRegistered                                 // no handler named Handler
	HandlerDisabled                               // the handler is registered but disabled
	InterpreterMissing                            // the handler's interpreter does not exist
	NoKnownHandler                                // builder knows no qemu handler for Arch
)

// MissingEmulatorError says this machine cannot run Arch's programs, why,
// and what to do about it.
type MissingEmulatorError struct {
	Arch image.Architecture
	// Host is the host's architecture, in Debian's spelling when known.
	Host string
	// Handler is the binfmt_misc entry that would run Arch ("qemu-arm").
	Handler string
	Problem EmulatorProblem
	// Dir is where binfmt_misc was looked for.
	Dir string
	// Interpreter is the missing file, for InterpreterMissing.
	Interpreter string
	// NativeErr is why a 32-bit relative of the host did not run natively.
	NativeErr error
}

func (e *MissingEmulatorError) Error() string {
	if fix := e.Fix(); fix != "" {
		return e.Reason() + "; " + fix
	}
	return e.Reason()
}

// Reason is the message without the fix.
func (e *MissingEmulatorError) Reason() string {
	var b strings.Builder
	if e.Arch.Distribution != "" {
		fmt.Fprintf(&b, "cannot run %s programs on this %s machine: ", e.Arch.Distribution, e.Host)
	}
	if e.NativeErr != nil {
		fmt.Fprintf(&b, "the kernel does not run them itself (%v), and ", e.NativeErr)
	}
	switch e.Problem {
	case NotMounted:
		fmt.Fprintf(&b, "binfmt_misc is not mounted at %s", e.Dir)
	case Disabled:
		fmt.Fprintf(&b, "binfmt_misc is disabled (%s)", filepath.Join(e.Dir, "status"))
	case NotRegistered:
		fmt.Fprintf(&b, "no binfmt_misc handler %s is registered", e.Handler)
	case HandlerDisabled:
		fmt.Fprintf(&b, "the binfmt_misc handler %s is disabled", e.Handler)
	case InterpreterMissing:
		fmt.Fprintf(&b, "the interpreter %s of binfmt_misc handler %s does not exist", e.Interpreter, e.Handler)
	case NoKnownHandler:
		b.WriteString("builder knows no qemu handler for it")
	}
	return b.String()
}

// Fix says what to run or install.
func (e *MissingEmulatorError) Fix() string {
	switch e.Problem {
	case NotMounted:
		return fmt.Sprintf("mount it with 'mount -t binfmt_misc binfmt_misc %s' (with systemd: 'systemctl start proc-sys-fs-binfmt_misc.mount'), "+
			"then '%s' (when installed already, 'update-binfmts --enable' registers the handlers again); in a container, do this on the host", e.Dir, emulatorPackages)
	case Disabled:
		return fmt.Sprintf("enable it with 'echo 1 > %s'", filepath.Join(e.Dir, "status"))
	case NotRegistered:
		if e.NativeErr != nil {
			// Debian's package skips the host's own family.
			return fmt.Sprintf("Debian's qemu-user-static registers no %s on %s hosts: use a kernel and CPU that run %s code, or register %s by hand (update-binfmts --import)",
				e.Handler, e.Host, e.Arch.Distribution, e.Handler)
		}
		return "install it with '" + emulatorPackages + "'"
	case HandlerDisabled:
		return fmt.Sprintf("enable it with 'update-binfmts --enable %s' (or 'echo 1 > %s')", e.Handler, filepath.Join(e.Dir, e.Handler))
	case InterpreterMissing:
		return "reinstall it with 'apt-get install --reinstall qemu-user-static binfmt-support'"
	}
	return ""
}

// ProbeCompat runs a tiny static program for target (i386 or 32-bit ARM)
// that exits with status 42, from a memfd so that a noexec /tmp does not
// matter. It returns nil when the program ran: natively or, if one is
// registered, through a binfmt_misc handler, which is as good for a build.
func ProbeCompat(target image.Architecture) error {
	prog, err := compatProgram(target)
	if err != nil {
		return err
	}
	fd, err := unix.MemfdCreate("builder-arch-probe", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("creating the probe program: %w", err)
	}
	f := os.NewFile(uintptr(fd), "builder-arch-probe")
	defer f.Close()
	if _, err := f.Write(prog); err != nil {
		return fmt.Errorf("writing the probe program: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Through this process's fd table, which stays open while it runs.
	cmd := exec.CommandContext(ctx, fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd))
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 42:
		return nil
	case err == nil || errors.As(err, &exit):
		return fmt.Errorf("%s probe program exited with %v, not status 42", target.Distribution, err)
	case errors.Is(err, unix.ENOEXEC):
		return fmt.Errorf("%s programs: exec format error", target.Distribution)
	}
	return fmt.Errorf("running %s probe program: %w", target.Distribution, err)
}

// compatProgram returns a minimal ELF32 executable that calls exit(42).
func compatProgram(target image.Architecture) ([]byte, error) {
	switch target.Distribution {
	case "i386":
		return elf32(3, 0, []byte{ // EM_386
			0xbb, 42, 0, 0, 0, // mov ebx, 42
			0xb8, 1, 0, 0, 0, // mov eax, 1 (exit)
			0xcd, 0x80, // int 0x80
		}), nil
	case "armhf", "armel":
		// EABI version 5, no floating point: runs for both.
		return elf32(40, 0x05000000, []byte{ // EM_ARM
			0x2a, 0x00, 0xa0, 0xe3, // mov r0, #42
			0x01, 0x70, 0xa0, 0xe3, // mov r7, #1 (exit)
			0x00, 0x00, 0x00, 0xef, // svc #0
		}), nil
	}
	return nil, fmt.Errorf("no probe program for %s", target.Distribution)
}

// elf32 lays out a little-endian ELF32 executable: the 52-byte header,
// one 32-byte PT_LOAD program header mapping the whole file read+execute
// at 0x400000, then code, which is the entry point.
func elf32(machine uint16, flags uint32, code []byte) []byte {
	const base, headers = 0x400000, 52 + 32
	le := binary.LittleEndian
	b := make([]byte, headers, headers+len(code))
	copy(b, []byte{0x7f, 'E', 'L', 'F', 1 /* 32-bit */, 1 /* little-endian */, 1 /* version */})
	le.PutUint16(b[16:], 2) // ET_EXEC
	le.PutUint16(b[18:], machine)
	le.PutUint32(b[20:], 1)            // version
	le.PutUint32(b[24:], base+headers) // entry
	le.PutUint32(b[28:], 52)           // program headers' offset
	le.PutUint32(b[36:], flags)
	le.PutUint16(b[40:], 52) // header size
	le.PutUint16(b[42:], 32) // program header size
	le.PutUint16(b[44:], 1)  // program header count
	ph := b[52:]
	size := uint32(headers + len(code))
	le.PutUint32(ph[0:], 1) // PT_LOAD, from offset 0
	le.PutUint32(ph[8:], base)
	le.PutUint32(ph[12:], base)
	le.PutUint32(ph[16:], size)
	le.PutUint32(ph[20:], size)
	le.PutUint32(ph[24:], 5) // PF_R|PF_X
	le.PutUint32(ph[28:], 0x1000)
	return append(b, code...)
}
