package lxd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// ExecResult is a finished command's output and exit status.
type ExecResult struct {
	Stdout, Stderr string
	ExitStatus     int
}

// Exec runs argv in the instance as root and returns its output once it
// exits. It uses the daemon's record-output mode, no websockets: the
// daemon writes stdout and stderr to log files, which Exec reads and then
// deletes. ctx bounds the wait; the command is not killed when ctx ends
// (the API cannot), so callers delete the instance instead.
func (c *Client) Exec(ctx context.Context, name string, argv []string, env map[string]string) (ExecResult, error) {
	if len(argv) == 0 {
		return ExecResult{}, fmt.Errorf("exec in %s: no command", name)
	}
	if env == nil {
		env = map[string]string{}
	}
	p := "/1.0/instances/" + url.PathEscape(name) + "/exec"
	body := map[string]any{
		"command":            argv,
		"environment":        env,
		"interactive":        false,
		"wait-for-websocket": false,
		"record-output":      true,
	}
	data, err := json.Marshal(body)
	if err != nil {
		return ExecResult{}, fmt.Errorf("POST %s: %w", p, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(p, nil), strings.NewReader(string(data)))
	if err != nil {
		return ExecResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	r, _, err := c.do(req)
	if err != nil {
		return ExecResult{}, err
	}
	if r.Type != "async" {
		return ExecResult{}, fmt.Errorf("POST %s: %s answered %q, not an operation", p, c.Where, r.Type)
	}
	op, waitErr := c.Wait(ctx, r.Operation)

	// The log files exist once the command started, also when the wait
	// failed; read and delete what the operation names, with a context
	// of its own so a cancelled ctx still cleans up.
	var res ExecResult
	var errs []error
	if waitErr != nil {
		errs = append(errs, fmt.Errorf("POST %s %q: %w", p, argv, waitErr))
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	logs, _ := op.Metadata["output"].(map[string]any)
	for fd, into := range map[string]*string{"1": &res.Stdout, "2": &res.Stderr} {
		logPath, _ := logs[fd].(string)
		logPath, _, _ = strings.Cut(logPath, "?")
		if logPath == "" {
			continue
		}
		out, err := c.raw(cctx, http.MethodGet, logPath, nil, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the output of %q in %s: %w", argv, name, err))
		}
		*into = string(out)
		if _, err := c.raw(cctx, http.MethodDelete, logPath, nil, nil, nil); err != nil && !IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting the output log of %q in %s: %w", argv, name, err))
		}
	}
	if logs == nil {
		// A failed or abandoned command's operation names no logs, but
		// the daemon made them under the operation's ID.
		c.deleteExecLogs(cctx, name, path.Base(r.Operation))
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	status, ok := opInt(op.Metadata["return"])
	if !ok {
		return res, fmt.Errorf("POST %s %q: %s gave no exit status", p, argv, c.Where)
	}
	res.ExitStatus = status
	return res, nil
}

// deleteExecLogs deletes the output logs of the exec operation id where
// the daemons put them: LXD 5.0 among the instance's logs, Incus in
// logs/exec-output. Best effort: the paths that do not apply answer an
// error, and a left-over log goes with the instance anyway.
func (c *Client) deleteExecLogs(ctx context.Context, name, id string) {
	base := "/1.0/instances/" + url.PathEscape(name) + "/logs/"
	for _, dir := range []string{base, base + "exec-output/"} {
		for _, ext := range []string{".stdout", ".stderr"} {
			_, _ = c.raw(ctx, http.MethodDelete, dir+"exec_"+id+ext, nil, nil, nil)
		}
	}
}
