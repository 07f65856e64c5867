#!/bin/sh
# Runs the nightly workflow (ci/github/nightly.yml) on this machine, end
# to end: the matrix job, build jobs, then the publish job into a
# simplestreams tree on a real S3-compatible server (versitygw, on
# loopback), prune and verify. Run as root from a checkout:
#
#   ci/simulate-nightly.sh [-j JOBS] RECIPE...
#
# JOBS (default 2) matrix jobs are built: first those this machine runs
# natively, then emulated ones. $BUILDER picks the builder binary
# (default bin/builder, built when missing); $VERSITYGW the server
# (default: on PATH, else bin/tools, which 'make test-deps' fills).
set -eu

jobs=2
if [ "${1:-}" = "-j" ]; then
	jobs=$2
	shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [-j JOBS] RECIPE..." >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
builder=${BUILDER:-$root/bin/builder}
[ -x "$builder" ] || make -C "$root" build >/dev/null
versitygw=${VERSITYGW:-$(command -v versitygw || echo "$root/bin/tools/versitygw")}
[ -x "$versitygw" ] || { echo "simulate-nightly: no versitygw; run 'make test-deps'" >&2; exit 1; }

work=$(mktemp -d)
server=""
cleanup() {
	[ -z "$server" ] || kill "$server" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '==> %s\n' "$*"; }

# The S3 server: a bucket is a directory of its posix backend.
mkdir -p "$work/s3/images"
tries=0
while :; do
	port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000))
	"$versitygw" --access nightly --secret nightly-secret-key --port "127.0.0.1:$port" --quiet posix "$work/s3" >"$work/versitygw.log" 2>&1 &
	server=$!
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		ss -ltn "sport = :$port" | grep -q LISTEN && break 2
		kill -0 "$server" 2>/dev/null || break
		sleep 0.2
	done
	kill "$server" 2>/dev/null || true
	tries=$((tries + 1))
	[ "$tries" -lt 5 ] || { echo "simulate-nightly: versitygw did not start:" >&2; cat "$work/versitygw.log" >&2; exit 1; }
done
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$port" AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=nightly AWS_SECRET_ACCESS_KEY=nightly-secret-key
tree=s3://images/nightly
say "S3 server on 127.0.0.1:$port, tree $tree"

# The matrix job.
say "matrix: $*"
"$builder" matrix "$@" >"$work/matrix.txt"
cat "$work/matrix.txt"
native=$(dpkg --print-architecture)
{
	awk -v a="$native" 'NR > 1 && $4 == a { print $1, $2 }' "$work/matrix.txt"
	awk -v a="$native" 'NR > 1 && $4 != a { print $1, $2 }' "$work/matrix.txt"
} | head -n "$jobs" >"$work/selected"

# The build jobs: each leaves its output directory as an artifact.
while read -r job recipe; do
	say "build $job"
	"$builder" build "$recipe" --job "$job" --output "$work/artifacts/image-$job" \
		--cache-dir "$work/cache" --quiet
done <"$work/selected"

# The publish job: everything at once, then prune and verify.
say "publish"
"$builder" publish "$tree" "$work"/artifacts/image-*/
"$builder" tree prune "$tree" --keep 3
"$builder" tree verify "$tree"
"$builder" tree list "$tree"
