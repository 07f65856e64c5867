package lxd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// InstanceSpec is what CreateInstance creates: an instance of an image
// already in the client's project.
type InstanceSpec struct {
	Name string
	// Type is "container" or "virtual-machine".
	Type        string
	Fingerprint string
	Config      map[string]string
	Devices     map[string]map[string]string
	// Profiles nil means none: the instance gets no profile, not the
	// default one, so nothing of the daemon's setup leaks into it.
	Profiles  []string
	Ephemeral bool
}

// CreateInstance creates the instance, stopped, and waits until the
// daemon has unpacked the image for it.
func (c *Client) CreateInstance(ctx context.Context, spec InstanceSpec) error {
	profiles := spec.Profiles
	if profiles == nil {
		// null would mean the default profile; [] means none.
		profiles = []string{}
	}
	config, devices := spec.Config, spec.Devices
	if config == nil {
		config = map[string]string{}
	}
	if devices == nil {
		devices = map[string]map[string]string{}
	}
	body := map[string]any{
		"name":      spec.Name,
		"type":      spec.Type,
		"source":    map[string]string{"type": "image", "fingerprint": spec.Fingerprint},
		"config":    config,
		"devices":   devices,
		"profiles":  profiles,
		"ephemeral": spec.Ephemeral,
	}
	return c.call(ctx, http.MethodPost, "/1.0/instances", body)
}

// SetInstanceState starts, stops or restarts the instance and waits for
// it. For stop and restart, timeout bounds a clean shutdown (the daemon
// fails the operation when the instance is still running after it) and
// force kills instead; a timeout of 0 without force waits as long as ctx
// allows. Seconds are rounded up: the API counts whole seconds.
func (c *Client) SetInstanceState(ctx context.Context, name, action string, timeout time.Duration, force bool) error {
	secs := -1
	if timeout > 0 {
		// The daemons take 0 as "no clean shutdown", so never send it
		// for a positive timeout.
		secs = int(math.Ceil(timeout.Seconds()))
	}
	body := map[string]any{"action": action, "timeout": secs, "force": force}
	return c.call(ctx, http.MethodPut, "/1.0/instances/"+url.PathEscape(name)+"/state", body)
}

// InstanceState is what the daemon says about a running instance.
type InstanceState struct {
	// Status is "Running", "Stopped", …; StatusCode its number (103
	// running, 102 stopped).
	Status     string
	StatusCode int
	// Pid is the init process's PID on the host; 0 when stopped.
	Pid int64
	// Addresses are by interface name, as the instance reports them.
	Addresses map[string][]Address
}

// Address is one address of an instance's interface.
type Address struct {
	// Family is "inet" or "inet6"; Scope "global", "link" or "local".
	Family, Address, Scope string
}

// InstanceState returns the instance's state; IsNotFound tells a missing
// instance.
func (c *Client) InstanceState(ctx context.Context, name string) (InstanceState, error) {
	var raw struct {
		Status     string `json:"status"`
		StatusCode int    `json:"status_code"`
		Pid        int64  `json:"pid"`
		Network    map[string]struct {
			Addresses []struct {
				Family  string `json:"family"`
				Address string `json:"address"`
				Scope   string `json:"scope"`
			} `json:"addresses"`
		} `json:"network"`
	}
	if err := c.get(ctx, "/1.0/instances/"+url.PathEscape(name)+"/state", &raw); err != nil {
		return InstanceState{}, err
	}
	st := InstanceState{Status: raw.Status, StatusCode: raw.StatusCode, Pid: raw.Pid, Addresses: map[string][]Address{}}
	for iface, n := range raw.Network {
		for _, a := range n.Addresses {
			st.Addresses[iface] = append(st.Addresses[iface], Address{Family: a.Family, Address: a.Address, Scope: a.Scope})
		}
	}
	return st, nil
}

// DeleteInstance deletes the instance, killing it first if it runs (the
// daemon refuses to delete a running one). A missing instance is not an
// error, so cleanup can repeat it.
func (c *Client) DeleteInstance(ctx context.Context, name string) error {
	st, err := c.InstanceState(ctx, name)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Status != "Stopped" {
		if err := c.SetInstanceState(ctx, name, "stop", 0, true); err != nil && !IsNotFound(err) {
			return fmt.Errorf("stopping %s to delete it: %w", name, err)
		}
	}
	return ignoreNotFound(c.call(ctx, http.MethodDelete, "/1.0/instances/"+url.PathEscape(name), nil))
}

