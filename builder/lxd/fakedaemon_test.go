package lxd

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// request is what the fake daemon saw of one request.
type request struct {
	Method, Path, Project string
	Query                 map[string][]string
	Header                http.Header
	Body                  string
}

// fakeDaemon answers over a unix socket with the handler's answers and
// records the requests, so the tests see exactly what the client sends.
type fakeDaemon struct {
	mu       sync.Mutex
	requests []request
}

func (f *fakeDaemon) seen() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// paths returns "METHOD PATH" of every request.
func (f *fakeDaemon) paths() []string {
	var out []string
	for _, r := range f.seen() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func newFakeDaemon(t *testing.T, d Daemon, handler func(w http.ResponseWriter, r request)) (*Client, *fakeDaemon) {
	t.Helper()
	f := &fakeDaemon{}
	sock := filepath.Join(t.TempDir(), "unix.socket")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		body, _ := io.ReadAll(hr.Body)
		r := request{Method: hr.Method, Path: hr.URL.Path, Project: hr.URL.Query().Get("project"), Query: hr.URL.Query(), Header: hr.Header, Body: string(body)}
		f.mu.Lock()
		f.requests = append(f.requests, r)
		f.mu.Unlock()
		handler(w, r)
	}))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	c := NewUnixClient(Socket{Daemon: d, Path: sock})
	return c, f
}

func sync200(w http.ResponseWriter, metadata any) {
	data, _ := json.Marshal(metadata)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"type":"sync","status_code":200,"metadata":` + string(data) + `}`))
}

func async(w http.ResponseWriter, op string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"type":"async","status_code":100,"operation":"/1.0/operations/` + op + `"}`))
}

func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	data, _ := json.Marshal(map[string]any{"type": "error", "error_code": code, "error": msg})
	_, _ = w.Write(data)
}

func opDone(w http.ResponseWriter, metadata map[string]any) {
	sync200(w, map[string]any{"id": "op", "status": "Success", "status_code": 200, "metadata": metadata})
}

