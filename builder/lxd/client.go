package lxd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Client talks to one daemon's REST API, over its unix socket or HTTPS.
// It holds no state beyond the connection settings, so one Client may be
// used from several goroutines.
type Client struct {
	http *http.Client
	// base is "http://unix.socket" or "https://host:port".
	base string
	// Project is sent as ?project= on every request; empty means the
	// daemon's default project.
	Project string
	// Daemon is which API dialect the server speaks: it picks the
	// X-LXD- or X-Incus- request headers. Connect sets it from the
	// server's own answer.
	Daemon Daemon
	// Where names the daemon in errors: the socket path or the URL.
	Where string
}

// NewUnixClient returns a client for the daemon listening on socket.
func NewUnixClient(socket Socket) *Client {
	dialer := &net.Dialer{Timeout: DefaultDialTimeout}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket.Path)
		},
		DisableCompression: true,
	}
	return &Client{
		http:    &http.Client{Transport: transport},
		base:    "http://unix.socket",
		Project: socket.Project,
		Daemon:  socket.Daemon,
		Where:   socket.Path,
	}
}

// Server is what GET /1.0 says about the daemon.
type Server struct {
	Daemon        Daemon
	Version       string
	Auth          string
	APIExtensions []string
	Architectures []string
}

// HasExtension reports whether the daemon announces the API extension.
func (s Server) HasExtension(name string) bool {
	for _, e := range s.APIExtensions {
		if e == name {
			return true
		}
	}
	return false
}

// Connect asks the daemon who it is and sets c.Daemon from the answer. It
// fails when the daemon does not trust this client, since nothing else
// builder asks of it would work.
func (c *Client) Connect(ctx context.Context) (Server, error) {
	var raw struct {
		Auth          string   `json:"auth"`
		APIExtensions []string `json:"api_extensions"`
		Environment   struct {
			Server        string   `json:"server"`
			ServerVersion string   `json:"server_version"`
			Architectures []string `json:"architectures"`
		} `json:"environment"`
	}
	if err := c.get(ctx, "/1.0", &raw); err != nil {
		return Server{}, err
	}
	s := Server{
		Daemon:        c.Daemon,
		Version:       raw.Environment.ServerVersion,
		Auth:          raw.Auth,
		APIExtensions: raw.APIExtensions,
		Architectures: raw.Environment.Architectures,
	}
	switch raw.Environment.Server {
	case "incus":
		s.Daemon = Incus
	case "lxd":
		s.Daemon = LXD
	}
	c.Daemon = s.Daemon
	if s.Auth != "trusted" {
		return s, fmt.Errorf("%s does not trust this client (auth %q): add its certificate with 'lxc config trust add' on the server, or use a socket you may write to", c.Where, s.Auth)
	}
	return s, nil
}

// APIError is an error response of the daemon.
type APIError struct {
	Method, Path string
	StatusCode   int
	Message      string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: %s (HTTP %d)", e.Method, e.Path, e.Message, e.StatusCode)
}

// IsNotFound reports whether err is the daemon's 404.
func IsNotFound(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound
}

// response is the envelope of every answer.
type response struct {
	Type       string          `json:"type"`
	StatusCode int             `json:"status_code"`
	Operation  string          `json:"operation"`
	ErrorCode  int             `json:"error_code"`
	Error      string          `json:"error"`
	Metadata   json.RawMessage `json:"metadata"`
}

// header returns the daemon's spelling of a builder request header such
// as "fingerprint": X-LXD-fingerprint or X-Incus-fingerprint.
func (c *Client) header(name string) string {
	if c.Daemon == Incus {
		return "X-Incus-" + name
	}
	return "X-LXD-" + name
}

func (c *Client) url(path string, query url.Values) string {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	if c.Project != "" {
		q.Set("project", c.Project)
	}
	if len(q) == 0 {
		return c.base + path
	}
	return c.base + path + "?" + q.Encode()
}

