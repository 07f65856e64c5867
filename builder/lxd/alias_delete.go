package lxd

import (
	"context"
	"net/http"
	"net/url"
)

// DeleteAlias deletes an alias, leaving the image it names; IsNotFound
// tells a missing one. `builder test --project` removes its temporary
// alias with it when the image was already there.
func (c *Client) DeleteAlias(ctx context.Context, name string) error {
	return c.send(ctx, http.MethodDelete, "/1.0/images/aliases/"+url.PathEscape(name), nil)
}
