package vmagent

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Names is the names builder answers to as the agent: the VM images
// run the agent of whichever daemon's port they see, under its name.
var Names = []string{"lxd-agent", "incus-agent"}

// IsAgent says whether a program named argv0 is to run as the agent.
func IsAgent(argv0 string) bool {
	base := filepath.Base(argv0)
	for _, n := range Names {
		if base == n {
			return true
		}
	}
	return false
}

// Main runs the agent in the guest and returns the exit status: it
// returns only when it cannot start. Its configuration is in the
// working directory (the unit's /run/lxd_agent).
func Main() int {
	log := newKmsg()
	cfg, err := ReadConfig(".")
	if err != nil {
		log.say("cannot start: %v", err)
		return 1
	}
	for _, f := range cfg.Files {
		if _, err := os.Lstat(f.Path); err == nil && f.CreateOnly {
			continue
		}
		if err := writeFile(f.Path, f.Content, fs.FileMode(f.Mode), f.UID, f.GID); err != nil {
			log.say("writing %s: %v", f.Path, err)
			return 1
		}
		if f.Path == "/etc/hostname" {
			if err := sethostname(f.Content); err != nil {
				log.say("setting the host name: %v", err)
			}
		}
	}
	if err := notifyReady(); err != nil {
		log.say("telling systemd it is ready: %v", err)
	}
	port := cfg.Port
	if port == "" {
		port = PortPath
	}
	log.say("builder's agent wrote %d files, serving on %s", len(cfg.Files), port)
	g := &guest{poweroff: poweroff}
	for {
		serveOnce(port, g, log)
		// Without the host connected, the port reads as ended at once:
		// look again shortly.
		time.Sleep(250 * time.Millisecond)
	}
}

// serveOnce serves the host on port until the host disconnects.
func serveOnce(port string, g *guest, log *kmsg) {
	f, err := os.OpenFile(port, os.O_RDWR, 0)
	if err != nil {
		log.once("opening "+port, err)
		return
	}
	defer f.Close()
	// Hello first: the host learns that an agent (again) listens.
	if err := json.NewEncoder(f).Encode(Response{Hello: true}); err != nil {
		log.once("greeting the host", err)
	}
	_ = Serve(context.Background(), f, f, g)
}

func poweroff() error {
	if err := exec.Command("systemctl", "poweroff", "--no-block").Run(); err == nil {
		return nil
	}
	return exec.Command("poweroff").Run()
}

// notifyReady sends READY=1 to systemd's notification socket: the unit
// is Type=notify, and the units ordered after it (cloud-init's) start
// once the files are written. Outside systemd there is none to tell.
func notifyReady() error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("READY=1")); err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	return nil
}

// kmsg writes to the kernel log, which reaches the serial console the
// host captures: the agent's one way to explain itself before the host
// can talk to it. Its messages go to stderr too (the journal).
type kmsg struct {
	f    *os.File
	seen map[string]bool
}

func newKmsg() *kmsg {
	f, _ := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0) // nil: stderr only
	return &kmsg{f: f, seen: map[string]bool{}}
}

func (k *kmsg) say(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, msg)
	if k.f != nil {
		// One write is one record; level 5 reaches the console.
		fmt.Fprintf(k.f, "<5>lxd-agent: %s\n", msg)
	}
}

// once says what went wrong the first time it does, not on every retry.
func (k *kmsg) once(what string, err error) {
	if !k.seen[what] {
		k.seen[what] = true
		k.say("%s: %v", what, err)
	}
}
