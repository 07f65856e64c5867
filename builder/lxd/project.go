package lxd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CreateProject creates a project. Config holds its settings, such as
// features.images and features.profiles, which decide whether the
// project gets its own images and profiles or shares the default
// project's.
func (c *Client) CreateProject(ctx context.Context, name, description string, config map[string]string) error {
	if config == nil {
		config = map[string]string{}
	}
	body := map[string]any{"name": name, "description": description, "config": config}
	return c.call(ctx, http.MethodPost, "/1.0/projects", body)
}

// DeleteProject deletes a project. The daemon refuses while the project
// still holds instances, images or profiles other than its default
// profile. A missing project is not an error, so cleanup can repeat it.
func (c *Client) DeleteProject(ctx context.Context, name string) error {
	return ignoreNotFound(c.call(ctx, http.MethodDelete, "/1.0/projects/"+url.PathEscape(name), nil))
}

// Projects returns the names of the daemon's projects.
func (c *Client) Projects(ctx context.Context) ([]string, error) {
	return c.list(ctx, "/1.0/projects")
}

// WithProject returns a copy of the client that works in project p; the
// copy shares the connection.
func (c *Client) WithProject(p string) *Client {
	cp := *c
	cp.Project = p
	return &cp
}

// StoragePools returns the names of the daemon's storage pools.
func (c *Client) StoragePools(ctx context.Context) ([]string, error) {
	return c.list(ctx, "/1.0/storage-pools")
}

// DefaultRootPool returns the pool of the root disk of the default
// profile: the client's project's, else the default project's (a project
// with its own profiles starts with an empty default profile), else the
// first storage pool. Instances created without profiles need it named
// explicitly.
func (c *Client) DefaultRootPool(ctx context.Context) (string, error) {
	projects := []*Client{c}
	if c.Project != "" && c.Project != "default" {
		projects = append(projects, c.WithProject("default"))
	}
	for _, pc := range projects {
		var profile struct {
			Devices map[string]map[string]string `json:"devices"`
		}
		if err := pc.get(ctx, "/1.0/profiles/default", &profile); err != nil {
			if IsNotFound(err) {
				continue
			}
			return "", err
		}
		for _, d := range profile.Devices {
			if d["type"] == "disk" && d["path"] == "/" && d["pool"] != "" {
				return d["pool"], nil
			}
		}
	}
	pools, err := c.StoragePools(ctx)
	if err != nil {
		return "", err
	}
	if len(pools) == 0 {
		return "", fmt.Errorf("%s has no storage pool: create one (lxd init, or incus admin init)", c.Where)
	}
	return pools[0], nil
}

// Images returns the fingerprints of the images in the client's project.
func (c *Client) Images(ctx context.Context) ([]string, error) {
	return c.list(ctx, "/1.0/images")
}

// Drivers returns what GET /1.0 says the daemon runs instances with, such
// as "lxc | qemu": a daemon that cannot run VMs leaves qemu out.
func (c *Client) Drivers(ctx context.Context) (string, error) {
	var raw struct {
		Environment struct {
			Driver string `json:"driver"`
		} `json:"environment"`
	}
	if err := c.get(ctx, "/1.0", &raw); err != nil {
		return "", err
	}
	return raw.Environment.Driver, nil
}

// list returns the last path element of each URL a collection answers,
// such as "c1" of "/1.0/instances/c1?project=p".
func (c *Client) list(ctx context.Context, path string) ([]string, error) {
	var urls []string
	if err := c.get(ctx, path, &urls); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(urls))
	for _, u := range urls {
		u, _, _ = strings.Cut(u, "?")
		last := u[strings.LastIndex(u, "/")+1:]
		name, err := url.PathUnescape(last)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %s answered a malformed URL %q: %w", path, c.Where, u, err)
		}
		names = append(names, name)
	}
	return names, nil
}

// call is send with the request's method and path on every error: an
// operation's failure carries only the daemon's message (LXD) or the
// operation's wait path (Incus answers the wait with the error).
func (c *Client) call(ctx context.Context, method, path string, body any) error {
	err := c.send(ctx, method, path, body)
	if err == nil {
		return nil
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Method == method && apiErr.Path == path {
		return err
	}
	return fmt.Errorf("%s %s: %w", method, path, err)
}

func ignoreNotFound(err error) error {
	if IsNotFound(err) {
		return nil
	}
	return err
}
