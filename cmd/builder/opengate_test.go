package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/testenv"
)

// openGate holds every open(2) of a file or directory on one filesystem
// until it has been shown to a callback: a process that opens a file
// waits in the kernel (fanotify's permission events) while the callback
// runs, so a test can kill it at an exact point of its work, with no
// hook in the program and no race with its timing.
type openGate struct {
	f    *os.File
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// gateEvent is one open: the process that makes it and the path opened
// (as /proc/self/fd shows it, so a file opened through a mount of another
// namespace may read differently from its path here).
type gateEvent struct {
	Pid  int
	Path string
}

// newOpenGate starts holding the opens on the filesystem that holds dir
// (a tmpfs of the test's own, so no other process waits on it) and
// calls see with each, in order, before letting it proceed; when see
// returns a channel, that open waits until the channel is closed (or
// the gate is).
func newOpenGate(t *testing.T, dir string, see func(gateEvent) <-chan struct{}) *openGate {
	t.Helper()
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	testenv.Need(t, err == nil, fmt.Sprintf("needs fanotify permission events (CONFIG_FANOTIFY_ACCESS_PERMISSIONS): %v", err))
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_OPEN_PERM|unix.FAN_ONDIR, unix.AT_FDCWD, dir); err != nil {
		unix.Close(fd)
		t.Fatalf("fanotify mark on %s: %v", dir, err)
	}
	g := &openGate{f: os.NewFile(uintptr(fd), "fanotify"), done: make(chan struct{})}
	go g.loop(see)
	t.Cleanup(func() { g.close() })
	return g
}

// loop answers every event, after see, until the gate is closed.
func (g *openGate) loop(see func(gateEvent) <-chan struct{}) {
	defer close(g.done)
	buf := make([]byte, 64*1024)
	metaLen := int(unsafe.Sizeof(unix.FanotifyEventMetadata{}))
	for {
		n, err := g.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				g.setErr(fmt.Errorf("reading fanotify events: %w", err))
			}
			return
		}
		for off := 0; off+metaLen <= n; {
			m := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&buf[off]))
			if m.Event_len < uint32(metaLen) {
				g.setErr(fmt.Errorf("fanotify event of %d bytes", m.Event_len))
				return
			}
			off += int(m.Event_len)
			if m.Fd < 0 {
				continue
			}
			path, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(m.Fd)))
			fd := int(m.Fd)
			if wait := see(gateEvent{Pid: int(m.Pid), Path: path}); wait != nil {
				// Held: the opens after it go on being seen.
				go func() {
					<-wait
					g.allow(fd)
				}()
				continue
			}
			g.allow(fd)
		}
	}
}

// allow lets the open of event fd proceed.
func (g *openGate) allow(fd int) {
	var resp [8]byte
	binary.NativeEndian.PutUint32(resp[0:], uint32(fd))
	binary.NativeEndian.PutUint32(resp[4:], unix.FAN_ALLOW)
	g.mu.Lock()
	if g.f != nil {
		if _, err := unix.Write(int(g.f.Fd()), resp[:]); err != nil && g.err == nil {
			g.err = fmt.Errorf("answering fanotify: %w", err)
		}
	}
	g.mu.Unlock()
	unix.Close(fd)
}

func (g *openGate) setErr(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = err
	}
}

// close stops holding opens (the kernel lets the pending ones through)
// and returns the first error the gate met.
func (g *openGate) close() error {
	g.mu.Lock()
	f := g.f
	g.f = nil
	g.mu.Unlock()
	if f == nil {
		return nil
	}
	f.Close()
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// mountTmpfs mounts a tmpfs of the test's own on a new directory: a
// filesystem an openGate can watch without holding anyone else's opens.
func mountTmpfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=512m,mode=0755"); err != nil {
		t.Fatalf("mounting a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}