// CreateInstance sends an empty profile list for none (null would mean
// the default profile) and the image by fingerprint, in the project.
func TestCreateInstanceRequest(t *testing.T) {
	c, f := newFakeDaemon(t, LXD, func(w http.ResponseWriter, r request) {
		if r.Method == http.MethodPost {
			async(w, "1")
			return
		}
		opDone(w, nil)
	})
	c = c.WithProject("p1")
	spec := InstanceSpec{Name: "i1", Type: "container", Fingerprint: "abc", Devices: map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": "default"}}}
	if err := c.CreateInstance(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	reqs := f.seen()
	if len(reqs) != 2 || reqs[0].Path != "/1.0/instances" || reqs[1].Path != "/1.0/operations/1/wait" {
		t.Fatalf("requests %v", f.paths())
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(reqs[0].Body), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name": "i1", "type": "container", "ephemeral": false, "profiles": []any{}, "config": map[string]any{},
		"source":  map[string]any{"type": "image", "fingerprint": "abc"},
		"devices": map[string]any{"root": map[string]any{"type": "disk", "path": "/", "pool": "default"}},
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body %v, want %v", body, want)
	}
	for _, r := range reqs {
		if r.Project != "p1" {
			t.Errorf("%s %s: project %q, want p1", r.Method, r.Path, r.Project)
		}
	}
}

// A clean stop never sends timeout 0, which the daemons take as "kill".
func TestSetInstanceStateTimeout(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		force   bool
		want    string
	}{
		{0, false, `{"action":"stop","force":false,"timeout":-1}`},
		{1500 * time.Millisecond, false, `{"action":"stop","force":false,"timeout":2}`},
		{30 * time.Second, false, `{"action":"stop","force":false,"timeout":30}`},
		{0, true, `{"action":"stop","force":true,"timeout":-1}`},
	} {
		c, f := newFakeDaemon(t, LXD, func(w http.ResponseWriter, r request) { sync200(w, nil) })
		if err := c.SetInstanceState(context.Background(), "i1", "stop", tc.timeout, tc.force); err != nil {
			t.Fatal(err)
		}
		if got := f.seen()[0]; got.Method != http.MethodPut || got.Path != "/1.0/instances/i1/state" || got.Body != tc.want {
			t.Errorf("%v force=%v: %s %s %s, want %s", tc.timeout, tc.force, got.Method, got.Path, got.Body, tc.want)
		}
	}
}

// Lists give names, unescaped and without the query the daemon appends.
func TestList(t *testing.T) {
	c, _ := newFakeDaemon(t, Incus, func(w http.ResponseWriter, r request) {
		sync200(w, []string{"/1.0/instances/a%20b?project=p", "/1.0/instances/c"})
	})
	got, err := c.Instances(context.Background())
	if err != nil || !slices.Equal(got, []string{"a b", "c"}) {
		t.Errorf("Instances() = %q, %v", got, err)
	}
}

// Deleting what is gone is no error; other errors name method and path.
func TestDeleteMissing(t *testing.T) {
	c, _ := newFakeDaemon(t, LXD, func(w http.ResponseWriter, r request) {
		if strings.HasSuffix(r.Path, "/busy") {
			apiError(w, http.StatusBadRequest, "in use")
			return
		}
		apiError(w, http.StatusNotFound, "not found")
	})
	ctx := context.Background()
	for name, err := range map[string]error{
		"project": c.DeleteProject(ctx, "x"), "network": c.DeleteNetwork(ctx, "x"), "instance": c.DeleteInstance(ctx, "x"),
	} {
		if err != nil {
			t.Errorf("deleting a missing %s: %v", name, err)
		}
	}
	err := c.DeleteNetwork(ctx, "busy")
	if err == nil || !strings.Contains(err.Error(), "DELETE /1.0/networks/busy") || !strings.Contains(err.Error(), "in use") {
		t.Errorf("deleting a network in use: %v", err)
	}
}

// The console log is the raw body; a daemon without one for the instance
// answers 400, which is no error.
func TestConsoleLog(t *testing.T) {
	c, _ := newFakeDaemon(t, LXD, func(w http.ResponseWriter, r request) {
		switch {
		case strings.Contains(r.Path, "/vm/"):
			apiError(w, http.StatusBadRequest, "Querying the console buffer requires a container")
		case strings.Contains(r.Path, "/broken/"):
			apiError(w, http.StatusInternalServerError, "disk on fire")
		default:
			_, _ = w.Write([]byte("init started\n"))
		}
	})
	ctx := context.Background()
	if got, err := c.ConsoleLog(ctx, "c1"); err != nil || got != "init started\n" {
		t.Errorf("ConsoleLog(c1) = %q, %v", got, err)
	}
	if got, err := c.ConsoleLog(ctx, "vm"); err != nil || got != "" {
		t.Errorf("ConsoleLog(vm) = %q, %v; want no log and no error", got, err)
	}
	if _, err := c.ConsoleLog(ctx, "broken"); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("ConsoleLog(broken) = %v", err)
	}
}

