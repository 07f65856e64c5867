// Command vmagent stands in for lxd-agent in the VM boot test
// (vm_e2e_test.go). The image's lxd-agent.service runs it as the agent,
// once its setup script has copied it from the "config" share to
// /run/lxd_agent. It reports on the kernel log, which the test reads on
// the serial console: where it runs and what the setup copied there,
// then, when systemd has finished booting, the system's state and any
// failed units. Then it stays, as an agent does.
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	kmsg, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		os.Exit(1)
	}
	// One write is one kernel log record; level 5 reaches the console.
	say := func(format string, args ...any) {
		fmt.Fprintf(kmsg, "<5>builder-test-agent: "+format+"\n", args...)
	}
	cwd, _ := os.Getwd()
	var names []string
	entries, _ := os.ReadDir(".")
	for _, e := range entries {
		names = append(names, e.Name())
	}
	cert, _ := os.ReadFile("agent.crt")
	say("running in %s holding %s; agent.crt says %q", cwd, strings.Join(names, ","), strings.TrimSpace(string(cert)))
	if err := notifyReady(); err != nil {
		say("telling systemd it is ready: %v", err)
	}
	// Should the boot hang, say every minute what systemd still waits
	// for: the test shows the console's end when its deadline passes.
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Minute):
			}
			jobs, _ := exec.Command("systemctl", "list-jobs", "--no-legend", "--plain").Output()
			list := strings.Join(strings.Fields(string(jobs)), " ")
			if len(list) > 800 { // a kernel log record holds about 1 KiB
				list = list[:800] + "…"
			}
			say("still booting; jobs: %s", list)
		}
	}()
	out, _ := exec.Command("systemctl", "is-system-running", "--wait").Output()
	close(done)
	say("system %s", strings.TrimSpace(string(out)))
	failed, _ := exec.Command("systemctl", "--failed", "--no-legend", "--plain").Output()
	for _, line := range strings.Split(strings.TrimSpace(string(failed)), "\n") {
		if line != "" {
			say("failed unit: %s", line)
		}
	}
	select {}
}

// notifyReady sends READY=1 to systemd: the unit is Type=notify.
func notifyReady() error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return fmt.Errorf("NOTIFY_SOCKET is not set")
	}
	if strings.HasPrefix(addr, "@") {
		addr = "\x00" + addr[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte("READY=1"))
	return err
}
