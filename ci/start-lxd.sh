#!/bin/sh
# Starts an LXD daemon for the tests, as root, when none answers: this
# machine has no systemd to start it. Storage is a "dir" pool and the
# default profile gets a root disk and no network (lxd init --auto fails
# here because it finds no free subnet for a bridge); builderbr0 below is
# for the containers that need one. Safe to run again.
set -eu

if ! lxc info >/dev/null 2>&1; then
	command -v lxd >/dev/null 2>&1 || { echo "start-lxd: lxd is not installed (apt-get install lxd)" >&2; exit 1; }
	log=${LXD_LOG:-/var/log/lxd-tests.log}
	nohup lxd --group root >"$log" 2>&1 &
	if ! timeout 120 lxd waitready; then
		echo "start-lxd: the daemon did not start; its log:" >&2
		tail -20 "$log" >&2
		exit 1
	fi
fi
if ! lxc storage show default >/dev/null 2>&1; then
	lxd init --preseed <<'PRESEED'
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
PRESEED
fi
# A bridge for containers that need a network to boot cleanly (the
# end-to-end test waits for systemd to report "running"): DHCP from LXD's
# dnsmasq on a private subnet, no NAT, nothing routed off the machine.
if ! lxc network show builderbr0 >/dev/null 2>&1; then
	lxc network create builderbr0 ipv4.address=10.213.87.1/24 ipv4.nat=false ipv6.address=none >/dev/null
fi
lxc info >/dev/null
echo "start-lxd: LXD $(lxc version | sed -n 's/^Server version: //p') is ready"
