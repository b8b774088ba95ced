#!/usr/bin/env bash
# Builds the albs Python wheel (debug, in the workspace target/ dir), installs
# it into a venv under target/ and runs the pytest suite of bindings/python.
# Needs the albs CLI for the ledger and server fixtures: it is built here too.
# Exits non-zero on any failure, including a run that collected no tests.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
venv=$target/python-venv
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
if [ ! -x "$venv/bin/maturin" ] || [ ! -x "$venv/bin/pytest" ] || [ ! -x "$venv/bin/mypy" ]; then
    "$venv/bin/pip" install --quiet 'maturin>=1.9,<2' pytest mypy
fi

cargo build -p albs-cli
export ALBS_BIN=$target/debug/albs

wheels=$target/python-wheels
rm -rf "$wheels"
(cd bindings/python && "$venv/bin/maturin" build --target-dir "$target" --out "$wheels")
"$venv/bin/pip" install --quiet --force-reinstall --no-deps "$wheels"/albs-*.whl

cd bindings/python
status=0
"$venv/bin/python" -m pytest -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "test-python: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
