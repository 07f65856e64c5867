package vmrun

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FirmwareDir is where Debian's ovmf package installs the firmware.
const FirmwareDir = "/usr/share/OVMF"

// Firmware is one OVMF build: the code, mapped read-only, and the
// variable store it starts from, which each boot gets a copy of, as the
// firmware writes to it (boot entries, and with secure boot its state).
//
// This duplicates internal/qemutest's Firmware: that package is
// test-only (it imports testing), and production code may not use it.
type Firmware struct {
	Code, Vars string
	// SecureBoot firmware needs SMM on the machine and a pflash that
	// only SMM may write, or it refuses to start.
	SecureBoot bool
}

// OVMF returns Debian's 4 MiB OVMF builds in dir: plain, or, with
// secureBoot, the SMM build with Microsoft's keys enrolled and secure
// boot on, as a UEFI machine with a stock key database.
func OVMF(dir string, secureBoot bool) Firmware {
	if secureBoot {
		return Firmware{
			Code:       filepath.Join(dir, "OVMF_CODE_4M.ms.fd"),
			Vars:       filepath.Join(dir, "OVMF_VARS_4M.ms.fd"),
			SecureBoot: true,
		}
	}
	return Firmware{Code: filepath.Join(dir, "OVMF_CODE_4M.fd"), Vars: filepath.Join(dir, "OVMF_VARS_4M.fd")}
}

// Check reports the first firmware file that cannot be read.
func (f Firmware) Check() error {
	for _, p := range []string{f.Code, f.Vars} {
		file, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("OVMF firmware (Debian package ovmf): %w", err)
		}
		file.Close()
	}
	return nil
}

// copyVars copies the variable store template to dir and returns the
// copy's path.
func (f Firmware) copyVars(dir string) (string, error) {
	src, err := os.Open(f.Vars)
	if err != nil {
		return "", fmt.Errorf("OVMF variable store: %w", err)
	}
	defer src.Close()
	path := filepath.Join(dir, "OVMF_VARS.fd")
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("OVMF variable store: %w", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", fmt.Errorf("copying the OVMF variable store %s: %w", f.Vars, err)
	}
	if err := dst.Close(); err != nil {
		return "", fmt.Errorf("copying the OVMF variable store %s: %w", f.Vars, err)
	}
	return path, nil
}

// args are qemu's machine and firmware arguments for f, with vars the
// boot's own copy of the variable store.
func (f Firmware) args(vars string) []string {
	machine := "q35"
	var extra []string
	if f.SecureBoot {
		machine = "q35,smm=on"
		extra = []string{
			// Only code running in SMM may write the variable store,
			// which is what keeps the OS from turning secure boot off.
			"-global", "driver=cfi.pflash01,property=secure,value=on",
			// The SMM firmware does not support S3 resume.
			"-global", "ICH9-LPC.disable_s3=1",
		}
	}
	return append([]string{
		"-machine", machine,
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + qemuValue(f.Code),
		"-drive", "if=pflash,format=raw,unit=1,file=" + qemuValue(vars),
	}, extra...)
}