// do sends a request and decodes the envelope; an error envelope or an
// HTTP error status becomes an *APIError.
func (c *Client) do(req *http.Request) (response, *http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, nil, c.transportError(req, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return response{}, resp, fmt.Errorf("%s %s: reading the answer of %s: %w", req.Method, req.URL.Path, c.Where, err)
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		if resp.StatusCode >= 400 {
			return r, resp, &APIError{Method: req.Method, Path: req.URL.Path, StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(body))}
		}
		return r, resp, fmt.Errorf("%s %s: %s answered something that is not the LXD API: %w", req.Method, req.URL.Path, c.Where, err)
	}
	if r.Type == "error" || resp.StatusCode >= 400 {
		code := r.ErrorCode
		if code == 0 {
			code = resp.StatusCode
		}
		msg := r.Error
		if msg == "" {
			msg = http.StatusText(code)
		}
		return r, resp, &APIError{Method: req.Method, Path: req.URL.Path, StatusCode: code, Message: msg}
	}
	return r, resp, nil
}

// transportError explains the usual reasons a daemon cannot be reached.
func (c *Client) transportError(req *http.Request, err error) error {
	if ctxErr := req.Context().Err(); ctxErr != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ctxErr)
	}
	// The hints are about the socket, so only for a failed dial: an
	// upload's file that cannot be opened fails the request with its own
	// ENOENT or EACCES, which the error names.
	var opErr *net.OpError
	dial := errors.As(err, &opErr) && opErr.Op == "dial"
	hint := ""
	switch {
	case !dial:
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		hint = ": permission denied; run as root or as a member of the daemon's group (lxd or incus-admin)"
	case errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT):
		hint = ": no daemon is listening; start it (systemctl start lxd, or incus) or point LXD_SOCKET / INCUS_SOCKET at its socket"
	}
	return fmt.Errorf("%s %s on %s%s: %w", req.Method, req.URL.Path, c.Where, hint, err)
}

func (c *Client) get(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path, nil), nil)
	if err != nil {
		return err
	}
	r, _, err := c.do(req)
	if err != nil {
		return err
	}
	if into == nil {
		return nil
	}
	if err := json.Unmarshal(r.Metadata, into); err != nil {
		return fmt.Errorf("GET %s: decoding the answer of %s: %w", path, c.Where, err)
	}
	return nil
}

// send issues a request with a JSON body and, for an asynchronous answer,
// waits for the operation.
func (c *Client) send(ctx context.Context, method, path string, body any) error {
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, nil), reader)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	r, _, err := c.do(req)
	if err != nil {
		return err
	}
	if r.Type == "async" {
		_, err = c.Wait(ctx, r.Operation)
	}
	return err
}

// Operation is a finished background operation.
type Operation struct {
	ID         string         `json:"id"`
	Status     string         `json:"status"`
	StatusCode int            `json:"status_code"`
	Err        string         `json:"err"`
	Metadata   map[string]any `json:"metadata"`
}

// Wait waits for the operation at path (/1.0/operations/ID) to finish. A
// failed operation is returned with an error carrying its message.
func (c *Client) Wait(ctx context.Context, path string) (Operation, error) {
	if !strings.HasPrefix(path, "/1.0/operations/") {
		return Operation{}, fmt.Errorf("%s answered an operation %q that is not under /1.0/operations/", c.Where, path)
	}
	for {
		// Short server-side waits so cancellation is noticed even when
		// the daemon ignores a closed connection.
		var op Operation
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path+"/wait", url.Values{"timeout": {"10"}}), nil)
		if err != nil {
			return op, err
		}
		r, _, err := c.do(req)
		if isWaitTimeout(err) && ctx.Err() == nil {
			// Incus answers a server-side wait that ran out with an
			// error, where LXD returns the running operation: wait on.
			continue
		}
		if err != nil {
			return op, err
		}
		if err := json.Unmarshal(r.Metadata, &op); err != nil {
			return op, fmt.Errorf("waiting for %s: %w", path, err)
		}
		switch {
		case op.StatusCode == 200:
			return op, nil
		case op.StatusCode >= 400:
			msg := op.Err
			if msg == "" {
				msg = op.Status
			}
			return op, &OperationError{Path: path, Message: msg}
		}
		select {
		case <-ctx.Done():
			return op, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// isWaitTimeout reports whether err is Incus's answer to an operation
// wait whose ?timeout= ran out before the operation ended.
func isWaitTimeout(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusInternalServerError &&
		strings.Contains(apiErr.Message, context.DeadlineExceeded.Error())
}

// OperationError is a background operation that failed.
type OperationError struct {
	Path    string
	Message string
}

func (e *OperationError) Error() string { return e.Message }
