#!/bin/sh
# Starts an LXD daemon for the tests, as root, when none answers: this
# machine has no systemd to start it. Storage is a "dir" pool and the
# default profile gets a root disk; no network is needed (lxd init --auto
# fails here only because it finds no free subnet for a bridge).
set -eu

if lxc info >/dev/null 2>&1; then
	exit 0
fi
command -v lxd >/dev/null 2>&1 || { echo "start-lxd: lxd is not installed (apt-get install lxd)" >&2; exit 1; }
log=${LXD_LOG:-/var/log/lxd-tests.log}
nohup lxd --group root >"$log" 2>&1 &
if ! timeout 120 lxd waitready; then
	echo "start-lxd: the daemon did not start; its log:" >&2
	tail -20 "$log" >&2
	exit 1
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
lxc info >/dev/null
echo "start-lxd: LXD $(lxc version | sed -n 's/^Server version: //p') is ready"