// Instances returns the names of the instances in the client's project.
func (c *Client) Instances(ctx context.Context) ([]string, error) {
	return c.list(ctx, "/1.0/instances")
}

// ConsoleLog returns what the instance wrote to its console. It returns
// "" and no error when the daemon keeps no log for this instance (the
// daemons answer 400 for instance types or versions without one), since
// callers use it for diagnostics.
func (c *Client) ConsoleLog(ctx context.Context, name string) (string, error) {
	data, err := c.raw(ctx, http.MethodGet, "/1.0/instances/"+url.PathEscape(name)+"/console", nil, nil, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusBadRequest || apiErr.StatusCode == http.StatusNotImplemented) {
		return "", nil
	}
	return string(data), err
}

// PushFile writes content to path in the instance, owned by root with
// mode, replacing what is there. Missing parent directories are created,
// owned by root with mode 0755.
func (c *Client) PushFile(ctx context.Context, name, file string, content []byte, mode os.FileMode) error {
	if !path.IsAbs(file) {
		return fmt.Errorf("pushing %s into %s: the path must be absolute", file, name)
	}
	err := c.pushFile(ctx, name, file, "file", content, mode)
	if err == nil || !isMissing(err) {
		return err
	}
	// Create the parents from the top, ignoring those that exist, then
	// try again.
	parts := strings.Split(strings.Trim(path.Dir(file), "/"), "/")
	dir := ""
	for _, p := range parts {
		dir += "/" + p
		if err := c.pushFile(ctx, name, dir, "directory", nil, 0o755); err != nil && !isExisting(err) {
			return err
		}
	}
	return c.pushFile(ctx, name, file, "file", content, mode)
}

// pushFile is one POST of the files API.
func (c *Client) pushFile(ctx context.Context, name, file, kind string, content []byte, mode os.FileMode) error {
	headers := http.Header{}
	headers.Set(c.header("uid"), "0")
	headers.Set(c.header("gid"), "0")
	headers.Set(c.header("mode"), fmt.Sprintf("%04o", mode.Perm()))
	headers.Set(c.header("type"), kind)
	if kind == "file" {
		headers.Set(c.header("write"), "overwrite")
	}
	headers.Set("Content-Type", "application/octet-stream")
	_, err := c.raw(ctx, http.MethodPost, "/1.0/instances/"+url.PathEscape(name)+"/files", url.Values{"path": {file}}, headers, content)
	if err != nil {
		return fmt.Errorf("pushing %s %s into %s: %w", kind, file, name, err)
	}
	return nil
}

// isMissing and isExisting read the files API's errors, which carry the
// guest's errno text rather than a distinct status.
func isMissing(err error) bool {
	return IsNotFound(err) || strings.Contains(strings.ToLower(err.Error()), "no such file")
}

func isExisting(err error) bool {
	return strings.Contains(strings.ToLower(err.Error()), "exists")
}

// raw sends a request whose answer is not the JSON envelope when it
// succeeds (files, console and exec logs) and returns the body; an error
// status becomes an *APIError.
func (c *Client) raw(ctx context.Context, method, p string, query url.Values, headers http.Header, body []byte) ([]byte, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(p, query), reader)
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(req, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer of %s: %w", method, p, c.Where, err)
	}
	if resp.StatusCode < 400 {
		return data, nil
	}
	apiErr := &APIError{Method: method, Path: p, StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(data))}
	var r response
	if json.Unmarshal(data, &r) == nil && r.Error != "" {
		apiErr.Message = r.Error
		if r.ErrorCode != 0 {
			apiErr.StatusCode = r.ErrorCode
		}
	}
	if apiErr.Message == "" {
		apiErr.Message = http.StatusText(resp.StatusCode)
	}
	return nil, apiErr
}

// opInt reads a number of an operation's metadata, which JSON decoding
// into map[string]any makes a float64.
func opInt(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		return int(n), true
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}
