#!/bin/sh
# Installs what builds and tests need on Debian 12, skipping what is there,
# and registers the qemu binfmt handlers that foreign-architecture builds
# use. Run as root; apt-get update runs only when something is missing.
# Safe to run again: a second run changes nothing.
set -eu

packages="make git ca-certificates apt debootstrap mmdebstrap busybox-static
qemu-user-static binfmt-support arch-test squashfs-tools squashfs-tools-ng bzip2 xz-utils zstd pigz lxd
dnsmasq-base iptables
bubblewrap time
fdisk e2fsprogs dosfstools mtools qemu-utils qemu-system-x86 ovmf gdisk rsync
docker-registry
gpg gpg-agent gpgv"

# Incus, the second daemon the import and test suites run against, is not
# in bookworm: bookworm-backports has 6.0.x. Only its daemon and client
# come from there, each named with its suite (PACKAGE/bookworm-backports),
# so nothing else is upgraded: their backports-only libraries follow. Never
# the "incus" metapackage: it pulls backports' qemu 10 (qemu-user-static
# with it) for Incus's VMs, and the VM boot tests and foreign-architecture
# builds are verified with bookworm's qemu 7.2 only.
backports="incus-base incus-client"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=""
for p in $packages; do
	installed "$p" || missing="$missing $p"
done
missing_bpo=""
for p in $backports; do
	installed "$p" || missing_bpo="$missing_bpo $p/bookworm-backports"
done

sources="/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources"

# has_backports: does an apt source already list bookworm-backports?
has_backports() {
	# shellcheck disable=SC2086 # the globs expand on purpose
	grep -Eqs '^[^#]*bookworm-backports' $sources
}

# debian_mirror prints the URI of this machine's own bookworm source, a
# deb822 stanza or a one-line entry, so backports come from the mirror
# everything else comes from.
debian_mirror() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# Paragraph mode: one stanza a record.
		awk 'BEGIN { RS = "" }
		/(^|\n)Suites:[^\n]*[ \t]bookworm([ \t\n]|$)/ && !/(^|\n)Enabled:[ \t]*no/ {
			n = split($0, line, "\n")
			for (i = 1; i <= n; i++) if (line[i] ~ /^URIs:/) { split(line[i], w, /[ \t]+/); print w[2]; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [OPTIONS] URI SUITE COMPONENT…
		awk '$1 == "deb" {
			i = 2
			if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == "bookworm") print $i
		}' "$f"
	done
}

if [ -n "$missing$missing_bpo" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages:$missing$missing_bpo; run as root or install them" >&2
		exit 1
	fi
	if [ -n "$missing_bpo" ] && ! has_backports; then
		mirror=$(debian_mirror | head -n 1)
		if [ -z "$mirror" ]; then
			echo "install-deps: no apt source lists bookworm, so there is no mirror to take bookworm-backports from; add it to /etc/apt/sources.list.d yourself" >&2
			exit 1
		fi
		printf '%s\n' \
			"# Added by builder's ci/install-deps.sh, for incus-base and incus-client." \
			"Types: deb" \
			"URIs: $mirror" \
			"Suites: bookworm-backports" \
			"Components: main" \
			"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
			>/etc/apt/sources.list.d/bookworm-backports.sources
		echo "install-deps: added /etc/apt/sources.list.d/bookworm-backports.sources ($mirror)"
	fi
	apt-get update
	# shellcheck disable=SC2086 # the lists are split on purpose
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing $missing_bpo
	# docker-registry is for the tests, which start their own on
	# loopback: the service its package enables (on :5000, every
	# address) is not wanted on a build host.
	case " $missing " in
	*" docker-registry "*)
		if [ -d /run/systemd/system ]; then
			systemctl disable --now docker-registry.service || echo "install-deps: could not stop the docker-registry service" >&2
		fi
		;;
	esac
fi

# Without systemd as PID 1 nothing mounts binfmt_misc or loads the
# handlers qemu-user-static installed; do both.
if [ "$(id -u)" -eq 0 ]; then
	if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || echo "install-deps: cannot mount binfmt_misc; foreign architectures will not build" >&2
	fi
	if [ -e /proc/sys/fs/binfmt_misc/status ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
		update-binfmts --enable || echo "install-deps: update-binfmts failed; foreign architectures will not build" >&2
	fi
fi

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	echo "install-deps: Go 1.26 is needed at /usr/local/go (see README)" >&2
	exit 1
fi
