package lxd

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Exec returns stdout, stderr and the exit status apart, passes the
// environment, and leaves no output log behind on the daemon.
func TestExec(t *testing.T) {
	if testing.Short() {
		t.Skip("boots containers")
	}
	forDaemons(t, func(t *testing.T, c *Client) {
		ctx := context.Background()
		pc := throwawayProject(t, c)
		name := createInstance(t, pc, importBusybox(t, pc), nil)
		if err := pc.SetInstanceState(ctx, name, "start", 0, false); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			argv []string
			env  map[string]string
			want ExecResult
		}{
			{[]string{"echo", "builder-test-token"}, nil, ExecResult{Stdout: "builder-test-token\n"}},
			{[]string{"sh", "-c", "echo out; echo err >&2; exit 3"}, nil, ExecResult{Stdout: "out\n", Stderr: "err\n", ExitStatus: 3}},
			{[]string{"sh", "-c", "echo $GREETING"}, map[string]string{"GREETING": "hello there"}, ExecResult{Stdout: "hello there\n"}},
			{[]string{"sh", "-c", "true"}, nil, ExecResult{}},
		} {
			res, err := pc.Exec(ctx, name, tc.argv, tc.env)
			if err != nil {
				t.Errorf("%q: %v", tc.argv, err)
				continue
			}
			if res != tc.want {
				t.Errorf("%q: %+v, want %+v", tc.argv, res, tc.want)
			}
		}
		res, err := pc.Exec(ctx, name, []string{"/no/such/command"}, nil)
		if err == nil || !strings.Contains(err.Error(), "/no/such/command") {
			t.Errorf("a missing command: %+v, %v; want an error naming it", res, err)
		}

		// A bounded wait ends with the context; the log files still go.
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := pc.Exec(short, name, []string{"sleep", "3"}, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("exec past its deadline: %v, want DeadlineExceeded", err)
		}
		time.Sleep(3 * time.Second)
		if logs := execLogs(t, pc, name); len(logs) > 0 {
			t.Errorf("exec output logs left behind: %v", logs)
		}
	})
}

// execLogs lists the instance's exec output logs: LXD 5.0 keeps them among
// the instance's logs, Incus under logs/exec-output.
func execLogs(t *testing.T, pc *Client, name string) []string {
	t.Helper()
	var found []string
	for _, p := range []string{"/1.0/instances/" + name + "/logs", "/1.0/instances/" + name + "/logs/exec-output"} {
		files, err := pc.list(context.Background(), p)
		if err != nil {
			var apiErr *APIError
			if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusNotFound || apiErr.StatusCode == http.StatusBadRequest) {
				continue
			}
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasPrefix(f, "exec_") || strings.HasSuffix(f, ".stdout") || strings.HasSuffix(f, ".stderr") {
				found = append(found, f)
			}
		}
	}
	return found
}
