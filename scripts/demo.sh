#!/usr/bin/env bash
# The main job on the embedded default: turns the example packages into git
# repositories with a lookaside store, builds them all with `albs build`
# (fetch → SRPM → RPMs → artifact store → ledger, in BuildRequires order) and
# lets the real rpm check every package it produced; then starts the server
# (SQLite in the data directory) with a local build node and builds the same
# packages through it over HTTP.
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

echo
echo "== the same packages through the server and a local build node"
server_data="$data/server"
rm -rf "$server_data"
port=$((20000 + RANDOM % 30000))
# The checkpoint signing key lives in the environment only, never in a file.
ledger_key=$("$albs" ledger keygen --name albs.demo/ledger 2>"$data/ledger-verifier-key")
verifier_key=$(awk '{print $NF}' "$data/ledger-verifier-key")
ALBS_LEDGER_KEY="$ledger_key" "$albs" --data "$server_data" server --with-node \
    --listen "127.0.0.1:$port" --lookaside "$fixtures/lookaside" 2>"$data/server.log" &
server_pid=$!
unset ledger_key
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/api/v1/platforms" >/dev/null && break
    sleep 0.2
done
export ALBS_SERVER="http://127.0.0.1:$port"
ALBS_TOKEN=$("$albs" --data "$server_data" token create --user demo --admin)
export ALBS_TOKEN
"$albs" submit --wait --download "$data/server-results" --platform almalinux-9 \
    --arch "$(uname -m)" --ref a9 \
    "$fixtures"/git/hello "$fixtures"/git/albs-docs "$fixtures"/git/hello-extras
for f in "$data"/server-results/*.rpm; do
    rpm -K --nosignature "$f"
done
echo
echo "== the server's ledger, checked here against its signed checkpoint"
"$albs" ledger verify --server "$ALBS_SERVER" --key "$verifier_key" | tail -n 1
kill $server_pid
