package imagetest

import (
	"math/rand/v2"
	"net"
	"testing"
)

func TestParseRoutes(t *testing.T) {
	table := `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	0102A8C0	0003	0	0	0	00000000	0	0	0
eth0	0002A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
builderbr0	0057D50A	00000000	0001	0	0	0	00FFFFFF	0	0	0
`
	got := parseRoutes(table)
	if len(got) != 2 || got[0].String() != "192.168.2.0/24" || got[1].String() != "10.213.87.0/24" {
		t.Errorf("routes %v", got)
	}
}

func TestPickSubnet(t *testing.T) {
	_, wide, _ := net.ParseCIDR("10.0.0.0/9") // 10.0–10.127 taken
	_, host, _ := net.ParseCIDR("10.200.1.7/16")
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n, err := pickSubnet([]*net.IPNet{wide, host}, nil, rnd)
		if err != nil {
			t.Fatal(err)
		}
		ip := n.IP.To4()
		if ip[0] != 10 || ip[1] < 128 || ip[1] == 200 || ip[1] == 255 || ip[3] != 0 {
			t.Fatalf("picked %s", n)
		}
		if cfg := bridgeConfig(n); cfg["ipv4.address"] != n.IP.To4().String()[:len(n.IP.To4().String())-1]+"1/24" || cfg["ipv4.nat"] != "false" || cfg["ipv6.address"] != "none" || cfg["ipv4.firewall"] != "false" || cfg["ipv6.firewall"] != "false" {
			t.Fatalf("config %v for %s", cfg, n)
		}
	}
	_, all, _ := net.ParseCIDR("10.0.0.0/8")
	if _, err := pickSubnet([]*net.IPNet{all}, nil, rnd); err == nil {
		t.Error("a host using all of 10/8 leaves no subnet")
	}
	if n := bridgeName(); len(n) != 11 || n[:5] != "btest" {
		t.Errorf("bridge name %q", n)
	}
}
