#!/usr/bin/env bash
# The main job on the embedded default: turns the example packages into git
# repositories with a lookaside store, builds them all with `albs build`
# (fetch → SRPM → RPMs → artifact store → ledger, in BuildRequires order), then
# lets the real rpm check every package it produced.
#
#   scripts/demo.sh [DATA_DIR]        (default: ./albs-data)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"

data=${1:-$root/albs-data}
mkdir -p "$data"
data=$(cd "$data" && pwd)
cargo build --release -q -p albs-cli
albs="$root/target/release/albs"

fixtures="$data/examples"
rm -rf "$fixtures"
"$root/examples/make-fixtures.sh" "$fixtures" >/dev/null

"$albs" --data "$data" build --platform almalinux-9 \
    --lookaside "$fixtures/lookaside" --ref a9 \
    "$fixtures"/git/hello-extras "$fixtures"/git/albs-docs "$fixtures"/git/hello

echo
echo "== rpm checks every package built"
results="$data/results/almalinux-9"
for f in "$results"/*/*.rpm; do
    rpm -K --nosignature "$f"
    rpm -qpi "$f" >/dev/null
done
echo
rpm -qp --qf '%{NAME}-%{VERSION}-%{RELEASE}.%|SOURCERPM?{%{ARCH}}:{src}|\t%{SUMMARY}\n' "$results"/*/*.rpm
echo
"$albs" --data "$data" ledger status
