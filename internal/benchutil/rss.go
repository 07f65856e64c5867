// Package benchutil holds what the benchmarks share: peak resident memory
// from the kernel's VmHWM, for this process and for child processes, and
// custom metrics averaged over iterations.
package benchutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WatchPeaks samples the VmHWM of running processes every 10 ms until the
// returned function is called after they have exited; that returns the
// sum of their peaks in MiB (they run at the same time).
//
// getrusage's ru_maxrss cannot be used for children: Go starts them with
// clone(CLONE_VM|CLONE_VFORK), and at exec the kernel folds the
// high-water mark of the mm being left, which is the parent's own, into
// the child's maxrss; every child would report at least its parent's peak.
func WatchPeaks(pids ...int) func() float64 {
	return watch(func() []int { return pids })
}

// WatchChildren is WatchPeaks for this process's children as they come
// and go, for a child that a function under test starts and whose pid the
// caller never sees (pack.WriteSquashfs's mksquashfs).
func WatchChildren() func() float64 { return watch(children) }

// watch samples the VmHWM of the processes pids lists every 10 ms until
// the returned function is called, and returns the sum of their peaks.
func watch(pids func() []int) func() float64 {
	peaks := map[int]float64{}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, pid := range pids() {
				if v, ok := read(fmt.Sprintf("/proc/%d/status", pid)); ok {
					peaks[pid] = max(peaks[pid], v)
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() float64 {
		close(stop)
		<-done
		var sum float64
		for _, p := range peaks {
			sum += p
		}
		return sum
	}
}

// children lists this process's children: each thread's
// /proc/self/task/TID/children (a child's parent is the thread that
// forked it).
func children() []int {
	files, _ := filepath.Glob("/proc/self/task/*/children")
	var pids []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // the thread is gone
		}
		for _, s := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(s); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// ResetPeakRSS resets this process's VmHWM to its current RSS.
func ResetPeakRSS() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting peak RSS: %w", err)
	}
	return nil
}

// PeakRSS reads this process's VmHWM in MiB.
func PeakRSS() (float64, error) {
	v, ok := read("/proc/self/status")
	if !ok {
		return 0, fmt.Errorf("no VmHWM in /proc/self/status")
	}
	return v, nil
}

// read reads VmHWM in MiB from a /proc status file.
func read(path string) (float64, bool) {
	status, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kib / 1024, err == nil
		}
	}
	return 0, false
}
