#!/usr/bin/env bash
# Times albs's sha256 (`Sha256::of_reader`, via the `albs-sha256` example
# binary) against `sha256sum` and `openssl dgst -sha256` on the same file, in
# one run, and prints each tool's best time, throughput and its ratio to albs.
#
# Usage: benches/compare/sha256.sh [FILE]
#   FILE       file to hash; default: a fresh random file of SIZE_MIB MiB in
#              $TMPDIR, removed afterwards
#   SIZE_MIB   size of the generated file (default 1024, i.e. 1 GiB)
#   RUNS       runs per tool, the best one counts (default 3)
#
# The file is read once first so that every tool hashes from the page cache:
# this compares hashing speed, not the disk.
set -euo pipefail

size_mib=${SIZE_MIB:-1024}
runs=${RUNS:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)

for tool in cargo sha256sum openssl awk; do
    command -v "$tool" >/dev/null || { echo "sha256.sh: $tool is not installed" >&2; exit 1; }
done

echo "building albs-sha256 (release)..." >&2
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p albs-benches --bin albs-sha256
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
albs="$target_dir/release/albs-sha256"
[ -x "$albs" ] || { echo "sha256.sh: no $albs after the build" >&2; exit 1; }

file=${1:-}
if [ -z "$file" ]; then
    file=$(mktemp "${TMPDIR:-/tmp}/albs-sha256-bench.XXXXXX")
    trap 'rm -f "$file"' EXIT
    echo "writing $size_mib MiB of random data to $file..." >&2
    head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$file"
fi
bytes=$(wc -c <"$file")
cat "$file" >/dev/null # warm the page cache

now_ns() { date +%s%N; }

# best_time NAME CMD...: runs CMD $runs times, records the best wall time in
# seconds in times[NAME] and the digest it printed in digests[NAME].
declare -A times digests
best_time() {
    local name=$1 best="" out start end t
    shift
    for _ in $(seq "$runs"); do
        start=$(now_ns)
        out=$("$@")
        end=$(now_ns)
        t=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.4f", (e - s) / 1e9 }')
        if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$t
        fi
    done
    times[$name]=$best
    # Every tool prints "<hex> <file>" (openssl with -r), so take the first word.
    digests[$name]=${out%% *}
}

best_time albs "$albs" "$file"
best_time sha256sum sha256sum "$file"
best_time openssl openssl dgst -sha256 -r "$file"

for name in sha256sum openssl; do
    if [ "${digests[$name]}" != "${digests[albs]}" ]; then
        echo "sha256.sh: digests differ: albs ${digests[albs]}, $name ${digests[$name]}" >&2
        exit 1
    fi
done

echo "file: $file ($bytes bytes), best of $runs runs, digest ${digests[albs]}"
printf '%-10s %9s %11s %14s\n' tool seconds MiB/s "albs/tool"
for name in albs sha256sum openssl; do
    awk -v n="$name" -v t="${times[$name]}" -v a="${times[albs]}" -v b="$bytes" \
        'BEGIN { printf "%-10s %9.3f %11.1f %14.2f\n", n, t, b / 1048576 / t, a / t }'
done
echo "albs/tool is albs's time divided by the tool's: above 1 albs is slower, below 1 faster."
