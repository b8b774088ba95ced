#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of the workspace
# with the real tools (rpm, rpmbuild, bubblewrap, git) and PostgreSQL when
# ALBS_TEST_DATABASE_URL is set.
#
#   scripts/test.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/setup.sh"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -q -- -D warnings
echo "== cargo test"
cargo test --workspace --no-fail-fast
