package lxd

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// A project comes and goes, deleting it twice is no error, and a project
// with its own profiles still finds the default project's root pool.
func TestProject(t *testing.T) {
	forDaemons(t, func(t *testing.T, c *Client) {
		ctx := context.Background()
		name := "builder-test-" + randomHex(t, 8)
		if err := c.CreateProject(ctx, name, "builder lxd test", map[string]string{"features.images": "true", "features.profiles": "true"}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.DeleteProject(cleanupCtx(t), name) })
		if err := c.CreateProject(ctx, name, "", nil); err == nil {
			t.Error("creating a project twice succeeded")
		}
		projects, err := c.Projects(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(projects, name) || !slices.Contains(projects, "default") {
			t.Errorf("Projects() = %v, want default and %s", projects, name)
		}

		pools, err := c.StoragePools(ctx)
		if err != nil || len(pools) == 0 {
			t.Fatalf("StoragePools() = %v, %v", pools, err)
		}
		want, err := c.DefaultRootPool(ctx)
		if err != nil || !slices.Contains(pools, want) {
			t.Fatalf("DefaultRootPool() = %q, %v; pools %v", want, err, pools)
		}
		if got, err := c.WithProject(name).DefaultRootPool(ctx); err != nil || got != want {
			t.Errorf("DefaultRootPool() in %s = %q, %v; want the default project's %q", name, got, err, want)
		}
		if c.WithProject(name).Project != name || c.Project == name {
			t.Error("WithProject changed the original client or not the copy")
		}

		if drivers, err := c.Drivers(ctx); err != nil || !strings.Contains(drivers, "lxc") {
			t.Errorf("Drivers() = %q, %v; want lxc among them", drivers, err)
		}

		if err := c.DeleteProject(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteProject(ctx, name); err != nil {
			t.Errorf("deleting a deleted project: %v", err)
		}
		if projects, err := c.Projects(ctx); err != nil || slices.Contains(projects, name) {
			t.Errorf("Projects() after delete = %v, %v", projects, err)
		}
	})
}
