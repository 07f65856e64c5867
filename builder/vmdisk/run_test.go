package vmdisk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestToolDiesWithBuilder: a builder killed with SIGKILL while a tool
// runs (mke2fs, qemu-img on a disk of gigabytes) takes the tool with
// it. The builder here is this test binary run again, its tool a sleep.
func TestToolDiesWithBuilder(t *testing.T) {
	if pidFile := os.Getenv("VMDISK_TEST_TOOL_PID"); pidFile != "" {
		b := &builder{tmp: filepath.Dir(pidFile)}
		b.run(context.Background(), nil, "sh", "-c", "echo $$ > "+pidFile+".tmp && mv "+pidFile+".tmp "+pidFile+" && exec sleep 300")
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("waits for a process to die")
	}
	pidFile := filepath.Join(t.TempDir(), "tool.pid")
	parent := exec.Command(os.Args[0], "-test.run=^TestToolDiesWithBuilder$")
	parent.Env = append(os.Environ(), "VMDISK_TEST_TOOL_PID="+pidFile)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parent.Process.Kill(); parent.Wait() })
	var tool int
	for deadline := time.Now().Add(30 * time.Second); tool == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the tool did not start")
		}
		if data, err := os.ReadFile(pidFile); err == nil {
			if tool, err = strconv.Atoi(strings.TrimSpace(string(data))); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() { syscall.Kill(tool, syscall.SIGKILL) })
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	for deadline := time.Now().Add(5 * time.Second); alive(tool); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the tool (pid %d) outlived the builder that started it", tool)
		}
	}
}

// alive says whether pid runs: a zombie, waiting for whoever inherited
// it to reap it, does not.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
