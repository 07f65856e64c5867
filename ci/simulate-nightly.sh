#!/bin/sh
# Runs the nightly workflow (ci/github/nightly.yml) on this machine, end
# to end: the matrix job, build jobs that test each image they built
# (builder test, on the local LXD or Incus daemon), then the publish job,
# with only the images that passed, into a simplestreams tree on a real
# S3-compatible server (versitygw, on loopback), prune and verify. Run as
# root from a checkout:
#
#   ci/simulate-nightly.sh [-j JOBS] RECIPE...
#
# JOBS (default 2) matrix jobs are built: first those this machine runs
# natively, then emulated ones. $BUILDER picks the builder binary
# (default bin/builder, built when missing); $VERSITYGW the server
# (default: on PATH, else bin/tools, which 'make test-deps' fills);
# $TEST_FLAGS adds flags to builder test (--daemon incus, say). Exit
# status 1 when an image failed its test (the others are published, as
# in CI, where that build job fails and publish still runs).
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

# The build jobs: each builds, then tests every output directory it
# made (one per output block) alone; only those that pass become the
# job's artifact, so publish never sees an image that failed.
failed=0
while read -r job recipe; do
	say "build $job"
	"$builder" build "$recipe" --job "$job" --output "$work/out/$job" \
		--cache-dir "$work/cache" --quiet
	find "$work/out/$job" -name image.json -printf '%h\n' | sort >"$work/dirs"
	while read -r dir; do
		rel=${dir#"$work/out/"}
		# shellcheck disable=SC2086 # TEST_FLAGS is split on purpose
		if "$builder" test "$dir" --json ${TEST_FLAGS:-} >"$work/test.ndjson"; then
			say "test $rel: passed"
			mkdir -p "$work/artifacts/image-$job/$(dirname "$rel")"
			mv "$dir" "$work/artifacts/image-$job/$rel"
		else
			say "test $rel: FAILED, not published"
			# The failed checks' events: configuration, check, what was seen.
			grep '"type":"check".*"status":"failed"' "$work/test.ndjson" | sed 's/^/    /' || true
			failed=$((failed + 1))
		fi
		cat "$work/test.ndjson" >>"$work/test-events-$job.ndjson"
	done <"$work/dirs"
done <"$work/selected"

# The publish job: every image that passed at once, then prune and
# verify.
say "publish"
find "$work/artifacts" -name image.json -printf '%h\n' | sort >"$work/passed"
if [ -s "$work/passed" ]; then
	# One directory a line; the paths are mktemp's, without spaces.
	# shellcheck disable=SC2046
	"$builder" publish "$tree" $(cat "$work/passed")
else
	echo "no image passed its tests: nothing to publish"
fi
"$builder" tree prune "$tree" --keep 3
"$builder" tree verify "$tree"
"$builder" tree list "$tree"
if [ "$failed" -gt 0 ]; then
	echo "simulate-nightly: $failed image(s) failed builder test and were not published" >&2
	exit 1
fi
