package lxd

import (
	"context"
	"net/http"
	"net/url"
)

// CreateNetwork creates a managed bridge with the config given, such as
// ipv4.address, ipv4.nat and ipv6.address.
func (c *Client) CreateNetwork(ctx context.Context, name string, config map[string]string) error {
	if config == nil {
		config = map[string]string{}
	}
	body := map[string]any{"name": name, "type": "bridge", "config": config}
	return c.call(ctx, http.MethodPost, "/1.0/networks", body)
}

// DeleteNetwork deletes a managed network; the daemon refuses while an
// instance uses it. A missing network is not an error, so cleanup can
// repeat it.
func (c *Client) DeleteNetwork(ctx context.Context, name string) error {
	return ignoreNotFound(c.call(ctx, http.MethodDelete, "/1.0/networks/"+url.PathEscape(name), nil))
}

// Networks returns the names of the networks the daemon knows, the host's
// unmanaged interfaces included.
func (c *Client) Networks(ctx context.Context) ([]string, error) {
	return c.list(ctx, "/1.0/networks")
}
