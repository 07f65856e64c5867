package bootstrap

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/builder-images/builder/builder/image"
)

// busyboxBackend makes a minimal system from one static busybox binary:
// the binary, a link for each of its applets and the few files of /etc
// that init, login and the shell read. It is what the fast tests build.
type busyboxBackend struct{}

func (busyboxBackend) Name() string         { return "busybox" }
func (busyboxBackend) Attributes() []string { return []string{"binary"} }
func (busyboxBackend) Variants() []string   { return nil }

func (busyboxBackend) Tools() []Tool {
	return []Tool{{Name: DefaultBusybox, Package: "busybox-static", For: `bootstrap "busybox" without its own binary`,
		NeededBy: func(cfg *Config) bool { return cfg.Binary == DefaultBusybox }}}
}

// HostInputs is the installed binary.
func (busyboxBackend) HostInputs(cfg *Config) []string {
	if cfg.Binary == "" {
		return []string{DefaultBusybox}
	}
	return []string{cfg.Binary}
}

var busyboxDirs = []struct {
	path string
	mode os.FileMode
}{
	{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755},
	{"etc", 0o755}, {"etc/init.d", 0o755}, {"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555},
	{"run", 0o755}, {"tmp", os.ModeSticky | 0o777}, {"var/log", 0o755}, {"var/tmp", os.ModeSticky | 0o777},
	{"root", 0o700}, {"home", 0o755}, {"mnt", 0o755},
}

var busyboxFiles = []struct {
	path    string
	mode    os.FileMode
	content string
}{
	{"etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
	{"etc/group", 0o644, "root:x:0:\nnogroup:x:65534:\n"},
	{"etc/shadow", 0o600, "root:*:1::::::\nnobody:*:1::::::\n"},
	// busybox init: bring the system up, then wait; LXD stops the
	// container with SIGPWR or by killing it.
	{"etc/inittab", 0o644, "::sysinit:/etc/init.d/rcS\n::ctrlaltdel:/sbin/reboot\n::shutdown:/bin/umount -a -r\n"},
	{"etc/init.d/rcS", 0o755, "#!/bin/sh\n[ -s /etc/hostname ] && hostname -F /etc/hostname\nexit 0\n"},
	{"etc/hostname", 0o644, "localhost\n"},
	{"etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
}

func (busyboxBackend) Bootstrap(ctx context.Context, env Env, b *Config, dir string) error {
	for _, d := range busyboxDirs {
		p := filepath.Join(dir, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("creating /%s: %w", d.path, err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return fmt.Errorf("chmod /%s: %w", d.path, err)
		}
	}
	if err := installBusybox(b.Binary, filepath.Join(dir, "bin", "busybox"), env.Arch); err != nil {
		return err
	}
	applets, err := busyboxApplets(ctx, b.Binary)
	if err != nil {
		return err
	}
	for _, a := range applets {
		link := filepath.Join(dir, a)
		if a == "bin/busybox" {
			continue
		}
		if _, err := os.Lstat(link); err == nil {
			continue // a recipe's file or an earlier applet of the same name
		}
		if err := os.Symlink("/bin/busybox", link); err != nil {
			return fmt.Errorf("linking applet /%s: %w", a, err)
		}
	}
	for _, f := range busyboxFiles {
		if err := os.WriteFile(filepath.Join(dir, f.path), []byte(f.content), f.mode); err != nil {
			return fmt.Errorf("writing /%s: %w", f.path, err)
		}
		if err := os.Chmod(filepath.Join(dir, f.path), f.mode); err != nil {
			return fmt.Errorf("chmod /%s: %w", f.path, err)
		}
	}
	return nil
}

// installBusybox copies the binary, refusing one that is dynamically
// linked: it would not run in an image without the host's libraries.
func installBusybox(src, dst string, arch image.Architecture) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("busybox binary: %w (install Debian's busybox-static, or set binary)", err)
	}
	defer in.Close()
	bin, err := elf.NewFile(in)
	if err != nil {
		return fmt.Errorf("busybox binary %s is not an ELF executable: %w", src, err)
	}
	if want, known := elfMachines[arch.Distribution]; known && bin.Machine != want {
		return fmt.Errorf("busybox binary %s is built for %s, but the image is %s; set binary to a %s busybox", src, bin.Machine, arch.Distribution, arch.Distribution)
	}
	for _, p := range bin.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("busybox binary %s is dynamically linked; the image needs a static one (Debian's busybox-static)", src)
		}
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return fmt.Errorf("installing /bin/busybox: %w", err)
	}
	_, copyErr := io.Copy(out, in)
	if err := errors.Join(copyErr, out.Close()); err != nil {
		return fmt.Errorf("installing /bin/busybox: %w", err)
	}
	return nil
}

// elfMachines maps architectures to the ELF machine of their binaries.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM, "armel": elf.EM_ARM,
	"i386": elf.EM_386, "ppc64el": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV,
	"loong64": elf.EM_LOONGARCH,
}

// busyboxApplets asks the binary for its applets' install paths
// ("usr/bin/awk", …). A foreign binary runs through binfmt like any
// other command of the build.
func busyboxApplets(ctx context.Context, binary string) ([]string, error) {
	out, err := exec.CommandContext(ctx, binary, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the applets of %s: %w", binary, err)
	}
	var applets []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.Contains(line, "..") || strings.HasPrefix(line, "/") {
			continue
		}
		applets = append(applets, line)
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s --list-full listed no applets", binary)
	}
	return applets, nil
}
