#!/bin/sh
# Starts an Incus daemon for the tests, as root, when none answers, beside
# the LXD one ci/start-lxd.sh starts: this machine has no systemd to start
# either. Incus gets its own "dir" pool under /var/lib/incus, a default
# profile with a root disk and no network, and builderbr1 for containers
# that need a network: a private subnet of its own, 10.213.88.0/24 (LXD's
# builderbr0 has 10.213.87.0/24), no NAT, nothing routed off the machine.
# Safe to run again: it changes only what is missing.
set -eu

incusd=${INCUSD:-/usr/libexec/incus/incusd}

if ! incus info >/dev/null 2>&1; then
	if [ ! -x "$incusd" ] || ! command -v incus >/dev/null 2>&1; then
		echo "start-incus: Incus is not installed (ci/install-deps.sh installs incus-base and incus-client from bookworm-backports)" >&2
		exit 1
	fi
	log=${INCUS_LOG:-/var/log/incus-tests.log}
	# incusd is not on PATH: Debian keeps it in /usr/libexec/incus. The
	# group is root's as for LXD: the tests run as root, and no
	# incus-admin group need exist.
	nohup "$incusd" --group root >"$log" 2>&1 &
	if ! timeout 120 incus admin waitready; then
		echo "start-incus: the daemon did not start; its log:" >&2
		tail -20 "$log" >&2
		exit 1
	fi
fi
if ! incus storage show default >/dev/null 2>&1; then
	# 'incus admin init --auto' would look for a free subnet for a bridge
	# of its own; the preseed makes only the pool and the profile's disk.
	incus admin init --preseed <<'PRESEED'
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
if ! incus network show builderbr1 >/dev/null 2>&1; then
	incus network create builderbr1 ipv4.address=10.213.88.1/24 ipv4.nat=false ipv6.address=none >/dev/null
fi
incus info >/dev/null
echo "start-incus: Incus $(incus version | sed -n 's/^Server version: //p') is ready"
