package lxd

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// A bridge without NAT comes and goes, and an instance on it shows the
// address it was given in its state, by interface.
func TestNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("boots containers")
	}
	forDaemons(t, func(t *testing.T, c *Client) {
		ctx := context.Background()
		// Not btest*, builder test's prefix, whose leftovers the command's
		// tests look for while this runs; no firewall, whose rules LXD 5.0
		// leaves behind when the bridge is deleted.
		bridge := "blxdt" + randomHex(t, 6)
		subnet := freeSubnet(t)
		config := map[string]string{"ipv4.address": subnet, "ipv4.nat": "false", "ipv6.address": "none", "ipv4.firewall": "false", "ipv6.firewall": "false"}
		if err := c.CreateNetwork(ctx, bridge, config); err != nil {
			t.Fatal(err)
		}
		// Registered before the instance's, so it runs after it: the
		// daemon refuses to delete a bridge in use.
		t.Cleanup(func() {
			if err := c.DeleteNetwork(cleanupCtx(t), bridge); err != nil {
				t.Errorf("deleting network %s: %v", bridge, err)
			}
		})
		networks, err := c.Networks(ctx)
		if err != nil || !slices.Contains(networks, bridge) {
			t.Fatalf("Networks() = %v, %v; lacks %s", networks, err, bridge)
		}

		pc := throwawayProject(t, c)
		// Networks are the default project's: a project without
		// features.networks sees them too.
		if networks, err := pc.Networks(ctx); err != nil || !slices.Contains(networks, bridge) {
			t.Errorf("Networks() in %s = %v, %v; lacks %s", pc.Project, networks, err, bridge)
		}
		nic := map[string]map[string]string{"eth0": {"type": "nic", "nictype": "bridged", "parent": bridge, "name": "eth0"}}
		name := createInstance(t, pc, importBusybox(t, pc), nic)
		if err := pc.SetInstanceState(ctx, name, "start", 0, false); err != nil {
			t.Fatal(err)
		}
		ip, _, _ := net.ParseCIDR(subnet)
		ip[len(ip)-1] = 2
		addr := ip.String()
		if res, err := pc.Exec(ctx, name, []string{"ip", "addr", "add", addr + "/24", "dev", "eth0"}, nil); err != nil || res.ExitStatus != 0 {
			t.Fatalf("ip addr add: %+v, %v", res, err)
		}
		var st InstanceState
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err = pc.InstanceState(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(st.Addresses["eth0"], Address{Family: "inet", Address: addr, Scope: "global"}) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !slices.Contains(st.Addresses["eth0"], Address{Family: "inet", Address: addr, Scope: "global"}) {
			t.Errorf("eth0's addresses = %+v, lack global inet %s", st.Addresses["eth0"], addr)
		}
		if lo := st.Addresses["lo"]; !slices.ContainsFunc(lo, func(a Address) bool { return strings.HasPrefix(a.Address, "127.") && a.Scope == "local" }) {
			t.Errorf("lo's addresses = %+v, lack 127.0.0.1 scope local", lo)
		}

		if err := c.DeleteNetwork(ctx, bridge); err == nil {
			t.Error("deleting a bridge in use succeeded")
		}
		if err := pc.DeleteInstance(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteNetwork(ctx, bridge); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteNetwork(ctx, bridge); err != nil {
			t.Errorf("deleting a deleted network: %v", err)
		}
		if networks, err := c.Networks(ctx); err != nil || slices.Contains(networks, bridge) {
			t.Errorf("Networks() after delete = %v, %v", networks, err)
		}
	})
}
