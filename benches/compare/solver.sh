#!/usr/bin/env bash
# Runs libsolv (Debian's python3-solv, RPM semantics) and the albs solver on
# the same rpm-md universe in one run and prints each phase's median time and
# the ratio albs/libsolv: load, each install job, repoclosure, installcheck of
# every STEP-th package.
#
# Usage: benches/compare/solver.sh [PRIMARY] [JOB ...]
#   PRIMARY  primary.xml[.gz|.zst|.xz]; default the bookworm universe in
#            /work/shared/data
#   JOB      package names to install (`a+b` installs both); default
#            gnome-core kde-full build-essential
#   RUNS     runs per tool, the median counts (default 3)
#   STEP     installcheck stride (default 20)
#
# Needs /usr/bin/python3 with python3-solv (scripts/setup.sh installs it).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${BENCH_DIR:-/work/shared/bench}
primary=${1:-/work/shared/data/universe-bookworm.primary.xml.gz}
shift || true
jobs=("$@")
[ ${#jobs[@]} -gt 0 ] || jobs=(gnome-core kde-full build-essential)
export RUNS=${RUNS:-3} STEP=${STEP:-20}

/usr/bin/python3 -c 'import solv' 2>/dev/null ||
    { echo "solver.sh: /usr/bin/python3 has no solv module (apt-get install python3-solv)" >&2; exit 1; }
[ -r "$primary" ] || { echo "solver.sh: cannot read $primary" >&2; exit 1; }

echo "building the solver bench (release)..." >&2
exe=$(cargo bench --manifest-path "$root/Cargo.toml" -p albs-benches --bench solver --no-run 2>&1 |
    sed -n 's/.*Executable benches\/solver.rs (\(.*\))/\1/p' | tail -1)
case $exe in /*) ;; *) exe="$root/$exe" ;; esac
[ -x "$exe" ] || { echo "solver.sh: no bench executable ($exe)" >&2; exit 1; }

out=$(mktemp -d "${TMPDIR:-/tmp}/albs-solver-compare.XXXXXX")
trap 'rm -rf "$out"' EXIT

echo "libsolv: $RUNS runs..." >&2
for i in $(seq "$RUNS"); do
    /usr/bin/python3 "$bench/libsolv_bench.py" "$primary" "${jobs[@]}" >>"$out/libsolv"
    /usr/bin/python3 "$bench/libsolv_installcheck.py" "$primary" "$STEP" >>"$out/libsolv"
done
echo "albs: $RUNS runs (median inside)..." >&2
"$exe" "$primary" "${jobs[@]}" >"$out/albs"

# median FILE KEY: median of the second field of the lines starting with KEY.
median() {
    awk -v k="$1" '$1 == k { print $2 }' "$2" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'
}
# detail FILE KEY: the rest of the last line starting with KEY.
detail() {
    awk -v k="$1" '$1 == k { $1 = ""; $2 = ""; d = $0 } END { sub(/^ +/, "", d); print d }' "$2"
}

echo "primary: $primary; medians of $RUNS runs; ratio = albs / libsolv (below 1: albs faster)"
printf '%-28s %10s %10s %8s   %-34s %s\n' phase libsolv_s albs_s ratio libsolv albs
keys=(load)
for j in "${jobs[@]}"; do keys+=("install:$j"); done
keys+=(closure installcheck)
for k in "${keys[@]}"; do
    l=$(median "$k" "$out/libsolv")
    a=$(median "$k" "$out/albs")
    r=$(awk -v a="$a" -v l="$l" 'BEGIN { if (l > 0) printf "%.3f", a / l; else print "-" }')
    printf '%-28s %10s %10s %8s   %-34s %s\n' "$k" "$l" "$a" "$r" "$(detail "$k" "$out/libsolv" | cut -c1-34)" "$(detail "$k" "$out/albs" | cut -c1-40)"
done
