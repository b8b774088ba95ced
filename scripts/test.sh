#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of the workspace
# with the real tools (rpm, rpmbuild, bubblewrap, git) and PostgreSQL: the
# server at ALBS_TEST_DATABASE_URL, else a throwaway cluster when PostgreSQL
# is installed, else the PostgreSQL tests say that they are skipped and why.
#
#   scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"

if [ -z "${ALBS_TEST_DATABASE_URL:-}" ]; then
    pgdir=$(mktemp -d)
    chmod 0755 "$pgdir"  # the cluster runs as the postgres user
    if url=$("$root/scripts/pg-throwaway.sh" start "$pgdir/pg"); then
        trap '"$root/scripts/pg-throwaway.sh" stop "$pgdir/pg"' EXIT
        export ALBS_TEST_DATABASE_URL=$url
        echo "== PostgreSQL: a throwaway cluster at $url"
    else
        echo "== PostgreSQL tests will be SKIPPED: ALBS_TEST_DATABASE_URL is not set and no throwaway cluster could be started (see above)"
    fi
else
    echo "== PostgreSQL: $ALBS_TEST_DATABASE_URL"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -q -- -D warnings
cargo clippy -p albs-python --all-targets -q --features python -- -D warnings
echo "== cargo test"
cargo test --workspace --no-fail-fast
echo "== python bindings (maturin wheel + pytest)"
scripts/test-python.sh
