#!/usr/bin/env bash
# Python validators the security tests use as oracles: cyclonedx-python-lib's
# strict JSON-schema validator (CycloneDX) and spdx-tools (pyspdxtools, SPDX 2.3).
# Installs them into a venv at target/py-tools (or $ALBS_PY_TOOLS). Idempotent.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ALBS_PY_TOOLS:-$root/target/py-tools}"
python="${PYTHON:-/usr/bin/python3}"
command -v "$python" >/dev/null 2>&1 || python=python3

if [ ! -x "$venv/bin/python" ]; then
    echo "py-tools: creating $venv"
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import cyclonedx.validation.json, spdx_tools, jsonschema, referencing' >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q 'cyclonedx-python-lib[json-validation,xml-validation]>=8' 'spdx-tools>=0.8'
fi
echo "py-tools: ready in $venv"
