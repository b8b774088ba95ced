#!/usr/bin/env bash
# Times createrepo_c and `albs repo` on the same synthetic RPMs in one run and
# prints the median of each case and the ratio albs/createrepo_c (below 1:
# albs is faster):
#
#   create_1000      repodata for 1,000 RPMs in a fresh directory
#                    (createrepo_c --no-database, and with its default
#                    sqlite databases, against `albs repo create`)
#   add_one_10000    one new RPM in a published 10,000-package repository
#                    (createrepo_c --update --no-database against
#                    `albs repo add DIR RPM`, and `albs repo create DIR`,
#                    which rescans the directory as --update does)
#
# The packages are the benchmark corpus of benches/repodata.rs (made with the
# rpm crate, cached under target/albs-bench/). The albs side is the release
# `albs` binary, built by this script.
#
# Usage: benches/compare/repodata.sh
#   RUNS     timed runs per case, the median counts (default 5)
#   ALBS     an `albs` binary to time instead of building the release one
#   CORPUS   the corpus directory (as printed by ALBS_REPODATA_CORPUS=10001
#            cargo bench -p albs-benches --bench repodata) instead of
#            building the bench to find or make it
#
# Needs createrepo_c, cargo, awk and about 200 MB in $TMPDIR.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-5}
command -v createrepo_c >/dev/null ||
    { echo "repodata.sh: createrepo_c is not installed (scripts/setup.sh)" >&2; exit 1; }

if [ -n "${ALBS:-}" ]; then
    albs=$ALBS
else
    echo "building albs (release)..." >&2
    cargo build --release --manifest-path "$root/Cargo.toml" -p albs-cli >&2
    albs="$root/target/release/albs"
fi
if [ -n "${CORPUS:-}" ]; then
    corpus=$CORPUS
else
    echo "finding or making the benchmark corpus..." >&2
    corpus=$(ALBS_REPODATA_CORPUS=10001 cargo bench --manifest-path "$root/Cargo.toml" \
        -p albs-benches --bench repodata 2>/dev/null | tail -1)
fi
[ -r "$corpus/pkg10000.rpm" ] || { echo "repodata.sh: no corpus at $corpus" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/albs-repodata-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT

# stock DIR N: DIR/Packages/ holds hard links to the first N packages.
stock() {
    mkdir -p "$1/Packages"
    local names
    names=$(seq -f 'pkg%05g.rpm' 0 $(($2 - 1)))
    (cd "$corpus" && { echo "$names" | xargs ln -t "$1/Packages" 2>/dev/null ||
        echo "$names" | xargs cp -f -t "$1/Packages"; })
}

# secs CMD...: wall-clock seconds of CMD (output discarded, failure fatal).
secs() {
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "repodata.sh: failed: $*" >&2; exit 1; }
    e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.4f\n", e - s }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Warm the page cache with the corpus.
cat "$corpus"/pkg*.rpm >/dev/null

echo "create_1000: $RUNS runs each..." >&2
small="$work/small"
stock "$small" 1000
fresh() { rm -rf "$small/repodata" "$small/.albs"; }
for _ in $(seq "$RUNS"); do
    fresh; secs createrepo_c --no-database "$small" >>"$work/c_create"
    fresh; secs createrepo_c "$small" >>"$work/c_create_db"
    fresh; secs "$albs" repo create "$small" >>"$work/a_create"
done
# Same package set, same content: compare what dnf would read.
fresh; createrepo_c --no-database "$small" >/dev/null
c_primary=$(ls "$small"/repodata/*-primary.xml.gz)
c_count=$(zcat "$c_primary" | grep -c '<package type="rpm">')
fresh; "$albs" repo create "$small" 2>/dev/null
a_primary=$(ls "$small"/repodata/*-primary.xml.gz)
a_count=$(zcat "$a_primary" | grep -c '<package type="rpm">')
[ "$c_count" = 1000 ] && [ "$a_count" = 1000 ] ||
    { echo "repodata.sh: package counts differ: createrepo_c $c_count, albs $a_count" >&2; exit 1; }

echo "add_one_10000: $RUNS runs each..." >&2
big_c="$work/big_c"; big_a="$work/big_a"
stock "$big_c" 10000
stock "$big_a" 10000
createrepo_c --no-database "$big_c" >/dev/null
"$albs" repo create "$big_a" 2>/dev/null
for _ in $(seq "$RUNS"); do
    ln "$corpus/pkg10000.rpm" "$big_c/Packages/" 2>/dev/null || cp "$corpus/pkg10000.rpm" "$big_c/Packages/"
    secs createrepo_c --update --no-database "$big_c" >>"$work/c_add"
    rm "$big_c/Packages/pkg10000.rpm"
    createrepo_c --update --no-database "$big_c" >/dev/null

    ln "$corpus/pkg10000.rpm" "$big_a/Packages/" 2>/dev/null || cp "$corpus/pkg10000.rpm" "$big_a/Packages/"
    # A new mtime: albs keeps fragments of recent generations, and the package
    # must be read as a new one, as createrepo_c reads it.
    touch "$big_a/Packages/pkg10000.rpm"
    secs "$albs" repo add "$big_a" "$big_a/Packages/pkg10000.rpm" >>"$work/a_add"
    "$albs" repo remove "$big_a" "$big_a/Packages/pkg10000.rpm" 2>/dev/null
    touch "$big_a/Packages/pkg10000.rpm"
    secs "$albs" repo create "$big_a" >>"$work/a_rescan"
    "$albs" repo remove "$big_a" "$big_a/Packages/pkg10000.rpm" 2>/dev/null
    rm "$big_a/Packages/pkg10000.rpm"
done

c_create=$(median <"$work/c_create")
c_create_db=$(median <"$work/c_create_db")
a_create=$(median <"$work/a_create")
c_add=$(median <"$work/c_add")
a_add=$(median <"$work/a_add")
a_rescan=$(median <"$work/a_rescan")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

printf '%-16s %-46s %10s %10s %10s\n' case comparison "createrepo_c" albs "albs/c"
printf '%-16s %-46s %9ss %9ss %10s\n' create_1000 "--no-database vs repo create" \
    "$c_create" "$a_create" "$(ratio "$a_create" "$c_create")"
printf '%-16s %-46s %9ss %9ss %10s\n' create_1000 "default (sqlite too) vs repo create" \
    "$c_create_db" "$a_create" "$(ratio "$a_create" "$c_create_db")"
printf '%-16s %-46s %9ss %9ss %10s\n' add_one_10000 "--update --no-database vs repo add" \
    "$c_add" "$a_add" "$(ratio "$a_add" "$c_add")"
printf '%-16s %-46s %9ss %9ss %10s\n' add_one_10000 "--update --no-database vs repo create" \
    "$c_add" "$a_rescan" "$(ratio "$a_rescan" "$c_add")"
echo "(median of $RUNS runs each; $(nproc) cores; createrepo_c $(createrepo_c --version | awk '{print $2}'))"
