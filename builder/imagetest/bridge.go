package imagetest

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
)

// The private bridge of NIC configurations, when --network names none:
// a bridge builder creates and deletes, without NAT (the instance needs
// an address from the daemon's DHCP, not the internet), on a /24 of
// 10.0.0.0/8 that nothing on the host uses.

// bridgeName is a new bridge's name: "btest" and 6 hex digits, within
// the 15 characters of a Linux interface name.
func bridgeName() string { return "btest" + token(3) }

// bridgeConfig is a new bridge's configuration for subnet's .1.
func bridgeConfig(subnet *net.IPNet) map[string]string {
	gw := make(net.IP, 4)
	copy(gw, subnet.IP.To4())
	gw[3] = 1
	return map[string]string{
		"ipv4.address": gw.String() + "/24",
		"ipv4.nat":     "false",
		"ipv6.address": "none",
		// LXD 5.0 leaves the iptables rules it adds for a bridge behind
		// when the bridge is deleted; a test bridge needs none (no NAT,
		// and the host's own policy decides what reaches it).
		"ipv4.firewall": "false",
		"ipv6.firewall": "false",
	}
}

// hostNetworks are the networks the host has an address in or a route
// to: a subnet that overlaps one of them would hide part of the host's
// network behind the bridge.
func hostNetworks() ([]*net.IPNet, error) {
	var nets []*net.IPNet
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing the host's addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			nets = append(nets, n)
		}
	}
	routes, err := os.ReadFile("/proc/net/route")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the host's routes: %w", err)
	}
	return append(nets, parseRoutes(string(routes))...), nil
}

// parseRoutes reads /proc/net/route: destinations and masks in hex, in
// the host's byte order (little-endian where builder runs). The default
// route (mask 0) is left out: it overlaps everything.
func parseRoutes(table string) []*net.IPNet {
	var nets []*net.IPNet
	sc := bufio.NewScanner(strings.NewReader(table))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[0] == "Iface" {
			continue
		}
		dst, err1 := hex.DecodeString(f[1])
		mask, err2 := hex.DecodeString(f[7])
		if err1 != nil || err2 != nil || len(dst) != 4 || len(mask) != 4 {
			continue
		}
		m := binary.LittleEndian.Uint32(mask)
		if m == 0 {
			continue
		}
		ip, msk := make(net.IP, 4), make(net.IPMask, 4)
		binary.BigEndian.PutUint32(ip, binary.LittleEndian.Uint32(dst))
		binary.BigEndian.PutUint32(msk, m)
		nets = append(nets, &net.IPNet{IP: ip, Mask: msk})
	}
	return nets
}

// pickSubnet returns a 10.x.y.0/24 that overlaps none of taken, trying
// random ones (so that two tests at once rarely pick the same) and
// skipping avoid (subnets already tried).
func pickSubnet(taken []*net.IPNet, avoid []*net.IPNet, rnd *rand.Rand) (*net.IPNet, error) {
	all := append(append([]*net.IPNet{}, taken...), avoid...)
	for range 1000 {
		// 10.0.y and 10.255.y are left to the humans who like them.
		cand := &net.IPNet{IP: net.IPv4(10, byte(1+rnd.IntN(254)), byte(rnd.IntN(256)), 0).To4(), Mask: net.CIDRMask(24, 32)}
		if !overlapsAny(cand, all) {
			return cand, nil
		}
	}
	return nil, errors.New("found no free /24 in 10.0.0.0/8 for a test bridge: pass one with --network")
}

func overlapsAny(n *net.IPNet, list []*net.IPNet) bool {
	for _, o := range list {
		if o.Contains(n.IP) || n.Contains(o.IP) {
			return true
		}
	}
	return false
}