// Exec sends a record-output request without websockets, reads both logs
// the operation names (in the project, without the daemon's query) and
// deletes them.
func TestExecRequests(t *testing.T) {
	c, f := newFakeDaemon(t, LXD, func(w http.ResponseWriter, r request) {
		switch {
		case r.Method == http.MethodPost:
			async(w, "e1")
		case strings.HasPrefix(r.Path, "/1.0/operations/"):
			opDone(w, map[string]any{"return": 3, "output": map[string]any{
				"1": "/1.0/instances/i1/logs/exec_e1.stdout?project=p1", "2": "/1.0/instances/i1/logs/exec_e1.stderr",
			}})
		case r.Method == http.MethodGet:
			_, _ = w.Write([]byte("out of " + filepath.Ext(r.Path)))
		default:
			sync200(w, nil)
		}
	})
	c = c.WithProject("p1")
	res, err := c.Exec(context.Background(), "i1", []string{"sh", "-c", "x"}, map[string]string{"A": "b"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (ExecResult{Stdout: "out of .stdout", Stderr: "out of .stderr", ExitStatus: 3}); res != want {
		t.Errorf("Exec() = %+v, want %+v", res, want)
	}
	reqs := f.seen()
	var body map[string]any
	if err := json.Unmarshal([]byte(reqs[0].Body), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"command": []any{"sh", "-c", "x"}, "environment": map[string]any{"A": "b"},
		"interactive": false, "wait-for-websocket": false, "record-output": true}
	if reqs[0].Path != "/1.0/instances/i1/exec" || !reflect.DeepEqual(body, want) {
		t.Errorf("exec request %s %v, want %v", reqs[0].Path, body, want)
	}
	var logs []string
	for _, r := range reqs[2:] {
		logs = append(logs, r.Method+" "+r.Path)
		if r.Project != "p1" || len(r.Query["project"]) != 1 {
			t.Errorf("%s %s: query %v, want project=p1 once", r.Method, r.Path, r.Query)
		}
	}
	slices.Sort(logs)
	wantLogs := []string{
		"DELETE /1.0/instances/i1/logs/exec_e1.stderr", "DELETE /1.0/instances/i1/logs/exec_e1.stdout",
		"GET /1.0/instances/i1/logs/exec_e1.stderr", "GET /1.0/instances/i1/logs/exec_e1.stdout",
	}
	if !slices.Equal(logs, wantLogs) {
		t.Errorf("log requests %v, want %v", logs, wantLogs)
	}
}

// A command that cannot start fails the operation, which then names no
// logs: Exec fails naming the command and deletes the logs where both
// daemons put them, by the operation's ID.
func TestExecFailedOperation(t *testing.T) {
	c, f := newFakeDaemon(t, Incus, func(w http.ResponseWriter, r request) {
		switch {
		case r.Method == http.MethodPost:
			async(w, "e2")
		case strings.HasPrefix(r.Path, "/1.0/operations/"):
			apiError(w, http.StatusBadRequest, "Command not found")
		default:
			apiError(w, http.StatusNotFound, "not found")
		}
	})
	_, err := c.Exec(context.Background(), "i1", []string{"/no/such"}, nil)
	if err == nil || !strings.Contains(err.Error(), "/no/such") || !strings.Contains(err.Error(), "Command not found") {
		t.Errorf("Exec() = %v, want an error naming the command and the daemon's message", err)
	}
	var deletes []string
	for _, p := range f.paths() {
		if strings.HasPrefix(p, "DELETE ") {
			deletes = append(deletes, p)
		}
	}
	want := []string{
		"DELETE /1.0/instances/i1/logs/exec_e2.stdout", "DELETE /1.0/instances/i1/logs/exec_e2.stderr",
		"DELETE /1.0/instances/i1/logs/exec-output/exec_e2.stdout", "DELETE /1.0/instances/i1/logs/exec-output/exec_e2.stderr",
	}
	if !slices.Equal(deletes, want) {
		t.Errorf("deletes %v, want %v", deletes, want)
	}
}

// PushFile sends root ownership and the mode in the daemon's headers, and
// creates the missing parents when the daemon says there are some.
func TestPushFileRequests(t *testing.T) {
	files := 0
	c, f := newFakeDaemon(t, Incus, func(w http.ResponseWriter, r request) {
		p := r.Query["path"][0]
		if r.Header.Get("X-Incus-type") == "file" {
			files++
		}
		switch {
		case r.Header.Get("X-Incus-type") == "directory" && p == "/run":
			apiError(w, http.StatusInternalServerError, "mkdir /run: file exists")
		case r.Header.Get("X-Incus-type") == "file" && files == 1:
			apiError(w, http.StatusNotFound, "open /run/bt/s: no such file or directory")
		default:
			sync200(w, nil)
		}
	})
	if err := c.PushFile(context.Background(), "i1", "/run/bt/s", []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range f.seen() {
		h := r.Header
		got = append(got, strings.Join([]string{r.Method, r.Path, r.Query["path"][0], h.Get("X-Incus-type"), h.Get("X-Incus-mode"),
			h.Get("X-Incus-uid"), h.Get("X-Incus-gid"), h.Get("X-Incus-write"), r.Body}, " "))
	}
	want := []string{
		"POST /1.0/instances/i1/files /run/bt/s file 0700 0 0 overwrite #!/bin/sh\n",
		"POST /1.0/instances/i1/files /run directory 0755 0 0  ",
		"POST /1.0/instances/i1/files /run/bt directory 0755 0 0  ",
		"POST /1.0/instances/i1/files /run/bt/s file 0700 0 0 overwrite #!/bin/sh\n",
	}
	if !slices.Equal(got, want) {
		t.Errorf("requests\n%q\nwant\n%q", got, want)
	}
}
