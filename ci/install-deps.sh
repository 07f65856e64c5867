#!/bin/sh
# Installs what builds and tests need on Debian 12, skipping what is there.
# Run as root; apt-get update runs only when something must be installed.
set -eu

packages="make git ca-certificates"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages:$missing; run as root or install them" >&2
		exit 1
	fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	echo "install-deps: Go 1.26 is needed at /usr/local/go (see README)" >&2
	exit 1
fi
